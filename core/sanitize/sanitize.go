// Package sanitize makes a model's answer safe to post where Markdown is
// rendered (Slack, Mattermost, GitLab): the one output sanitizer every front
// end uses before it posts.
//
// A model's answer is untrusted (a prompt injection in a thread, a diff or a
// document can write it). Posted as is, it could ping a whole channel, show
// an image whose fetch carries data out of the institution, or link to
// javascript:. Policy.Markdown therefore:
//
//   - strips invisible characters (bidirectional controls, zero-width
//     characters, tag characters);
//   - keeps links and images only to allowed hosts (the platform's own host
//     and a configurable list, subdomains included) or plain relative paths;
//     any other is rendered as plain text (the link text stays, the URL
//     goes). Destinations are checked as written and after each round of
//     HTML-entity and percent decoding, with control characters and white
//     space removed; only http and https are accepted, without credentials
//     and without another URL inside;
//   - escapes raw HTML that fetches or links (<img>, <a>, <iframe>, any tag
//     with src=, href=, style=…), complete or not;
//   - defuses mentions: <!channel>, <!here>, <!subteam^…> on Slack, and on
//     Slack, Mattermost and GitLab every @mention (@channel, @here, @all,
//     and groups, which cannot be told from a person): the model never
//     notifies anyone.
//
// Restored values are kept out of destinations by the restore step itself
// (core/redact, RestoreMarkdown): by the time text reaches this package, a
// placeholder inside a URL is still a placeholder.
//
// Every pass is a Go regular expression (RE2, linear time), a single scan,
// or (raw HTML) a scan with binary searches: no input makes it slow.
package sanitize

import (
	"html"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// Flavor is the Markdown dialect of a destination.
type Flavor int

// Flavors.
const (
	// Generic is CommonMark with GitHub's extensions (HTTP API clients).
	Generic Flavor = iota
	// Slack is Slack's mrkdwn: <url|text> links, <!channel> commands.
	Slack
	// Mattermost renders Markdown; any @name may be a group.
	Mattermost
	// GitLab renders GitLab Flavored Markdown and some raw HTML; quick
	// actions (/approve) and @mentions act.
	GitLab
)

// LinkRemoved replaces a bare URL that is not allowed. Neither brackets
// nor parentheses: it must not complete a link with what is around it.
const LinkRemoved = "‹link removed›"

// Policy says what a destination accepts.
type Policy struct {
	Flavor Flavor
	// Host is the platform's own host: always allowed, subdomains included.
	Host string
	// Allow lists further hosts links and images may point to (subdomains
	// included).
	Allow []string
}

// The sanitizer's expressions, compiled on first use, not at start:
// every timon process (timon lsp too) links this package.
var (
	// Inline link or image: text with one level of nested brackets; a
	// destination in <…> or with one level of balanced parentheses; an
	// optional title.
	inlineLink = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`(!?)\[((?:[^\[\]\n]|\[[^\[\]\n]*\])*)\]\(` + ws + `(<[^<>\n]*>|[^\s()<>]*(?:\([^\s()]*\)[^\s()<>]*)*)(?:(?:[ \t]|\n)` + ws + `(?:"[^"]*"|'[^']*'|\([^()]*\)))?` + ws + `\)`)
	})
	// Reference definition, anywhere (also inside quotes and lists); the
	// destination may be on the next line.
	refDef = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`\[((?:[^\[\]\n\\]|\\.)+)\]:[ \t]*(?:\n[ \t]*)?(<[^<>\n]*>|[^\s<>]+)`)
	})
	// Autolink <scheme:…>, <//host…>, <www.…>, and Slack's <url|text>.
	autolink = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`<((?:[a-zA-Z][a-zA-Z0-9+.\-]*:|//|www\.)[^<>\s|]*)(?:\|([^<>\n]*))?>`)
	})
	// Bare URLs a renderer may turn into links, and dangerous schemes
	// however they are written.
	bareURL = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`(?i)\b(?:[a-z][a-z0-9+.\-]*://|(?:javascript|vbscript|data|file|mailto|blob|about|jar|view-source):|www\.)[^\s<>()\[\]"'` + "`\\x00" + `]*|//[a-z0-9.\-]+\.[a-z]{2,}[^\s<>()\[\]"'` + "`\\x00" + `]*`)
	})
	// The opening of an HTML tag (open or close).
	tagOpen = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`</?([a-zA-Z][a-zA-Z0-9\-]*)`) })
	// Attributes that fetch, link or style.
	fetchAttr = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`(?i)(?:^|[\s/"'])(?:src|srcset|href|xlink:href|action|formaction|style|background|poster|data|ping|lowsrc|dynsrc|codebase|cite|longdesc|manifest|on[a-z]+)\s*=`)
	})
	// Slack's special commands: <!channel>, <!here>, <!subteam^…>…
	slackCommand = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`<!([^<>\n]*)>`) })
	massMention  = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`(?i)(^|[^\w@.\-])@(channel|here|everyone|all)\b`) })
	anyMention   = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`(^|[^\w` + "`" + `/.@\-])@([A-Za-z0-9_][A-Za-z0-9_.\-]*)`)
	})
	quickAction = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`(?m)^([ \t>]*)/([A-Za-z])`) })
)

