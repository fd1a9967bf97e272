package config

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"timon.dev/timon/core/remote/credentials"
)

// EnvToken is where timon lsp reads the personal token of remote mode when
// the configuration names no other place.
const EnvToken = "TIMON_TOKEN"

// LSP configures timon lsp: local mode (the core in-process, with its own
// journal) or remote mode (requests go to a hub with the user's personal
// token). Remote mode is on when HubURL is set (or given with --hub).
type LSP struct {
	// HubURL is the base URL of the timon hub (https://timon.example.org);
	// zero means local mode.
	HubURL string `yaml:"hub_url"`
	// TokenEnv names the environment variable holding the personal token;
	// zero means TIMON_TOKEN. TokenFile names a file holding it instead.
	TokenEnv  string `yaml:"token_env"`
	TokenFile string `yaml:"token_file"`

	// User and Groups are the principal of local mode; zero User means the
	// operating-system user. Remote mode takes both from the token.
	User   string   `yaml:"user"`
	Groups []string `yaml:"groups"`

	// Debounce is the least time a completion waits for more keystrokes
	// before a model is asked, MaxDebounce the most (when typing fast);
	// zero means 150ms and 300ms. Only an inline completion with
	// triggerKind Invoked skips what is left of it since the last keystroke.
	Debounce    Duration `yaml:"debounce"`
	MaxDebounce Duration `yaml:"max_debounce"`

	// MaxPrefixTokens and MaxSuffixTokens bound the text sent around the
	// cursor for a completion (about 4 characters a token); zero means
	// 1400 and 600 (70/30).
	MaxPrefixTokens int `yaml:"max_prefix_tokens"`
	MaxSuffixTokens int `yaml:"max_suffix_tokens"`
	// CompletionMaxTokens bounds a completion's length; zero means
	// limits.max_tokens.complete (128).
	CompletionMaxTokens int `yaml:"completion_max_tokens"`
	// ProseCompletion offers completions as you type in prose files
	// (plaintext, markdown, LaTeX) too; by default they are offered there
	// only when explicitly invoked.
	ProseCompletion bool `yaml:"prose_completion"`

	// PreviewRewrites makes a rewrite's edit ask for confirmation where
	// the editor supports it (LSP change annotations: VS Code shows its
	// refactor preview, and nothing changes until the user applies it);
	// editors without that support apply rewrites as before. Zero means
	// true.
	PreviewRewrites *bool `yaml:"preview_rewrites"`

	// Ignore adds gitignore-style patterns, relative to the workspace root,
	// to .timonignore and the default secret files (.env, *.pem, *.key,
	// id_rsa…): files matching them are never sent.
	Ignore []string `yaml:"ignore"`

	// Glossary is the institution's terminology for the LaTeX
	// translations (French ↔ English): each entry a French source term
	// and its English target, or keep: true for a term never translated.
	// A translation that renders a term otherwise is refused (once
	// retried). A project adds its own in .timon/glossary.tsv.
	Glossary []GlossaryEntry `yaml:"glossary"`

	// LogLevel of the messages on stderr: debug, info, warn or error; zero
	// means warn. Content is never logged.
	LogLevel string `yaml:"log_level"`

	// Token is resolved from TokenEnv or TokenFile, else from the
	// credential timon login stored for HubURL ("" when none).
	Token string `yaml:"-"`
	// CredentialsFile is the file Token was read from when it is the one
	// timon login stored; "" when it came from TokenEnv or TokenFile.
	CredentialsFile string `yaml:"-"`
	// storedProblem: the stored credential was found unusable (expired,
	// unreadable) and that problem, more precise than "no token", is
	// already reported.
	storedProblem string
}

// GlossaryEntry is one term of lsp.glossary.
type GlossaryEntry struct {
	Source string `yaml:"source"` // French
	Target string `yaml:"target"` // English
	Keep   bool   `yaml:"keep"`   // the term stays as it is in both languages
}

// Remote reports whether timon lsp runs in remote mode.
func (c *LSP) Remote() bool { return c.HubURL != "" }

