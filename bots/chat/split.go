package chat

import (
	"strings"
	"unicode/utf8"
)

// minChunk is the least room split works with, whatever a platform says.
const minChunk = 64

// fenceClose ends a code block cut by a split.
const fenceClose = "\n```"

// split cuts text into chunks of at most max runes each, cutting after a
// paragraph break if there is one in the second half of the window, else
// after a line break, else after a space, else anywhere. A code block
// (```) open at a cut is closed at the end of its chunk and reopened at the
// start of the next, so that each post renders on its own.
//
// The cut of a chunk depends only on the text of its window: a chunk that
// is not the last stays the same when text is appended, which is what lets
// a streamed reply finish each of its posts once.
func split(text string, max int) []string {
	if max < minChunk {
		max = minChunk
	}
	var chunks []string
	var fence string // the opening line of the code block open at the cut
	rest := text
	for {
		prefix := ""
		if fence != "" {
			prefix = fence + "\n"
		}
		budget := max - utf8.RuneCountInString(prefix) - utf8.RuneCountInString(fenceClose)
		// The last chunk needs no closing fence: an unterminated block
		// renders to its end.
		if utf8.RuneCountInString(rest) <= max-utf8.RuneCountInString(prefix) {
			return append(chunks, prefix+rest)
		}
		cut := cutPoint(rest, budget)
		piece := rest[:cut]
		rest = strings.TrimLeft(rest[cut:], "\n")
		fence = fenceAfter(fence, piece)
		chunk := prefix + strings.TrimRight(piece, " \n")
		if fence != "" {
			chunk += fenceClose
		}
		chunks = append(chunks, chunk)
		if rest == "" {
			return chunks
		}
	}
}

// cutPoint returns the byte offset at which to cut s so that s[:cut] holds
// at most budget runes (and at least one).
func cutPoint(s string, budget int) int {
	if budget < 1 {
		budget = 1
	}
	end := len(s)
	n := 0
	for i := range s {
		if n == budget {
			end = i
			break
		}
		n++
	}
	window := s[:end]
	half := len(window) / 2
	for _, sep := range []string{"\n\n", "\n", " "} {
		if i := strings.LastIndex(window, sep); i >= half && i > 0 {
			return i + len(sep)
		}
	}
	return end
}

// fenceAfter returns the code block open after piece, given the one open
// before it ("" for none).
func fenceAfter(open, piece string) string {
	for line := range strings.SplitSeq(piece, "\n") {
		t := strings.TrimSpace(line)
		if !strings.HasPrefix(t, "```") {
			continue
		}
		if open == "" {
			if strings.Contains(t[3:], "```") {
				continue // a block opened and closed on one line
			}
			open = t
			// Reopen with the language only, and only a short one.
			if lang := open[3:]; len(lang) > 16 || strings.ContainsAny(lang, "` \t") {
				open = "```"
			}
		} else {
			open = ""
		}
	}
	return open
}
