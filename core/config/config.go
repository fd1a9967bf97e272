// Package config reads timon's YAML configuration: one file, secrets from
// environment variables or files, environment overrides for the provider URL
// and the data directory, and validation that reports every problem with the
// file's name, the line and what was expected. A configuration that does not
// validate is never used.
package config

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"timon.dev/timon/core"
	"timon.dev/timon/core/policy"
)

// Environment variables that override the file.
const (
	EnvProviderURL = "TIMON_PROVIDER_URL" // base URL of the first (default) provider
	EnvDataDir     = "TIMON_DATA_DIR"     // data directory (SQLite file, keys)
)

// DefaultProviderURL is a local Ollama's OpenAI-compatible endpoint.
const DefaultProviderURL = "http://127.0.0.1:11434/v1"

// Config is the whole configuration file.
type Config struct {
	Server    Server        `yaml:"server"`
	DataDir   string        `yaml:"data_dir"`
	Store     Store         `yaml:"store"`
	Providers []Provider    `yaml:"providers"`
	Policy    policy.Config `yaml:"policy"`
	Redaction Redaction     `yaml:"redaction"`
	Quotas    Quotas        `yaml:"quotas"`
	Journal   Journal       `yaml:"journal"`
	Limits    Limits        `yaml:"limits"`
	Jobs      Jobs          `yaml:"jobs"`
	LSP       LSP           `yaml:"lsp"`
	// Chat is the chat bots' section (bots/chat.Config, with
	// bots/slack.Config and bots/mattermost.Config under it), kept as
	// written: see Section.
	Chat yaml.Node `yaml:"chat"`
	// GitLab is GitLab review's section (webhooks/review.Config), kept
	// as written: see Section.
	GitLab yaml.Node `yaml:"gitlab"`
	// Moderation configures the classifiers of policy rules' moderation.
	Moderation Moderation `yaml:"moderation"`
	// Bibliography declares the bibliographic sources (chat's refs).
	Bibliography Bibliography `yaml:"bibliography"`

	// Path is the file the configuration came from ("" when embedded).
	Path string `yaml:"-"`

	// sections are the front ends' sections the file was read with.
	sections []Section
}

// Server configures timon serve.
type Server struct {
	// Addr to listen on; zero means 127.0.0.1:8080.
	Addr string `yaml:"addr"`
	// MaxBodyBytes bounds a request body; zero means 1 MiB. The GitLab
	// webhook has its own bound (4 MiB).
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// BodyTimeout bounds the time a client takes to send a request's body
	// once its headers are in; zero means 30s. A client still sending
	// then gets 408 and the connection is closed.
	BodyTimeout Duration `yaml:"body_timeout"`
	// LogLevel: debug, info, warn or error; zero means info.
	LogLevel string `yaml:"log_level"`
	// AdminGroup names the group whose tokens may use /admin; zero means admin.
	AdminGroup string `yaml:"admin_group"`
	// DrainTimeout is how long a stopping server lets requests finish;
	// zero means 30s.
	DrainTimeout Duration `yaml:"drain_timeout"`
}

// Store chooses the database.
type Store struct {
	// Driver: sqlite (default, the file timon.db in the data directory) or
	// postgres.
	Driver string `yaml:"driver"`
	// DSNEnv names the environment variable holding the PostgreSQL DSN.
	DSNEnv string `yaml:"dsn_env"`
	// DSNFile names a file holding the PostgreSQL DSN.
	DSNFile string `yaml:"dsn_file"`

	// DSN is resolved from DSNEnv or DSNFile.
	DSN string `yaml:"-"`
}

// Provider is one model endpoint.
type Provider struct {
	Name       string   `yaml:"name"`
	Kind       string   `yaml:"kind"` // mistral or openai (vLLM, Ollama, llama.cpp, TGI)
	BaseURL    string   `yaml:"base_url"`
	APIKeyEnv  string   `yaml:"api_key_env"`
	APIKeyFile string   `yaml:"api_key_file"`
	Models     []string `yaml:"models"`
	Timeout    Duration `yaml:"timeout"`
	MaxRetries int      `yaml:"max_retries"`
	Sovereign  bool     `yaml:"sovereign"`
	// Estimates gives, for models of Models, the figures the console and
	// the chat bots' usage command estimate cost and energy from; a model
	// without figures is "not estimated". See docs/design/audit.md.
	Estimates map[string]ModelEstimate `yaml:"estimates"`

	// APIKey is resolved from APIKeyEnv or APIKeyFile.
	APIKey string `yaml:"-"`
}

