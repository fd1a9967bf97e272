package ignore

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestDefaultsIgnoreSecretFiles(t *testing.T) {
	root := t.TempDir()
	m, err := New([]string{root}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{
		".env", "svc/.env", ".env.local", "certs/server.pem", "tls.key", "home/.ssh/id_rsa", "id_ed25519.pub",
		".ssh/config", "deploy/.aws/credentials", "x/.docker/config.json", "prod.tfvars", ".netrc",
	} {
		if ign, why := m.Ignored(filepath.Join(root, p)); !ign || !strings.HasPrefix(why, "default") {
			t.Errorf("%s: ignored=%v (%s), want ignored by default", p, ign, why)
		}
	}
	for _, p := range []string{"main.go", "env.go", "keys.go", "paper/intro.tex", "docs/keyboard.md", "environment.yaml"} {
		if ign, why := m.Ignored(filepath.Join(root, p)); ign {
			t.Errorf("%s: ignored by %s, want sent", p, why)
		}
	}
}

func TestTimonignoreGitignoreSyntax(t *testing.T) {
	root := t.TempDir()
	write(t, filepath.Join(root, FileName), strings.Join([]string{
		"# unpublished results",
		"results/",
		"/data/*.csv",
		"!/data/public.csv",
		"**/secret_*.py",
		"notes/**/draft?.tex",
		"*.log",
		"!keep.log",
		`\#hash.txt`,
		"",
	}, "\n"))
	write(t, filepath.Join(root, "sub", FileName), "local.go\n!*.key\n")
	m, err := New([]string{root}, []string{"vendor/private/"})
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]bool{
		"results/fig1.py":           true,
		"analysis/results/table.go": true, // unanchored directory pattern
		"data/raw.csv":              true,
		"data/public.csv":           false, // re-included
		"sub/data/raw.csv":          false, // anchored to the root
		"a/b/secret_sauce.py":       true,
		"secret_x.py":               true,
		"notes/2024/06/draft1.tex":  true,
		"notes/draft1.tex":          true,
		"notes/2024/final.tex":      false,
		"build/out.log":             true,
		"keep.log":                  false,
		"#hash.txt":                 true,
		"sub/local.go":              true, // nested ignore file
		"local.go":                  false,
		"sub/server.key":            true, // defaults cannot be re-included
		"vendor/private/x.go":       true, // configured pattern
		"vendor/public/x.go":        false,
		"main.go":                   false,
	}
	for p, want := range cases {
		if ign, why := m.Ignored(filepath.Join(root, p)); ign != want {
			t.Errorf("%s: ignored=%v (%s), want %v", p, ign, why, want)
		}
	}
	// Files outside the workspace get the defaults and their own
	// directory's ignore file.
	other := t.TempDir()
	write(t, filepath.Join(other, FileName), "*.txt\n")
	if ign, _ := m.Ignored(filepath.Join(other, "a.txt")); !ign {
		t.Error("a file outside the workspace must honour its directory's ignore file")
	}
	if ign, _ := m.Ignored(filepath.Join(other, "a.go")); ign {
		t.Error("a.go outside the workspace is not ignored")
	}
}

func TestIgnoreFileChangesAreSeen(t *testing.T) {
	root := t.TempDir()
	m, err := New([]string{root}, nil)
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(root, "paper.tex")
	if ign, _ := m.Ignored(f); ign {
		t.Fatal("nothing ignores paper.tex yet")
	}
	write(t, filepath.Join(root, FileName), "paper.tex\n")
	if ign, why := m.Ignored(f); !ign || !strings.Contains(why, FileName) {
		t.Fatalf("a new ignore file must apply at once: %v %s", ign, why)
	}
	// Rewritten with a different size and time: re-read.
	write(t, filepath.Join(root, FileName), "# nothing any more\n")
	os.Chtimes(filepath.Join(root, FileName), time.Now().Add(time.Second), time.Now().Add(time.Second))
	if ign, why := m.Ignored(f); ign {
		t.Fatalf("a changed ignore file must be re-read: %s", why)
	}
}

func TestUnreadableIgnoreFileFailsClosed(t *testing.T) {
	root := t.TempDir()
	// A directory where the ignore file should be: it cannot be read.
	if err := os.MkdirAll(filepath.Join(root, "sub", FileName), 0o755); err != nil {
		t.Fatal(err)
	}
	m, _ := New([]string{root}, nil)
	if ign, why := m.Ignored(filepath.Join(root, "sub", "a.go")); !ign || !strings.Contains(why, "could not be used") {
		t.Fatalf("got %v %q", ign, why)
	}
	if ign, _ := m.Ignored(filepath.Join(root, "a.go")); ign {
		t.Fatal("only what is below the broken file is ignored")
	}
}

func TestBadPatternIsAnError(t *testing.T) {
	if _, err := New(nil, []string{"a[z-a]"}); err == nil {
		t.Fatal("want an error for a broken class")
	}
}

func TestDefaultsIgnoreSecretFilesWhateverTheCase(t *testing.T) {
	root := t.TempDir()
	m, err := New([]string{root}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{".ENV", "svc/.Env.Local", "certs/server.PEM", "TLS.Key", "home/.SSH/config", "ID_RSA", "Credentials"} {
		if ign, why := m.Ignored(filepath.Join(root, p)); !ign || !strings.HasPrefix(why, "default") {
			t.Errorf("%s: ignored=%v (%s), want ignored by default", p, ign, why)
		}
	}
	if ign, why := m.Ignored(filepath.Join(root, "ENV.go")); ign {
		t.Errorf("ENV.go ignored by %s", why)
	}
}

func TestIgnoredNameIsTheMostRestrictiveReading(t *testing.T) {
	root := t.TempDir()
	write(t, filepath.Join(root, FileName), "/secrets/**\nresults/*.csv\n!results/public.csv\n")
	m, err := New([]string{root}, []string{"drafts/"})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{
		".env", "Server.PEM", // an untitled buffer's name
		"/home/ada/other/secrets/token.txt", // anchored patterns hold at any depth
		"/lab/results/public.csv",           // no "!" re-includes
		"/lab/RESULTS/run.CSV",              // whatever the case
		"/x/drafts/paper.tex",               // the configuration's patterns
	} {
		if ign, why := m.IgnoredName(name); !ign {
			t.Errorf("%s: not ignored", name)
		} else if why == "" {
			t.Errorf("%s: no reason", name)
		}
	}
	for _, name := range []string{"Untitled-1", "/lab/src/main.go", "/lab/secrets.go", ""} {
		if ign, why := m.IgnoredName(name); ign {
			t.Errorf("%s: ignored by %s", name, why)
		}
	}
}
