package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// The remote-mode file documented for editors (lsp/editors/README.md):
// no providers, no policy.
const remoteLSPFile = "lsp:\n  hub_url: https://timon.example.org\n  token_file: ~/.config/timon/token\n"

func TestRemoteLSPOnlyFilePassesTheFullCheck(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	os.MkdirAll(filepath.Join(home, ".config", "timon"), 0o700)
	os.WriteFile(filepath.Join(home, ".config", "timon", "token"), []byte("timon_secret\n"), 0o600)
	cfg, err := Parse("lsp.yaml", []byte(remoteLSPFile))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.LSP.Token != "timon_secret" || cfg.LSP.TokenFile != filepath.Join(home, ".config/timon/token") {
		t.Fatalf("token %q from %q", cfg.LSP.Token, cfg.LSP.TokenFile)
	}
	// What runs the engine still needs providers.
	if err := cfg.CheckEngine(); err == nil || !strings.Contains(err.Error(), "at least one provider is needed") {
		t.Fatalf("engine check: %v", err)
	}
	// Without a hub, the file still needs them.
	_, err = Parse("local.yaml", []byte("lsp:\n  debounce: 100ms\n"))
	if err == nil || !strings.Contains(err.Error(), "providers: at least one provider is needed") {
		t.Fatalf("local mode without providers: %v", err)
	}
	// timon lsp's own loader reads the same file, ~ expanded.
	path := filepath.Join(t.TempDir(), "lsp.yaml")
	os.WriteFile(path, []byte(remoteLSPFile), 0o600)
	t.Setenv(EnvToken, "")
	if cfg, err = LoadLSP(path, ""); err != nil || cfg.LSP.Token != "timon_secret" {
		t.Fatalf("LoadLSP: %+v %v", cfg, err)
	}
}

