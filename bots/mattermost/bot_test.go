package mattermost_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/mattermost/mattermost/server/public/model"

	"timon.dev/timon/bots/chat"
	"timon.dev/timon/bots/mattermost"
	"timon.dev/timon/bots/mattermost/mattermosttest"
	"timon.dev/timon/core"
	"timon.dev/timon/core/audit"
	"timon.dev/timon/core/provider/fakellm"
)

func TestMentionIsAnsweredInTheThreadWithTheThreadAsContext(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	root := r.post(t, r.grace.Id, townID, "", "The cryostat reached 4.2 K on Tuesday.")
	r.post(t, r.alan.Id, townID, root.Id, "And the magnet quenched at 3 T.")
	r.post(t, r.alan.Id, townID, root.Id, "@timon what happened to the magnet?")
	r.post(t, r.grace.Id, townID, root.Id, "posted after the question, not context")
	r.wait(t, "the answer", func() bool { return answered(r.mm.Replies(root.Id, r.botID)) })
	r.settle(t)

	replies := r.mm.Replies(root.Id, r.botID)
	if len(replies) != 1 {
		t.Fatalf("%d replies by the bot, want 1", len(replies))
	}
	rep := replies[0]
	if rep.ChannelId != townID || rep.RootId != root.Id {
		t.Fatalf("reply in channel %s under %s, want the thread %s of %s", rep.ChannelId, rep.RootId, root.Id, townID)
	}
	if !strings.HasPrefix(rep.Message, "echo: ") || !strings.Contains(rep.Message, "My question: what happened to the magnet?") ||
		!strings.Contains(rep.Message, "AI-generated") {
		t.Fatalf("reply %q", rep.Message)
	}
	if len(r.mm.Edits(rep.Id)) == 0 {
		t.Fatal("the placeholder was never edited into the answer")
	}
	reqs := r.llm.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d model requests", len(reqs))
	}
	prompt := reqs[0].LastUser()
	for _, want := range []string{"grace: The cryostat reached 4.2 K on Tuesday.", "alan: And the magnet quenched at 3 T."} {
		if !strings.Contains(prompt, want) {
			t.Errorf("the thread line %q is not in the prompt %q", want, prompt)
		}
	}
	if strings.Contains(prompt, "@timon") || strings.Count(prompt, "what happened to the magnet") != 1 || strings.Contains(prompt, "not context") {
		t.Errorf("the prompt holds the trigger, the mention or later posts: %q", prompt)
	}
	if n := r.mm.CountHits("GET /api/v4/channels/{channel_id}/members/{user_id}"); n == 0 {
		t.Error("the thread was read without checking the requester's membership")
	}
	es, err := audit.List(context.Background(), r.store, audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 || es[0].Integration != "mattermost" || es[0].UserID != "mattermost:"+alanID || !strings.Contains(rep.Message, es[0].RequestID) {
		t.Fatalf("journal %+v", es)
	}
}

func TestTopLevelMentionStartsAThread(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	p := r.post(t, r.alan.Id, townID, "", "@timon: ask what is a qubit?")
	r.wait(t, "the answer", func() bool { return answered(r.mm.Replies(p.Id, r.botID)) })
	r.settle(t)
	replies := r.mm.Replies(p.Id, r.botID)
	if len(replies) != 1 || !strings.HasPrefix(replies[0].Message, "echo: what is a qubit?") {
		t.Fatalf("replies %+v", replies)
	}
	if n := r.mm.CountHits("GET /api/v4/posts/{post_id}/thread"); n != 1 {
		t.Fatalf("the thread was read %d times, want 1", n)
	}
}

