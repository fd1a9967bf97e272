// Package slacktest is a fake Slack for tests: slack-go's slacktest server
// with the Web API methods the timon bot uses that slacktest lacks or keeps
// too simple (chat.postMessage with unique timestamps, chat.update,
// chat.postEphemeral, conversations.replies and conversations.history
// (message metadata only with include_all_metadata, as Slack does; history
// between oldest and latest, paged by cursor), conversations.members,
// conversations.info, users.info, auth.test), the AI-app surface
// (assistant.threads.setStatus, .setTitle, .setSuggestedPrompts) and native
// streaming (chat.startStream, .appendStream, .stopStream, which a switch
// turns off as a workspace without it answers), response URLs for slash
// commands, a Socket Mode WebSocket endpoint that sends envelopes and
// records acknowledgements, and helpers that deliver signed Events API
// requests as Slack does. It speaks Slack's real wire formats; it is used by
// the tests of bots/slack and by the end-to-end tests.
package slacktest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
	slackgo "github.com/slack-go/slack/slacktest"

	"timon.dev/timon/bots/chat/chattest"
)

// Identity of the fake workspace and its bot.
const (
	Team      = "T123ABC456"
	BotUserID = "U0LAN0Z89"
	BotID     = "B0TIMON01"
	// MaxTextRunes is where the fake refuses a message as msg_too_long
	// (Slack truncates or refuses long text; clients advise 4,000).
	MaxTextRunes = 4000
)

// Message is a message in the fake workspace.
type Message struct {
	Channel  string
	TS       string
	ThreadTS string
	User     string
	BotID    string
	Text     string
	// Edits are the texts chat.update set, in order.
	Edits []string
	// Ephemeral messages are seen by User only.
	Ephemeral bool
	// For is the user an ephemeral message is for.
	For string
	// Metadata is the message metadata chat.postMessage (or
	// chat.stopStream) set (its JSON: event_type and event_payload), nil if
	// none.
	Metadata json.RawMessage
	// Chunks are the markdown texts a streamed message received, in order
	// (chat.startStream's, each chat.appendStream's, chat.stopStream's);
	// Text is their concatenation. Streaming reports that the stream is
	// still open.
	Chunks    []string
	Streamed  bool
	Streaming bool
	At        time.Time
}

// Response is what a slash command's response URL received.
type Response struct {
	Path         string
	Text         string
	ResponseType string
	At           time.Time
}

// Call is one Web API call.
type Call struct {
	Method string
	Values url.Values
	At     time.Time
}

type user struct {
	ID, Name, Email, Locale string
}

type channel struct {
	ID, Name, Type string // Type: public, private, im
	Members        []string
}

// Server is a running fake Slack.
type Server struct {
	*slackgo.Server

	mu        sync.Mutex
	seq       int
	base      int64
	messages  []*Message
	responses []Response
	calls     []Call
	users     map[string]user
	channels  map[string]*channel
	fail      map[string][]int // method → statuses to answer, in order
	sockets   []*websocket.Conn
	acks      []json.RawMessage
	changed   chan struct{}
	hold      chattest.Gate // chat.postMessage answers once it is open
	noStream  string        // the error chat.*Stream answer, "" when streaming works
}

// New starts a fake Slack with a bot user.
func New() *Server {
	s := &Server{users: map[string]user{}, channels: map[string]*channel{}, fail: map[string][]int{},
		base: time.Now().Unix(), changed: make(chan struct{})}
	s.Server = slackgo.NewTestServer(func(c slackgo.Customize) {
		c.Handle("/auth.test", s.api(s.authTest))
		c.Handle("/chat.postMessage", s.api(s.postMessage))
		c.Handle("/chat.update", s.api(s.update))
		c.Handle("/chat.postEphemeral", s.api(s.postEphemeral))
		c.Handle("/conversations.replies", s.api(s.replies))
		c.Handle("/conversations.history", s.api(s.history))
		c.Handle("/conversations.members", s.api(s.members))
		c.Handle("/conversations.info", s.api(s.conversationInfo))
		c.Handle("/users.info", s.api(s.userInfo))
		c.Handle("/apps.connections.open", s.api(s.connectionsOpen))
		c.Handle("/chat.startStream", s.api(s.startStream))
		c.Handle("/chat.appendStream", s.api(s.appendStream))
		c.Handle("/chat.stopStream", s.api(s.stopStream))
		c.Handle("/assistant.threads.setStatus", s.api(s.setStatus))
		c.Handle("/assistant.threads.setTitle", s.api(s.setTitle))
		c.Handle("/assistant.threads.setSuggestedPrompts", s.api(s.setSuggestedPrompts))
		c.Handle("/socket", s.socket)
		c.Handle("/response/", s.response)
	})
	s.Server.Start()
	return s
}

