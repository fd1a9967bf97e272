package review

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"timon.dev/timon/core"
)

// Chunk is the part of a review sent in one model call.
type Chunk struct {
	// Text is the diff part of the model's input.
	Text string
	// Files are the files (or parts of files) it holds.
	Files []string
	// Untrusted are its file blocks, each an exact part of Text: the
	// pieces moderation checks one by one, and may set aside (neighbours
	// grouped when a chunk holds more files than a request may list).
	Untrusted []string
}

// Head is the merge request's header block of the model's input.
type Head struct {
	Text string
	// Untrusted are its title, description and commit titles, each an
	// exact part of Text.
	Untrusted []string
}

// maxFilePieces bounds the file blocks a chunk lists as untrusted: a
// request lists at most core.MaxUntrusted pieces, three of them the
// header's.
const maxFilePieces = core.MaxUntrusted - 3

// structureTag matches the tags that structure the model's input, so that
// untrusted text cannot close or open one. Compiled on first use, not at
// start: every timon process (timon lsp too) links this package.
var structureTag = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`(?i)<(/?)\s*(merge_request|title|description|commits|commit|diff|file|question|data)\b`)
})

// defuse makes untrusted text unable to end or start a block of the input:
// invisible characters are stripped and structure tags broken.
func defuse(s string) string {
	return structureTag().ReplaceAllString(StripInvisible(s), "< $1$2")
}

// attr quotes untrusted text (a file name) for an attribute.
func attr(s string) string {
	s = StripInvisible(s)
	s = strings.NewReplacer("&", "&amp;", `"`, "&quot;", "<", "&lt;", ">", "&gt;", "\n", " ", "\r", " ").Replace(s)
	return `"` + s + `"`
}

// Header renders the merge request's title, description (truncated) and
// commit titles as the untrusted block that starts every chunk.
func Header(title, description string, commits []Commit) Head {
	var b strings.Builder
	t, d := defuse(truncate(title, 300)), defuse(truncate(description, 3000))
	b.WriteString("<merge_request>\n<title>" + t + "</title>\n<description>\n" + d + "\n</description>\n")
	var cs strings.Builder
	for i, c := range commits {
		if i == 30 {
			cs.WriteString("… " + strconv.Itoa(len(commits)-30) + " more\n")
			break
		}
		cs.WriteString("- " + defuse(truncate(strings.ReplaceAll(c.Title, "\n", " "), 200)) + "\n")
	}
	if len(commits) > 0 {
		b.WriteString("<commits>\n" + cs.String() + "</commits>\n")
	}
	b.WriteString("</merge_request>\n")
	return Head{Text: b.String(), Untrusted: distinct(t, d, cs.String())}
}

// chunkInput is the model's input for a chunk, under the header, and the
// untrusted pieces in it.
func chunkInput(h Head, c Chunk) (string, []string) {
	return h.Text + "<diff>\n" + c.Text + "</diff>", distinct(append(slices.Clone(h.Untrusted), c.Untrusted...)...)
}

// distinct returns ss without blank or repeated strings.
func distinct(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if strings.TrimSpace(s) != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// group returns the parts of text the spans cover, at most n of them:
// consecutive spans (which touch) are grouped when there are more.
func group(text string, spans [][2]int, n int) []string {
	size := (len(spans) + n - 1) / max(n, 1)
	var out []string
	for i := 0; i < len(spans); i += size {
		last := spans[min(i+size, len(spans))-1]
		out = append(out, text[spans[i][0]:last[1]])
	}
	return out
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut] + " …[truncated]"
}

func status(f *File) string {
	switch {
	case f.NewFile:
		return "added"
	case f.DeletedFile:
		return "deleted"
	case f.RenamedFile:
		return "renamed"
	}
	return "modified"
}

