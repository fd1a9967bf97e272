package review

import (
	"strings"

	"timon.dev/timon/core/redact"
	"timon.dev/timon/core/sanitize"
)

// StripInvisible removes the characters that make text read differently
// from what it is (see sanitize.StripInvisible).
func StripInvisible(s string) string { return sanitize.StripInvisible(s) }

// Sanitizer checks the model's text before it is posted: the core output
// sanitizer in its GitLab flavor, plus secrets masked.
type Sanitizer struct {
	// Allow lists the hosts links and images may point to (subdomains
	// included); the GitLab host is one of them.
	Allow []string
	// Redactor finds secrets the answer may carry (restored placeholders,
	// or the model's own); they are replaced by their type.
	Redactor *redact.Redactor
}

// Text sanitizes prose written by the model (a finding's message, a
// summary, a description): invisible characters stripped, links and images
// to hosts outside the allowlist shown as text (destinations decoded
// before they are checked), raw HTML media and links dropped, GitLab quick
// actions (/approve, /merge…) and @mentions neutralised, HTML comments (our
// fingerprints) defused, secrets replaced, an unclosed code fence closed.
func (s *Sanitizer) Text(t string) string {
	p := &sanitize.Policy{Flavor: sanitize.GitLab, Allow: s.Allow}
	t = s.maskSecrets(p.Markdown(t))
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
