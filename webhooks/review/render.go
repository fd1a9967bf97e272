package review

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"timon.dev/timon/core"
)

// Markers are hidden HTML comments in the notes timon posts; they make a
// re-run find what it already posted instead of posting it again.
const (
	markerPrefix  = "<!-- timon:"
	SummaryMarker = "<!-- timon:summary -->"
	DescribeMark  = "<!-- timon:describe -->"
)

// FingerprintMarker is the marker of an inline comment.
func FingerprintMarker(fp string) string { return markerPrefix + "fp:" + fp + " -->" }

// improveMarker is the marker of a suggestion posted for /timon improve.
func improveMarker(note int64, fp string) string {
	return markerPrefix + "improve:" + strconv.FormatInt(note, 10) + ":" + fp + " -->"
}

// commandMarker is the marker of the reply to a command note.
func commandMarker(kind string, note int64) string {
	return markerPrefix + kind + ":" + strconv.FormatInt(note, 10) + " -->"
}

// Markers returns the timon markers in a note body.
func Markers(body string) []string {
	var out []string
	for {
		i := strings.Index(body, markerPrefix)
		if i < 0 {
			return out
		}
		j := strings.Index(body[i:], "-->")
		if j < 0 {
			return out
		}
		out = append(out, body[i:i+j+3])
		body = body[i+j+3:]
	}
}

// fingerprint identifies an inline comment by what it says and where.
func fingerprint(project, iid int64, c *Comment) string {
	h := sha256.New()
	fmt.Fprintf(h, "%d\x00%d\x00%s\x00%s\x00%d\x00%d\x00%s\x00%s", project, iid, c.Pos.OldPath, c.Pos.NewPath,
		c.Pos.OldLine, c.Pos.NewLine, normalizeLine(c.Quote), normalizeLine(c.Message))
	return hex.EncodeToString(h.Sum(nil)[:8])
}

func shortSHA(s string) string {
	if len(s) > 8 {
		return s[:8]
	}
	return s
}

func severityLabel(s string) string {
	switch s {
	case "critical":
		return "🔴 Critical"
	case "major":
		return "🟠 Major"
	case "minor":
		return "🟡 Minor"
	}
	return "🔵 Info"
}

// inlineBody renders an inline comment of a review.
func inlineBody(c *Comment, head string) string {
	return noteBody(c, head, false, FingerprintMarker(c.Fingerprint))
}

// noteBody renders an inline comment (a suggestion of /timon improve when
// improve is set), ending with its marker and the finding's.
func noteBody(c *Comment, head string, improve bool, marker string) string {
	var b strings.Builder
	if improve {
		b.WriteString("**💡 Suggestion**")
	} else {
		b.WriteString("**" + severityLabel(c.Severity) + "**")
	}
	if c.Secret == "" {
		fmt.Fprintf(&b, " · confidence %.0f%%", c.Confidence*100)
	}
	b.WriteString("\n\n" + c.Message + "\n")
	if c.Suggestion != "" {
		b.WriteString("\n" + suggestionBlock(c.Suggestion) + "\n")
	}
	what := "review"
	if improve {
		what = "suggestion"
	}
	b.WriteString("\n<sub>timon " + what + " of " + shortSHA(head) + "</sub>\n")
	b.WriteString(marker)
	if c.Key != "" {
		b.WriteString(findingMarker(c.Kind, c.Key))
	}
	return b.String()
}

// suggestionBlock renders a GitLab suggestion replacing the commented
// line with text: a fence longer than any backtick run in text, so that
// the replacement cannot close it.
func suggestionBlock(text string) string {
	fence := "```"
	for strings.Contains(text, fence) {
		fence += "`"
	}
	return fence + "suggestion:-0+0\n" + text + "\n" + fence
}

// improveBody renders the reply to /timon improve.
func improveBody(r *Result, posted int, notices string) string {
	var b strings.Builder
	b.WriteString("### timon suggestions\n\n")
	fmt.Fprintf(&b, "%s on `%s`, on the lines they change.", plural(posted, "suggestion posted", "suggestions posted"), shortSHA(r.Head))
	if r.Dropped > 0 {
		fmt.Fprintf(&b, " %s dropped: the lines they would change are not in the diff.", plural(r.Dropped, "suggestion was", "suggestions were"))
	}
	b.WriteString("\n\n")
	for _, f := range r.Failures {
		b.WriteString("> ⚠️ " + f + "\n\n")
	}
	learnedBody(&b, r)
	b.WriteString(notices)
	b.WriteString("<sub>Written by the institution's own model through timon; it can be wrong. Review each suggestion before applying it.</sub>\n")
	return b.String()
}

