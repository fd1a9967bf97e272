package mattermost

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/mattermost/mattermost/server/public/model"
	"go.yaml.in/yaml/v3"

	"timon.dev/timon/bots/chat"
)

// fixturesDir holds recorded payloads (shared/fixtures/mattermost).
const fixturesDir = "testdata/fixtures"

// The bot's small client mirrors Mattermost's Go module (model): these
// tests check it against that module and against the recorded payloads
// of testdata/fixtures (shared/fixtures/mattermost).

func TestConstantsMirrorMattermost(t *testing.T) {
	for _, c := range []struct{ ours, theirs any }{
		{DefaultMaxRunes, model.PostMessageMaxRunesV2},
		{channelOpen, string(model.ChannelTypeOpen)},
		{channelPrivate, string(model.ChannelTypePrivate)},
		{channelDirect, string(model.ChannelTypeDirect)},
		{channelGroup, string(model.ChannelTypeGroup)},
		{propFromBot, model.PostPropsFromBot},
		{propFromWebhook, model.PostPropsFromWebhook},
		{systemPostPrefix, model.PostSystemMessagePrefix},
		{apiPath, model.APIURLSuffix},
		{headerAuth, model.HeaderAuth},
		{headerBearer, model.HeaderBearer},
		{commandResponseEphemeral, model.CommandResponseTypeEphemeral},
		{eventHello, string(model.WebsocketEventHello)},
		{eventPosted, string(model.WebsocketEventPosted)},
	} {
		if c.ours != c.theirs {
			t.Errorf("%v, Mattermost's %v", c.ours, c.theirs)
		}
	}
	a, b := model.NewId(), model.NewId()
	ids := []string{a, b}
	slices.Sort(ids)
	if got := ids[0] + dmNameSeparator + ids[1]; got != model.GetDMNameFromIds(a, b) {
		t.Errorf("direct channel name %s, Mattermost's %s", got, model.GetDMNameFromIds(a, b))
	}
	for _, typ := range []string{model.PostTypeJoinChannel, model.PostTypeEphemeral, "custom_x", ""} {
		if got := (&post{Type: typ}).isSystemMessage(); got != (&model.Post{Type: typ}).IsSystemMessage() {
			t.Errorf("isSystemMessage(%q) = %v", typ, got)
		}
	}
}

func TestIDs(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		id := newID()
		if !model.IsValidId(id) || !isValidID(id) || seen[id] {
			t.Fatalf("newID() = %q", id)
		}
		seen[id] = true
	}
	for _, s := range []string{model.NewId(), "erj6qck3rfgtujs86w5r6rckzh", "ERJ6QCK3RFGTUJS86W5R6RCKZH", "", "erj6qck3rfgtujs86w5r6rckz",
		"erj6qck3rfgtujs86w5r6rckzhh", "erj6qck3rfgtujs86w5r6rck_h", "erj6qck3rfgtujs86w5r6rck h", "éj6qck3rfgtujs86w5r6rckzh", "../../../../../../../users"} {
		if got, want := isValidID(s), model.IsValidId(s); got != want {
			t.Errorf("isValidID(%q) = %v, Mattermost says %v", s, got, want)
		}
	}
}