// renderHunk writes one hunk (or lines of it) in unified form; every line
// starts with its marker, so nothing in it can start a structure tag.
func renderHunk(b *strings.Builder, h *Hunk, lines []Line) {
	b.WriteString("@@ -" + strconv.Itoa(h.OldStart) + "," + strconv.Itoa(h.OldLines) + " +" + strconv.Itoa(h.NewStart) + "," + strconv.Itoa(h.NewLines) + " @@")
	if h.Section != "" {
		b.WriteString(" " + defuse(truncate(h.Section, 120)))
	}
	b.WriteByte('\n')
	for _, l := range lines {
		b.WriteByte(l.Kind)
		b.WriteString(StripInvisible(l.Text))
		b.WriteByte('\n')
	}
}

func fileOpen(f *File) string {
	s := "<file path=" + attr(f.Path())
	if f.OldPath != "" && f.OldPath != f.NewPath {
		s += " old_path=" + attr(f.OldPath)
	}
	return s + " status=\"" + status(f) + "\">\n"
}

const fileClose = "</file>\n"

// Pack renders files into chunks of at most budget bytes each (a file too
// large for one chunk is split between hunks, a hunk too large between
// lines), at most maxChunks of them. Files that do not fit are returned as
// skipped.
func Pack(files []*File, budget, maxChunks int) (chunks []Chunk, skipped []Skipped) {
	if budget < 512 {
		budget = 512
	}
	var cur strings.Builder
	var curFiles []string
	var spans [][2]int // the file blocks of cur
	start := 0         // where the open file block started
	flush := func() {
		if cur.Len() > 0 {
			text := cur.String()
			chunks = append(chunks, Chunk{Text: text, Files: curFiles, Untrusted: group(text, spans, maxFilePieces)})
		}
		cur.Reset()
		curFiles = nil
		spans = nil
	}
	closeFile := func() {
		cur.WriteString(fileClose)
		spans = append(spans, [2]int{start, cur.Len()})
	}
	full := func() bool { return len(chunks) >= maxChunks }
	for _, f := range files {
		if full() {
			skipped = append(skipped, Skipped{Path: f.Path(), Reason: SkipBudget})
			continue
		}
		// Render the file's pieces: whole hunks, or slices of big ones.
		var pieces []string
		for i := range f.Hunks {
			h := &f.Hunks[i]
			var b strings.Builder
			renderHunk(&b, h, h.Lines)
			if b.Len()+len(fileOpen(f))+len(fileClose) <= budget {
				pieces = append(pieces, b.String())
				continue
			}
			lines := h.Lines
			for len(lines) > 0 {
				var pb strings.Builder
				n := 0
				size := len(fileOpen(f)) + len(fileClose) + 64
				for n < len(lines) && (n == 0 || size+len(lines[n].Text)+2 <= budget) {
					size += len(lines[n].Text) + 2
					n++
				}
				renderHunk(&pb, h, lines[:n])
				pieces = append(pieces, pb.String())
				lines = lines[n:]
			}
		}
		open := fileOpen(f)
		started := false
		dropped := false
		for _, p := range pieces {
			if started && cur.Len()+len(p)+len(fileClose) > budget {
				closeFile()
				flush()
				started = false
			}
			if !started {
				if cur.Len()+len(open)+len(p)+len(fileClose) > budget {
					flush()
				}
				if full() {
					dropped = true
					break
				}
				start = cur.Len()
				cur.WriteString(open)
				curFiles = append(curFiles, f.Path())
				started = true
			}
			cur.WriteString(p)
		}
		if started {
			closeFile()
		}
		if dropped {
			skipped = append(skipped, Skipped{Path: f.Path(), Reason: SkipBudget})
		}
	}
	flush()
	return chunks, skipped
}

// keepChanged restricts f's hunks to those that overlap what changed since
// the last reviewed head (the new-side ranges of the compare diff's hunks
// for the same file); ok is false when none does.
func keepChanged(f *File, since []Hunk) (*File, bool) {
	out := *f
	out.Hunks = nil
	for _, h := range f.Hunks {
		lo, hi := h.NewStart, h.NewStart+max(h.NewLines, 1)
		for _, c := range since {
			clo, chi := c.NewStart, c.NewStart+max(c.NewLines, 1)
			if lo < chi && clo < hi {
				out.Hunks = append(out.Hunks, h)
				break
			}
		}
	}
	return &out, len(out.Hunks) > 0
}
