package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"timon.dev/timon/core/remote/credentials"
)

const lspProviders = `
providers:
  - {name: p, base_url: "http://127.0.0.1:1/v1", models: [m]}
policy:
  rules: [{name: all, effect: allow}]
`

func TestLSPDefaults(t *testing.T) {
	t.Setenv(EnvToken, "")
	cfg, err := Parse("t.yaml", []byte(lspProviders))
	if err != nil {
		t.Fatal(err)
	}
	l := cfg.LSP
	lo, hi := l.DebounceRange()
	if l.Remote() || lo != 150*time.Millisecond || hi != 300*time.Millisecond || l.MaxPrefixTokens != 1400 ||
		l.MaxSuffixTokens != 600 || l.TokenEnv != EnvToken || l.LogLevel != "warn" {
		t.Fatalf("defaults %+v", l)
	}
	if !l.Previews() {
		t.Fatal("rewrites are previewed by default")
	}
	cfg, err = Parse("t.yaml", []byte(lspProviders+"lsp:\n  preview_rewrites: false\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.LSP.Previews() {
		t.Fatal("preview_rewrites: false turns the preview off")
	}
}

func TestLSPValidationNamesTheLine(t *testing.T) {
	src := lspProviders + `lsp:
  hub_url: ftp://hub
  debounce: 400ms
  max_debounce: 200ms
  max_prefix_tokens: -1
  log_level: chatty
  ignore: ["  "]
`
	_, err := Parse("t.yaml", []byte(src))
	if err == nil {
		t.Fatal("want errors")
	}
	for _, want := range []string{
		"t.yaml:7: lsp.hub_url: expected the hub's http(s) URL",
		"t.yaml:9: lsp.max_debounce: expected at least debounce (400ms)",
		"t.yaml:10: lsp.max_prefix_tokens: expected a positive number",
		"t.yaml:11: lsp.log_level: expected debug, info, warn or error",
		"lsp.ignore[0]: an empty pattern",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
}

func TestLoadLSPRemoteNeedsOnlyTheLSPSection(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "lsp.yaml")
	os.WriteFile(path, []byte("lsp:\n  hub_url: https://timon.example.org\n  debounce: 100ms\n"), 0o600)

	t.Setenv("XDG_CONFIG_HOME", t.TempDir()) // no token stored by timon login
	t.Setenv(EnvToken, "")
	_, err := LoadLSP(path, "")
	if err == nil || !strings.Contains(err.Error(), "remote mode needs a personal token: set TIMON_TOKEN") {
		t.Fatalf("without a token: %v", err)
	}
	t.Setenv(EnvToken, " timon_abc\n")
	cfg, err := LoadLSP(path, "")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.LSP.HubURL != "https://timon.example.org" || cfg.LSP.Token != "timon_abc" || time.Duration(cfg.LSP.Debounce) != 100*time.Millisecond {
		t.Fatalf("%+v", cfg.LSP)
	}
	// --hub overrides; no file at all is fine.
	cfg, err = LoadLSP("", "http://127.0.0.1:8080")
	if err != nil || cfg.LSP.HubURL != "http://127.0.0.1:8080" {
		t.Fatalf("%+v %v", cfg, err)
	}
	// A token file instead of the variable.
	tok := filepath.Join(dir, "token")
	os.WriteFile(tok, []byte("timon_fromfile\n"), 0o600)
	os.WriteFile(path, []byte("lsp:\n  hub_url: https://h\n  token_file: "+tok+"\n"), 0o600)
	if cfg, err = LoadLSP(path, ""); err != nil || cfg.LSP.Token != "timon_fromfile" {
		t.Fatalf("%+v %v", cfg, err)
	}
	// Unknown keys are still errors, with their line.
	os.WriteFile(path, []byte("lsp:\n  hub_url: https://h\n  debounse: 1s\n"), 0o600)
	if _, err = LoadLSP(path, ""); err == nil || !strings.Contains(err.Error(), "lsp.yaml:3") {
		t.Fatalf("typo: %v", err)
	}
	if _, err = LoadLSP("", ""); err == nil || !strings.Contains(err.Error(), "needs the hub's URL") {
		t.Fatalf("no hub: %v", err)
	}
}

// TestLoadLSPStoredToken: the token timon login stored for the hub is the
// third source, after the variable and the file; an expired one says to
// sign in again.
func TestLoadLSPStoredToken(t *testing.T) {
	cfgDir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", cfgDir)
	t.Setenv("HOME", cfgDir)
	t.Setenv(EnvToken, "")
	creds, err := credentials.DefaultPath()
	if err != nil {
		t.Fatal(err)
	}
	f := &credentials.File{Path: creds}
	hub := "https://timon.example.org"

	_, err = LoadLSP("", hub)
	if err == nil || !strings.Contains(err.Error(), "or sign in with timon login --hub "+hub) {
		t.Fatalf("nothing stored: %v", err)
	}
	if err := f.Put(credentials.Credential{Hub: hub, Token: "timon_stored", ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	// The hub as the user wrote it, trailing slash and all.
	cfg, err := LoadLSP("", hub+"/")
	if err != nil || cfg.LSP.Token != "timon_stored" || cfg.LSP.CredentialsFile != creds {
		t.Fatalf("stored: %+v %v", cfg, err)
	}
	if i, _ := cfg.Integration("lsp"); i.State != StateOn || !strings.Contains(i.Why, "with the token timon login stored in "+creds) {
		t.Fatalf("integration %v", i)
	}
	// Another hub's token is not this hub's.
	if _, err := LoadLSP("", "https://other.example.org"); err == nil {
		t.Fatal("another hub's token was used")
	}
	// The variable, then the file, win over it.
	t.Setenv(EnvToken, "timon_env")
	if cfg, err = LoadLSP("", hub); err != nil || cfg.LSP.Token != "timon_env" || cfg.LSP.CredentialsFile != "" {
		t.Fatalf("env: %+v %v", cfg.LSP, err)
	}
	t.Setenv(EnvToken, "")
	tok := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tok, []byte("timon_file\n"), 0o600)
	path := filepath.Join(t.TempDir(), "lsp.yaml")
	os.WriteFile(path, []byte("lsp:\n  hub_url: "+hub+"\n  token_file: "+tok+"\n"), 0o600)
	if cfg, err = LoadLSP(path, ""); err != nil || cfg.LSP.Token != "timon_file" {
		t.Fatalf("file: %+v %v", cfg.LSP, err)
	}

	f.Put(credentials.Credential{Hub: hub, Token: "timon_stored", ExpiresAt: time.Now().Add(-time.Minute)})
	_, err = LoadLSP("", hub)
	if err == nil || !strings.Contains(err.Error(), "expired on") || !strings.Contains(err.Error(), "run timon login --hub "+hub+" again") ||
		strings.Contains(err.Error(), "needs a personal token") {
		t.Fatalf("expired: %v", err)
	}
}

func TestLSPGlossary(t *testing.T) {
	t.Setenv(EnvToken, "")
	cfg, err := Parse("t.yaml", []byte(lspProviders+`lsp:
  glossary:
    - {source: apprentissage profond, target: deep learning}
    - {source: PyTorch, keep: true}
`))
	if err != nil {
		t.Fatal(err)
	}
	if g := cfg.LSP.Glossary; len(g) != 2 || g[0].Target != "deep learning" || !g[1].Keep {
		t.Fatalf("glossary %+v", g)
	}
	_, err = Parse("t.yaml", []byte(lspProviders+`lsp:
  glossary:
    - {source: "", target: x}
    - {source: a}
    - {source: b, target: c, keep: true}
`))
	for _, want := range []string{"lsp.glossary[0]: expected a source term", "lsp.glossary[1]: expected a target term, or keep: true",
		"lsp.glossary[2]: expected either a target term or keep: true, not both"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
}