// Previews reports whether rewrites ask for confirmation where the
// editor can preview them (lsp.preview_rewrites, default true).
func (c *LSP) Previews() bool { return c.PreviewRewrites == nil || *c.PreviewRewrites }

// DebounceRange is the adaptive debounce's bounds.
func (c *LSP) DebounceRange() (lo, hi time.Duration) {
	return time.Duration(c.Debounce), time.Duration(c.MaxDebounce)
}

func (c *Config) lspDefaults() {
	l := &c.LSP
	if l.TokenEnv == "" && l.TokenFile == "" {
		l.TokenEnv = EnvToken
	}
	if l.Debounce == 0 {
		l.Debounce = Duration(150 * time.Millisecond)
	}
	if l.MaxDebounce == 0 {
		l.MaxDebounce = max(Duration(300*time.Millisecond), l.Debounce)
	}
	if l.MaxPrefixTokens == 0 {
		l.MaxPrefixTokens = 1400
	}
	if l.MaxSuffixTokens == 0 {
		l.MaxSuffixTokens = 600
	}
	if l.LogLevel == "" {
		l.LogLevel = "warn"
	}
}

func (l *loader) validateLSP(c *Config) {
	s := &c.LSP
	hubOK := false
	if s.HubURL != "" {
		if u, err := url.Parse(s.HubURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			l.add("lsp.hub_url", "expected the hub's http(s) URL such as https://timon.example.org, got %q", s.HubURL)
		} else {
			hubOK = true
		}
	}
	tok, err := optionalSecret(s.TokenEnv, s.TokenFile)
	if err != nil {
		l.add("lsp", "token: %v", err)
	}
	s.Token = tok
	if tok == "" && err == nil && hubOK {
		l.storedToken(s)
	}
	if s.Debounce < 0 || s.MaxDebounce < 0 {
		l.add("lsp.debounce", "expected a positive duration such as 150ms")
	}
	if s.MaxDebounce < s.Debounce {
		l.add("lsp.max_debounce", "expected at least debounce (%s), got %s", time.Duration(s.Debounce), time.Duration(s.MaxDebounce))
	}
	if time.Duration(s.MaxDebounce) > 5*time.Second {
		l.add("lsp.max_debounce", "expected at most 5s: a completion that waits longer is useless")
	}
	if s.MaxPrefixTokens < 0 {
		l.add("lsp.max_prefix_tokens", "expected a positive number of tokens")
	}
	if s.MaxSuffixTokens < 0 {
		l.add("lsp.max_suffix_tokens", "expected a positive number of tokens")
	}
	if s.CompletionMaxTokens < 0 {
		l.add("lsp.completion_max_tokens", "expected a positive number of tokens")
	}
	switch s.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		l.add("lsp.log_level", "expected debug, info, warn or error, got %q", s.LogLevel)
	}
	for i, p := range s.Ignore {
		if strings.TrimSpace(p) == "" {
			l.add(fmt.Sprintf("lsp.ignore[%d]", i), "an empty pattern matches nothing; remove it")
		}
	}
	for i, g := range s.Glossary {
		at := fmt.Sprintf("lsp.glossary[%d]", i)
		switch {
		case strings.TrimSpace(g.Source) == "":
			l.add(at, "expected a source term")
		case g.Keep && strings.TrimSpace(g.Target) != "":
			l.add(at, "expected either a target term or keep: true, not both")
		case !g.Keep && strings.TrimSpace(g.Target) == "":
			l.add(at, "expected a target term, or keep: true")
		case len(g.Source) > 256 || len(g.Target) > 256:
			l.add(at, "expected terms of at most 256 bytes")
		}
	}
	if len(s.Glossary) > 10000 {
		l.add("lsp.glossary", "expected at most 10000 terms, got %d", len(s.Glossary))
	}
}

