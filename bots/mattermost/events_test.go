package mattermost

import (
	"log/slog"
	"net/url"
	"os"
	"testing"

	"github.com/mattermost/mattermost/server/public/model"

	"timon.dev/timon/bots/chat"
)

func TestStripMention(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"@timon ask why?", "ask why?"},
		{"@Timon: summarize", "summarize"},
		{"hey @timon, translate fr hello", "hey  translate fr hello"},
		{"what do you think @timon", "what do you think"},
		{"ask @timon.", "ask ."},
		{"ping @timon.bot and @timon2 and mail timon@timon.org", "ping @timon.bot and @timon2 and mail timon@timon.org"},
		{"@timon-dev is another bot, @timon is me", "@timon-dev is another bot,  is me"},
		{"@timon", ""},
		{"```\n@timon\n```", "```\n\n```"},
	} {
		if got := stripMention(c.in, "timon"); got != c.want {
			t.Errorf("stripMention(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// posted is the posted event of p as the server writes it (with
// Mattermost's own types), read by the bot.
func posted(t *testing.T, p *model.Post, chType model.ChannelType, mentions string) *wsEvent {
	t.Helper()
	ev := model.NewWebSocketEvent(model.WebsocketEventPosted, "", p.ChannelId, "", nil, "")
	js, err := p.ToJSON()
	if err != nil {
		t.Fatal(err)
	}
	ev.Add("post", js)
	ev.Add("channel_type", string(chType))
	ev.Add("channel_name", "town-square")
	ev.Add("sender_name", "@alan")
	ev.Add("team_id", "wx4zz8t4ttgmtxqiwfohijayzc")
	if mentions != "" {
		ev.Add("mentions", mentions)
	}
	// Through the wire, as the bot receives it.
	b, err := ev.ToJSON()
	if err != nil {
		t.Fatal(err)
	}
	return wire(t, b)
}

// wire decodes an event as the bot reads it from the WebSocket.
func wire(t *testing.T, b []byte) *wsEvent {
	t.Helper()
	ev, err := decodeEvent(b)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func TestFromPosted(t *testing.T) {
	me := &user{ID: model.NewId(), Username: "timon"}
	alan, ch, root := model.NewId(), model.NewId(), model.NewId()
	post := func(user, rootID, msg string) *model.Post {
		return &model.Post{Id: model.NewId(), UserId: user, ChannelId: ch, RootId: rootID, Message: msg}
	}
	mentioned := model.ArrayToJSON([]string{me.ID})

	p := post(alan, root, "@timon ask why?")
	ev, err := fromPosted(me, posted(t, p, model.ChannelTypeOpen, mentioned))
	if err != nil || ev == nil {
		t.Fatalf("mention in a thread: %v, %v", ev, err)
	}
	want := chat.Event{Platform: "mattermost", ID: p.Id, UserID: alan, UserName: "alan", TeamID: "wx4zz8t4ttgmtxqiwfohijayzc",
		ChannelID: ch, ChannelName: "town-square", ChannelType: chat.ChannelPublic, ThreadID: root, MessageID: p.Id,
		Trigger: chat.TriggerMention, Text: "ask why?"}
	if *ev != want {
		t.Fatalf("event %+v\nwant  %+v", *ev, want)
	}

	p = post(alan, "", "@timon ask")
	if ev, _ := fromPosted(me, posted(t, p, model.ChannelTypePrivate, mentioned)); ev == nil || ev.ThreadID != p.Id || ev.ChannelType != chat.ChannelPrivate {
		t.Fatalf("top-level mention: %+v", ev)
	}
	p = post(alan, "", "hello")
	if ev, _ := fromPosted(me, posted(t, p, model.ChannelTypeDirect, "")); ev == nil || ev.Trigger != chat.TriggerDM || ev.ThreadID != "" ||
		ev.ChannelType != chat.ChannelDM || ev.ChannelName != "" {
		t.Fatalf("direct message: %+v", ev)
	}
	p = post(alan, "", "@timon ask")
	if ev, _ := fromPosted(me, posted(t, p, model.ChannelTypeGroup, mentioned)); ev == nil || ev.ChannelType != chat.ChannelPrivate {
		t.Fatalf("group message: %+v", ev)
	}

	fromBot := post(model.NewId(), "", "@timon ask")
	fromBot.AddProp(model.PostPropsFromBot, "true")
	system := post(alan, "", "alan joined the channel")
	system.Type = model.PostTypeJoinChannel
	for name, ev := range map[string]*wsEvent{
		"own post":          posted(t, post(me.ID, "", "@timon ask"), model.ChannelTypeDirect, mentioned),
		"another bot":       posted(t, fromBot, model.ChannelTypeOpen, mentioned),
		"system message":    posted(t, system, model.ChannelTypeOpen, mentioned),
		"no mention":        posted(t, post(alan, "", "@timon ask"), model.ChannelTypeOpen, ""),
		"someone else":      posted(t, post(alan, "", "@ada ask"), model.ChannelTypeOpen, model.ArrayToJSON([]string{model.NewId()})),
		"mention in a text": posted(t, post(alan, "", "`@timon`"), model.ChannelTypeOpen, "[]"),
	} {
		if got, err := fromPosted(me, ev); got != nil || err != nil {
			t.Errorf("%s: %+v, %v; want nothing", name, got, err)
		}
	}

	bad := model.NewWebSocketEvent(model.WebsocketEventPosted, "", ch, "", nil, "")
	bad.Add("post", "{not json")
	js, _ := bad.ToJSON()
	if _, err := fromPosted(me, wire(t, js)); err == nil {
		t.Error("a malformed post was accepted")
	}
	js, _ = model.NewWebSocketEvent(model.WebsocketEventPosted, "", ch, "", nil, "").ToJSON()
	if _, err := fromPosted(me, wire(t, js)); err == nil {
		t.Error("an event without a post was accepted")
	}
}

// TestHelloFromTheRecordedEvent: the recorded hello of an old server
// (shared/fixtures/mattermost/ws_hello.json) has no connection id: the
// numbering starts, nothing to resume.
func TestHelloFromTheRecordedEvent(t *testing.T) {
	raw, err := os.ReadFile("testdata/fixtures/ws_hello.json")
	if err != nil {
		t.Fatal(err)
	}
	ev, err := decodeEvent(raw)
	if err != nil || ev.Event != eventHello {
		t.Fatalf("%v %v", ev, err)
	}
	b := &Adapter{log: discard()}
	st := stream{connID: "", next: 7}
	b.hello(ev, &st)
	if st.connID != "" || st.next != 1 {
		t.Fatalf("after the recorded hello: %+v", st)
	}
	ev.Data["connection_id"] = "aaaabbbbccccddddeeeeffffgg"
	b.hello(ev, &st)
	if st.connID != "aaaabbbbccccddddeeeeffffgg" || st.next != 1 {
		t.Fatalf("after a hello with a connection id: %+v", st)
	}
}

func TestWebSocketURL(t *testing.T) {
	for _, c := range []struct{ base, want string }{
		{"https://chat.example.org", "wss://chat.example.org/api/v4/websocket?connection_id=abc&sequence_number=12"},
		{"http://10.0.0.1:8065/mm/", "ws://10.0.0.1:8065/mm/api/v4/websocket?connection_id=abc&sequence_number=12"},
	} {
		u, _ := url.Parse(c.base)
		b := &Adapter{base: u}
		if got := b.wsURL(&stream{connID: "abc", next: 12}); got != c.want {
			t.Errorf("wsURL(%s) = %s, want %s", c.base, got, c.want)
		}
	}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
