package mattermosttest

import (
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mattermost/mattermost/server/public/model"
)

// maxBody bounds request bodies, as the server's MaxRequestSize does.
const maxBody = 1 << 20

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	api := func(pattern string, h func(w http.ResponseWriter, r *http.Request, user string)) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			user := s.authUser(r)
			s.mu.Lock()
			s.hits = append(s.hits, Hit{Route: pattern, Path: r.URL.Path, UserID: user})
			s.notify()
			s.mu.Unlock()
			if user == "" {
				writeError(w, http.StatusUnauthorized, "api.context.session_expired.app_error", "Invalid or expired session, please login again.")
				return
			}
			r.Body = http.MaxBytesReader(w, r.Body, maxBody)
			h(w, r, user)
		})
	}
	api("GET /api/v4/users/me", s.getMe)
	api("GET /api/v4/users/{user_id}", s.getUser)
	api("POST /api/v4/users/ids", s.getUsersByIDs)
	api("POST /api/v4/channels/direct", s.createDirect)
	api("GET /api/v4/channels/{channel_id}", s.getChannel)
	api("GET /api/v4/channels/{channel_id}/members/{user_id}", s.getChannelMember)
	api("GET /api/v4/channels/{channel_id}/posts", s.getChannelPosts)
	api("POST /api/v4/posts", s.createPostHandler)
	api("POST /api/v4/posts/ephemeral", s.createEphemeral)
	api("GET /api/v4/posts/{post_id}", s.getPost)
	api("PUT /api/v4/posts/{post_id}", s.updatePost)
	api("PUT /api/v4/posts/{post_id}/patch", s.patchPost)
	api("GET /api/v4/posts/{post_id}/thread", s.getThread)
	s.commandRoutes(api) // commands.go
	mux.HandleFunc("GET /api/v4/websocket", s.serveWebSocket)
	mux.HandleFunc("POST /hooks/commands/{hook_id}", s.commandResponse)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "api.context.404.app_error", "Sorry, we could not find the page.")
	})
	return mux
}

// authUser returns the user of the request's access token ("Authorization:
// Bearer TOKEN" or "Token TOKEN", as the server accepts), "" if none.
func (s *Server) authUser(r *http.Request) string {
	h := r.Header.Get(model.HeaderAuth)
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || (!strings.EqualFold(scheme, model.HeaderBearer) && !strings.EqualFold(scheme, model.HeaderToken)) {
		return ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokens[strings.TrimSpace(token)]
}

// writeError writes a model.AppError body, as the server does.
func writeError(w http.ResponseWriter, status int, id, msg string) {
	writeJSON(w, status, &model.AppError{Id: id, Message: msg, StatusCode: status, RequestId: model.NewId()})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set(model.HeaderRequestId, model.NewId())
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func decode(r *http.Request, v any) bool {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return false
	}
	return json.Unmarshal(b, v) == nil
}

func (s *Server) getMe(w http.ResponseWriter, r *http.Request, user string) {
	s.mu.Lock()
	u := *s.users[user]
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, &u)
}

func (s *Server) getUser(w http.ResponseWriter, r *http.Request, user string) {
	s.mu.Lock()
	u, ok := s.users[r.PathValue("user_id")]
	var c model.User
	if ok {
		c = *u
	}
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, "app.user.missing_account.const", "Unable to find the user.")
		return
	}
	writeJSON(w, http.StatusOK, &c)
}