// learnedBody says what a review left out because of earlier dismissals.
func learnedBody(b *strings.Builder, r *Result) {
	if r.Dismissed > 0 {
		fmt.Fprintf(b, "%s dismissed earlier on this merge request (resolved without a change, or 👎) not raised again.\n\n",
			plural(r.Dismissed, "finding", "findings"))
	}
	if r.Suppressed > 0 {
		fmt.Fprintf(b, "%s of kinds this project suppresses (%s) left out.\n\n", plural(r.Suppressed, "finding", "findings"),
			strings.Join(r.SuppressedKinds, ", "))
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// summaryBody renders the summary note of a review; notices (see
// noticesBody) go last.
func summaryBody(r *Result, posted int, notices string) string {
	var b strings.Builder
	b.WriteString("### timon review\n\n")
	scope := "the whole merge request"
	if r.Since != "" {
		scope = "the changes since `" + shortSHA(r.Since) + "`"
	}
	fmt.Fprintf(&b, "Reviewed `%s`, %s: %s", shortSHA(r.Head), scope, plural(r.Reviewed, "file", "files"))
	if r.Chunks > 1 {
		fmt.Fprintf(&b, " in %d parts", r.Chunks)
	}
	fmt.Fprintf(&b, "; %s.\n\n", plural(posted, "inline comment", "inline comments"))
	for _, f := range r.Failures {
		b.WriteString("> ⚠️ " + f + "\n\n")
	}
	if s := strings.TrimSpace(r.Summary); s != "" {
		b.WriteString(s + "\n\n")
	} else if r.Reviewed > 0 && len(r.Failures) == 0 && len(r.Comments) == 0 {
		b.WriteString("Nothing worth raising.\n\n")
	}
	if len(r.Secrets) > 0 {
		b.WriteString("**Possible secrets in the diff.** Revoke them: a later commit does not remove them from the history.\n")
		for _, s := range r.Secrets {
			fmt.Fprintf(&b, "- `%s` in `%s` line %d\n", s.Type, escapeCode(s.Path), s.Line)
		}
		b.WriteString("\n")
	}
	if len(r.Others) > 0 {
		b.WriteString("**Other findings**\n")
		for i, c := range r.Others {
			if i == 30 {
				fmt.Fprintf(&b, "- … and %d more\n", len(r.Others)-30)
				break
			}
			loc := "`" + escapeCode(c.Path) + "`"
			if c.Line > 0 {
				loc += " line " + strconv.Itoa(c.Line)
			}
			fmt.Fprintf(&b, "- **%s** %s: %s\n", c.Severity, loc, oneLine(c.Message, 400))
		}
		b.WriteString("\n")
	}
	if len(r.Skipped) > 0 {
		fmt.Fprintf(&b, "<details><summary>Not reviewed: %s</summary>\n\n", plural(len(r.Skipped), "file", "files"))
		for i, s := range r.Skipped {
			if i == 50 {
				fmt.Fprintf(&b, "- … and %d more\n", len(r.Skipped)-50)
				break
			}
			fmt.Fprintf(&b, "- `%s`: %s\n", escapeCode(s.Path), s.Reason)
		}
		b.WriteString("\n</details>\n\n")
	}
	if r.Unchanged > 0 {
		fmt.Fprintf(&b, "%s unchanged since the last review.\n\n", plural(r.Unchanged, "file", "files"))
	}
	learnedBody(&b, r)
	b.WriteString(notices)
	b.WriteString("<sub>Written by the institution's own model through timon; it can be wrong. Ask with `/timon review`, `/timon describe`, `/timon improve` or `/timon explain <question>`; `/timon ask <question>` in a discussion on a line.</sub>\n")
	b.WriteString(SummaryMarker)
	return b.String()
}

// escapeCode keeps a path inside inline code.
func escapeCode(s string) string {
	return strings.ReplaceAll(StripInvisible(strings.ReplaceAll(s, "\n", " ")), "`", "'")
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		s = truncate(s, n)
	}
	return s
}

// noticesBody renders the engine's notices of a result (moderation) for
// the readers of the merge request, one quoted line each: material set
// aside is said not reviewed (which part is not known).
func (r *Reviewer) noticesBody(res *Result) string {
	var b strings.Builder
	for _, n := range res.Notices {
		if cat, ok := core.SetAsideCategory(n); ok {
			n = "Part of the merge request was set aside by moderation (category " + cat + ") and was not reviewed"
			if res.Kind != KindReview {
				n = "Part of the merge request was set aside by moderation (category " + cat + ") and was left out of this answer"
			}
		} else if n != "" {
			n = strings.ToUpper(n[:1]) + n[1:]
		}
		if n = r.san.Text(n); n != "" {
			b.WriteString("> 🛡️ " + oneLine(n, 300) + ".\n\n")
		}
	}
	return b.String()
}