// Close stops the server and its sockets.
func (s *Server) Close() {
	s.mu.Lock()
	for _, c := range s.sockets {
		c.Close()
	}
	s.mu.Unlock()
	s.Server.Stop()
}

// APIURL is the Web API base URL (for chat.slack.api_url).
func (s *Server) APIURL() string { return s.GetAPIURL() }

// AddUser adds a workspace member.
func (s *Server) AddUser(id, name, email, locale string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[id] = user{ID: id, Name: name, Email: email, Locale: locale}
}

// AddChannel adds a conversation: typ is public, private or im.
func (s *Server) AddChannel(id, name, typ string, members ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.channels[id] = &channel{ID: id, Name: name, Type: typ, Members: members}
}

// AddMessage adds a message written by a user; it returns its timestamp.
func (s *Server) AddMessage(channel, threadTS, user, text string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := &Message{Channel: channel, TS: s.nextTS(), ThreadTS: threadTS, User: user, Text: text, At: time.Now()}
	s.messages = append(s.messages, m)
	return m.TS
}

// HoldPosts makes chat.postMessage store the message but hold its answer
// until release is called or the client goes away: a client killed in
// that window has had its message accepted without learning its ts.
func (s *Server) HoldPosts() (release func()) { return s.hold.Shut() }

// NoStreaming makes the workspace one without native streaming: the
// chat.*Stream methods answer code (unknown_method when ""), as Slack does
// for a method or feature the workspace does not have.
func (s *Server) NoStreaming(code string) {
	if code == "" {
		code = "unknown_method"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.noStream = code
}

// FailNext makes the next calls of method answer these HTTP statuses (429
// comes with Retry-After: 1).
func (s *Server) FailNext(method string, statuses ...int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail[method] = append(s.fail[method], statuses...)
}

// BotMessages returns copies of the messages the bot posted (ephemeral
// ones included), in order.
func (s *Server) BotMessages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Message
	for _, m := range s.messages {
		if m.User == BotUserID {
			c := *m
			c.Edits = slices.Clone(m.Edits)
			c.Chunks = slices.Clone(m.Chunks)
			out = append(out, c)
		}
	}
	return out
}

// Replies returns the bot's messages in the thread rooted at ts.
func (s *Server) Replies(channel, ts string) []Message {
	var out []Message
	for _, m := range s.BotMessages() {
		if m.Channel == channel && m.ThreadTS == ts {
			out = append(out, m)
		}
	}
	return out
}

// Responses returns what response URLs received.
func (s *Server) Responses() []Response {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.responses)
}

// Calls returns the Web API calls of a method ("" for all).
func (s *Server) Calls(method string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if method == "" || c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

// ResponseURL returns a new response URL served by the fake.
func (s *Server) ResponseURL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	return strings.TrimSuffix(s.APIURL(), "/") + "/response/" + strconv.Itoa(s.seq)
}

// Changed returns a channel closed at the next change of the fake's state
// (a message, an edit, a response, an acknowledgement).
func (s *Server) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

// notify must be called with mu held.
func (s *Server) notify() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// nextTS returns a new unique message timestamp; mu must be held.
func (s *Server) nextTS() string {
	s.seq++
	return fmt.Sprintf("%d.%06d", s.base, s.seq)
}

type apiFunc func(v url.Values) (map[string]any, string)

// api wraps a Web API method: it records the call, checks the token,
// injects failures and writes Slack's {"ok":…} envelope.
func (s *Server) api(f apiFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		method := strings.TrimPrefix(r.URL.Path, "/")
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		v := r.Form
		if tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "); tok != "" && v.Get("token") == "" {
			v.Set("token", tok)
		}
		s.mu.Lock()
		s.calls = append(s.calls, Call{Method: method, Values: v, At: time.Now()})
		var status int
		if st := s.fail[method]; len(st) > 0 {
			status, s.fail[method] = st[0], st[1:]
		}
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "1")
		}
		if status != 0 {
			w.WriteHeader(status)
			w.Write([]byte(`{"ok":false,"error":"ratelimited"}`))
			return
		}
		if v.Get("token") == "" {
			json.NewEncoder(w).Encode(map[string]any{"ok": false, "error": "not_authed"})
			return
		}
		out, errCode := f(v)
		if method == "chat.postMessage" && errCode == "" {
			if !s.hold.Wait(r.Context()) {
				return
			}
		}
		if errCode != "" {
			json.NewEncoder(w).Encode(map[string]any{"ok": false, "error": errCode})
			return
		}
		if out == nil {
			out = map[string]any{}
		}
		out["ok"] = true
		json.NewEncoder(w).Encode(out)
	}
}