// ModelEstimate is what one model's requests are estimated to cost and to
// use in energy, per 1000 tokens, read (the input) and written (the
// output). Zero means not estimated, not free: there is no default figure,
// as none fits every deployment (a local model's price is the hardware's,
// an API's is its price list; energy depends on the model's size, the
// hardware and its load). Estimates are computed when read, from the
// tokens the journal counted, so a changed figure re-estimates history.
type ModelEstimate struct {
	PricePer1kTokens InOut `yaml:"price_per_1k_tokens"`
	// Currency is the ISO 4217 code of the prices; default EUR.
	Currency      string `yaml:"currency"`
	WhPer1kTokens InOut  `yaml:"wh_per_1k_tokens"`
}

// InOut is a figure per 1000 input tokens and per 1000 output tokens.
type InOut struct {
	Input  float64 `yaml:"input"`
	Output float64 `yaml:"output"`
}

// Redaction configures the redaction profiles.
type Redaction struct {
	Profiles map[string]Profile `yaml:"profiles"`
	// Timeout is the time the redaction of one request may take; past it
	// the request is refused and nothing is sent. Zero means 2s.
	Timeout Duration `yaml:"timeout"`
}

// Profile says what to do with each type of finding.
type Profile struct {
	// Actions maps a finding type or kind (secret, personal, custom) to
	// mask, block or allow. Unlisted: mask.
	Actions  map[string]string `yaml:"actions"`
	Terms    []string          `yaml:"terms"`
	Patterns []Pattern         `yaml:"patterns"`
}

// Pattern is a custom regular expression to redact.
type Pattern struct {
	Name  string `yaml:"name"`
	Regex string `yaml:"regex"`
}

// Quotas sets budgets per user and per group. Zero values mean unlimited.
type Quotas struct {
	// User applies to every user.
	User QuotaLimits `yaml:"user"`
	// Users overrides User for named users.
	Users map[string]QuotaLimits `yaml:"users"`
	// Groups sets a shared budget for each named group.
	Groups map[string]QuotaLimits `yaml:"groups"`
}

// QuotaLimits is one budget.
type QuotaLimits struct {
	RequestsPerMinute int `yaml:"requests_per_minute"`
	TokensPerDay      int `yaml:"tokens_per_day"`
	TokensPerMonth    int `yaml:"tokens_per_month"`
	Concurrent        int `yaml:"concurrent"`
}

// Journal configures the audit journal.
type Journal struct {
	// SigningKeyFile holds the Ed25519 key that signs checkpoints; zero
	// means audit-signing.key in the data directory, created on first
	// start.
	SigningKeyFile string `yaml:"signing_key_file"`
	// KeySetFile holds the public halves of the retired signing keys, each
	// with the end of its validity, written by timon audit rotate-key; zero
	// means audit-keys.json beside the signing key file.
	KeySetFile string `yaml:"key_set_file"`
	// PublicKeys lists files that timon audit verify trusts for checkpoint
	// signatures: public keys (PEM, from timon audit public-key) or key
	// sets (JSON, from timon audit public-key --set). Keep them where who
	// can write the data directory cannot: without them, verify only
	// proves consistency with the key in the data directory.
	PublicKeys []string `yaml:"public_keys"`
	// HashKeyEnv / HashKeyFile hold the key (32 bytes, hex or base64) of
	// the HMAC-SHA-256 that entries record of what was sent and returned,
	// so that a reader of the journal cannot test a guess. Zero means
	// audit-hash.key in the data directory, created on first start (mode
	// 0600). Replicas sharing a PostgreSQL journal must share this key,
	// like the signing key.
	HashKeyEnv  string `yaml:"hash_key_env"`
	HashKeyFile string `yaml:"hash_key_file"`
	// ContentKeyEnv / ContentKeyFile hold the 32-byte key (hex or base64)
	// encrypting full content; required when a rule keeps full content.
	ContentKeyEnv  string `yaml:"content_key_env"`
	ContentKeyFile string `yaml:"content_key_file"`
	// Retention drops stored content older than this (e.g. 90d); zero
	// keeps it.
	Retention Duration `yaml:"retention"`
	// CheckpointEvery is the number of entries between signed
	// checkpoints; zero means 1000.
	CheckpointEvery int `yaml:"checkpoint_every"`

	// ContentKey is resolved from ContentKeyEnv or ContentKeyFile.
	ContentKey []byte `yaml:"-"`
	// HashKey is resolved from HashKeyEnv; with HashKeyFile it is read (or
	// created) at start.
	HashKey []byte `yaml:"-"`
}

