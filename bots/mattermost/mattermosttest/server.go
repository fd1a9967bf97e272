// Package mattermosttest is an in-memory Mattermost server for tests: an
// httptest server speaking the real wire format of the REST routes and the
// WebSocket that timon's Mattermost bot uses (bodies are the server's own
// model types from github.com/mattermost/mattermost/server/public/model, and
// WebSocket events are encoded by model.WebSocketEvent as the server does).
//
// It keeps users, channels, members, posts and slash command response URLs
// in memory, records every post, edit, ephemeral message and REST call, and
// lets a test act as a user (Post), drop the WebSocket connections (Drop),
// refuse new ones (Refuse) or forget them as a restarted server does
// (Restart).
//
// The WebSocket follows Mattermost's reliable WebSocket protocol: a fresh
// connection gets a "hello" event (seq 0) carrying its connection_id; events
// then carry increasing seq numbers; a client that reconnects with
// ?connection_id=ID&sequence_number=N gets the events from N again if the
// server still holds them (the last 128 sent), then the events broadcast
// while it was away; if N cannot be served, it gets a new connection id
// and a new hello, as the real server does.
//
// Routes (under URL()):
//
//	GET  /api/v4/users/me
//	GET  /api/v4/users/{user_id}
//	POST /api/v4/users/ids
//	POST /api/v4/channels/direct
//	GET  /api/v4/channels/{channel_id}
//	GET  /api/v4/channels/{channel_id}/members/{user_id}
//	POST /api/v4/posts
//	POST /api/v4/posts/ephemeral         (system admins only, as by default)
//	GET  /api/v4/posts/{post_id}
//	PUT  /api/v4/posts/{post_id}
//	PUT  /api/v4/posts/{post_id}/patch
//	GET  /api/v4/posts/{post_id}/thread
//	GET  /api/v4/users/{user_id}/teams
//	GET  /api/v4/commands                (custom_only: a team's slash commands)
//	POST /api/v4/commands
//	PUT  /api/v4/commands/{command_id}
//	GET  /api/v4/websocket
//	POST /hooks/commands/{hook_id}      (a slash command's response_url)
//
// A Server is safe for concurrent use.
package mattermosttest

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"time"

	"github.com/mattermost/mattermost/server/public/model"

	"timon.dev/timon/bots/chat/chattest"
)

// MaxPostRunes is the longest message the server accepts in a post
// (model.PostMessageMaxRunesV2), as a Mattermost server on a current schema.
const MaxPostRunes = model.PostMessageMaxRunesV2

// Fixture identities: the team of the recorded slash command request in
// shared/fixtures/mattermost/slash_command.form.txt.
const (
	TeamID   = "wx4zz8t4ttgmtxqiwfohijayzc"
	TeamName = "team-awesome"
)

// Edit is one edit of a post's message.
type Edit struct {
	PostID  string
	Message string
	At      time.Time
}

// Ephemeral is an ephemeral message, seen only by UserID.
type Ephemeral struct {
	UserID, ChannelID, RootID string
	Message                   string
	// Via is "api" (POST /api/v4/posts/ephemeral) or "response_url" (a
	// slash command's response URL).
	Via string
	At  time.Time
}

// Hit is one REST call the server received.
type Hit struct {
	// Route is the method and route pattern, e.g.
	// "GET /api/v4/posts/{post_id}/thread".
	Route string
	// Path is the request path.
	Path string
	// UserID is the caller ("" when unauthenticated).
	UserID string
}

// Conn describes one accepted WebSocket connection.
type Conn struct {
	// ConnectionID and SequenceNumber are the query parameters the client
	// sent ("" when absent).
	ConnectionID, SequenceNumber string
	// UserID is the authenticated user.
	UserID string
	// Outcome is "new" (a fresh connection: hello sent), "resumed" (events
	// replayed from the sequence number or nothing missed) or "lost" (the
	// sequence number could not be served: new connection id and hello).
	Outcome string
	// Assigned is the connection id the connection ends up with.
	Assigned string
}

type hook struct {
	userID, channelID, rootID string
	created                   time.Time
	uses                      int
}

// Server is a running fake Mattermost server.
type Server struct {
	ts *httptest.Server

	mu       sync.Mutex
	changed  chan struct{}
	bot      *model.User
	botToken string
	tokens   map[string]string // access token → user id
	users    map[string]*model.User
	channels map[string]*model.Channel
	members  map[string]map[string]bool // channel id → user id → member
	posts    map[string]*model.Post
	order    []string // post ids, oldest first
	lastAt   int64
	edits    []Edit
	ephs     []Ephemeral
	hooks    map[string]*hook
	hits     []Hit
	conns    []Conn
	sessions map[string]*session
	refuse   bool
	hold     chattest.Gate // posts are answered once it is open
	cmds     *commandStore // slash commands (commands.go)
}