func (s *Server) authTest(url.Values) (map[string]any, string) {
	return map[string]any{"url": "https://fake.slack.com/", "team": "Fake", "user": "timon", "team_id": Team,
		"user_id": BotUserID, "bot_id": BotID}, ""
}

func (s *Server) postMessage(v url.Values) (map[string]any, string) {
	text, ch := v.Get("text"), v.Get("channel")
	if ch == "" {
		return nil, "channel_not_found"
	}
	if text == "" {
		return nil, "no_text"
	}
	if utf8.RuneCountInString(text) > MaxTextRunes {
		return nil, "msg_too_long"
	}
	var meta json.RawMessage
	if raw := v.Get("metadata"); raw != "" {
		var md struct {
			EventType    string         `json:"event_type"`
			EventPayload map[string]any `json:"event_payload"`
		}
		if json.Unmarshal([]byte(raw), &md) != nil || md.EventType == "" || md.EventPayload == nil {
			return nil, "invalid_metadata_format"
		}
		meta = json.RawMessage(raw)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m := &Message{Channel: ch, TS: s.nextTS(), ThreadTS: v.Get("thread_ts"), User: BotUserID, BotID: BotID, Text: text, Metadata: meta, At: time.Now()}
	s.messages = append(s.messages, m)
	s.notify()
	return map[string]any{"channel": ch, "ts": m.TS, "message": map[string]any{"type": "message", "text": text, "user": BotUserID, "bot_id": BotID, "ts": m.TS}}, ""
}

// wire is a message as conversations.replies and .history return it:
// metadata only when the call asked for it (include_all_metadata).
func (m *Message) wire(withMetadata bool) map[string]any {
	jm := map[string]any{"type": "message", "ts": m.TS, "text": m.Text, "user": m.User}
	if m.BotID != "" {
		jm["bot_id"] = m.BotID
	}
	if withMetadata && m.Metadata != nil {
		jm["metadata"] = m.Metadata
	}
	return jm
}

func truthy(s string) bool { return s == "1" || s == "true" }

// history lists a conversation's top-level messages, newest first,
// between oldest and latest (each exclusive unless inclusive), a page of
// limit (default 100, at most 999) at a time with has_more and a cursor —
// conversations.history.
func (s *Server) history(v url.Values) (map[string]any, string) {
	ch, oldest, latest := v.Get("channel"), v.Get("oldest"), v.Get("latest")
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.channels[ch] == nil {
		return nil, "channel_not_found"
	}
	limit, err := strconv.Atoi(v.Get("limit"))
	if err != nil || limit <= 0 {
		limit = 100
	}
	limit = min(limit, 999)
	from := 0
	if c := v.Get("cursor"); c != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(c, "bmV4dF9"))
		if err != nil || !strings.HasPrefix(c, "bmV4dF9") || n < 0 {
			return nil, "invalid_cursor"
		}
		from = n
	}
	incl := truthy(v.Get("inclusive"))
	var sel []*Message
	for _, m := range s.messages {
		if m.Channel != ch || m.Ephemeral || (m.ThreadTS != "" && m.ThreadTS != m.TS) {
			continue
		}
		if oldest != "" && (tsLess(m.TS, oldest) || (m.TS == oldest && !incl)) {
			continue
		}
		if latest != "" && (tsLess(latest, m.TS) || (m.TS == latest && !incl)) {
			continue
		}
		sel = append(sel, m)
	}
	slices.SortStableFunc(sel, func(a, b *Message) int {
		switch {
		case tsLess(b.TS, a.TS):
			return -1
		case tsLess(a.TS, b.TS):
			return 1
		}
		return 0
	})
	msgs := []map[string]any{}
	for i := from; i < len(sel) && i < from+limit; i++ {
		msgs = append(msgs, sel[i].wire(truthy(v.Get("include_all_metadata"))))
	}
	next := ""
	if from+limit < len(sel) {
		next = "bmV4dF9" + strconv.Itoa(from+limit)
	}
	return map[string]any{"messages": msgs, "has_more": next != "", "response_metadata": map[string]any{"next_cursor": next}}, ""
}

