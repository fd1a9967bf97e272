package console

import (
	"embed"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
)

//go:embed i18n/*.json
var catalogueFS embed.FS

// Languages the console speaks, the first the default.
var Languages = []string{"en", "fr"}

// catalogue is one language's strings, by key.
type catalogue map[string]string

func loadCatalogues() (map[string]catalogue, error) {
	out := map[string]catalogue{}
	for _, lang := range Languages {
		raw, err := catalogueFS.ReadFile("i18n/" + lang + ".json")
		if err != nil {
			return nil, err
		}
		var c catalogue
		if err := json.Unmarshal(raw, &c); err != nil {
			return nil, fmt.Errorf("catalogue %s: %w", lang, err)
		}
		out[lang] = c
	}
	return out, nil
}

// t is a catalogue string; a missing key shows itself (the tests make
// sure none is missing).
func (c catalogue) t(key string, args ...any) string {
	s, ok := c[key]
	if !ok {
		return "[" + key + "]"
	}
	if len(args) > 0 {
		return fmt.Sprintf(s, args...)
	}
	return s
}

const langCookie = "timon_lang"

// language picks the page's language: ?lang= (remembered in a cookie),
// then the cookie, then Accept-Language, then English.
func language(w http.ResponseWriter, r *http.Request) string {
	if l := r.URL.Query().Get("lang"); known(l) {
		http.SetCookie(w, &http.Cookie{Name: langCookie, Value: l, Path: "/", MaxAge: 365 * 24 * 3600, SameSite: http.SameSiteLaxMode, HttpOnly: true})
		return l
	}
	if c, err := r.Cookie(langCookie); err == nil && known(c.Value) {
		return c.Value
	}
	return fromAcceptLanguage(r.Header.Get("Accept-Language"))
}

func known(l string) bool {
	for _, k := range Languages {
		if k == l {
			return true
		}
	}
	return false
}

// fromAcceptLanguage returns the known language the header prefers most.
func fromAcceptLanguage(h string) string {
	type pref struct {
		lang string
		q    float64
		i    int
	}
	var prefs []pref
	for i, part := range strings.Split(h, ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				q = f
			}
		}
		base, _, _ := strings.Cut(strings.ToLower(tag), "-")
		if known(base) && q > 0 {
			prefs = append(prefs, pref{base, q, i})
		}
	}
	sort.SliceStable(prefs, func(a, b int) bool { return prefs[a].q > prefs[b].q })
	if len(prefs) > 0 {
		return prefs[0].lang
	}
	return Languages[0]
}
