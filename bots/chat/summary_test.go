package chat_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"timon.dev/timon/bots/chat"
	"timon.dev/timon/core/provider/fakellm"
)

// historian is the recorder with a channel history: a platform that can
// read a channel over a period. It counts its reads.
type historian struct {
	*recorder
	mu     sync.Mutex
	posts  []chat.HistoryPost
	reads  int
	denied bool
}

func (h *historian) History(ctx context.Context, ev *chat.Event, since time.Time, max int) ([]chat.HistoryPost, bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.reads++
	if h.denied {
		return nil, false, fmt.Errorf("checking membership: %w", chat.ErrForbidden)
	}
	var out []chat.HistoryPost
	for _, p := range h.posts {
		if !p.At.Before(since) {
			out = append(out, p)
		}
	}
	if len(out) > max {
		return out[len(out)-max:], true, nil
	}
	return out, false, nil
}

func newHistorian(r *rig, posts []chat.HistoryPost) *historian {
	h := &historian{recorder: r.plat, posts: posts}
	r.router.Register(h)
	return h
}

// channelMention is a mention at the top of a channel (no thread before
// it).
func channelMention(text string) *chat.Event {
	ev := mention(text)
	ev.ThreadID, ev.MessageID = "", ""
	return ev
}

func TestSummarizeAThreadIsPrivateByDefault(t *testing.T) {
	r := newRig(t, rigOptions{})
	ctx := ctxT(t)
	r.plat.setThread([]chat.ThreadPost{{Author: "Bob", Text: "The sample failed at 40 K."}, {Author: "Ada", Text: "We order a new one."}}, nil)
	ev := mention("summarize")
	if err := r.router.Handle(ctx, ev); err != nil {
		t.Fatal(err)
	}
	sent := r.fake.Requests()[0].LastUser()
	if !strings.Contains(sent, "Bob: The sample failed at 40 K.") || !strings.Contains(sent, `"Key points", "Decisions", "Open questions"`) {
		t.Fatalf("sent %q", sent)
	}
	posts := r.plat.of(ev.ID)
	if len(posts) != 1 || !posts[0].ephemeral || !strings.Contains(posts[0].text, "Summarized 2 messages in one part") {
		t.Fatalf("posts %+v", posts)
	}
	// A text in a thread says how to summarize it.
	how := mention("summarize in three lines")
	if err := r.router.Handle(ctx, how); err != nil {
		t.Fatal(err)
	}
	reqs := r.fake.Requests()
	if sent := reqs[len(reqs)-1].LastUser(); !strings.Contains(sent, "Bob: The sample failed") || !strings.Contains(sent, "The requester adds: in three lines") {
		t.Fatalf("sent %q", sent)
	}
	// Asked public where the channel allows it: posted for everyone.
	pub := mention("summarize public")
	if err := r.router.Handle(ctx, pub); err != nil {
		t.Fatal(err)
	}
	if posts := r.plat.of(pub.ID); len(posts) == 0 || posts[0].ephemeral {
		t.Fatalf("public summary: posts %+v", posts)
	}
	// Not where the channel keeps answers private.
	private := false
	r2 := newRig(t, rigOptions{cfg: chat.Config{Policy: chat.ChannelPolicy{Public: &private}}})
	r2.plat.setThread([]chat.ThreadPost{{Author: "Bob", Text: "hello"}}, nil)
	pub2 := mention("summarize public")
	if err := r2.router.Handle(ctx, pub2); err != nil {
		t.Fatal(err)
	}
	if posts := r2.plat.of(pub2.ID); len(posts) == 0 || !posts[0].ephemeral {
		t.Fatalf("public summary in a private channel: posts %+v", posts)
	}
}

func TestSummarizeChannelSinceAPeriodInFrench(t *testing.T) {
	r := newRig(t, rigOptions{})
	ctx := ctxT(t)
	now := time.Now()
	h := newHistorian(r, []chat.HistoryPost{
		{ThreadPost: chat.ThreadPost{Author: "bob", Text: "OLD news"}, At: now.Add(-10 * time.Hour)},
		{ThreadPost: chat.ThreadPost{Author: "bob", Text: "le cryostat est réparé"}, At: now.Add(-3 * time.Hour)},
		{ThreadPost: chat.ThreadPost{Author: "ada", Text: "on commande de l'hélium"}, At: now.Add(-time.Hour)},
	})
	ev := channelMention("résume dernières 4 h")
	ev.Locale = "fr-FR"
	if err := r.router.Handle(ctx, ev); err != nil {
		t.Fatal(err)
	}
	sent := r.fake.Requests()[0].LastUser()
	if strings.Contains(sent, "OLD") || !strings.Contains(sent, "bob: le cryostat est réparé") || !strings.Contains(sent, "in French") || strings.Contains(sent, "dernières") ||
		!strings.Contains(sent, `"Points clés", "Décisions", "Questions ouvertes"`) {
		t.Fatalf("sent %q", sent)
	}
	if text := r.plat.text(ev.ID); !strings.Contains(text, "2 messages résumés en une partie") {
		t.Fatalf("reply %q", text)
	}
	if h.reads != 1 {
		t.Fatalf("%d reads", h.reads)
	}
}