func TestDirectMessageIsAnsweredInTheConversation(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	dm := r.mm.DirectChannel(r.grace.Id, r.botID)
	r.post(t, r.grace.Id, dm.Id, "", "translate en Bonjour à tous")
	r.wait(t, "the answer", func() bool { return answered(r.mm.PostsBy(r.botID, dm.Id)) })
	r.settle(t)
	posts := r.mm.PostsBy(r.botID, dm.Id)
	if len(posts) != 1 || posts[0].RootId != "" {
		t.Fatalf("bot posts %+v, want one in the conversation", posts)
	}
	// Grace's locale is French: the interface text is French.
	if !strings.Contains(posts[0].Message, "Généré par IA") {
		t.Fatalf("reply %q not in French", posts[0].Message)
	}
	// The bot's own posts in the direct channel came back on the
	// WebSocket: they were not answered.
	if n := r.llm.Count(); n != 1 {
		t.Fatalf("the model was asked %d times, want 1", n)
	}
	es, err := audit.List(context.Background(), r.store, audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 || es[0].Task != string(core.TaskRewrite) || es[0].UserID != "mattermost:"+r.grace.Id {
		t.Fatalf("journal %+v", es)
	}
}

func TestTheBotIgnoresItsOwnPostsAndOtherBots(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	// The bot runs on a plain user account: its posts carry no from_bot
	// prop, only its user id tells them apart.
	r.mm.UpdateUser(r.botID, func(u *model.User) { u.IsBot = false })
	ci := r.mm.AddUser(&model.User{Username: "ci", IsBot: true})
	r.mm.AddMember(townID, ci.Id)
	dm := r.mm.DirectChannel(r.alan.Id, r.botID)
	r.post(t, r.botID, townID, "", "@timon ask are you talking to yourself?")
	r.post(t, r.botID, dm.Id, "", "ask a question to myself")
	r.post(t, ci.Id, townID, "", "@timon ask the build failed, why?")
	r.post(t, r.alan.Id, townID, "", "no mention here")
	sentinel := r.post(t, r.alan.Id, townID, "", "@timon ask only this one")
	r.wait(t, "the answer", func() bool { return answered(r.mm.Replies(sentinel.Id, r.botID)) })
	r.settle(t)
	if n := r.llm.Count(); n != 1 {
		t.Fatalf("the model was asked %d times, want 1", n)
	}
	if n := answers(r.mm.PostsBy(r.botID, "")); n != 1 {
		t.Fatalf("%d answers, want 1", n)
	}
}

func TestADroppedConnectionResumesAndMissedPostsAreAnsweredOnce(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	first := r.mm.Connections()[0]
	if first.Outcome != "new" || first.ConnectionID != "" {
		t.Fatalf("first connection %+v", first)
	}
	one := r.post(t, r.alan.Id, townID, "", "@timon ask one")
	r.wait(t, "the first answer", func() bool { return answered(r.mm.Replies(one.Id, r.botID)) })

	r.mm.Refuse(true)
	tries := r.mm.CountHits("GET /api/v4/websocket")
	r.mm.Drop()
	r.wait(t, "the bot to notice", func() bool { return !r.bot.Connected() })
	two := r.post(t, r.alan.Id, townID, "", "@timon ask two")
	three := r.post(t, r.grace.Id, townID, "", "@timon ask three")
	r.wait(t, "a few refused reconnections", func() bool { return r.mm.CountHits("GET /api/v4/websocket") >= tries+2 })
	r.mm.Refuse(false)
	r.wait(t, "the missed posts' answers", func() bool {
		return answered(r.mm.Replies(two.Id, r.botID)) && answered(r.mm.Replies(three.Id, r.botID))
	})
	r.settle(t)

	conns := r.mm.Connections()
	last := conns[len(conns)-1]
	if last.ConnectionID != first.Assigned || last.Outcome != "resumed" || last.Assigned != first.Assigned ||
		last.SequenceNumber == "" || last.SequenceNumber == "0" {
		t.Fatalf("reconnection %+v, want a resume of %s", last, first.Assigned)
	}
	for _, p := range []*model.Post{one, two, three} {
		if n := answers(r.mm.Replies(p.Id, r.botID)); n != 1 {
			t.Errorf("post %q answered %d times", p.Message, n)
		}
	}
	if n := r.llm.Count(); n != 3 {
		t.Fatalf("the model was asked %d times, want 3", n)
	}
}

func TestAfterAServerRestartTheBotStartsAFreshConnection(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	first := r.mm.Connections()[0]
	r.mm.Restart()
	r.wait(t, "a new connection", func() bool {
		c := r.mm.Connections()
		return len(c) > 1 && r.bot.Connected() && r.mm.Connected(r.botID)
	})
	c := r.mm.Connections()
	last := c[len(c)-1]
	if last.ConnectionID != first.Assigned || last.Outcome != "new" || last.Assigned == first.Assigned {
		t.Fatalf("reconnection after restart %+v", last)
	}
	p := r.post(t, r.alan.Id, townID, "", "@timon ask still there?")
	r.wait(t, "the answer", func() bool { return answered(r.mm.Replies(p.Id, r.botID)) })
}

func TestStreamedAnswerEditsAreThrottled(t *testing.T) {
	t.Parallel()
	const interval = 200 * time.Millisecond
	r := newRig(t, rigOptions{interval: interval})
	var words []string
	for i := range 80 {
		words = append(words, fmt.Sprintf("w%02d", i))
	}
	answer := strings.Join(words, " ")
	chunks := len(answer) / 8
	r.llm.Handle(func(fakellm.Request) fakellm.Reply {
		return fakellm.Reply{Text: answer, ChunkSize: 8, ChunkDelay: 20 * time.Millisecond}
	})
	p := r.post(t, r.alan.Id, townID, "", "@timon ask slowly please")
	r.wait(t, "the answer", func() bool { return answered(r.mm.Replies(p.Id, r.botID)) })
	r.settle(t)
	replies := r.mm.Replies(p.Id, r.botID)
	if len(replies) != 1 || !strings.HasPrefix(replies[0].Message, answer) {
		t.Fatalf("replies %+v", replies)
	}
	edits := r.mm.Edits(replies[0].Id)
	t.Logf("%d edits for %d streamed chunks", len(edits), chunks)
	if len(edits) < 2 {
		t.Fatalf("%d edits: the answer was not streamed", len(edits))
	}
	if len(edits) > chunks/3 {
		t.Fatalf("%d edits for %d chunks: not throttled", len(edits), chunks)
	}
	// Intermediate edits keep the interval (the final edit goes at once).
	prev := time.UnixMilli(replies[0].CreateAt)
	for i, e := range edits[:len(edits)-1] {
		if gap := e.At.Sub(prev); gap < interval*3/4 {
			t.Errorf("edit %d came %v after the previous write, want at least ~%v", i, gap, interval)
		}
		prev = e.At
	}
	if final := edits[len(edits)-1].Message; final != replies[0].Message {
		t.Fatal("the last edit is not the final answer")
	}
}

func TestLongAnswerIsSplitUnderThePostLimit(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	var b strings.Builder
	for i := 0; utf8.RuneCountInString(b.String()) < 40000; i++ {
		fmt.Fprintf(&b, "mesure%05d été ", i)
		if i%50 == 49 {
			b.WriteString("\n\n")
		}
	}
	answer := strings.TrimSpace(b.String())
	r.llm.Handle(func(fakellm.Request) fakellm.Reply { return fakellm.Reply{Text: answer, ChunkSize: 4096} })
	p := r.post(t, r.alan.Id, townID, "", "@timon ask the whole log")
	r.wait(t, "the answer", func() bool { return answered(r.mm.Replies(p.Id, r.botID)) })
	r.settle(t)
	replies := r.mm.Replies(p.Id, r.botID)
	if len(replies) < 3 {
		t.Fatalf("%d posts for %d runes", len(replies), utf8.RuneCountInString(answer))
	}
	var got strings.Builder
	for i, rep := range replies {
		if n := utf8.RuneCountInString(rep.Message); n > model.PostMessageMaxRunesV2 {
			t.Fatalf("post %d holds %d runes", i, n)
		}
		body := rep.Message
		if i == len(replies)-1 {
			cut := strings.Index(body, "\n\n_AI-generated")
			if cut < 0 {
				t.Fatalf("the last post has no transparency line")
			}
			body = body[:cut]
		} else if finished(body) {
			t.Fatalf("post %d carries the footer", i)
		}
		got.WriteString(body + "\n") // a split cuts at white space
	}
	if strings.Join(strings.Fields(got.String()), " ") != strings.Join(strings.Fields(answer), " ") {
		t.Fatal("the posts do not hold the whole answer, in order")
	}
}

func TestAThreadTheRequesterCannotReadIsNeverPulledIn(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	lab := r.mm.AddChannel(&model.Channel{Name: "lab", Type: model.ChannelTypePrivate}, r.grace.Id, r.botID)
	root := r.post(t, r.grace.Id, lab.Id, "", "Unpublished: the sample code is XJ-42.")
	// Alan is not (or no longer) a member of the lab channel.
	r.post(t, r.alan.Id, lab.Id, root.Id, "@timon what is the sample code?")
	r.wait(t, "the answer", func() bool { return answered(r.mm.Replies(root.Id, r.botID)) })
	r.settle(t)
	for _, req := range r.llm.Requests() {
		if strings.Contains(string(req.Body), "XJ-42") {
			t.Fatal("the thread reached the model")
		}
	}
	rep := r.mm.Replies(root.Id, r.botID)
	if len(rep) != 1 || !strings.Contains(rep[0].Message, "you are not a member of its channel") || strings.Contains(rep[0].Message, "XJ-42") {
		t.Fatalf("reply %+v", rep)
	}
	if n := r.mm.CountHits("GET /api/v4/posts/{post_id}/thread"); n != 0 {
		t.Fatalf("the thread was fetched %d times", n)
	}

	// Asked directly, and with a thread of another channel passed off as
	// one of a channel the requester is in.
	ctx := context.Background()
	for _, ev := range []*chat.Event{
		{Platform: core.IntegrationMattermost, ID: "x1", UserID: r.alan.Id, ChannelID: lab.Id, ThreadID: root.Id, Trigger: chat.TriggerMention},
		{Platform: core.IntegrationMattermost, ID: "x2", UserID: r.alan.Id, ChannelID: townID, ThreadID: root.Id, Trigger: chat.TriggerMention},
	} {
		msgs, err := r.bot.Thread(ctx, ev)
		if !errors.Is(err, chat.ErrForbidden) || len(msgs) != 0 {
			t.Fatalf("Thread(%s) = %v, %v; want ErrForbidden", ev.ChannelID, msgs, err)
		}
	}
}

func TestNewChecksItsOptions(t *testing.T) {
	r := newRig(t, rigOptions{noRun: true})
	for name, o := range map[string]mattermost.Options{
		"no router":    {Config: mattermost.Config{URL: r.mm.URL(), BotToken: "s3cret-token"}},
		"no token":     {Config: mattermost.Config{URL: r.mm.URL()}, Router: r.router},
		"no scheme":    {Config: mattermost.Config{URL: "chat.example.org", BotToken: "s3cret-token"}, Router: r.router},
		"other scheme": {Config: mattermost.Config{URL: "ftp://chat.example.org", BotToken: "s3cret-token"}, Router: r.router},
		"no host":      {Config: mattermost.Config{URL: "https://", BotToken: "s3cret-token"}, Router: r.router},
		"not a URL":    {Config: mattermost.Config{URL: "https://chat example.org\x00", BotToken: "s3cret-token"}, Router: r.router},
	} {
		_, err := mattermost.New(o)
		if err == nil {
			t.Errorf("%s: accepted", name)
		} else if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: the error shows the token: %v", name, err)
		}
	}
}