// htmlAttr finds an attribute that fetches or links, with its value, in a
// complete tag (which holds no blank line).
var htmlAttr = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`(?i)<[a-z]` + tagBody + `*?[\s/"'](?:src|srcset|href|action|formaction|background|poster|data)[ \t]*\n?[ \t]*=[ \t]*\n?[ \t]*("[^"\n]*(?:\n[^"\n]+)*"|'[^'\n]*(?:\n[^'\n]+)*'|[^\s<>]+)` + tagBody + `*>`)
})

// ws is white space within a paragraph: at most one line break.
const ws = `[ \t]*\n?[ \t]*`

// tagBody is a character of a tag: no angle bracket, no blank line.
const tagBody = `(?:[^<>\n]|\n[ \t]*[^<>\s])`

// Destinations lists what a renderer may fetch or link to in t: inline
// link and image destinations, reference definitions, autolinks and Slack
// links, bare URLs and HTML src=/href= values. It over-approximates; tests
// use it to check where values end up.
func Destinations(t string) []string {
	var out []string
	for _, m := range inlineLink().FindAllStringSubmatch(t, -1) {
		out = append(out, m[3])
	}
	for _, m := range refDef().FindAllStringSubmatch(t, -1) {
		out = append(out, m[2])
	}
	for _, m := range autolink().FindAllStringSubmatch(t, -1) {
		out = append(out, m[1])
	}
	for _, m := range htmlAttr().FindAllStringSubmatch(t, -1) {
		out = append(out, m[1])
	}
	return append(out, bareURL().FindAllString(t, -1)...)
}

// tags that fetch, frame, link or run, whatever their attributes.
var dangerousTags = map[string]bool{
	"img": true, "a": true, "iframe": true, "frame": true, "frameset": true, "video": true, "audio": true,
	"source": true, "track": true, "picture": true, "object": true, "embed": true, "applet": true, "svg": true,
	"image": true, "link": true, "meta": true, "base": true, "form": true, "input": true, "button": true,
	"script": true, "style": true, "math": true, "portal": true, "area": true, "map": true, "use": true,
	"textarea": true, "select": true, "noscript": true, "template": true,
}

var bracket = strings.NewReplacer(`\[`, `\[`, `\]`, `\]`, "[", `\[`, "]", `\]`)

// zwj is placed after the @ of a mention so that it does not notify.
const zwj = "\u200d"

// Markdown returns t safe to post to the policy's destination.
func (p *Policy) Markdown(t string) string {
	t = StripInvisible(t)
	t = strings.ReplaceAll(t, "\x00", "")
	if p.Flavor == Slack {
		// Shown as typed, never acted on: Slack displays &lt; as <.
		t = slackCommand().ReplaceAllString(t, "&lt;!$1&gt;")
	}
	t = strings.ReplaceAll(t, "<!--", "&lt;!--")
	t = neutraliseHTML(t)

	// Allowed links are set aside as \x00n\x00 so that the bare-URL pass
	// does not see them.
	var kept []string
	hold := func(s string) string {
		kept = append(kept, s)
		return "\x00" + strconv.Itoa(len(kept)-1) + "\x00"
	}
	t = p.inline(t, hold)
	t = refDef().ReplaceAllStringFunc(t, func(m string) string {
		sm := refDef().FindStringSubmatchIndex(m)
		if p.Allowed(m[sm[4]:sm[5]]) {
			return m[:sm[4]] + hold(m[sm[4]:])
		}
		// The label stays: removing it all could join what was around.
		return m[:sm[4]] + LinkRemoved
	})
	t = autolink().ReplaceAllStringFunc(t, func(m string) string {
		sm := autolink().FindStringSubmatch(m)
		if p.Allowed(sm[1]) {
			return hold(m)
		}
		if strings.TrimSpace(sm[2]) != "" {
			return p.plain(sm[2])
		}
		return LinkRemoved
	})
	t = bareURL().ReplaceAllStringFunc(t, func(m string) string {
		if p.Allowed(m) {
			return m
		}
		return LinkRemoved
	})
	if len(kept) > 0 {
		t = unhold(t, kept)
	}

	switch p.Flavor {
	case Slack, Mattermost:
		t = anyMention().ReplaceAllString(t, "$1@"+zwj+"$2")
	case GitLab:
		t = quickAction().ReplaceAllString(t, `$1\/$2`)
		t = anyMention().ReplaceAllString(t, "$1`@$2`")
	default:
		t = massMention().ReplaceAllString(t, "$1@"+zwj+"$2")
	}
	return t
}

