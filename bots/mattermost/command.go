package mattermost

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"timon.dev/timon/bots/chat"
	"timon.dev/timon/core"
)

const (
	// maxCommandBody bounds a slash command request (the server's are
	// under 2 KB plus the text).
	maxCommandBody = 64 << 10
	// lookupTimeout bounds what the handler asks the server before
	// acknowledging: the user's profile and the channel's type.
	lookupTimeout = 3 * time.Second
)

// Handler serves the slash command (POST /mattermost/command): it checks
// the command token (the "Authorization: Token …" header Mattermost sends,
// or the form's token field, compared in constant time), queues the
// command durably on the router and answers at once with an ephemeral
// "working on it"; the router then posts the answer. The token is the
// configured one (a command registered by hand) or that of a command the
// bot registered (RegisterCommands). Without either setting every request
// gets 404; a wrong token gets 401 and nothing
// is done.
func (b *Adapter) Handler() http.Handler { return http.HandlerFunc(b.serveCommand) }

func (b *Adapter) serveCommand(w http.ResponseWriter, r *http.Request) {
	if b.o.Config.CommandToken == "" && b.o.Config.CommandURL == "" {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	// Mattermost sends the token in its Authorization header
	// (headerAuth, model.HeaderAuth) as "Token X".
	header, hasHeader := tokenFromHeader(r.Header.Get(headerAuth))
	if hasHeader && !b.commandToken(header) {
		http.Error(w, "invalid slash command token", http.StatusUnauthorized)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxCommandBody)
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, "slash command request too large", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "malformed slash command request", http.StatusBadRequest)
		return
	}
	if !hasHeader && !b.commandToken(r.PostForm.Get("token")) {
		http.Error(w, "invalid slash command token", http.StatusUnauthorized)
		return
	}
	f := r.PostForm
	if !isValidID(f.Get("user_id")) || !isValidID(f.Get("channel_id")) {
		http.Error(w, "slash command request without a valid user_id and channel_id", http.StatusBadRequest)
		return
	}
	ev := b.commandEvent(r.Context(), f)
	if _, err := b.o.Router.Enqueue(r.Context(), ev); err != nil {
		b.log.Error("queueing a Mattermost slash command failed", "event", ev.ID, "err", err)
		http.Error(w, "timon could not take the command; please try again", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(&commandResponse{
		ResponseType: commandResponseEphemeral,
		Text:         b.o.Router.Working(ev),
	})
}

// tokenFromHeader reads "Token X" (the scheme Mattermost uses for slash
// commands; case-insensitive).
func tokenFromHeader(h string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Token") {
		return "", false
	}
	return strings.TrimSpace(token), true
}

// commandToken compares in constant time (of the token's hash: its length
// does not leak either) with the configured token and those of the
// commands the bot registered.
func (b *Adapter) commandToken(got string) bool {
	g := sha256.Sum256([]byte(got))
	ok := 0
	for _, want := range append(b.registered.all(), b.o.Config.CommandToken) {
		if want == "" {
			continue
		}
		w := sha256.Sum256([]byte(want))
		ok |= subtle.ConstantTimeCompare(g[:], w[:])
	}
	return ok == 1
}

// commandEvent builds the event of a slash command. Its id comes from the
// trigger id, unique to each run of a command. The user's profile and the
// channel's type come from the server (cached); if it does not answer in
// time the command still goes, the channel counted private, or direct for
// a direct message channel's name.
func (b *Adapter) commandEvent(ctx context.Context, f url.Values) *chat.Event {
	ev := &chat.Event{
		Platform:    core.IntegrationMattermost,
		UserID:      f.Get("user_id"),
		UserName:    f.Get("user_name"),
		TeamID:      f.Get("team_id"),
		ChannelID:   f.Get("channel_id"),
		ChannelName: f.Get("channel_name"),
		Trigger:     chat.TriggerSlash,
		Text:        strings.TrimSpace(f.Get("text")),
		ResponseURL: f.Get("response_url"),
	}
	if t := f.Get("trigger_id"); t != "" {
		sum := sha256.Sum256([]byte(t))
		ev.ID = "cmd-" + hex.EncodeToString(sum[:16])
	} else {
		ev.ID = "cmd-" + newID()
	}
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		b.withUser(ctx, ev)
	}()
	go func() {
		defer wg.Done()
		b.canPost(ctx, ev) // known before the job runs
	}()
	ch, err := b.channel(ctx, ev.ChannelID)
	wg.Wait()
	switch {
	case err == nil:
		ev.ChannelType = channelType(ch.Type)
		if ch.Type == channelDirect {
			ev.ChannelName = ""
		}
	case strings.Contains(ev.ChannelName, dmNameSeparator):
		ev.ChannelType, ev.ChannelName = chat.ChannelDM, ""
	default:
		b.log.Warn("reading the slash command's channel failed; counting it private", "event", ev.ID, "err", err)
		ev.ChannelType = chat.ChannelPrivate
	}
	return ev
}
