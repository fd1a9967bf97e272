package mattermost

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode"
)

// This file is the bot's client of Mattermost's REST API v4: the dozen
// calls it makes and the JSON it reads and writes, only the fields it uses.
// Names and values mirror those of Mattermost's Go module
// (github.com/mattermost/mattermost/server/public/model, cited as model.X),
// which the bot no longer links: its package initialisers alone cost every
// timon command a few milliseconds. The fake server the tests run against
// (mattermosttest) is written with that module, so the tests check that
// this client speaks the same wire format.

// What the API's paths, headers and values mirror.
const (
	apiPath      = "/api/v4"       // model.APIURLSuffixV4
	headerAuth   = "Authorization" // model.HeaderAuth
	headerBearer = "BEARER"        // model.HeaderBearer

	// Channel types: model.ChannelTypeOpen, Private, Direct, Group.
	channelOpen    = "O"
	channelPrivate = "P"
	channelDirect  = "D"
	channelGroup   = "G"

	// postMessageMaxRunes is model.PostMessageMaxRunesV2: 65,535 bytes
	// of worst-case (4-byte) UTF-8.
	postMessageMaxRunes = 65535 / 4

	// Post props Mattermost sets: model.PostPropsFromBot, FromWebhook.
	propFromBot     = "from_bot"
	propFromWebhook = "from_webhook"
	// systemPostPrefix starts the type of system messages
	// (model.PostSystemMessagePrefix).
	systemPostPrefix = "system_"

	// dmNameSeparator joins the two sorted user ids of a direct message
	// channel's name (model.GetDMNameFromIds).
	dmNameSeparator = "__"

	// commandResponseEphemeral is model.CommandResponseTypeEphemeral.
	commandResponseEphemeral = "ephemeral"

	// maxErrorBody bounds the error body read from the server.
	maxErrorBody = 64 << 10
)

// user is a Mattermost user (model.User).
type user struct {
	ID       string `json:"id"`
	Username string `json:"username"`
	Email    string `json:"email,omitempty"`
	Locale   string `json:"locale,omitempty"`
}

// channel is a Mattermost channel (model.Channel).
type channel struct {
	ID   string `json:"id"`
	Type string `json:"type"`
	Name string `json:"name,omitempty"`
}

// post is a Mattermost post (model.Post).
type post struct {
	ID        string         `json:"id,omitempty"`
	CreateAt  int64          `json:"create_at,omitempty"`
	DeleteAt  int64          `json:"delete_at,omitempty"`
	UserID    string         `json:"user_id,omitempty"`
	ChannelID string         `json:"channel_id"`
	RootID    string         `json:"root_id,omitempty"`
	Message   string         `json:"message"`
	Type      string         `json:"type,omitempty"`
	Props     map[string]any `json:"props,omitempty"`
}

// prop returns one of p's props, nil when unset.
func (p *post) prop(key string) any { return p.Props[key] }

// setProp sets one of p's props.
func (p *post) setProp(key string, v any) {
	if p.Props == nil {
		p.Props = map[string]any{}
	}
	p.Props[key] = v
}

// isSystemMessage mirrors model.Post.IsSystemMessage.
func (p *post) isSystemMessage() bool { return strings.HasPrefix(p.Type, systemPostPrefix) }

// postList is a page of posts (model.PostList): their ids in order, the
// posts by id.
type postList struct {
	Order []string         `json:"order"`
	Posts map[string]*post `json:"posts"`
}

// commandResponse is a slash command's answer (model.CommandResponse).
type commandResponse struct {
	ResponseType string `json:"response_type"`
	Text         string `json:"text"`
}

// isValidID mirrors model.IsValidId: 26 bytes of letters and digits (the
// server's ids are newID's).
func isValidID(s string) bool {
	if len(s) != 26 {
		return false
	}
	for _, r := range s {
		if !unicode.IsLetter(r) && !unicode.IsNumber(r) {
			return false
		}
	}
	return true
}

// idEncoding is the base32 alphabet of Mattermost's ids (model.NewId).
var idEncoding = base32.NewEncoding("ybndrfg8ejkmcpqxot1uwisza345h769").WithPadding(base32.NoPadding)

// newID makes an id as model.NewId does: a random (version 4) UUID in
// idEncoding, 26 characters.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return idEncoding.EncodeToString(b[:])
}

// apiError is an error answer of the server: its HTTP status and, when
// the body is Mattermost's error JSON (model.AppError), what it says.
type apiError struct {
	Status        int    `json:"-"`
	ID            string `json:"id"`
	Message       string `json:"message"`
	DetailedError string `json:"detailed_error"`
	RequestID     string `json:"request_id"`
	body          string // the start of a body that is not error JSON
}