// inline handles inline links and images: an image's alt text and a link's
// text are sanitized too (an image may hide inside an allowed link's text).
func (p *Policy) inline(t string, hold func(string) string) string {
	return inlineLink().ReplaceAllStringFunc(t, func(m string) string {
		sm := inlineLink().FindStringSubmatchIndex(m)
		text := m[sm[4]:sm[5]]
		dest := m[sm[6]:sm[7]]
		if strings.Contains(text, "](") {
			text = p.inline(text, hold) // one level: the pattern nests once
		}
		if p.Allowed(dest) {
			// The text stays visible to the later passes.
			return hold(m[:sm[4]]) + text + hold(m[sm[5]:])
		}
		return p.plain(text)
	})
}

// plain is the text of a removed link: its brackets escaped where Markdown
// links exist, so that it cannot form a new link with what follows
// ("[[a]](x)(y)" would leave "[a](y)").
func (p *Policy) plain(text string) string {
	if p.Flavor == Slack || !strings.ContainsAny(text, "[]") {
		return text
	}
	return bracket.Replace(text)
}

// neutraliseHTML escapes the '<' of every tag that may fetch, link or run:
// a dangerous name (<img>, <a>, <iframe>…), or an attribute that fetches
// (src=, href=, style=…) or a quote anywhere before the tag's first '>' —
// where a browser ends it, whatever Markdown thinks, and whether or not
// the tag is complete. Escaping removes nothing, so no new tag can form
// from what was around. Positions are precomputed: O(n log n).
func neutraliseHTML(t string) string {
	opens := tagOpen().FindAllStringSubmatchIndex(t, -1)
	if len(opens) == 0 {
		return t
	}
	// next returns the first position ≥ i in sorted ps, or len(t).
	next := func(ps []int, i int) int {
		k := sort.SearchInts(ps, i)
		if k == len(ps) {
			return len(t)
		}
		return ps[k]
	}
	var gts, quotes, fetches []int
	for i := 0; i < len(t); i++ {
		switch t[i] {
		case '>':
			gts = append(gts, i)
		case '"', '\'':
			quotes = append(quotes, i)
		}
	}
	for _, f := range fetchAttr().FindAllStringIndex(t, -1) {
		fetches = append(fetches, f[0])
	}
	var b strings.Builder
	b.Grow(len(t) + 8)
	last := 0
	for _, o := range opens {
		end := next(gts, o[1])
		name := strings.ToLower(t[o[2]:o[3]])
		if dangerousTags[name] || next(quotes, o[1]) < end || next(fetches, o[1]) < end {
			b.WriteString(t[last:o[0]])
			b.WriteString("&lt;")
			last = o[0] + 1
		}
	}
	b.WriteString(t[last:])
	return b.String()
}

func unhold(t string, kept []string) string {
	var b strings.Builder
	b.Grow(len(t))
	for {
		i := strings.IndexByte(t, 0)
		if i < 0 {
			break
		}
		j := strings.IndexByte(t[i+1:], 0)
		if j < 0 {
			break
		}
		b.WriteString(t[:i])
		if n, err := strconv.Atoi(t[i+1 : i+1+j]); err == nil && n >= 0 && n < len(kept) {
			// An allowed link's text may hold an allowed image's token,
			// always an earlier one.
			b.WriteString(unhold(kept[n], kept[:n]))
		}
		t = t[i+j+2:]
	}
	b.WriteString(t)
	return b.String()
}

// Allowed reports whether a link or image destination may stay: a relative
// one (it resolves on the platform's own host), or an http(s) URL without
// credentials to an allowed host. The destination is checked as written and
// after each round of HTML-entity and percent decoding (what a browser
// does), with control characters and white space removed; all must pass.
func (p *Policy) Allowed(dest string) bool {
	dest = strings.TrimSpace(dest)
	if strings.HasPrefix(dest, "<") && strings.HasSuffix(dest, ">") {
		dest = dest[1 : len(dest)-1]
	}
	if dest == "" {
		return false
	}
	cur := dest
	for round := 0; ; round++ {
		if !p.allowedClean(clean(cur)) {
			return false
		}
		next := percentDecode(html.UnescapeString(cur))
		if next == cur {
			return true
		}
		if round == 3 {
			return false // still encoded after three rounds: refused
		}
		cur = next
	}
}