func (s *Server) update(v url.Values) (map[string]any, string) {
	text, ch, ts := v.Get("text"), v.Get("channel"), v.Get("ts")
	if utf8.RuneCountInString(text) > MaxTextRunes {
		return nil, "msg_too_long"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.messages {
		if m.Channel == ch && m.TS == ts && !m.Ephemeral {
			if m.User != BotUserID || m.Streaming {
				// A stream is written by chat.appendStream until it stops.
				return nil, "cant_update_message"
			}
			m.Text = text
			m.Edits = append(m.Edits, text)
			s.notify()
			return map[string]any{"channel": ch, "ts": ts, "text": text}, ""
		}
	}
	return nil, "message_not_found"
}

func (s *Server) postEphemeral(v url.Values) (map[string]any, string) {
	text, ch := v.Get("text"), v.Get("channel")
	if text == "" {
		return nil, "no_text"
	}
	if utf8.RuneCountInString(text) > MaxTextRunes {
		return nil, "msg_too_long"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m := &Message{Channel: ch, TS: s.nextTS(), ThreadTS: v.Get("thread_ts"), User: BotUserID, BotID: BotID, Text: text,
		Ephemeral: true, For: v.Get("user"), At: time.Now()}
	s.messages = append(s.messages, m)
	s.notify()
	return map[string]any{"message_ts": m.TS}, ""
}

func (s *Server) replies(v url.Values) (map[string]any, string) {
	ch, ts := v.Get("channel"), v.Get("ts")
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.channels[ch] == nil {
		return nil, "channel_not_found"
	}
	var msgs []map[string]any
	for _, m := range s.messages {
		if m.Channel != ch || m.Ephemeral || (m.TS != ts && m.ThreadTS != ts) {
			continue
		}
		jm := m.wire(truthy(v.Get("include_all_metadata")))
		if m.ThreadTS != "" {
			jm["thread_ts"] = m.ThreadTS
		} else {
			jm["thread_ts"] = m.TS
		}
		msgs = append(msgs, jm)
	}
	if len(msgs) == 0 {
		return nil, "thread_not_found"
	}
	return map[string]any{"messages": msgs, "has_more": false, "response_metadata": map[string]any{"next_cursor": ""}}, ""
}

func (s *Server) members(v url.Values) (map[string]any, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.channels[v.Get("channel")]
	if c == nil {
		return nil, "channel_not_found"
	}
	return map[string]any{"members": slices.Clone(c.Members), "response_metadata": map[string]any{"next_cursor": ""}}, ""
}

func (s *Server) conversationInfo(v url.Values) (map[string]any, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.channels[v.Get("channel")]
	if c == nil {
		return nil, "channel_not_found"
	}
	return map[string]any{"channel": map[string]any{"id": c.ID, "name": c.Name, "is_channel": c.Type == "public",
		"is_private": c.Type == "private", "is_im": c.Type == "im", "is_group": false, "is_mpim": false}}, ""
}

func (s *Server) userInfo(v url.Values) (map[string]any, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[v.Get("user")]
	if !ok {
		return nil, "user_not_found"
	}
	out := map[string]any{"id": u.ID, "name": u.Name, "real_name": u.Name, "team_id": Team,
		"profile": map[string]any{"email": u.Email, "display_name": u.Name, "real_name": u.Name}}
	if v.Get("include_locale") == "true" {
		out["locale"] = u.Locale
	}
	return map[string]any{"user": out}, ""
}

func (s *Server) connectionsOpen(v url.Values) (map[string]any, string) {
	if !strings.HasPrefix(v.Get("token"), "xapp-") {
		return nil, "invalid_auth"
	}
	return map[string]any{"url": "ws" + strings.TrimPrefix(strings.TrimSuffix(s.APIURL(), "/"), "http") + "/socket"}, ""
}

func (s *Server) response(w http.ResponseWriter, r *http.Request) {
	var msg struct {
		Text         string `json:"text"`
		ResponseType string `json:"response_type"`
	}
	if err := json.NewDecoder(r.Body).Decode(&msg); err != nil {
		http.Error(w, "invalid_payload", http.StatusBadRequest)
		return
	}
	if utf8.RuneCountInString(msg.Text) > MaxTextRunes {
		http.Error(w, "msg_too_long", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.responses = append(s.responses, Response{Path: r.URL.Path, Text: msg.Text, ResponseType: msg.ResponseType, At: time.Now()})
	s.notify()
	s.mu.Unlock()
	w.Write([]byte("ok"))
}

// Deliver posts body to url as Slack does: signed with secret at the
// current time, with X-Slack-Retry-Num when retry > 0.
func Deliver(client *http.Client, url, contentType string, body []byte, secret string, retry int) (*http.Response, error) {
	return DeliverAt(client, url, contentType, body, secret, retry, time.Now())
}

// DeliverAt is Deliver with the signature's timestamp at t.
func DeliverAt(client *http.Client, url, contentType string, body []byte, secret string, retry int, t time.Time) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", contentType)
	ts := t.Unix()
	req.Header.Set("X-Slack-Request-Timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("X-Slack-Signature", Sign(secret, ts, body))
	if retry > 0 {
		req.Header.Set("X-Slack-Retry-Num", strconv.Itoa(retry))
		req.Header.Set("X-Slack-Retry-Reason", "http_timeout")
	}
	return client.Do(req)
}