func (e *apiError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Mattermost answered %d %s", e.Status, http.StatusText(e.Status))
	switch {
	case e.Message != "" || e.ID != "":
		b.WriteString(": ")
		b.WriteString(cmp.Or(e.Message, e.ID))
		if e.DetailedError != "" {
			b.WriteString(", " + e.DetailedError)
		}
		if e.ID != "" && e.Message != "" && e.ID != e.Message {
			b.WriteString(" (" + e.ID + ")")
		}
		if e.RequestID != "" {
			b.WriteString(" [request " + e.RequestID + "]")
		}
	case e.body != "":
		fmt.Fprintf(&b, ": %q", e.body)
	}
	return b.String()
}

// statusOf is the HTTP status of an error answer from the server, 0 for
// other errors (the server was not reached, or its answer was unreadable).
func statusOf(err error) int {
	var e *apiError
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

// client makes REST calls as the bot.
type client struct {
	http  *http.Client
	api   string // the server's URL and apiPath, no trailing slash
	token string
}

func newClient(base *url.URL, hc *http.Client, token string) *client {
	return &client{http: hc, api: strings.TrimRight(base.String(), "/") + apiPath, token: token}
}

// route joins path segments, each escaped (and without "..", as
// Mattermost's own client does).
func route(segments ...string) string {
	var b strings.Builder
	for _, s := range segments {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(strings.ReplaceAll(s, "..", "")))
	}
	return b.String()
}

// do makes a call: in, when not nil, is sent as JSON; a 2xx answer is
// decoded into out; any other is an *apiError.
func (c *client) do(ctx context.Context, method, path string, query url.Values, in, out any) error {
	u := c.api + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var body io.Reader
	if in != nil {
		js, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encoding the request: %w", err)
		}
		body = bytes.NewReader(js)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return err
	}
	req.Header.Set(headerAuth, headerBearer+" "+c.token)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
		resp.Body.Close()
	}()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return readError(resp)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("decoding Mattermost's answer (status %d): %w", resp.StatusCode, err)
	}
	return nil
}

// readError reads an error answer.
func readError(resp *http.Response) error {
	e := &apiError{Status: resp.StatusCode}
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	if json.Unmarshal(data, e) != nil || (e.ID == "" && e.Message == "") {
		e.ID, e.Message, e.DetailedError, e.RequestID = "", "", "", ""
		e.body = strings.TrimSpace(string(data[:min(len(data), 200)]))
	}
	return e
}