func TestRunStopsOnARefusedToken(t *testing.T) {
	r := newRig(t, rigOptions{noRun: true})
	bot, err := mattermost.New(mattermost.Options{Config: mattermost.Config{URL: r.mm.URL(), BotToken: "revoked"}, Router: r.router})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := bot.Run(ctx); err == nil || !strings.Contains(err.Error(), "401") || ctx.Err() != nil {
		t.Fatalf("Run = %v", err)
	}
	// Stopping is not an error.
	r.router.Register(r.bot)
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	if err := r.bot.Run(ctx); err != nil {
		t.Fatalf("Run after cancel = %v", err)
	}
}

// TestPrivateAnswersToMentions: in a channel whose policy keeps answers
// private, a bot holding create_post_ephemeral answers with an ephemeral
// post in the thread; a plain bot account (403) answers by direct message,
// with a link to the question.
func TestPrivateAnswersToMentions(t *testing.T) {
	t.Parallel()
	private := false
	cfg := chat.Config{Channels: []chat.ChannelPolicy{{Match: []string{"mattermost:" + mattermosttest.TeamID + "/#town-square"}, Public: &private}}}

	t.Run("ephemeral", func(t *testing.T) {
		r := newRig(t, rigOptions{cfg: cfg})
		r.mm.UpdateUser(r.botID, func(u *model.User) { u.Roles = "system_user system_admin" })
		p := r.post(t, r.alan.Id, townID, "", "@timon ask privately")
		r.wait(t, "the answer", func() bool {
			e := r.mm.Ephemerals()
			return len(e) == 1 && finished(e[0].Message)
		})
		r.settle(t)
		e := r.mm.Ephemerals()[0]
		if e.Via != "api" || e.UserID != r.alan.Id || e.ChannelID != townID || e.RootID != p.Id || !strings.HasPrefix(e.Message, "echo: privately") {
			t.Fatalf("ephemeral %+v", e)
		}
		if posts := r.mm.PostsBy(r.botID, ""); len(posts) != 0 {
			t.Fatalf("the bot posted publicly: %+v", posts)
		}
	})

	t.Run("direct message", func(t *testing.T) {
		r := newRig(t, rigOptions{cfg: cfg})
		var asked []*model.Post
		for _, q := range []string{"@timon ask privately", "@timon ask again"} {
			p := r.post(t, r.alan.Id, townID, "", q)
			asked = append(asked, p)
			r.wait(t, "the answer", func() bool { return answers(r.mm.PostsBy(r.botID, "")) == len(asked) })
		}
		r.settle(t)
		posts := r.mm.PostsBy(r.botID, "")
		for i, p := range posts {
			link := r.mm.URL() + "/_redirect/pl/" + asked[i].Id
			if p.ChannelId == townID || !strings.HasPrefix(p.Message, "↪ "+link+"\n\n") || !finished(p.Message) {
				t.Fatalf("reply %d: %+v", i, p)
			}
		}
		if n := r.mm.CountHits("POST /api/v4/posts/ephemeral"); n != 1 {
			t.Fatalf("the refused ephemeral API was tried %d times, want 1", n)
		}
	})
}
