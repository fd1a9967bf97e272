package chat

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"timon.dev/timon/core/sanitize"
)

// cursor ends the text of a reply still being written.
const cursor = " …"

// Cursor ends the text of every intermediate edit of a streamed reply: an
// edit without it is the part's final text.
const Cursor = cursor

// Renderer is implemented by platforms that say what the model's answers
// may hold there: their Markdown flavor, own host and allowed link hosts
// (core/sanitize). Answers are always sanitized; without it, by the
// strictest policy.
type Renderer interface {
	OutputPolicy() *sanitize.Policy
}

// outputPolicy is p's policy, or the strictest: no link or image kept
// except relative ones, every mention defused.
func outputPolicy(p Platform) *sanitize.Policy {
	if r, ok := p.(Renderer); ok {
		if pol := r.OutputPolicy(); pol != nil {
			return pol
		}
	}
	return &sanitize.Policy{Flavor: sanitize.Mattermost}
}

// replier posts and edits the replies of one event: a placeholder at once,
// the answer as it streams (at most one edit per update interval, parts
// finished as they fill), then the final answer with its notes and the
// transparency line. What it posts is recorded, so that a run after a
// crash edits the same posts.
type replier struct {
	r        *Router
	p        Platform
	ev       *Event
	rec      *record
	private  bool
	editable bool
	// chunk is the most runes of answer per post, leaving room for the
	// notes and footer at the end of the last one.
	chunk, max int
	interval   time.Duration

	policy  *sanitize.Policy // what the model's text may hold on this platform
	shown   []string         // what each part shows, as far as this run knows
	last    time.Time
	stalled bool // an intermediate post failed: only the final one is tried
	holding bool // the post being made is the placeholder
}

func (r *Router) replier(p Platform, ev *Event, rec *record, private bool) *replier {
	w := &replier{r: r, p: p, ev: ev, rec: rec, private: private, max: p.MaxRunes(), interval: p.UpdateInterval(), policy: outputPolicy(p)}
	if iv := time.Duration(r.o.Config.UpdateInterval); iv > 0 {
		w.interval = iv
	}
	if w.max < minChunk*2 {
		w.max = minChunk * 2
	}
	w.chunk = w.max - min(400, w.max/4)
	w.editable = !private
	if e, ok := p.(Editable); ok {
		w.editable = e.Editable(ev, Reply{Ephemeral: private})
	}
	return w
}

// placeholder shows that the bot is on it, unless the reply cannot be
// edited or a previous run already posted.
func (w *replier) placeholder(ctx context.Context, text string) error {
	if !w.editable || len(w.rec.posts) > 0 {
		return nil
	}
	w.holding = true
	defer func() { w.holding = false }()
	return w.push(ctx, []string{text}, true)
}

// progress shows the answer so far, at most once per interval.
func (w *replier) progress(ctx context.Context, answer string) {
	if !w.editable || w.stalled || len(w.rec.posts) == 0 {
		return
	}
	now := w.r.now()
	if now.Sub(w.last) < w.interval {
		return
	}
	if t, ok := w.p.(Throttled); ok && !t.AllowUpdate(w.ev) {
		return
	}
	parts := split(w.policy.Markdown(answer), w.chunk)
	parts[len(parts)-1] += cursor
	if err := w.push(ctx, parts, false); err != nil {
		w.stalled = true
		w.r.log.Warn("showing a chat answer as it streams failed; the final answer is still posted",
			"platform", w.ev.Platform, "event", w.ev.ID, "err", err)
	}
}

// answer posts the model's complete answer: sanitized for the platform,
// then as final.
func (w *replier) answer(ctx context.Context, body, tail, requestID string) error {
	return w.final(ctx, w.policy.Markdown(body), tail, requestID)
}

// final posts the complete reply: body split under the platform's limit,
// then tail (notes and the transparency line) at the end of the last part
// or, if it does not fit, in a part of its own. Parts left over from a
// longer streamed text say that the answer is above. The event is then
// recorded as answered.
func (w *replier) final(ctx context.Context, body, tail, requestID string) error {
	parts := split(strings.TrimRight(body, " \n"), w.chunk)
	if tail != "" {
		last := parts[len(parts)-1]
		switch {
		case strings.TrimSpace(last) == "":
			parts[len(parts)-1] = tail
		case utf8.RuneCountInString(last)+2+utf8.RuneCountInString(tail) <= w.max:
			parts[len(parts)-1] = last + "\n\n" + tail
		default:
			parts = append(parts, split(tail, w.max)...)
		}
	}
	if err := w.push(ctx, parts, true); err != nil {
		return err
	}
	if w.editable {
		for i := len(parts); i < len(w.rec.posts); i++ {
			if w.rec.posts[i] == "" {
				continue
			}
			if err := w.p.Update(ctx, w.ev, w.rec.posts[i], w.r.cat(w.ev).T("continued")); err != nil {
				return fmt.Errorf("editing a surplus chat reply: %w", err)
			}
		}
	}
	return w.r.state.answered(ctx, w.ev, requestID)
}

// push makes the posts show parts: it edits the posts whose text changed
// (editable replies) and posts the parts not yet posted, recording each.
func (w *replier) push(ctx context.Context, parts []string, final bool) error {
	for i, text := range parts {
		if i < len(w.rec.posts) {
			if !w.editable || w.rec.posts[i] == "" || (i < len(w.shown) && w.shown[i] == text) {
				continue
			}
			if err := w.p.Update(ctx, w.ev, w.rec.posts[i], text); err != nil {
				return fmt.Errorf("editing a chat reply: %w", err)
			}
			w.show(i, text)
			continue
		}
		id, err := w.p.Post(ctx, w.ev, Reply{Text: text, Ephemeral: w.private, Placeholder: w.holding})
		if err != nil {
			return fmt.Errorf("posting a chat reply: %w", err)
		}
		if !w.editable {
			id = ""
		}
		if err := w.r.state.posted(ctx, w.ev, i, id, w.r.now()); err != nil {
			return err
		}
		w.rec.posts = append(w.rec.posts, id)
		w.show(i, text)
	}
	w.last = w.r.now()
	return nil
}

func (w *replier) show(i int, text string) {
	for len(w.shown) <= i {
		w.shown = append(w.shown, "")
	}
	w.shown[i] = text
}