// Limits bounds what one request may ask of a model.
type Limits struct {
	// MaxTokens per task: the answer's maximum length when the request
	// does not say. Zero: chat 1024, complete 128, others 1024.
	MaxTokens map[string]int `yaml:"max_tokens"`
	// MaxTokensCeiling caps what a request may ask; zero means 4096.
	MaxTokensCeiling int `yaml:"max_tokens_ceiling"`
}

// Duration is a time.Duration written like 30s, 5m or 90d.
type Duration time.Duration

// UnmarshalYAML reads a duration such as 30s, 5m, 12h or 90d.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return err
	}
	v, err := ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// ParseDuration parses Go durations plus a day suffix (90d).
func ParseDuration(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 {
			return 0, errDuration(s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		return 0, errDuration(s)
	}
	return v, nil
}

func errDuration(s string) error {
	return fmt.Errorf("expected a duration such as 30s, 5m, 24h or 7d, got %q", s)
}

// Problem is one configuration error.
type Problem struct {
	File string
	Line int
	Path string // e.g. providers[0].base_url
	Msg  string
}

func (p Problem) String() string {
	loc := p.File
	if p.Line > 0 {
		loc += ":" + strconv.Itoa(p.Line)
	}
	if p.Path != "" {
		return fmt.Sprintf("%s: %s: %s", loc, p.Path, p.Msg)
	}
	return fmt.Sprintf("%s: %s", loc, p.Msg)
}

// Error lists every problem found in a configuration.
type Error struct {
	Problems []Problem
	// Integrations is what the configuration would switch on, nil when
	// the file could not be read as YAML.
	Integrations []Integration
}

func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Load reads, overrides from the environment, validates and resolves the
// configuration at path, with the sections of the front ends that will
// run (see Section). The error, if any, is an *Error listing every
// problem with its line.
func Load(path string, sections ...Section) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading configuration: %w", err)
	}
	return Parse(path, data, sections...)
}

// Parse is Load on data already read; name is used in messages.
func Parse(name string, data []byte, sections ...Section) (*Config, error) {
	l := &loader{file: name, sections: sections}
	cfg := l.parse(data)
	if len(l.problems) > 0 {
		e := l.err()
		if cfg != nil {
			e.Integrations = cfg.Integrations()
		}
		return nil, e
	}
	cfg.Path = name
	return cfg, nil
}

// err is the problems found, in the order of the file's lines; those of
// no line (settings from the environment) come last.
func (l *loader) err() *Error {
	sort.SliceStable(l.problems, func(i, j int) bool {
		a, b := l.problems[i].Line, l.problems[j].Line
		return a != 0 && (b == 0 || a < b)
	})
	return &Error{Problems: l.problems}
}

type loader struct {
	file     string
	root     *yaml.Node
	problems []Problem
	// shaped lists the paths of the shape check's problems.
	shaped []string
	// lspLocal loads for timon lsp in local mode; dir is the directory a
	// relative data_dir is taken from ("" for the per-user one).
	lspLocal bool
	dir      string
	// sections are the front ends' sections (see Section).
	sections []Section
}

var yamlLine = regexp.MustCompile(`^line (\d+): (.*)$`)

func (l *loader) parse(data []byte) *Config {
	cfg, ok := l.decode(data)
	if !ok {
		return nil
	}
	l.expandPaths(cfg)
	cfg.applyEnv()
	if l.lspLocal && os.Getenv(EnvDataDir) == "" {
		l.lspDataDir(cfg)
	}
	cfg.defaults()
	l.validate(cfg)
	return cfg
}