// call makes a call and decodes its answer into a new T.
func call[T any](ctx context.Context, c *client, method, path string, query url.Values, in any) (*T, error) {
	var v T
	if err := c.do(ctx, method, path, query, in, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// getMe: GET /users/me.
func (c *client) getMe(ctx context.Context) (*user, error) {
	return call[user](ctx, c, http.MethodGet, route("users", "me"), nil, nil)
}

// getUser: GET /users/{id}.
func (c *client) getUser(ctx context.Context, id string) (*user, error) {
	return call[user](ctx, c, http.MethodGet, route("users", id), nil, nil)
}

// getUsersByIDs: POST /users/ids.
func (c *client) getUsersByIDs(ctx context.Context, ids []string) ([]*user, error) {
	us, err := call[[]*user](ctx, c, http.MethodPost, route("users", "ids"), nil, ids)
	if err != nil {
		return nil, err
	}
	return *us, nil
}

// getChannel: GET /channels/{id}.
func (c *client) getChannel(ctx context.Context, id string) (*channel, error) {
	return call[channel](ctx, c, http.MethodGet, route("channels", id), nil, nil)
}

// getChannelMember: GET /channels/{channel}/members/{user}: nil when the
// user is a member. The membership itself is not read (only checked to be
// JSON).
func (c *client) getChannelMember(ctx context.Context, channelID, userID string) error {
	_, err := call[struct{}](ctx, c, http.MethodGet, route("channels", channelID, "members", userID), nil, nil)
	return err
}

// createDirectChannel: POST /channels/direct, the direct message channel
// of two users, made if needed.
func (c *client) createDirectChannel(ctx context.Context, a, b string) (*channel, error) {
	return call[channel](ctx, c, http.MethodPost, route("channels", "direct"), nil, []string{a, b})
}

// createPost: POST /posts.
func (c *client) createPost(ctx context.Context, p *post) (*post, error) {
	return call[post](ctx, c, http.MethodPost, route("posts"), nil, p)
}

// createPostEphemeral: POST /posts/ephemeral, a post only userID sees
// (model.PostEphemeral).
func (c *client) createPostEphemeral(ctx context.Context, userID string, p *post) error {
	in := struct {
		UserID string `json:"user_id"`
		Post   *post  `json:"post"`
	}{userID, p}
	_, err := call[post](ctx, c, http.MethodPost, route("posts", "ephemeral"), nil, &in)
	return err
}

// patchPost: PUT /posts/{id}/patch, the message only (model.PostPatch).
func (c *client) patchPost(ctx context.Context, id, message string) error {
	in := struct {
		Message string `json:"message"`
	}{message}
	_, err := call[post](ctx, c, http.MethodPut, route("posts", id, "patch"), nil, &in)
	return err
}

// getPostThread: GET /posts/{id}/thread, the whole thread (not
// collapsed).
func (c *client) getPostThread(ctx context.Context, id string) (*postList, error) {
	q := url.Values{"collapsedThreads": {"false"}}
	return call[postList](ctx, c, http.MethodGet, route("posts", id, "thread"), q, nil)
}

// getPosts: GET /channels/{id}/posts, a page of a channel's posts (deleted
// ones left out, threads not collapsed): the latest, newest first, or,
// when after is a post id, those after it.
func (c *client) getPosts(ctx context.Context, channelID, after string, page, perPage int) (*postList, error) {
	q := url.Values{
		"page":             {strconv.Itoa(page)},
		"per_page":         {strconv.Itoa(perPage)},
		"collapsedThreads": {"false"},
		"include_deleted":  {"false"},
	}
	if after != "" {
		q.Set("after", after)
	}
	return call[postList](ctx, c, http.MethodGet, route("channels", channelID, "posts"), q, nil)
}

// team is a Mattermost team (model.Team), its id only.
type team struct {
	ID string `json:"id"`
}

// slashCommand is a custom slash command (model.Command), the fields the
// bot sets or reads.
type slashCommand struct {
	ID               string            `json:"id,omitempty"`
	Token            string            `json:"token,omitempty"`
	CreatorID        string            `json:"creator_id,omitempty"`
	TeamID           string            `json:"team_id"`
	Trigger          string            `json:"trigger"`
	Method           string            `json:"method"`
	Username         string            `json:"username"`
	IconURL          string            `json:"icon_url"`
	AutoComplete     bool              `json:"auto_complete"`
	AutoCompleteDesc string            `json:"auto_complete_desc"`
	AutoCompleteHint string            `json:"auto_complete_hint"`
	DisplayName      string            `json:"display_name"`
	Description      string            `json:"description"`
	URL              string            `json:"url"`
	DeleteAt         int64             `json:"delete_at,omitempty"`
	AutocompleteData *autocompleteData `json:"autocomplete_data,omitempty"`
}

// autocompleteData is a command's autocomplete tree
// (model.AutocompleteData: its JSON has no tags, hence the capitalized
// keys).
type autocompleteData struct {
	Trigger     string
	Hint        string
	HelpText    string
	RoleID      string
	Arguments   []*autocompleteArg
	SubCommands []*autocompleteData
}

// autocompleteArg is an argument of a command (model.AutocompleteArg);
// the bot's subcommands take none (their hints say what follows).
type autocompleteArg struct {
	Name     string
	HelpText string
	Type     string
	Required bool
	Data     any
}

// What the commands' values mirror.
const (
	commandMethodPost = "P"           // model.CommandMethodPost
	roleSystemUser    = "system_user" // model.SystemUserRoleId
)

// getMyTeams: GET /users/me/teams.
func (c *client) getMyTeams(ctx context.Context) ([]*team, error) {
	ts, err := call[[]*team](ctx, c, http.MethodGet, route("users", "me", "teams"), nil, nil)
	if err != nil {
		return nil, err
	}
	return *ts, nil
}

// listCommands: GET /commands?team_id=…&custom_only=true, a team's custom
// slash commands (tokens included, for who may manage them).
func (c *client) listCommands(ctx context.Context, teamID string) ([]*slashCommand, error) {
	q := url.Values{"team_id": {teamID}, "custom_only": {"true"}}
	cs, err := call[[]*slashCommand](ctx, c, http.MethodGet, route("commands"), q, nil)
	if err != nil {
		return nil, err
	}
	return *cs, nil
}

// createCommand: POST /commands.
func (c *client) createCommand(ctx context.Context, cmd *slashCommand) (*slashCommand, error) {
	return call[slashCommand](ctx, c, http.MethodPost, route("commands"), nil, cmd)
}

// updateCommand: PUT /commands/{id}.
func (c *client) updateCommand(ctx context.Context, cmd *slashCommand) (*slashCommand, error) {
	return call[slashCommand](ctx, c, http.MethodPut, route("commands", cmd.ID), nil, cmd)
}
