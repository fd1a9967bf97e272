package complete

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"timon.dev/timon/core"
)

// AcceptedCommand is the command a suggestion carries, which the editor
// runs when the user accepts it; its one argument is an Acceptance.
const AcceptedCommand = "timon.accepted"

// Acceptance is the argument of AcceptedCommand: which suggestion was
// accepted, never its text.
type Acceptance struct {
	ID       string `json:"id"`
	Language string `json:"language"`
	Kind     string `json:"kind"` // "inline" (ghost text) or "item" (a completion item)
}

// Kinds of suggestion.
const (
	KindInline = "inline"
	KindItem   = "item"
)

// maxIssued is how many suggestions a Tally remembers for their
// acceptance: an acceptance comes within seconds of the suggestion.
const maxIssued = 1024

// Tally counts, by language, the suggestions a session showed and those
// the user accepted, and reports the counts (to the journal's counters in
// local mode, to the hub in remote mode). An acceptance counts only for a
// suggestion it issued, once. It is safe for concurrent use.
type Tally struct {
	report func(context.Context, []core.SuggestionCount) error

	mu     sync.Mutex
	seq    uint64
	issued map[string]string // suggestion id → its language
	order  []string          // issued ids, oldest first
	counts map[string]*core.SuggestionCount
	offers map[string]offer // document → its last suggestion offered as an item
}

// offer is a suggestion that inserts text at byte offset start.
type offer struct {
	id    string
	start int
	text  string
}

// NewTally returns a tally that reports through report (nil: counts are
// kept, never reported).
func NewTally(report func(context.Context, []core.SuggestionCount) error) *Tally {
	return &Tally{report: report, issued: map[string]string{}, counts: map[string]*core.SuggestionCount{}, offers: map[string]offer{}}
}

func (t *Tally) count(lang string) *core.SuggestionCount {
	c := t.counts[lang]
	if c == nil {
		c = &core.SuggestionCount{Language: lang}
		t.counts[lang] = c
	}
	return c
}

// Shown counts a suggestion shown in language and returns its id, for the
// Acceptance its command carries.
func (t *Tally) Shown(language string) string {
	lang := core.SuggestionLanguage(language)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.seq++
	id := strconv.FormatUint(t.seq, 36)
	t.issued[id] = lang
	t.order = append(t.order, id)
	if len(t.order) > maxIssued {
		delete(t.issued, t.order[0])
		t.order = slices.Delete(t.order, 0, 1)
	}
	t.count(lang).Shown++
	return id
}

// Accepted counts the acceptance of the suggestion id and returns its
// language; ok is false, and nothing counted, for an unknown, forgotten
// or already accepted id.
func (t *Tally) Accepted(id string) (language string, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.accepted(id)
}

func (t *Tally) accepted(id string) (string, bool) {
	lang, ok := t.issued[id]
	if !ok {
		return "", false
	}
	delete(t.issued, id)
	t.count(lang).Accepted++
	return lang, true
}

// Offered remembers that the suggestion id, a completion item, inserts
// text at byte offset start of document uri (replacing its last offer
// there). Not every editor runs an item's command on acceptance (Neovim
// 0.7's omnifunc and eglot 1.9 do not): for those, a change of the
// document that puts the suggestion's text there counts as its acceptance
// (Changed), once, whoever reports it first.
func (t *Tally) Offered(uri, id string, start int, text string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.offers[uri] = offer{id: id, start: start, text: text}
}

// Changed checks the new text of document uri against its last offer and
// counts it accepted when the text holds the suggestion where it was
// offered; it returns the suggestion's language when it counted.
func (t *Tally) Changed(uri, text string) (language string, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	o, found := t.offers[uri]
	if !found || o.start+len(o.text) > len(text) || text[o.start:o.start+len(o.text)] != o.text {
		return "", false
	}
	delete(t.offers, uri)
	return t.accepted(o.id)
}

// Forget drops the offer of a closed document.
func (t *Tally) Forget(uri string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.offers, uri)
}

// Pending returns the counts not reported yet, by language.
func (t *Tally) Pending() []core.SuggestionCount {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.pending()
}

func (t *Tally) pending() []core.SuggestionCount {
	out := make([]core.SuggestionCount, 0, len(t.counts))
	for _, c := range t.counts {
		if c.Shown > 0 || c.Accepted > 0 {
			out = append(out, *c)
		}
	}
	slices.SortFunc(out, func(a, b core.SuggestionCount) int { return strings.Compare(a.Language, b.Language) })
	return out
}

// Flush reports the pending counts; if reporting fails they are kept for
// the next flush.
func (t *Tally) Flush(ctx context.Context) error {
	if t.report == nil {
		return nil
	}
	t.mu.Lock()
	batch := t.pending()
	clear(t.counts)
	t.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	err := t.report(ctx, batch)
	if err != nil {
		t.mu.Lock()
		for _, c := range batch {
			m := t.count(c.Language)
			m.Shown += c.Shown
			m.Accepted += c.Accepted
		}
		t.mu.Unlock()
	}
	return err
}

// Run flushes every period until ctx ends; failures go to failed (which
// may be nil).
func (t *Tally) Run(ctx context.Context, period time.Duration, failed func(error)) {
	tick := time.NewTicker(period)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if err := t.Flush(ctx); err != nil && failed != nil && ctx.Err() == nil {
				failed(err)
			}
		}
	}
}