// decode reads the YAML, checks its shape against the configuration's
// settings (every problem at its line, see checkShape) and decodes what
// has the right shape. It fails only on YAML that does not parse.
func (l *loader) decode(data []byte) (*Config, bool) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		l.yamlErr(err)
		return nil, false
	}
	cfg := &Config{sections: l.sections}
	if len(doc.Content) == 0 {
		return cfg, true
	}
	l.root = doc.Content[0]
	l.checkShape(l.root, reflect.TypeFor[Config](), "")
	err := l.root.Decode(cfg)
	if err == nil {
		err = l.decodeSections()
	}
	if err != nil {
		// The shape check lets through nothing the decoder refuses; if
		// it did, say what the decoder says.
		l.yamlErr(err)
		return nil, false
	}
	return cfg, true
}

func (l *loader) yamlErr(err error) {
	var te *yaml.TypeError
	msgs := []string{err.Error()}
	if errors.As(err, &te) {
		msgs = te.Errors
	}
	for _, m := range msgs {
		m = strings.TrimPrefix(m, "yaml: ")
		p := Problem{File: l.file, Msg: m}
		if sm := yamlLine.FindStringSubmatch(m); sm != nil {
			p.Line, _ = strconv.Atoi(sm[1])
			p.Msg = sm[2]
		}
		p.Msg = strings.ReplaceAll(p.Msg, "in type config.", "in section ")
		l.problems = append(l.problems, p)
	}
}

// add records a problem at a YAML path like providers[0].base_url,
// unless the shape check already reported that setting (a value it
// removed would be reported again as missing).
func (l *loader) add(path, format string, args ...any) {
	if l.reported(path) {
		return
	}
	l.problems = append(l.problems, Problem{File: l.file, Line: l.lineOf(path), Path: path, Msg: fmt.Sprintf(format, args...)})
}

// lineOf finds the line of the deepest node of path that exists.
func (l *loader) lineOf(path string) int {
	n := l.root
	if n == nil {
		return 0
	}
	line := n.Line
	for _, part := range splitPath(path) {
		var next *yaml.Node
		if idx, err := strconv.Atoi(part); err == nil && n.Kind == yaml.SequenceNode {
			if idx < len(n.Content) {
				next = n.Content[idx]
			}
		} else if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == part {
					next = n.Content[i+1]
					line = n.Content[i].Line
					break
				}
			}
		}
		if next == nil {
			return line
		}
		n = next
		line = n.Line
	}
	return line
}

func splitPath(p string) []string {
	p = strings.NewReplacer("[", ".", "]", "").Replace(p)
	return strings.FieldsFunc(p, func(r rune) bool { return r == '.' })
}

func (c *Config) applyEnv() {
	if u := os.Getenv(EnvProviderURL); u != "" && len(c.Providers) > 0 {
		c.Providers[0].BaseURL = u
	}
	if d := os.Getenv(EnvDataDir); d != "" {
		c.DataDir = d
	}
}

func (c *Config) defaults() {
	if c.Server.Addr == "" {
		c.Server.Addr = "127.0.0.1:8080"
	}
	if c.Server.MaxBodyBytes == 0 {
		c.Server.MaxBodyBytes = 1 << 20
	}
	if c.Server.LogLevel == "" {
		c.Server.LogLevel = "info"
	}
	if c.Server.AdminGroup == "" {
		c.Server.AdminGroup = "admin"
	}
	if c.Server.DrainTimeout == 0 {
		c.Server.DrainTimeout = Duration(30 * time.Second)
	}
	if c.Server.BodyTimeout == 0 {
		c.Server.BodyTimeout = Duration(30 * time.Second)
	}
	if c.DataDir == "" {
		c.DataDir = "./data"
	}
	if c.Store.Driver == "" {
		c.Store.Driver = "sqlite"
	}
	for i := range c.Providers {
		p := &c.Providers[i]
		if p.Kind == "" {
			p.Kind = "openai"
		}
		if p.BaseURL == "" && i == 0 {
			p.BaseURL = DefaultProviderURL
		}
		p.estimateDefaults()
	}
	if c.Journal.SigningKeyFile == "" {
		c.Journal.SigningKeyFile = filepath.Join(c.DataDir, "audit-signing.key")
	}
	if c.Journal.CheckpointEvery == 0 {
		c.Journal.CheckpointEvery = 1000
	}
	if c.Journal.KeySetFile == "" {
		c.Journal.KeySetFile = filepath.Join(filepath.Dir(c.Journal.SigningKeyFile), "audit-keys.json")
	}
	if c.Journal.HashKeyFile == "" && c.Journal.HashKeyEnv == "" {
		c.Journal.HashKeyFile = filepath.Join(c.DataDir, "audit-hash.key")
	}
	if c.Limits.MaxTokensCeiling == 0 {
		c.Limits.MaxTokensCeiling = 4096
	}
	c.jobsDefaults()
	c.lspDefaults()
	c.moderationDefaults()
}