func TestSummarizeRefusedWhereTheRequesterCannotRead(t *testing.T) {
	r := newRig(t, rigOptions{})
	h := newHistorian(r, []chat.HistoryPost{{ThreadPost: chat.ThreadPost{Author: "eve", Text: "secret plans"}, At: time.Now()}})
	h.denied = true
	ev := channelMention("summarize since yesterday")
	if err := r.router.Handle(ctxT(t), ev); err != nil {
		t.Fatal(err)
	}
	if r.fake.Count() != 0 {
		t.Fatal("the model was asked")
	}
	if posts := r.plat.of(ev.ID); len(posts) != 1 || !posts[0].ephemeral || !strings.Contains(posts[0].text, "you are not a member") {
		t.Fatalf("posts %+v", posts)
	}
}

func TestSummarizeSkipsChannelsThePolicyExcludes(t *testing.T) {
	for name, entry := range map[string]chat.ChannelPolicy{
		"off":              {Match: []string{"slack:C123ABC456"}, Off: true},
		"summarize denied": {Match: []string{"slack:C123ABC456"}, Commands: []string{"ask"}},
	} {
		t.Run(name, func(t *testing.T) {
			r := newRig(t, rigOptions{cfg: chat.Config{Channels: []chat.ChannelPolicy{entry}}})
			h := newHistorian(r, []chat.HistoryPost{{ThreadPost: chat.ThreadPost{Author: "bob", Text: "hi"}, At: time.Now()}})
			ev := channelMention("summarize since yesterday")
			if err := r.router.Handle(ctxT(t), ev); err != nil {
				t.Fatal(err)
			}
			if r.fake.Count() != 0 || h.reads != 0 {
				t.Fatalf("model calls %d, history reads %d", r.fake.Count(), h.reads)
			}
			if posts := r.plat.of(ev.ID); len(posts) != 1 || !posts[0].ephemeral {
				t.Fatalf("posts %+v", posts)
			}
		})
	}
}

// history makes n messages of a channel over the last hours, from a few
// authors; one carries a secret.
func history(n int, secretAt int) []chat.HistoryPost {
	now := time.Now()
	authors := []string{"ada", "bob", "carla", "dan"}
	out := make([]chat.HistoryPost, n)
	for i := range out {
		text := fmt.Sprintf("message %d: the cryostat run %d went fine, the next beam time is being scheduled with the facility", i, i%17)
		if i == secretAt {
			text = "the AWS key is AKIAZ3MSJV4WWNKWXK7Q, do not share it"
		}
		out[i] = chat.HistoryPost{ThreadPost: chat.ThreadPost{Author: authors[i%len(authors)], Text: text}, At: now.Add(-time.Duration(n-i) * time.Second)}
	}
	return out
}

// partReplies scripts the model: a short summary for each request.
func partReplies(r *rig) {
	r.fake.Handle(func(req fakellm.Request) fakellm.Reply {
		return fakellm.Reply{Text: "**Key points**\n- the cryostat runs went fine\n**Decisions**\n- beam time to be scheduled\n**Open questions**\n- None"}
	})
}

func TestSummarizeALongHistoryInParts(t *testing.T) {
	r := newRig(t, rigOptions{})
	partReplies(r)
	newHistorian(r, history(2000, 1234))
	ev := channelMention("summarize since yesterday")
	if err := r.router.Handle(ctxT(t), ev); err != nil {
		t.Fatal(err)
	}
	reqs := r.fake.Requests()
	if len(reqs) < 3 || len(reqs) > 13 {
		t.Fatalf("%d model calls for 2,000 messages, want parts and a merge within 13", len(reqs))
	}
	parts := len(reqs) - 1
	for i, req := range reqs {
		sent := req.LastUser()
		if len(sent) > 6000*4+2000 {
			t.Errorf("request %d is %d bytes, over the budget of a part", i, len(sent))
		}
		if strings.Contains(sent, "AKIAZ3MSJV4WWNKWXK7Q") {
			t.Errorf("request %d carries the secret in clear", i)
		}
	}
	last := reqs[len(reqs)-1].LastUser()
	if !strings.Contains(last, "merge them into one") || !strings.Contains(last, fmt.Sprintf("Part %d of %d", parts, parts)) {
		t.Fatalf("merge request %q", last)
	}
	if !slices.ContainsFunc(reqs[:parts], func(q fakellm.Request) bool { return strings.Contains(q.LastUser(), "[[") }) {
		t.Fatal("the secret was not replaced by a placeholder")
	}
	text := r.plat.text(ev.ID)
	if !strings.Contains(text, fmt.Sprintf("Summarized 2,000 messages in %d parts", parts)) || !strings.Contains(text, "masked before reaching the model") {
		t.Fatalf("reply %q", text)
	}
	if es := r.journal(t); len(es) != len(reqs) {
		t.Fatalf("%d journal entries for %d model calls", len(es), len(reqs))
	}
}

func TestSummarizeSinceMyLastMessageCutsThere(t *testing.T) {
	r := newRig(t, rigOptions{})
	now := time.Now()
	newHistorian(r, []chat.HistoryPost{
		{ThreadPost: chat.ThreadPost{Author: "bob", Text: "before"}, At: now.Add(-3 * time.Hour)},
		{ThreadPost: chat.ThreadPost{Author: "ada", Text: "mine"}, Mine: true, At: now.Add(-2 * time.Hour)},
		{ThreadPost: chat.ThreadPost{Author: "bob", Text: "after"}, At: now.Add(-time.Hour)},
	})
	ev := channelMention("summarize depuis mon dernier message")
	if err := r.router.Handle(ctxT(t), ev); err != nil {
		t.Fatal(err)
	}
	sent := r.fake.Requests()[0].LastUser()
	if !strings.Contains(sent, "bob: after") || strings.Contains(sent, "before") || strings.Contains(sent, "ada: mine") {
		t.Fatalf("sent %q", sent)
	}
}
