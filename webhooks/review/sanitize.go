package review

import (
	"net/url"
	"regexp"
	"strings"
	"unicode/utf8"

	"timon.dev/timon/core/redact"
)

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

// Sanitizer checks the model's text before it is posted.
type Sanitizer struct {
	// Allow lists the hosts links and images may point to (subdomains
	// included).
	Allow []string
	// Redactor finds secrets the answer may carry (restored placeholders,
	// or the model's own); they are replaced by their type.
	Redactor *redact.Redactor
}

var (
	mdImage   = regexp.MustCompile(`!\[([^\]\n]*)\]\(\s*<?([^)\s>]*)>?(?:\s+["'(][^)\n]*)?\)`)
	mdLink    = regexp.MustCompile(`\[([^\]\n]*)\]\(\s*<?([^)\s>]*)>?(?:\s+["'(][^)\n]*)?\)`)
	mdRefDef  = regexp.MustCompile(`(?m)^[ \t]{0,3}\[[^\]\n]+\]:[ \t]*<?(\S+?)>?(?:[ \t]+.*)?$`)
	autolink  = regexp.MustCompile(`<((?:[a-zA-Z][a-zA-Z0-9+.-]*:|//)[^>\s]*)>`)
	bareURL   = regexp.MustCompile(`(?i)\b(?:(?:https?|ftp|file|data|javascript|vbscript):|www\.)[^\s<>()\[\]"'` + "`" + `]*|//[a-z0-9.-]+\.[a-z]{2,}[^\s<>()\[\]"'` + "`" + `]*`)
	htmlMedia = regexp.MustCompile(`(?is)<\s*/?\s*(?:img|a|iframe|video|audio|source|picture|object|embed|svg|image|link|meta|form|input|script|style)\b[^>]*>`)
	quickAct  = regexp.MustCompile(`(?m)^([ \t]*)/([A-Za-z])`)
	mention   = regexp.MustCompile(`(^|[^\w` + "`" + `/.@-])@([A-Za-z0-9_][A-Za-z0-9_.-]*)`)
)

// Text sanitizes prose written by the model (a finding's message, a
// summary, a description): invisible characters stripped, links and images
// to hosts outside the allowlist removed, raw HTML media and links
// dropped, GitLab quick actions (/approve, /merge…) and @mentions
// neutralised, HTML comments (our fingerprints) defused, secrets replaced.
func (s *Sanitizer) Text(t string) string {
	t = StripInvisible(t)
	t = strings.ReplaceAll(t, "<!--", "&lt;!--")
	t = htmlMedia.ReplaceAllString(t, "")
	t = mdImage.ReplaceAllStringFunc(t, func(m string) string {
		sm := mdImage.FindStringSubmatch(m)
		if s.allowed(sm[2]) {
			return m
		}
		return ""
	})
	// Keep allowed links out of the bare-URL pass below.
	var kept []string
	hold := func(m string) string {
		kept = append(kept, m)
		return "\x00" + string(rune('A'+len(kept)-1)) + "\x00"
	}
	t = strings.ReplaceAll(t, "\x00", "")
	t = mdLink.ReplaceAllStringFunc(t, func(m string) string {
		sm := mdLink.FindStringSubmatch(m)
		if s.allowed(sm[2]) && len(kept) < 26 {
			return hold(m)
		}
		return sm[1]
	})
	t = mdRefDef.ReplaceAllStringFunc(t, func(m string) string {
		sm := mdRefDef.FindStringSubmatch(m)
		if s.allowed(sm[1]) && len(kept) < 26 {
			return hold(m)
		}
		return ""
	})
	t = autolink.ReplaceAllStringFunc(t, func(m string) string {
		sm := autolink.FindStringSubmatch(m)
		if s.allowed(sm[1]) && len(kept) < 26 {
			return hold(m)
		}
		return "[link removed]"
	})
	t = bareURL.ReplaceAllStringFunc(t, func(m string) string {
		if s.allowed(m) {
			return m
		}
		return "[link removed]"
	})
	for i, k := range kept {
		t = strings.Replace(t, "\x00"+string(rune('A'+i))+"\x00", k, 1)
	}
	t = quickAct.ReplaceAllString(t, `$1\/$2`)
	t = mention.ReplaceAllString(t, "$1`@$2`")
	t = s.maskSecrets(t)
	if strings.Count(t, "```")%2 == 1 {
		t += "\n```"
	}
	return strings.TrimSpace(t)
}

// Code sanitizes a code suggestion: invisible characters stripped and
// secrets replaced. It returns "" for a suggestion that would break out of
// its block.
func (s *Sanitizer) Code(t string) string {
	t = StripInvisible(t)
	if strings.Contains(t, "```") || strings.Contains(t, "~~~") {
		return ""
	}
	return s.maskSecrets(strings.TrimRight(t, "\n"))
}

func (s *Sanitizer) maskSecrets(t string) string {
	if s.Redactor == nil {
		return t
	}
	fs := s.Redactor.Scan(t)
	if len(fs) == 0 {
		return t
	}
	var b strings.Builder
	last := 0
	for _, f := range fs {
		if f.Kind != redact.KindSecret {
			continue
		}
		b.WriteString(t[last:f.Start])
		b.WriteString("[redacted " + f.Type + "]")
		last = f.End
	}
	b.WriteString(t[last:])
	return b.String()
}

// allowed reports whether a link target may stay: a relative link (within
// GitLab) or an http(s) URL to an allowed host.
func (s *Sanitizer) allowed(target string) bool {
	target = strings.TrimSpace(target)
	if target == "" {
		return false
	}
	if strings.HasPrefix(strings.ToLower(target), "www.") {
		target = "https://" + target
	}
	u, err := url.Parse(target)
	if err != nil {
		return false
	}
	if u.Scheme == "" && u.Host == "" && !strings.HasPrefix(target, "//") {
		// Relative: a path on the GitLab instance, or an anchor.
		return !strings.Contains(target, ":")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return false
	}
	host := strings.ToLower(u.Hostname())
	if u.User != nil || host == "" {
		return false
	}
	for _, a := range s.Allow {
		a = strings.ToLower(a)
		if host == a || strings.HasSuffix(host, "."+a) {
			return true
		}
	}
	return false
}
