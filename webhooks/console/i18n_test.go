package console

import (
	"io/fs"
	"maps"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// Both catalogues have the same keys, and every key the templates and the
// code use is in them.
func TestCatalogues(t *testing.T) {
	cats, err := loadCatalogues()
	if err != nil {
		t.Fatal(err)
	}
	en, fr := slices.Sorted(maps.Keys(cats["en"])), slices.Sorted(maps.Keys(cats["fr"]))
	if !slices.Equal(en, fr) {
		for _, k := range en {
			if _, ok := cats["fr"][k]; !ok {
				t.Errorf("fr lacks %s", k)
			}
		}
		for _, k := range fr {
			if _, ok := cats["en"][k]; !ok {
				t.Errorf("en lacks %s", k)
			}
		}
	}
	used := map[string]bool{}
	keyRe := regexp.MustCompile(`t \$?\.L "([a-z_.0-9]+)"`)
	fs.WalkDir(templateFS, ".", func(p string, d fs.DirEntry, err error) error {
		if d.IsDir() {
			return nil
		}
		b, _ := fs.ReadFile(templateFS, p)
		for _, m := range keyRe.FindAllStringSubmatch(string(b), -1) {
			used[m[1]] = true
		}
		return nil
	})
	fs.WalkDir(sectionFS, ".", func(p string, d fs.DirEntry, err error) error {
		if d.IsDir() {
			return nil
		}
		b, _ := fs.ReadFile(sectionFS, p)
		for _, m := range keyRe.FindAllStringSubmatch(string(b), -1) {
			used[m[1]] = true
		}
		return nil
	})
	for _, o := range topOrders {
		used["top.order_"+o] = true
	}
	for _, d := range []string{"in", "out", "untrusted"} {
		used["direction."+d] = true
	}
	// Keys built at run time, and those the Go code passes.
	for _, s := range TokenScopes {
		used["scope."+s] = true
	}
	for _, l := range tokenLifetimes {
		used["expiry."+l.Value] = true
	}
	for _, s := range []string{"active", "revoked", "expired"} {
		used["tokens.state_"+s] = true
	}
	codeRe := regexp.MustCompile(`"((?:error|device|tokens|signin|mine|admin|usage|requests|ausage|top|gov|prov|journal|costs)\.[a-z_]+)"`)
	for _, f := range []string{"auth.go", "console.go", "pages.go", "device.go", "reads.go"} {
		b, err := readSource(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range codeRe.FindAllStringSubmatch(b, -1) {
			used[m[1]] = true
		}
	}
	for k := range used {
		for lang, c := range cats {
			if _, ok := c[k]; !ok {
				t.Errorf("%s catalogue lacks %s", lang, k)
			}
		}
	}
	if len(used) < 60 {
		t.Fatalf("only %d keys found in use: the scan is broken", len(used))
	}
}

func TestLanguageChoice(t *testing.T) {
	for h, want := range map[string]string{
		"":                        "en",
		"fr-FR,fr;q=0.9,en;q=0.8": "fr",
		"en-GB,en;q=0.9,fr;q=0.8": "en",
		"de-DE,fr;q=0.5,en;q=0.4": "fr",
		"de, es":                  "en",
		"en;q=0.1, fr":            "fr",
		"fr;q=0":                  "en",
	} {
		if got := fromAcceptLanguage(h); got != want {
			t.Errorf("Accept-Language %q: %s, want %s", h, got, want)
		}
	}
	rec := httptest.NewRecorder()
	r := httptest.NewRequest("GET", "/console/signin?lang=fr", nil)
	r.Header.Set("Accept-Language", "en")
	if language(rec, r) != "fr" || !strings.Contains(rec.Header().Get("Set-Cookie"), "timon_lang=fr") {
		t.Fatal("?lang= must win and be remembered")
	}
	r = httptest.NewRequest("GET", "/console/signin", nil)
	r.Header.Set("Accept-Language", "en")
	r.AddCookie(&frCookie)
	if language(httptest.NewRecorder(), r) != "fr" {
		t.Fatal("the remembered choice must win over Accept-Language")
	}
}