func (s *Server) getUsersByIDs(w http.ResponseWriter, r *http.Request, user string) {
	var ids []string
	if !decode(r, &ids) || len(ids) == 0 {
		writeError(w, http.StatusBadRequest, "api.context.invalid_body_param.app_error", "Invalid or missing user_ids in request body.")
		return
	}
	s.mu.Lock()
	out := []*model.User{}
	for _, id := range ids {
		if u, ok := s.users[id]; ok {
			c := *u
			out = append(out, &c)
		}
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getChannel(w http.ResponseWriter, r *http.Request, user string) {
	s.mu.Lock()
	ch, ok := s.channels[r.PathValue("channel_id")]
	var c model.Channel
	readable := ok && s.canRead(user, ch)
	if readable {
		c = *ch
	}
	s.mu.Unlock()
	switch {
	case !ok:
		writeError(w, http.StatusNotFound, "app.channel.get.existing.app_error", "Unable to find the existing channel.")
	case !readable:
		writeError(w, http.StatusForbidden, "api.context.permissions.app_error", "You do not have the appropriate permissions.")
	default:
		writeJSON(w, http.StatusOK, &c)
	}
}

func (s *Server) getChannelMember(w http.ResponseWriter, r *http.Request, user string) {
	chID, userID := r.PathValue("channel_id"), r.PathValue("user_id")
	s.mu.Lock()
	ch, ok := s.channels[chID]
	readable := ok && s.canRead(user, ch)
	member := ok && s.members[chID][userID]
	s.mu.Unlock()
	switch {
	case !readable:
		// The server answers 403 for a channel the caller cannot read,
		// existing or not.
		writeError(w, http.StatusForbidden, "api.context.permissions.app_error", "You do not have the appropriate permissions.")
	case !member:
		writeError(w, http.StatusNotFound, "app.channel.get_member.missing.app_error", "No channel member found for that user ID and channel ID.")
	default:
		writeJSON(w, http.StatusOK, &model.ChannelMember{ChannelId: chID, UserId: userID, Roles: "channel_user",
			NotifyProps: model.GetDefaultChannelNotifyProps(), LastUpdateAt: model.GetMillis()})
	}
}

func (s *Server) createPostHandler(w http.ResponseWriter, r *http.Request, user string) {
	var p model.Post
	if !decode(r, &p) {
		writeError(w, http.StatusBadRequest, "api.context.invalid_body_param.app_error", "Invalid or missing post in request body.")
		return
	}
	s.mu.Lock()
	if _, ok := s.channels[p.ChannelId]; !ok || !s.members[p.ChannelId][user] {
		s.mu.Unlock()
		writeError(w, http.StatusForbidden, "api.context.permissions.app_error", "You do not have the appropriate permissions.")
		return
	}
	created, aerr := s.createPost(user, &p)
	var out *model.Post
	if aerr == nil {
		out = created.Clone()
	}
	s.mu.Unlock()
	if aerr != nil {
		writeJSON(w, aerr.StatusCode, aerr)
		return
	}
	if !s.hold.Wait(r.Context()) {
		return
	}
	writeJSON(w, http.StatusCreated, out)
}

// createPost stores a post by userID and broadcasts it; the caller holds
// s.mu.
func (s *Server) createPost(userID string, in *model.Post) (*model.Post, *model.AppError) {
	u, ok := s.users[userID]
	if !ok {
		return nil, model.NewAppError("createPost", "app.user.missing_account.const", nil, "", http.StatusBadRequest)
	}
	ch, ok := s.channels[in.ChannelId]
	if !ok {
		return nil, model.NewAppError("createPost", "api.post.create_post.channel_id.app_error", nil, "", http.StatusBadRequest)
	}
	p := &model.Post{ChannelId: in.ChannelId, RootId: in.RootId, Message: in.Message, Type: in.Type, UserId: userID}
	p.SetProps(in.GetProps())
	if u.IsBot {
		p.AddProp(model.PostPropsFromBot, "true")
	}
	if p.RootId != "" {
		root, ok := s.posts[p.RootId]
		if !ok || root.ChannelId != p.ChannelId || root.RootId != "" {
			return nil, model.NewAppError("createPost", "api.post.create_post.root_id.app_error", nil, "", http.StatusBadRequest)
		}
	}
	p.CreateAt = s.now()
	p.PreSave()
	if aerr := p.IsValid(MaxPostRunes); aerr != nil {
		aerr.Message = aerr.Id
		return nil, aerr
	}
	s.posts[p.Id] = p
	s.order = append(s.order, p.Id)

	ev := model.NewWebSocketEvent(model.WebsocketEventPosted, "", p.ChannelId, "", nil, "")
	js, _ := p.ToJSON()
	ev.Add("post", js)
	ev.Add("channel_type", ch.Type)
	ev.Add("channel_display_name", ch.DisplayName)
	ev.Add("channel_name", ch.Name)
	ev.Add("sender_name", "@"+u.Username)
	ev.Add("team_id", ch.TeamId)
	ev.Add("set_online", true)
	if m := s.mentions(p, ch); len(m) > 0 {
		ev.Add("mentions", model.ArrayToJSON(m))
	}
	s.broadcast(ev)
	s.notify()
	return p, nil
}

// mentions lists the members of ch that post p mentions: @username in
// the message, and the other member of a direct message channel. The
// caller holds s.mu.
func (s *Server) mentions(p *model.Post, ch *model.Channel) []string {
	var out []string
	for id := range s.members[ch.Id] {
		if id == p.UserId {
			continue
		}
		u := s.users[id]
		if u == nil {
			continue
		}
		if ch.Type == model.ChannelTypeDirect || mentionRE(u.Username).MatchString(p.Message) {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

func mentionRE(username string) *regexp.Regexp {
	return regexp.MustCompile(`(?i)(^|[^\w@.-])@` + regexp.QuoteMeta(username) + `($|[^\w-])`)
}

// createEphemeral serves POST /api/v4/posts/ephemeral, which needs the
// create_post_ephemeral permission: system admins only, as on a default
// server (a plain bot account gets 403).
func (s *Server) createEphemeral(w http.ResponseWriter, r *http.Request, user string) {
	s.mu.Lock()
	admin := strings.Contains(s.users[user].Roles, model.SystemAdminRoleId)
	s.mu.Unlock()
	if !admin {
		writeError(w, http.StatusForbidden, "api.context.permissions.app_error", "You do not have the appropriate permissions.")
		return
	}
	var pe model.PostEphemeral
	if !decode(r, &pe) || pe.Post == nil || !model.IsValidId(pe.UserID) || !model.IsValidId(pe.Post.ChannelId) {
		writeError(w, http.StatusBadRequest, "api.context.invalid_body_param.app_error", "Invalid or missing post in request body.")
		return
	}
	p := pe.Post
	p.Id = model.NewId()
	p.UserId = user
	p.Type = model.PostTypeEphemeral
	s.mu.Lock()
	p.CreateAt = s.now()
	p.UpdateAt = p.CreateAt
	s.ephs = append(s.ephs, Ephemeral{UserID: pe.UserID, ChannelID: p.ChannelId, RootID: p.RootId, Message: p.Message, Via: "api", At: time.Now()})
	ev := model.NewWebSocketEvent(model.WebsocketEventEphemeralMessage, "", p.ChannelId, pe.UserID, nil, "")
	js, _ := p.ToJSON()
	ev.Add("post", js)
	s.broadcast(ev)
	s.notify()
	out := p.Clone()
	s.mu.Unlock()
	writeJSON(w, http.StatusCreated, out)
}

// createDirect serves POST /api/v4/channels/direct: the direct message
// channel of two users (the caller one of them), made if needed.
func (s *Server) createDirect(w http.ResponseWriter, r *http.Request, user string) {
	var ids []string
	if !decode(r, &ids) || len(ids) != 2 || !slices.Contains(ids, user) {
		writeError(w, http.StatusBadRequest, "api.context.invalid_body_param.app_error", "Invalid or missing user_ids in request body.")
		return
	}
	s.mu.Lock()
	_, ok0 := s.users[ids[0]]
	_, ok1 := s.users[ids[1]]
	var found *model.Channel
	name := model.GetDMNameFromIds(ids[0], ids[1])
	for _, ch := range s.channels {
		if ch.Name == name {
			found = ch
		}
	}
	s.mu.Unlock()
	if !ok0 || !ok1 {
		writeError(w, http.StatusBadRequest, "api.context.invalid_body_param.app_error", "Invalid or missing user_ids in request body.")
		return
	}
	status := http.StatusOK
	if found == nil {
		found = s.DirectChannel(ids[0], ids[1])
		status = http.StatusCreated
	}
	s.mu.Lock()
	c := *s.channels[found.Id]
	s.mu.Unlock()
	writeJSON(w, status, &c)
}

func (s *Server) getPost(w http.ResponseWriter, r *http.Request, user string) {
	s.mu.Lock()
	p, ok := s.posts[r.PathValue("post_id")]
	var out *model.Post
	readable := ok && s.canRead(user, s.channels[p.ChannelId])
	if readable {
		out = p.Clone()
	}
	s.mu.Unlock()
	switch {
	case !ok:
		writeError(w, http.StatusNotFound, "app.post.get.app_error", "Unable to get the post.")
	case !readable:
		writeError(w, http.StatusForbidden, "api.context.permissions.app_error", "You do not have the appropriate permissions.")
	default:
		writeJSON(w, http.StatusOK, out)
	}
}

func (s *Server) updatePost(w http.ResponseWriter, r *http.Request, user string) {
	var p model.Post
	if !decode(r, &p) {
		writeError(w, http.StatusBadRequest, "api.context.invalid_body_param.app_error", "Invalid or missing post in request body.")
		return
	}
	s.edit(w, r.PathValue("post_id"), user, p.Message)
}

func (s *Server) patchPost(w http.ResponseWriter, r *http.Request, user string) {
	var patch model.PostPatch
	if !decode(r, &patch) {
		writeError(w, http.StatusBadRequest, "api.context.invalid_body_param.app_error", "Invalid or missing post in request body.")
		return
	}
	msg := ""
	s.mu.Lock()
	if p, ok := s.posts[r.PathValue("post_id")]; ok {
		msg = p.Message
	}
	s.mu.Unlock()
	if patch.Message != nil {
		msg = *patch.Message
	}
	s.edit(w, r.PathValue("post_id"), user, msg)
}

// edit changes a post's message: only its author may.
func (s *Server) edit(w http.ResponseWriter, id, user, msg string) {
	s.mu.Lock()
	p, ok := s.posts[id]
	switch {
	case !ok:
		s.mu.Unlock()
		writeError(w, http.StatusNotFound, "app.post.get.app_error", "Unable to get the post.")
		return
	case p.UserId != user:
		s.mu.Unlock()
		writeError(w, http.StatusForbidden, "api.context.permissions.app_error", "You do not have the appropriate permissions.")
		return
	}
	c := p.Clone()
	c.Message = msg
	c.UpdateAt = s.now()
	c.EditAt = c.UpdateAt
	if aerr := c.IsValid(MaxPostRunes); aerr != nil {
		s.mu.Unlock()
		aerr.Message = aerr.Id
		writeJSON(w, aerr.StatusCode, aerr)
		return
	}
	s.posts[id] = c
	s.edits = append(s.edits, Edit{PostID: id, Message: msg, At: time.Now()})
	ev := model.NewWebSocketEvent(model.WebsocketEventPostEdited, "", c.ChannelId, "", nil, "")
	js, _ := c.ToJSON()
	ev.Add("post", js)
	s.broadcast(ev)
	s.notify()
	out := c.Clone()
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getThread(w http.ResponseWriter, r *http.Request, user string) {
	s.mu.Lock()
	p, ok := s.posts[r.PathValue("post_id")]
	if !ok {
		s.mu.Unlock()
		writeError(w, http.StatusNotFound, "app.post.get.app_error", "Unable to get the post.")
		return
	}
	if !s.canRead(user, s.channels[p.ChannelId]) {
		s.mu.Unlock()
		writeError(w, http.StatusForbidden, "api.context.permissions.app_error", "You do not have the appropriate permissions.")
		return
	}
	root := p.Id
	if p.RootId != "" {
		root = p.RootId
	}
	list := model.NewPostList()
	for i := len(s.order) - 1; i >= 0; i-- { // newest first, as the server orders
		q := s.posts[s.order[i]]
		if q.Id == root || q.RootId == root {
			list.AddPost(q.Clone())
			list.AddOrder(q.Id)
		}
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, list)
}

// getChannelPosts lists a channel's posts, newest first, a page at a time
// (page, per_page), only those after a post when after is set — as the
// server does (GET /api/v4/channels/{channel_id}/posts).
func (s *Server) getChannelPosts(w http.ResponseWriter, r *http.Request, user string) {
	q := r.URL.Query()
	page, _ := strconv.Atoi(q.Get("page"))
	per, err := strconv.Atoi(q.Get("per_page"))
	if err != nil || per <= 0 || per > 200 {
		per = 60
	}
	s.mu.Lock()
	ch, ok := s.channels[r.PathValue("channel_id")]
	if !ok || !s.canRead(user, ch) {
		s.mu.Unlock()
		writeError(w, http.StatusForbidden, "api.context.permissions.app_error", "You do not have the appropriate permissions.")
		return
	}
	start := 0
	if after := q.Get("after"); after != "" {
		start = -1
		for i, id := range s.order {
			if id == after {
				start = i + 1
			}
		}
		if start < 0 {
			start = len(s.order)
		}
	}
	var ids []string
	for _, id := range s.order[start:] {
		if p := s.posts[id]; p.ChannelId == ch.Id && p.DeleteAt == 0 {
			ids = append(ids, id)
		}
	}
	if q.Get("after") == "" {
		slices.Reverse(ids) // newest first
	}
	list := model.NewPostList()
	for i := page * per; i < len(ids) && i < (page+1)*per; i++ {
		list.AddPost(s.posts[ids[i]].Clone())
		list.AddOrder(ids[i])
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, list)
}

// NewCommandHook makes the response URL of a slash command run by userID
// in channelID (and thread rootID), as the server does for each command.
func (s *Server) NewCommandHook(userID, channelID, rootID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := model.NewId()
	s.hooks[id] = &hook{userID: userID, channelID: channelID, rootID: rootID, created: time.Now()}
	return s.ts.URL + "/hooks/commands/" + id
}

// commandResponse serves a slash command's response URL: a
// model.CommandResponse, ephemeral or in the channel; at most 5 uses
// within 30 minutes, as the server allows.
func (s *Server) commandResponse(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	resp, err := model.CommandResponseFromHTTPBody(r.Header.Get("Content-Type"), r.Body)
	if err != nil || resp == nil {
		writeError(w, http.StatusBadRequest, "web.command_webhook.parse.app_error", "Unable to parse incoming data.")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	h, ok := s.hooks[r.PathValue("hook_id")]
	switch {
	case !ok || time.Since(h.created) > model.CommandWebhookLifetime*time.Millisecond:
		writeError(w, http.StatusBadRequest, "app.command_webhook.handle_command_webhook.missing", "The command webhook does not exist.")
		return
	case h.uses >= 5:
		writeError(w, http.StatusBadRequest, "app.command_webhook.try_use.invalid", "Invalid webhook.")
		return
	}
	h.uses++
	if resp.ResponseType == model.CommandResponseTypeInChannel {
		if _, aerr := s.createPost(h.userID, &model.Post{ChannelId: h.channelID, RootId: h.rootID, Message: resp.Text}); aerr != nil {
			writeJSON(w, aerr.StatusCode, aerr)
			return
		}
	} else {
		s.ephs = append(s.ephs, Ephemeral{UserID: h.userID, ChannelID: h.channelID, RootID: h.rootID, Message: resp.Text, Via: "response_url", At: time.Now()})
		s.notify()
	}
	w.Header().Set("Content-Type", "text/plain")
	_, _ = w.Write([]byte("ok"))
}