var errNoProvider = errors.New("at least one provider is needed (a model endpoint: Mistral API, vLLM, Ollama…)")

// CheckEngine reports what the configuration lacks to run the governed
// engine (timon serve, timon lsp in local mode): a file for timon lsp in
// remote mode validates without providers, but cannot run one.
func (c *Config) CheckEngine() error {
	if len(c.Providers) == 0 {
		return fmt.Errorf("%s: %w", c.Path, errNoProvider)
	}
	return nil
}

// SQLitePath is the SQLite file in the data directory.
func (c *Config) SQLitePath() string { return filepath.Join(c.DataDir, "timon.db") }

// MaxTokens is the default answer length for a task.
func (c *Config) MaxTokens(t core.Task) int {
	if n := c.Limits.MaxTokens[string(t)]; n > 0 {
		return n
	}
	if t == core.TaskComplete {
		return 128
	}
	return 1024
}

func (l *loader) validate(c *Config) {
	switch c.Server.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		l.add("server.log_level", "expected debug, info, warn or error, got %q", c.Server.LogLevel)
	}
	if c.Server.MaxBodyBytes < 0 {
		l.add("server.max_body_bytes", "expected a positive number of bytes")
	}
	if c.Server.BodyTimeout < 0 {
		l.add("server.body_timeout", "expected a positive duration such as 30s")
	}
	switch c.Store.Driver {
	case "sqlite":
	case "postgres":
		dsn, err := secret(c.Store.DSNEnv, c.Store.DSNFile)
		switch {
		case err != nil:
			l.add("store", "%v", err)
		case dsn == "":
			l.add("store", "driver postgres needs dsn_env or dsn_file naming the connection string")
		}
		c.Store.DSN = strings.TrimSpace(dsn)
	default:
		l.add("store.driver", "expected sqlite or postgres, got %q", c.Store.Driver)
	}
	// A remote-mode file for timon lsp (lsp.hub_url) runs no engine: the
	// hub's providers answer.
	if len(c.Providers) == 0 && !c.LSP.Remote() {
		l.add("providers", "%s", errNoProvider)
	}
	names := map[string]bool{}
	var infos []policy.Provider
	for i := range c.Providers {
		p := &c.Providers[i]
		at := fmt.Sprintf("providers[%d]", i)
		if p.Name == "" {
			l.add(at+".name", "a provider needs a name")
		} else if names[p.Name] {
			l.add(at+".name", "provider name %q is used twice", p.Name)
		}
		names[p.Name] = true
		if p.Kind != "openai" && p.Kind != "mistral" {
			l.add(at+".kind", "expected mistral or openai (for vLLM, Ollama, llama.cpp, TGI), got %q", p.Kind)
		}
		if u, err := url.Parse(p.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			l.add(at+".base_url", "expected an http(s) URL such as %s, got %q", DefaultProviderURL, p.BaseURL)
		}
		if len(p.Models) == 0 {
			l.add(at+".models", "list the models this provider serves")
		}
		if p.MaxRetries < 0 {
			l.add(at+".max_retries", "expected 0 or more")
		}
		for _, m := range sortedKeys(p.Estimates) {
			l.checkEstimate(at+".estimates."+m, p, m)
		}
		key, err := secret(p.APIKeyEnv, p.APIKeyFile)
		if err != nil {
			l.add(at, "%v", err)
		}
		p.APIKey = strings.TrimSpace(key)
		infos = append(infos, policy.Provider{Name: p.Name, Models: p.Models, Sovereign: p.Sovereign})
	}
	infos = append(infos, c.Bibliography.SourcePolicyInfos()...)
	pol, err := policy.New(c.Policy, infos)
	var fe *policy.FieldError
	switch {
	case errors.As(err, &fe):
		l.add("policy."+fe.Path, "%s", fe.Msg)
	case err != nil:
		l.add("policy", "%v", err)
	}
	if pol != nil {
		for _, prof := range pol.Profiles() {
			if _, ok := c.Redaction.Profiles[prof]; !ok && prof != "default" {
				l.add("policy", "redaction profile %q is not defined under redaction.profiles", prof)
			}
		}
	}
	for _, name := range sortedKeys(c.Redaction.Profiles) {
		prof := c.Redaction.Profiles[name]
		for _, k := range sortedKeys(prof.Actions) {
			if a := prof.Actions[k]; a != "mask" && a != "block" && a != "allow" {
				l.add("redaction.profiles."+name+".actions."+k, "expected mask, block or allow, got %q", a)
			}
		}
		for i, p := range prof.Patterns {
			at := fmt.Sprintf("redaction.profiles.%s.patterns[%d]", name, i)
			if p.Name == "" {
				l.add(at+".name", "a pattern needs a name (findings are reported by name, never by value)")
			}
			if _, err := regexp.Compile(p.Regex); err != nil || p.Regex == "" {
				l.add(at+".regex", "expected a valid regular expression: %v", err)
			}
		}
	}
	for task, n := range c.Limits.MaxTokens {
		if !core.Task(task).Valid() {
			l.add("limits.max_tokens."+task, "unknown task %q", task)
		} else if n < 0 {
			l.add("limits.max_tokens."+task, "expected a positive number")
		}
	}
	key, err := secret(c.Journal.ContentKeyEnv, c.Journal.ContentKeyFile)
	if err != nil {
		l.add("journal", "%v", err)
	} else if key != "" {
		k, err := DecodeKey(key)
		if err != nil {
			l.add("journal", "content key: %v", err)
		}
		c.Journal.ContentKey = k
	}
	if c.Journal.HashKeyEnv != "" {
		if c.Journal.HashKeyFile != "" {
			l.add("journal", "give the hash key either as hash_key_env or as hash_key_file, not both")
		} else if v, err := secret(c.Journal.HashKeyEnv, ""); err != nil {
			l.add("journal.hash_key_env", "%v", err)
		} else if k, err := DecodeKey(v); err != nil {
			l.add("journal.hash_key_env", "hash key: %v", err)
		} else {
			c.Journal.HashKey = k
		}
	}
	if usesFullContent(&c.Policy) && c.Journal.ContentKey == nil {
		l.add("journal", "a rule keeps full content: set content_key_env or content_key_file (32 bytes, hex or base64) so that it is encrypted at rest")
	}
	l.validateJobs(c)
	l.validateLSP(c)
	l.checkSections(c)
	l.validateIntegrations(c)
	l.validateModeration(c)
	l.validateBibliography(c)
}

func usesFullContent(p *policy.Config) bool {
	if p.DefaultContent == policy.ContentFull {
		return true
	}
	return slices.ContainsFunc(p.Rules, func(r policy.Rule) bool { return r.Content == policy.ContentFull })
}

// secret reads a value from an environment variable or a file; both empty
// gives "".
func secret(env, file string) (string, error) {
	switch {
	case env != "" && file != "":
		return "", fmt.Errorf("give %s either as an environment variable or as a file, not both", env)
	case env != "":
		v, ok := os.LookupEnv(env)
		if !ok || v == "" {
			return "", fmt.Errorf("environment variable %s is not set", env)
		}
		return v, nil
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("reading secret file: %w", err)
		}
		return string(b), nil
	}
	return "", nil
}

// optionalSecret is secret for entry points that are switched on by their
// secret: an unset environment variable gives "" and no error.
func optionalSecret(env, file string) (string, error) {
	if env != "" && file == "" {
		return strings.TrimSpace(os.Getenv(env)), nil
	}
	v, err := secret(env, file)
	return strings.TrimSpace(v), err
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
