package slack

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
)

// maxBody bounds a request body from Slack.
const maxBody = 1 << 20

// EventsHandler serves POST /slack/events (the Events API): it verifies the
// signature, answers Slack's URL verification, and queues the events the
// bot answers before acknowledging them. A retried delivery (same event id,
// X-Slack-Retry-Num set) is acknowledged without being queued again.
// Without a signing secret it answers 404.
func (a *Adapter) EventsHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := a.verified(w, r)
		if !ok {
			return
		}
		var outer struct {
			Type      string `json:"type"`
			Challenge string `json:"challenge"`
		}
		if err := json.Unmarshal(body, &outer); err != nil {
			http.Error(w, "the body is not a Slack event (JSON expected)", http.StatusBadRequest)
			return
		}
		if outer.Type == slackevents.URLVerification {
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, outer.Challenge)
			return
		}
		e, err := slackevents.ParseEvent(body, slackevents.OptionNoVerifyToken())
		if err != nil {
			// An event type this version does not know: acknowledge it, so
			// that Slack does not retry what will never be answered.
			a.log.Debug("ignoring a Slack event that does not parse", "err", err)
			w.WriteHeader(http.StatusOK)
			return
		}
		if a.assistantEvent(e) {
			w.WriteHeader(http.StatusOK)
			return
		}
		ev := a.fromEventsAPI(e)
		if ev == nil {
			w.WriteHeader(http.StatusOK)
			return
		}
		dup, err := a.o.Router.Enqueue(r.Context(), ev)
		if err != nil {
			// Not acknowledged: Slack delivers it again.
			a.log.Error("queueing a Slack event failed", "event", ev.ID, "err", err)
			http.Error(w, "the event could not be queued", http.StatusInternalServerError)
			return
		}
		if dup {
			a.log.Info("Slack delivered an event again; it is answered once", "event", ev.ID,
				"retry", r.Header.Get("X-Slack-Retry-Num"), "reason", r.Header.Get("X-Slack-Retry-Reason"))
		}
		w.WriteHeader(http.StatusOK)
	})
}

// CommandsHandler serves POST /slack/commands (slash commands): it verifies
// the signature, queues the command and acknowledges it at once with a
// short private "working on it". Without a signing secret it answers 404.
func (a *Adapter) CommandsHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := a.verified(w, r)
		if !ok {
			return
		}
		form, err := url.ParseQuery(string(body))
		if err != nil {
			http.Error(w, "the body is not a Slack slash command (form expected)", http.StatusBadRequest)
			return
		}
		s := slack.SlashCommand{
			TeamID: form.Get("team_id"), ChannelID: form.Get("channel_id"), ChannelName: form.Get("channel_name"),
			UserID: form.Get("user_id"), UserName: form.Get("user_name"), Command: form.Get("command"),
			Text: form.Get("text"), ResponseURL: form.Get("response_url"), TriggerID: form.Get("trigger_id"),
		}
		ev := a.fromSlash(s, "")
		if ev == nil {
			http.Error(w, "the slash command lacks its user, channel or trigger id", http.StatusBadRequest)
			return
		}
		if _, err := a.o.Router.Enqueue(r.Context(), ev); err != nil {
			a.log.Error("queueing a Slack slash command failed", "event", ev.ID, "err", err)
			http.Error(w, "the command could not be queued", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{"response_type": slack.ResponseTypeEphemeral, "text": a.o.Router.Working(ev)})
	})
}

// verified reads the body and checks its signature; on failure it has
// answered (404 without a secret, 401 for a bad or stale signature).
func (a *Adapter) verified(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	if len(a.secret) == 0 {
		http.NotFound(w, r)
		return nil, false
	}
	if r.Method != http.MethodPost {
		http.Error(w, "POST expected", http.StatusMethodNotAllowed)
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			http.Error(w, "the body is too large", http.StatusRequestEntityTooLarge)
		} else {
			http.Error(w, "reading the body failed", http.StatusBadRequest)
		}
		return nil, false
	}
	if err := Verify(a.secret, r.Header, body, a.now()); err != nil {
		a.log.Warn("refused a Slack request", "path", r.URL.Path, "reason", err.Error())
		http.Error(w, strings.TrimSuffix(err.Error(), "."), http.StatusUnauthorized)
		return nil, false
	}
	return body, true
}