// LoadLSP reads the configuration of timon lsp in remote mode: only the lsp
// section matters there (governance is the hub's), so a file holding just
//
//	lsp:
//	  hub_url: https://timon.example.org
//
// is complete. Other sections are checked for their YAML shape only. An
// empty path gives the defaults. The hub URL, when not "", overrides the
// file's.
func LoadLSP(path, hubURL string, sections ...Section) (*Config, error) {
	var data []byte
	name := "(no configuration file)"
	if path != "" {
		var err error
		if data, err = os.ReadFile(path); err != nil {
			return nil, fmt.Errorf("reading configuration: %w", err)
		}
		name = path
	}
	l := &loader{file: name, sections: sections}
	cfg, ok := l.decode(data)
	if !ok {
		return nil, l.err()
	}
	if hubURL != "" {
		cfg.LSP.HubURL = hubURL
	}
	l.expandPaths(cfg)
	cfg.defaults()
	l.validateLSP(cfg)
	if cfg.LSP.HubURL == "" {
		l.add("lsp.hub_url", "remote mode needs the hub's URL (lsp.hub_url or --hub)")
	} else if cfg.LSP.Token == "" && cfg.LSP.storedProblem == "" {
		l.add("lsp", "remote mode needs a personal token: set %s (or lsp.token_env / lsp.token_file), or sign in with timon login --hub %s (or ask for one: timon token create on the hub)", tokenPlace(&cfg.LSP), cfg.LSP.HubURL)
	}
	if len(l.problems) > 0 {
		return nil, l.err()
	}
	cfg.Path = path
	return cfg, nil
}

// LoadLocalLSP is Load for timon lsp in local mode, which an editor starts
// in the user's project: a data_dir the file does not set is the per-user
// one (UserDataDir), a relative one is taken from the file's directory,
// never from the working directory. TIMON_DATA_DIR still overrides both.
func LoadLocalLSP(path string, sections ...Section) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading configuration: %w", err)
	}
	return parseLocalLSP(path, data, filepath.Dir(path), sections)
}

// ParseLocalLSP is LoadLocalLSP on a configuration that is not a file
// (the embedded example): its data directory is the per-user one.
func ParseLocalLSP(name string, data []byte, sections ...Section) (*Config, error) {
	return parseLocalLSP(name, data, "", sections)
}

func parseLocalLSP(name string, data []byte, dir string, sections []Section) (*Config, error) {
	l := &loader{file: name, lspLocal: true, dir: dir, sections: sections}
	cfg := l.parse(data)
	if len(l.problems) > 0 {
		return nil, l.err()
	}
	cfg.Path = name
	return cfg, nil
}

// lspDataDir places the data directory of local mode outside the
// working directory.
func (l *loader) lspDataDir(c *Config) {
	if c.DataDir != "" && l.dir != "" {
		if !filepath.IsAbs(c.DataDir) {
			c.DataDir = filepath.Join(l.dir, c.DataDir)
		}
		return
	}
	d, err := UserDataDir()
	if err != nil {
		l.add("data_dir", "no per-user data directory (%v): set data_dir or %s", err, EnvDataDir)
		return
	}
	c.DataDir = d
}

// storedToken takes the token timon login stored for the hub, the third
// source after the environment variable and the token file: an explicit
// token always wins over it.
func (l *loader) storedToken(s *LSP) {
	f, err := credentials.Default()
	if err != nil {
		return // no configuration directory: nothing was stored either
	}
	c, ok, err := f.Get(s.HubURL)
	switch {
	case err != nil:
		s.storedProblem = fmt.Sprintf("token stored by timon login: %v", err)
	case !ok:
	case c.Expired(time.Now()):
		s.storedProblem = fmt.Sprintf("the token timon login stored for %s expired on %s: run timon login --hub %s again",
			c.Hub, c.ExpiresAt.Local().Format("2006-01-02 15:04"), c.Hub)
	default:
		s.Token, s.CredentialsFile = c.Token, f.Path
	}
	if s.storedProblem != "" {
		l.add("lsp", "%s", s.storedProblem)
	}
}

func tokenPlace(s *LSP) string {
	if s.TokenFile != "" {
		return "the file " + s.TokenFile
	}
	return s.TokenEnv
}