// clean removes ASCII control characters and white space, which browsers
// drop from URLs (java\tscript: is javascript:).
func clean(s string) string {
	ok := true
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] == 0x7f {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] > ' ' && s[i] != 0x7f {
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

func (p *Policy) allowedClean(s string) bool {
	if s == "" || strings.ContainsRune(s, '\\') || !utf8.ValidString(s) {
		return false
	}
	if strings.ContainsAny(s, "\u00a0\u2028\u2029\u3000") {
		return false
	}
	end := strings.IndexAny(s, ":/?#")
	if i := strings.Index(s, "//"); i >= 0 && strings.Contains(s[i+2:], "//") {
		return false // a URL carried inside another (redirects, nested links)
	}
	if i := strings.IndexByte(s, ':'); i >= 0 {
		rest := s[i+1:]
		if strings.HasPrefix(rest, "//") { // past the host
			rest = rest[2:]
			if j := strings.IndexAny(rest, "/?#"); j >= 0 {
				rest = rest[j:]
			} else {
				rest = ""
			}
		}
		if bareURL().MatchString(rest) {
			return false // likewise: a scheme or www. further in
		}
	}
	switch {
	case end >= 0 && s[end] == ':':
		scheme := strings.ToLower(s[:end])
		if scheme != "http" && scheme != "https" {
			return false
		}
	case strings.HasPrefix(s, "//"):
		s = "https:" + s
	case strings.HasPrefix(strings.ToLower(s), "www."):
		s = "https://" + s // linkified as such by GFM
	case strings.Contains(s, "//") || strings.Contains(s, ":") || strings.Contains(strings.ToLower(s), "www."):
		return false // not a plain path: no host hidden in a relative link
	default:
		return true // relative: on the platform's own host
	}
	u, err := url.Parse(s)
	if err != nil || u.User != nil || u.Opaque != "" {
		return false
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if host == "" || strings.Trim(host, "abcdefghijklmnopqrstuvwxyz0123456789.-") != "" {
		return false // a plain DNS name only
	}
	return p.hostAllowed(host)
}

func (p *Policy) hostAllowed(host string) bool {
	match := func(a string) bool {
		a = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(a)), ".")
		return a != "" && (host == a || strings.HasSuffix(host, "."+a))
	}
	if match(p.Host) {
		return true
	}
	for _, a := range p.Allow {
		if match(a) {
			return true
		}
	}
	return false
}

// percentDecode decodes %XX escapes; a malformed one stays as written.
func percentDecode(s string) string {
	if strings.IndexByte(s, '%') < 0 {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}

// StripInvisible removes the characters that make text read differently
// from what it is: bidirectional controls (Trojan Source), zero-width
// characters, the BOM, soft hyphens and Unicode tag characters (invisible
// ASCII smuggled to a model). Invalid UTF-8 becomes U+FFFD.
func StripInvisible(s string) string {
	clean := true
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError || invisible(r) {
			clean = false
			break
		}
		i += n
	}
	if clean {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s { // ranging replaces invalid bytes with U+FFFD
		if !invisible(r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func invisible(r rune) bool {
	switch {
	case r >= 0x202A && r <= 0x202E, // LRE, RLE, PDF, LRO, RLO
		r >= 0x2066 && r <= 0x2069,            // LRI, RLI, FSI, PDI
		r == 0x200E, r == 0x200F, r == 0x061C, // LRM, RLM, ALM
		r >= 0x200B && r <= 0x200D,                         // zero-width space, non-joiner, joiner
		r == 0x2060, r == 0xFEFF, r == 0x180E, r == 0x00AD, // word joiner, BOM, Mongolian vowel separator, soft hyphen
		r >= 0x2061 && r <= 0x2064,   // invisible operators
		r >= 0xE0000 && r <= 0xE007F: // tag characters
		return true
	}
	return false
}

// StripFence returns the body of a Markdown code fence that wraps the whole
// of s (chat-tuned models add one around code they were asked for), with
// its last line break; s itself when no fence wraps it.
func StripFence(s string) string {
	t := strings.TrimSpace(s)
	if !strings.HasPrefix(t, "```") || !strings.HasSuffix(t, "```") || len(t) < 6 {
		return s
	}
	t = strings.TrimSuffix(t, "```")
	if i := strings.IndexByte(t, '\n'); i >= 0 {
		return t[i+1:]
	}
	return s
}