// TestPostsAndUsersOnTheWire: what the bot writes, Mattermost's types
// read; what they write, the bot reads.
func TestPostsAndUsersOnTheWire(t *testing.T) {
	ours := marked(&post{ChannelID: model.NewId(), RootID: model.NewId(), Message: "hé ✓"}, chat.Reply{Key: "k1", Part: 2})
	js, _ := json.Marshal(ours)
	var theirs model.Post
	if err := json.Unmarshal(js, &theirs); err != nil {
		t.Fatal(err)
	}
	if theirs.ChannelId != ours.ChannelID || theirs.RootId != ours.RootID || theirs.Message != ours.Message ||
		theirs.GetProp(propEventKey) != "k1" || theirs.GetProp(propPart) != "2" {
		t.Fatalf("Mattermost read %s as %+v", js, &theirs)
	}

	full := &model.Post{Id: model.NewId(), CreateAt: 1700000000123, UpdateAt: 1700000000456, DeleteAt: 7, UserId: model.NewId(),
		ChannelId: model.NewId(), RootId: model.NewId(), Message: "hi", Type: model.PostTypeJoinChannel, Hashtags: "#x",
		FileIds: []string{model.NewId()}, Metadata: &model.PostMetadata{Embeds: []*model.PostEmbed{{Type: "link", URL: "https://example.org"}}}}
	full.AddProp(model.PostPropsFromBot, "true")
	full.AddProp("attachments", []any{map[string]any{"text": "x"}})
	fjs, err := full.ToJSON()
	if err != nil {
		t.Fatal(err)
	}
	var p post
	if err := json.Unmarshal([]byte(fjs), &p); err != nil {
		t.Fatal(err)
	}
	want := post{ID: full.Id, CreateAt: full.CreateAt, DeleteAt: 7, UserID: full.UserId, ChannelID: full.ChannelId, RootID: full.RootId,
		Message: "hi", Type: model.PostTypeJoinChannel}
	if got := p; got.Props["from_bot"] != "true" || !p.isSystemMessage() {
		t.Fatalf("read %+v", got)
	}
	p.Props = nil
	if !reflect.DeepEqual(p, want) {
		t.Fatalf("read %+v\nwant %+v", p, want)
	}

	list := model.NewPostList()
	list.AddPost(full)
	list.AddOrder(full.Id)
	js2, _ := json.Marshal(list)
	var l postList
	if err := json.Unmarshal(js2, &l); err != nil || len(l.Order) != 1 || l.Posts[full.Id] == nil || l.Posts[full.Id].Message != "hi" {
		t.Fatalf("post list %s read as %+v, %v", js2, l, err)
	}

	bot := &model.User{Id: model.NewId(), Username: "timon", Email: "timon@example.org", Locale: "fr", IsBot: true, BotDescription: "x",
		Roles: "system_user", Props: model.StringMap{"a": "b"}, NotifyProps: model.StringMap{"push": "all"}}
	js3, _ := json.Marshal(bot)
	var u user
	if err := json.Unmarshal(js3, &u); err != nil || u != (user{ID: bot.Id, Username: "timon", Email: "timon@example.org", Locale: "fr"}) {
		t.Fatalf("user %s read as %+v, %v", js3, u, err)
	}

	ch := &model.Channel{Id: model.NewId(), Type: model.ChannelTypeDirect, Name: model.GetDMNameFromIds(bot.Id, u.ID), TeamId: "", CreatorId: bot.Id}
	js4, _ := json.Marshal(ch)
	var c channel
	if err := json.Unmarshal(js4, &c); err != nil || c != (channel{ID: ch.Id, Type: channelDirect, Name: ch.Name}) {
		t.Fatalf("channel %s read as %+v, %v", js4, c, err)
	}

	js5, _ := json.Marshal(&commandResponse{ResponseType: commandResponseEphemeral, Text: "Working on it…"})
	cr, err := model.CommandResponseFromJSON(strings.NewReader(string(js5)))
	if err != nil || cr.ResponseType != model.CommandResponseTypeEphemeral || cr.Text != "Working on it…" {
		t.Fatalf("Mattermost read %s as %+v, %v", js5, cr, err)
	}
}

// TestFieldsInTheAPISchema: every field the bot reads of a post or a user
// is in the API's published schema (testdata/fixtures, an excerpt of
// Mattermost's definitions.yaml).
func TestFieldsInTheAPISchema(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(fixturesDir, "api_schemas_post_user.openapi-excerpt.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var schemas map[string]struct {
		Properties map[string]any `yaml:"properties"`
	}
	if err := yaml.Unmarshal(raw, &schemas); err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]any{"Post": post{}, "User": user{}} {
		props := schemas[name].Properties
		if len(props) == 0 {
			t.Fatalf("no %s schema in the fixture", name)
		}
		typ := reflect.TypeOf(v)
		for i := range typ.NumField() {
			field, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
			if _, ok := props[field]; !ok {
				t.Errorf("%s.%s is not in the API's schema", name, field)
			}
		}
	}
}

