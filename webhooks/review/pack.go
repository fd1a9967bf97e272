package review

import (
	"regexp"
	"strconv"
	"strings"
)

// Chunk is the part of a review sent in one model call.
type Chunk struct {
	// Text is the diff part of the model's input.
	Text string
	// Files are the files (or parts of files) it holds.
	Files []string
}

// structureTag matches the tags that structure the model's input, so that
// untrusted text cannot close or open one.
var structureTag = regexp.MustCompile(`(?i)<(/?)\s*(merge_request|title|description|commits|commit|diff|file|question|data)\b`)

// defuse makes untrusted text unable to end or start a block of the input:
// invisible characters are stripped and structure tags broken.
func defuse(s string) string {
	return structureTag.ReplaceAllString(StripInvisible(s), "< $1$2")
}

// attr quotes untrusted text (a file name) for an attribute.
func attr(s string) string {
	s = StripInvisible(s)
	s = strings.NewReplacer("&", "&amp;", `"`, "&quot;", "<", "&lt;", ">", "&gt;", "\n", " ", "\r", " ").Replace(s)
	return `"` + s + `"`
}

// Header renders the merge request's title and description (truncated) as
// the untrusted block that starts every chunk.
func Header(title, description string, commits []Commit) string {
	var b strings.Builder
	b.WriteString("<merge_request>\n<title>")
	b.WriteString(defuse(truncate(title, 300)))
	b.WriteString("</title>\n<description>\n")
	b.WriteString(defuse(truncate(description, 3000)))
	b.WriteString("\n</description>\n")
	if len(commits) > 0 {
		b.WriteString("<commits>\n")
		for i, c := range commits {
			if i == 30 {
				b.WriteString("… " + strconv.Itoa(len(commits)-30) + " more\n")
				break
			}
			b.WriteString("- " + defuse(truncate(strings.ReplaceAll(c.Title, "\n", " "), 200)) + "\n")
		}
		b.WriteString("</commits>\n")
	}
	b.WriteString("</merge_request>\n")
	return b.String()
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
	flush := func() {
		if cur.Len() > 0 {
			chunks = append(chunks, Chunk{Text: cur.String(), Files: curFiles})
		}
		cur.Reset()
		curFiles = nil
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
				cur.WriteString(fileClose)
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
				cur.WriteString(open)
				curFiles = append(curFiles, f.Path())
				started = true
			}
			cur.WriteString(p)
		}
		if started {
			cur.WriteString(fileClose)
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
