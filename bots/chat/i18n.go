package chat

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"time"
)

// The interface text of the bots comes from message catalogues, one JSON
// file per language in locales/, never from the model. Placeholders are
// written {name}.

//go:embed locales/*.json
var localeFiles embed.FS

// catalogue is one language's messages.
type catalogue struct {
	lang string
	msgs map[string]string
}

// Locales lists the languages the bots speak.
var Locales = []string{"en", "fr"}

func loadCatalogues() (map[string]*catalogue, error) {
	out := map[string]*catalogue{}
	for _, lang := range Locales {
		data, err := fs.ReadFile(localeFiles, "locales/"+lang+".json")
		if err != nil {
			return nil, fmt.Errorf("reading the %s message catalogue: %w", lang, err)
		}
		c := &catalogue{lang: lang}
		if err := json.Unmarshal(data, &c.msgs); err != nil {
			return nil, fmt.Errorf("reading the %s message catalogue: %w", lang, err)
		}
		out[lang] = c
	}
	return out, nil
}

// T returns the message key with its {name} placeholders replaced by the
// values given as name, value pairs. A missing key gives the key itself,
// so that a gap shows in tests instead of an empty reply.
func (c *catalogue) T(key string, args ...string) string {
	s, ok := c.msgs[key]
	if !ok {
		return key
	}
	if len(args) == 0 {
		return s
	}
	pairs := make([]string, 0, len(args))
	for i := 0; i+1 < len(args); i += 2 {
		pairs = append(pairs, "{"+args[i]+"}", args[i+1])
	}
	return strings.NewReplacer(pairs...).Replace(s)
}

// Plural picks key_one or key_other for n: French uses the singular for 0
// and 1, English for 1 only.
func (c *catalogue) Plural(key string, n int, args ...string) string {
	one := n == 1
	if c.lang == "fr" {
		one = n <= 1
	}
	if one {
		return c.T(key+"_one", args...)
	}
	return c.T(key+"_other", args...)
}

// Time formats t (in UTC) the way the language writes dates.
func (c *catalogue) Time(t time.Time) string {
	return t.UTC().Format(c.T("time_layout"))
}

// Lang is the language (one of Locales) the router answers ev's user in:
// adapters word their own interface text (Slack's assistant prompts and
// status) in it.
func (r *Router) Lang(ev *Event) string { return r.cat(ev).lang }

// localeOf maps a platform locale (en-US, fr_FR, fr…) to a catalogue
// language, or "" when none matches.
func localeOf(platform string) string {
	l := strings.ToLower(strings.TrimSpace(platform))
	for _, lang := range Locales {
		if l == lang || strings.HasPrefix(l, lang+"-") || strings.HasPrefix(l, lang+"_") {
			return lang
		}
	}
	return ""
}

// Num writes n with the language's thousands separator.
func (c *catalogue) Num(n int) string {
	s := strconv.Itoa(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, d := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteString(c.T("thousands_sep"))
		}
		b.WriteRune(d)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// Dec writes f with digits decimals and the language's decimal separator.
func (c *catalogue) Dec(f float64, digits int) string {
	return strings.Replace(strconv.FormatFloat(f, 'f', digits, 64), ".", c.T("decimal_sep"), 1)
}

// Money writes an amount in currency: cents from 0.1 up, four decimals
// below (a request costs fractions of a cent).
func (c *catalogue) Money(f float64, currency string) string {
	digits := 2
	if f < 0.1 {
		digits = 4
	}
	return c.Dec(f, digits) + " " + currency
}

// Energy writes watt-hours: two decimals under 10 Wh, one up to 1000,
// then kWh.
func (c *catalogue) Energy(wh float64) string {
	switch {
	case wh >= 1000:
		return c.Dec(wh/1000, 2) + " kWh"
	case wh >= 10:
		return c.Dec(wh, 1) + " Wh"
	}
	return c.Dec(wh, 2) + " Wh"
}