// TestEventsOnTheWire: the events as the server writes them (recorded,
// or with Mattermost's types): the bot reads their type, sequence number
// and data, the post inside as a JSON string; replies to requests have no
// type.
func TestEventsOnTheWire(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(fixturesDir, "ws_hello.json"))
	if err != nil {
		t.Fatal(err)
	}
	hello := wire(t, raw)
	if hello.Event != eventHello || hello.Seq != 0 || hello.Data["server_version"] != "3.6.0.1451.1c38da627ebb4e3635677db6939e9195" {
		t.Fatalf("recorded hello read as %+v", hello)
	}

	p := &model.Post{Id: model.NewId(), UserId: model.NewId(), ChannelId: model.NewId(), Message: "a \"quoted\"\nline ✓"}
	pjs, _ := p.ToJSON()
	for i, typ := range []model.WebsocketEventType{model.WebsocketEventPosted, model.WebsocketEventPostEdited, model.WebsocketEventEphemeralMessage, model.WebsocketEventTyping} {
		ev := model.NewWebSocketEvent(typ, "", p.ChannelId, "", nil, "")
		if typ != model.WebsocketEventTyping {
			ev.Add("post", pjs)
		} else {
			ev.Add("parent_id", "")
		}
		js, err := ev.SetSequence(int64(40 + i)).ToJSON()
		if err != nil {
			t.Fatal(err)
		}
		got := wire(t, js)
		if got.Event != string(typ) || got.Seq != int64(40+i) {
			t.Fatalf("%s read as %+v", js, got)
		}
		if typ == model.WebsocketEventTyping {
			continue
		}
		s, _ := got.Data["post"].(string)
		var q post
		if err := json.Unmarshal([]byte(s), &q); err != nil || q.ID != p.Id || q.Message != p.Message {
			t.Fatalf("the post of %s read as %+v, %v", typ, q, err)
		}
	}

	reply, _ := json.Marshal(model.NewWebSocketResponse(model.StatusOk, 3, nil))
	if ev := wire(t, reply); ev.Event != "" {
		t.Fatalf("a reply read as an event: %+v", ev)
	}
	if _, err := decodeEvent([]byte("{not json")); err == nil {
		t.Fatal("garbage read as an event")
	}
}

// TestAPIErrors: an error answer is an error that says what the server
// said, with its status; the request carries the bot token.
func TestAPIErrors(t *testing.T) {
	var auth, path string
	var query url.Values
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth, path, query = r.Header.Get("Authorization"), r.URL.EscapedPath(), r.URL.Query()
		switch {
		case strings.HasSuffix(r.URL.Path, "/thread"):
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			_ = json.NewEncoder(w).Encode(model.NewAppError("getPostThread", "api.context.permissions.app_error", nil, "", http.StatusForbidden))
		case strings.HasSuffix(r.URL.Path, "/posts"):
			w.WriteHeader(http.StatusBadGateway)
			_, _ = w.Write([]byte("<html>bad gateway</html>"))
		default:
			_, _ = w.Write([]byte(`{"id": 12`))
		}
	}))
	defer srv.Close()
	base, _ := url.Parse(srv.URL + "/mm/")
	c := newClient(base, srv.Client(), "s3cret")

	_, err := c.getPostThread(context.Background(), "a/../b")
	var ae *apiError
	if !errors.As(err, &ae) || statusOf(err) != http.StatusForbidden || ae.ID != "api.context.permissions.app_error" ||
		!strings.Contains(err.Error(), "403") || !strings.Contains(err.Error(), "api.context.permissions.app_error") {
		t.Fatalf("403: %v", err)
	}
	if auth != "BEARER s3cret" || path != "/mm/api/v4/posts/a%2F%2Fb/thread" || query.Get("collapsedThreads") != "false" {
		t.Fatalf("request %q %q %v", auth, path, query)
	}

	_, err = c.getPosts(context.Background(), "ch", "p1", 2, 200)
	if statusOf(err) != http.StatusBadGateway || !strings.Contains(err.Error(), "bad gateway") {
		t.Fatalf("502: %v", err)
	}
	if path != "/mm/api/v4/channels/ch/posts" || query.Get("after") != "p1" || query.Get("page") != "2" || query.Get("per_page") != "200" ||
		query.Get("include_deleted") != "false" {
		t.Fatalf("request %q %v", path, query)
	}

	if _, err := c.getMe(context.Background()); err == nil || statusOf(err) != 0 {
		t.Fatalf("unreadable answer: %v", err)
	}
	srv.Close()
	if _, err := c.getMe(context.Background()); err == nil || statusOf(err) != 0 || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("server down: %v", err)
	}
}
