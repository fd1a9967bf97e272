package mattermosttest_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/mattermost/mattermost/server/public/model"

	"timon.dev/timon/bots/mattermost/mattermosttest"
)

func dial(t *testing.T, s *mattermosttest.Server, query string, auth bool) *websocket.Conn {
	t.Helper()
	h := http.Header{}
	if auth {
		h.Set("Authorization", "Bearer "+s.BotToken())
	}
	c, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(s.URL(), "http")+"/api/v4/websocket"+query, h)
	if err != nil {
		t.Fatalf("dial: %v (%v)", err, resp)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func read(t *testing.T, c *websocket.Conn) (*model.WebSocketEvent, map[string]any) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, b, err := c.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	ev, err := model.WebSocketEventFromJSON(strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return ev, raw
}

func keys(m map[string]any) []string {
	var k []string
	for key, v := range m {
		k = append(k, key)
		if sub, ok := v.(map[string]any); ok {
			for _, s := range keys(sub) {
				k = append(k, key+"."+s)
			}
		}
	}
	slices.Sort(k)
	return k
}

// TestHelloHasTheRecordedShape: the fake's hello carries every field of
// the recorded one (shared/fixtures/mattermost/ws_hello.json), plus the
// connection id of reliable WebSockets.
func TestHelloHasTheRecordedShape(t *testing.T) {
	s := mattermosttest.New()
	defer s.Close()
	b, err := os.ReadFile("../testdata/fixtures/ws_hello.json")
	if err != nil {
		t.Fatal(err)
	}
	var recorded map[string]any
	if err := json.Unmarshal(b, &recorded); err != nil {
		t.Fatal(err)
	}
	ev, raw := read(t, dial(t, s, "", true))
	got := keys(raw)
	for _, k := range keys(recorded) {
		if !slices.Contains(got, k) {
			t.Errorf("hello lacks %s: %v", k, got)
		}
	}
	id, _ := ev.GetData()["connection_id"].(string)
	if ev.EventType() != model.WebsocketEventHello || ev.GetSequence() != 0 || !model.IsValidId(id) || ev.GetBroadcast().UserId != s.Bot().Id {
		t.Fatalf("hello %+v", raw)
	}
}

func TestReliableWebSocket(t *testing.T) {
	s := mattermosttest.New()
	defer s.Close()
	alan := s.AddUser(&model.User{Username: "alan"})
	ch := s.AddChannel(&model.Channel{Name: "town-square"}, alan.Id, s.Bot().Id)
	c := dial(t, s, "", true)
	hello, _ := read(t, c)
	id := hello.GetData()["connection_id"].(string)
	for i := range 3 {
		if _, err := s.Post(alan.Id, ch.Id, "", "@timon hello "+string(rune('a'+i))); err != nil {
			t.Fatal(err)
		}
		ev, _ := read(t, c)
		if ev.EventType() != model.WebsocketEventPosted || ev.GetSequence() != int64(i+1) {
			t.Fatalf("event %d: %s seq %d", i, ev.EventType(), ev.GetSequence())
		}
		if i == 0 && ev.GetData()["mentions"] != model.ArrayToJSON([]string{s.Bot().Id}) {
			t.Fatalf("mentions %v", ev.GetData()["mentions"])
		}
	}
	s.Drop()
	// Posted while away: kept for the client.
	if _, err := s.Post(alan.Id, ch.Id, "", "while away"); err != nil {
		t.Fatal(err)
	}

	// Resuming from 2 replays 2 and 3 (sent before the drop), then 4.
	c = dial(t, s, "?connection_id="+id+"&sequence_number=2", true)
	for _, want := range []int64{2, 3, 4} {
		if ev, _ := read(t, c); ev.GetSequence() != want || ev.EventType() != model.WebsocketEventPosted {
			t.Fatalf("got %s seq %d, want posted %d", ev.EventType(), ev.GetSequence(), want)
		}
	}
	s.Drop()

	// Nothing missed: nothing sent again.
	c = dial(t, s, "?connection_id="+id+"&sequence_number=5", true)
	if _, err := s.Post(alan.Id, ch.Id, "", "next"); err != nil {
		t.Fatal(err)
	}
	if ev, _ := read(t, c); ev.GetSequence() != 5 {
		t.Fatalf("got seq %d, want 5", ev.GetSequence())
	}
	s.Drop()

	// A sequence number the server cannot serve: a new connection.
	c = dial(t, s, "?connection_id="+id+"&sequence_number=99", true)
	ev, _ := read(t, c)
	if nid, _ := ev.GetData()["connection_id"].(string); ev.EventType() != model.WebsocketEventHello || ev.GetSequence() != 0 || nid == id || nid == "" {
		t.Fatalf("after a lost sequence: %s seq %d", ev.EventType(), ev.GetSequence())
	}
	conns := s.Connections()
	var outcomes []string
	for _, c := range conns {
		outcomes = append(outcomes, c.Outcome)
	}
	if strings.Join(outcomes, ",") != "new,resumed,resumed,lost" {
		t.Fatalf("outcomes %v", outcomes)
	}
}

func TestWebSocketAuthentication(t *testing.T) {
	s := mattermosttest.New()
	defer s.Close()
	c := dial(t, s, "", false)
	if err := c.WriteJSON(map[string]any{"seq": 1, "action": "authentication_challenge", "data": map[string]any{"token": s.BotToken()}}); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var resp model.WebSocketResponse
	if err := c.ReadJSON(&resp); err != nil || resp.Status != model.StatusOk || resp.SeqReply != 1 {
		t.Fatalf("challenge answer %+v, %v", resp, err)
	}
	if ev, _ := read(t, c); ev.EventType() != model.WebsocketEventHello {
		t.Fatalf("%s after authentication", ev.EventType())
	}

	bad := dial(t, s, "", false)
	_ = bad.WriteJSON(map[string]any{"seq": 1, "action": "authentication_challenge", "data": map[string]any{"token": "nope"}})
	_ = bad.SetReadDeadline(time.Now().Add(5 * time.Second))
	if err := bad.ReadJSON(&resp); err != nil || resp.Status != model.StatusFail {
		t.Fatalf("bad token: %+v, %v", resp, err)
	}
	if _, _, err := bad.ReadMessage(); err == nil {
		t.Fatal("the connection stayed open with a bad token")
	}
}

func TestRESTSpeaksTheClientsWire(t *testing.T) {
	s := mattermosttest.New()
	defer s.Close()
	ctx := context.Background()
	alan := s.AddUser(&model.User{Username: "alan", Email: "alan@example.org", Locale: "fr"})
	ch := s.AddChannel(&model.Channel{Name: "town-square"}, alan.Id, s.Bot().Id)
	priv := s.AddChannel(&model.Channel{Name: "lab", Type: model.ChannelTypePrivate}, alan.Id)

	anon := model.NewAPIv4Client(s.URL())
	if _, resp, err := anon.GetMe(ctx, ""); err == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("unauthenticated: %v %v", resp, err)
	}
	c := model.NewAPIv4Client(s.URL())
	c.SetToken(s.BotToken())
	if me, _, err := c.GetMe(ctx, ""); err != nil || me.Username != "timon" || !me.IsBot {
		t.Fatalf("me %+v %v", me, err)
	}
	if u, _, err := c.GetUser(ctx, alan.Id, ""); err != nil || u.Email != "alan@example.org" || u.Locale != "fr" {
		t.Fatalf("user %+v %v", u, err)
	}
	if _, resp, err := c.GetChannelMember(ctx, priv.Id, alan.Id, ""); err == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("member of a channel the bot cannot read: %v", err)
	}
	if _, resp, err := c.GetChannelMember(ctx, ch.Id, model.NewId(), ""); err == nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("not a member: %v", err)
	}
	p, resp, err := c.CreatePost(ctx, &model.Post{ChannelId: ch.Id, Message: "hi"})
	if err != nil || resp.StatusCode != http.StatusCreated || p.GetProp(model.PostPropsFromBot) != "true" {
		t.Fatalf("post %+v %v", p, err)
	}
	if _, _, err := c.CreatePost(ctx, &model.Post{ChannelId: priv.Id, Message: "hi"}); err == nil {
		t.Fatal("posted in a channel the bot is not in")
	}
	long := strings.Repeat("é", mattermosttest.MaxPostRunes+1)
	if _, resp, err := c.CreatePost(ctx, &model.Post{ChannelId: ch.Id, Message: long}); err == nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("a post over the limit: %v", err)
	}
	msg := "edited"
	if _, _, err := c.PatchPost(ctx, p.Id, &model.PostPatch{Message: &msg}); err != nil {
		t.Fatal(err)
	}
	theirs, _ := s.Post(alan.Id, ch.Id, p.Id, "a reply")
	if _, _, err := c.PatchPost(ctx, theirs.Id, &model.PostPatch{Message: &msg}); err == nil {
		t.Fatal("edited someone else's post")
	}
	list, _, err := c.GetPostThread(ctx, theirs.Id, "", false)
	if err != nil || len(list.Order) != 2 || list.Posts[p.Id].Message != "edited" {
		t.Fatalf("thread %+v %v", list, err)
	}
	if e := s.Edits(p.Id); len(e) != 1 || e[0].Message != "edited" {
		t.Fatalf("edits %+v", e)
	}

	// A response URL takes five answers.
	hook := s.NewCommandHook(alan.Id, ch.Id, "")
	for i := range 6 {
		resp, err := http.Post(hook, "application/json", strings.NewReader(`{"response_type":"ephemeral","text":"hi"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if ok := resp.StatusCode == http.StatusOK; ok != (i < 5) {
			t.Fatalf("answer %d: status %d", i, resp.StatusCode)
		}
	}
	if n := len(s.Ephemerals()); n != 5 {
		t.Fatalf("%d ephemerals", n)
	}
}