func TestFileSettingsExpandHomeAndVariables(t *testing.T) {
	home, keys := t.TempDir(), t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("TEST_KEYS", keys)
	os.WriteFile(filepath.Join(home, "dsn"), []byte("postgres://u@db/timon\n"), 0o600)
	os.WriteFile(filepath.Join(keys, "api"), []byte("k-123\n"), 0o600)
	os.WriteFile(filepath.Join(home, "tok"), []byte("timon_t\n"), 0o600)
	cfg, err := Parse("t.yaml", []byte(`
data_dir: ~/data
store: {driver: postgres, dsn_file: ~/dsn}
providers:
  - {name: p, base_url: "http://127.0.0.1:1/v1", models: [m], api_key_file: "${TEST_KEYS}/api"}
policy: {rules: [{name: all, effect: allow}]}
journal: {signing_key_file: $TEST_KEYS/sign.key, public_keys: ["~/pub.pem"]}
lsp: {token_file: ~/tok}
`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Store.DSN != "postgres://u@db/timon" || cfg.Providers[0].APIKey != "k-123" || cfg.LSP.Token != "timon_t" {
		t.Fatalf("secrets not read through the expanded paths: %q %q %q", cfg.Store.DSN, cfg.Providers[0].APIKey, cfg.LSP.Token)
	}
	if cfg.DataDir != filepath.Join(home, "data") || cfg.Journal.SigningKeyFile != filepath.Join(keys, "sign.key") ||
		cfg.Journal.PublicKeys[0] != filepath.Join(home, "pub.pem") || cfg.Journal.HashKeyFile != filepath.Join(home, "data", "audit-hash.key") {
		t.Fatalf("paths %q %q %q %q", cfg.DataDir, cfg.Journal.SigningKeyFile, cfg.Journal.PublicKeys, cfg.Journal.HashKeyFile)
	}

	// Bad paths are clear errors at their line.
	t.Setenv("TEST_UNSET", "")
	_, err = Parse("t.yaml", []byte(lspProviders+"lsp:\n  token_file: $TEST_UNSET/tok\n"))
	var ce *Error
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "t.yaml:7: lsp.token_file: environment variable TEST_UNSET is not set") {
		t.Fatalf("bad paths: %v", err)
	}
}

// Every setting named *_file, in every section, goes through the one
// helper: set them all to ~/… by reflection and look at what is left.
func TestEveryFileSettingIsExpanded(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	c := &Config{Providers: make([]Provider, 1)}
	var set func(v reflect.Value) int
	set = func(v reflect.Value) int {
		n := 0
		switch v.Kind() {
		case reflect.Slice:
			for i := range v.Len() {
				n += set(v.Index(i))
			}
		case reflect.Struct:
			for i := range v.NumField() {
				f := v.Type().Field(i)
				name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
				if f.IsExported() && v.Field(i).Kind() == reflect.String && strings.HasSuffix(name, "_file") {
					v.Field(i).SetString("~/" + name)
					n++
				} else if f.IsExported() {
					n += set(v.Field(i))
				}
			}
		}
		return n
	}
	if n := set(reflect.ValueOf(c).Elem()); n < 7 { // core's own; the front ends' sections: cmd/timon's TestSectionFileSettingsAreExpanded
		t.Fatalf("found only %d *_file settings", n)
	}
	l := &loader{file: "t.yaml"}
	l.expandPaths(c)
	if len(l.problems) > 0 {
		t.Fatal(l.problems)
	}
	var left []string
	var check func(v reflect.Value, path string)
	check = func(v reflect.Value, path string) {
		switch v.Kind() {
		case reflect.String:
			if strings.HasPrefix(v.String(), "~") {
				left = append(left, path)
			}
		case reflect.Slice:
			for i := range v.Len() {
				check(v.Index(i), path)
			}
		case reflect.Struct:
			for i := range v.NumField() {
				if v.Type().Field(i).IsExported() {
					check(v.Field(i), path+"."+v.Type().Field(i).Name)
				}
			}
		}
	}
	check(reflect.ValueOf(c).Elem(), "")
	if len(left) > 0 {
		t.Fatalf("not expanded: %v", left)
	}
}

func TestLocalLSPDataDirIsPerUserNotTheWorkingDirectory(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_DATA_HOME", "")
	t.Setenv(EnvDataDir, "")
	dir := t.TempDir()
	path := filepath.Join(dir, "timon.yaml")
	os.WriteFile(path, []byte(lspProviders), 0o600)
	cfg, err := LoadLocalLSP(path)
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(home, ".local", "share", "timon")
	if cfg.DataDir != want || cfg.SQLitePath() != filepath.Join(want, "timon.db") || cfg.Journal.SigningKeyFile != filepath.Join(want, "audit-signing.key") {
		t.Fatalf("data %q, db %q, key %q", cfg.DataDir, cfg.SQLitePath(), cfg.Journal.SigningKeyFile)
	}
	xdg := t.TempDir()
	t.Setenv("XDG_DATA_HOME", xdg)
	if cfg, err = LoadLocalLSP(path); err != nil || cfg.DataDir != filepath.Join(xdg, "timon") {
		t.Fatalf("XDG_DATA_HOME: %v %v", cfg, err)
	}
	// A relative data_dir is the file's, not the working directory's.
	os.WriteFile(path, []byte(lspProviders+"data_dir: ./lspdata\n"), 0o600)
	if cfg, err = LoadLocalLSP(path); err != nil || cfg.DataDir != filepath.Join(dir, "lspdata") {
		t.Fatalf("relative: %v %v", cfg, err)
	}
	// The embedded example's ./data is not taken from the working directory either.
	if cfg, err = ParseLocalLSP("example", []byte(lspProviders+"data_dir: ./data\n")); err != nil || cfg.DataDir != filepath.Join(xdg, "timon") {
		t.Fatalf("embedded: %v %v", cfg, err)
	}
	// TIMON_DATA_DIR still wins.
	t.Setenv(EnvDataDir, "/srv/timon")
	if cfg, err = LoadLocalLSP(path); err != nil || cfg.DataDir != "/srv/timon" {
		t.Fatalf("env: %v %v", cfg, err)
	}
}