// New starts a server with one team (TeamID) and a bot account "timon"
// whose access token is BotToken. Close it when done.
func New() *Server {
	s := &Server{
		changed:  make(chan struct{}),
		tokens:   map[string]string{},
		users:    map[string]*model.User{},
		channels: map[string]*model.Channel{},
		members:  map[string]map[string]bool{},
		posts:    map[string]*model.Post{},
		hooks:    map[string]*hook{},
		sessions: map[string]*session{},
	}
	s.bot = s.AddUser(&model.User{Username: "timon", FirstName: "timon", IsBot: true, Roles: "system_user"})
	s.botToken = model.NewId()
	s.tokens[s.botToken] = s.bot.Id
	s.ts = httptest.NewServer(s.routes())
	return s
}

// URL is the server's base URL (http://127.0.0.1:PORT).
func (s *Server) URL() string { return s.ts.URL }

// BotToken is the bot account's access token.
func (s *Server) BotToken() string { return s.botToken }

// Bot is the bot account.
func (s *Server) Bot() *model.User {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := *s.bot
	return &u
}

// Close drops every connection and stops the server.
func (s *Server) Close() {
	s.mu.Lock()
	for _, ss := range s.sessions {
		ss.detach(nil)
	}
	s.mu.Unlock()
	s.ts.CloseClientConnections()
	s.ts.Close()
}

// AddUser adds a user (an id is made when u.Id is empty; Username is
// required) and returns it.
func (s *Server) AddUser(u *model.User) *model.User {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := *u
	if c.Id == "" {
		c.Id = model.NewId()
	}
	if c.CreateAt == 0 {
		c.CreateAt = model.GetMillis()
		c.UpdateAt = c.CreateAt
	}
	if c.Locale == "" {
		c.Locale = "en"
	}
	if c.Roles == "" {
		c.Roles = "system_user"
	}
	s.users[c.Id] = &c
	s.notify()
	r := c
	return &r
}

// UpdateUser changes a user: e.g. its Roles ("system_user system_admin"
// grants create_post_ephemeral) or IsBot (a bot that runs on a plain user
// account: its posts carry no from_bot prop).
func (s *Server) UpdateUser(userID string, change func(*model.User)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u, ok := s.users[userID]; ok {
		change(u)
		s.notify()
	}
}

// AddChannel adds a channel of team TeamID (an id is made when ch.Id is
// empty; Type defaults to open) with the given members, and returns it.
func (s *Server) AddChannel(ch *model.Channel, members ...string) *model.Channel {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := *ch
	if c.Id == "" {
		c.Id = model.NewId()
	}
	if c.Type == "" {
		c.Type = model.ChannelTypeOpen
	}
	if c.TeamId == "" && c.Type != model.ChannelTypeDirect && c.Type != model.ChannelTypeGroup {
		c.TeamId = TeamID
	}
	if c.DisplayName == "" {
		c.DisplayName = c.Name
	}
	if c.CreateAt == 0 {
		c.CreateAt = model.GetMillis()
		c.UpdateAt = c.CreateAt
	}
	s.channels[c.Id] = &c
	if s.members[c.Id] == nil {
		s.members[c.Id] = map[string]bool{}
	}
	for _, m := range members {
		s.members[c.Id][m] = true
	}
	s.notify()
	r := c
	return &r
}

// DirectChannel adds the direct message channel of two users and returns
// it (named "a__b" with the ids in order, as Mattermost names them).
func (s *Server) DirectChannel(a, b string) *model.Channel {
	return s.AddChannel(&model.Channel{Name: model.GetDMNameFromIds(a, b), Type: model.ChannelTypeDirect}, a, b)
}

// AddMember makes userID a member of channelID.
func (s *Server) AddMember(channelID, userID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.members[channelID] == nil {
		s.members[channelID] = map[string]bool{}
	}
	s.members[channelID][userID] = true
	s.notify()
}

// RemoveMember removes userID from channelID.
func (s *Server) RemoveMember(channelID, userID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.members[channelID], userID)
	s.notify()
}

