package redact

import "strings"

// Restorer restores placeholders in a stream of chunks (a model's streamed
// answer). It emits text as soon as it cannot be part of a placeholder the
// vault issued, holding back at most a placeholder's length: the output is
// exactly Restore of the whole stream, whatever the chunking. Not safe for
// concurrent use; the vault should not issue new placeholders mid-stream.
type Restorer struct {
	v       *Vault
	emit    func(string) error
	pending string
	err     error
	md      *mdRestore // Markdown mode; nil: verbatim
}

// NewRestorer returns a streaming restorer writing to emit.
func (v *Vault) NewRestorer(emit func(string) error) *Restorer {
	return &Restorer{v: v, emit: emit}
}

// Write adds a chunk and emits what is safe to emit.
func (r *Restorer) Write(chunk string) error {
	if r.err != nil {
		return r.err
	}
	if chunk == "" {
		return nil
	}
	r.pending += chunk
	if r.md != nil {
		return r.writeMarkdown(false)
	}
	cut := r.holdFrom()
	if cut == 0 {
		return nil
	}
	out := r.pending[:cut]
	r.pending = r.pending[cut:]
	return r.send(out)
}

// Flush emits everything held back.
func (r *Restorer) Flush() error {
	if r.err != nil {
		return r.err
	}
	if r.md != nil {
		return r.writeMarkdown(true)
	}
	out := r.pending
	r.pending = ""
	if out == "" {
		return nil
	}
	return r.send(out)
}

func (r *Restorer) send(s string) error {
	s = r.v.Restore(s)
	if s == "" {
		return nil
	}
	if err := r.emit(s); err != nil {
		r.err = err
		return err
	}
	return nil
}

// holdFrom returns where the held-back suffix starts: the suffix that is a
// proper prefix of an issued placeholder (it can only start at the last '['
// or the one just before it), or len(pending).
func (r *Restorer) holdFrom() int {
	p := r.pending
	last := strings.LastIndexByte(p, '[')
	if last < 0 || len(p)-last >= maxPlaceholderLen {
		return len(p)
	}
	r.v.ensureSorted()
	r.v.mu.RLock()
	defer r.v.mu.RUnlock()
	if last > 0 && p[last-1] == '[' && r.v.isProperPrefixLocked(p[last-1:]) {
		return last - 1
	}
	if r.v.isProperPrefixLocked(p[last:]) {
		return last
	}
	return len(p)
}