// Post creates a post by userID, as that user's client would, and
// broadcasts the "posted" event (with the users it mentions). rootID ""
// starts a thread. Membership is not checked, so that a test can post as
// a user who has since left the channel.
func (s *Server) Post(userID, channelID, rootID, message string) (*model.Post, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, aerr := s.createPost(userID, &model.Post{ChannelId: channelID, RootId: rootID, Message: message})
	if aerr != nil {
		return nil, aerr
	}
	return p.Clone(), nil
}

// Posts returns copies of the posts of a channel, oldest first; channelID
// "" returns every post.
func (s *Server) Posts(channelID string) []*model.Post {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*model.Post
	for _, id := range s.order {
		if p := s.posts[id]; channelID == "" || p.ChannelId == channelID {
			out = append(out, p.Clone())
		}
	}
	return out
}

// HoldPosts makes the server store the posts created through the API
// (and broadcast them) but hold their responses until release is called
// or the client goes away: a client killed in that window has had its
// post accepted without learning its id.
func (s *Server) HoldPosts() (release func()) { return s.hold.Shut() }

// Replies returns copies of the replies in the thread of rootID by
// userID ("" for anyone), oldest first.
func (s *Server) Replies(rootID, userID string) []*model.Post {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*model.Post
	for _, id := range s.order {
		if p := s.posts[id]; p.RootId == rootID && (userID == "" || p.UserId == userID) {
			out = append(out, p.Clone())
		}
	}
	return out
}

// PostsBy returns copies of the posts of userID in channelID ("" for any
// channel), oldest first.
func (s *Server) PostsBy(userID, channelID string) []*model.Post {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*model.Post
	for _, id := range s.order {
		if p := s.posts[id]; p.UserId == userID && (channelID == "" || p.ChannelId == channelID) {
			out = append(out, p.Clone())
		}
	}
	return out
}

// Edits returns the edits of a post ("" for every post), oldest first.
func (s *Server) Edits(postID string) []Edit {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Edit
	for _, e := range s.edits {
		if postID == "" || e.PostID == postID {
			out = append(out, e)
		}
	}
	return out
}

// Ephemerals returns the ephemeral messages sent so far.
func (s *Server) Ephemerals() []Ephemeral {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.ephs)
}

// Hits returns the REST calls received so far.
func (s *Server) Hits() []Hit {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.hits)
}

// CountHits counts the REST calls to a route pattern, e.g.
// "GET /api/v4/posts/{post_id}/thread".
func (s *Server) CountHits(route string) int {
	n := 0
	for _, h := range s.Hits() {
		if h.Route == route {
			n++
		}
	}
	return n
}

// Connections returns the WebSocket connections accepted so far.
func (s *Server) Connections() []Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.conns)
}

// Connected reports whether userID has a WebSocket connection open.
func (s *Server) Connected(userID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ss := range s.sessions {
		if ss.userID == userID && ss.conn != nil {
			return true
		}
	}
	return false
}

// Drop closes every open WebSocket connection abruptly, as a network
// failure would. The server keeps the connections' state: clients may
// resume.
func (s *Server) Drop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ss := range s.sessions {
		ss.detach(nil)
	}
	s.notify()
}

// Refuse makes new WebSocket connections fail with 503 while on is true.
func (s *Server) Refuse(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refuse = on
}

// Restart drops every WebSocket connection and forgets them, as a
// restarted server does: clients get a new connection id and a new hello,
// and events broadcast while they were away are lost.
func (s *Server) Restart() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, ss := range s.sessions {
		ss.detach(nil)
		delete(s.sessions, id)
	}
	s.notify()
}

// Wait returns when cond reports true, checked after every change to the
// server's state, or when ctx ends.
func (s *Server) Wait(ctx context.Context, cond func() bool) error {
	for {
		s.mu.Lock()
		ch := s.changed
		s.mu.Unlock()
		if cond() {
			return nil
		}
		select {
		case <-ch:
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
			return fmt.Errorf("mattermosttest: condition not met: %w", ctx.Err())
		}
	}
}

// notify wakes Wait; the caller holds s.mu.
func (s *Server) notify() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// now returns a creation time in milliseconds after every earlier one, so
// that posts keep their order; the caller holds s.mu.
func (s *Server) now() int64 {
	t := model.GetMillis()
	if t <= s.lastAt {
		t = s.lastAt + 1
	}
	s.lastAt = t
	return t
}

// canRead reports whether userID may read channel ch: a member, or any
// user of the team for an open channel. The caller holds s.mu.
func (s *Server) canRead(userID string, ch *model.Channel) bool {
	if s.members[ch.Id][userID] {
		return true
	}
	return ch.Type == model.ChannelTypeOpen
}

var _ http.Handler = (*http.ServeMux)(nil)
