package gitlab

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"timon.dev/timon/core/store"
	"timon.dev/timon/webhooks/review"
)

// maxBody bounds a delivery's body (GitLab's merge request payloads are a
// few kilobytes; descriptions can make them larger).
const maxBody = 4 << 20

// Delivery headers.
const (
	headerToken          = "X-Gitlab-Token"
	headerEvent          = "X-Gitlab-Event"
	headerEventUUID      = "X-Gitlab-Event-UUID"
	headerIdempotencyKey = "Idempotency-Key"
)

// ServeHTTP is POST /webhooks/gitlab.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		reply(w, http.StatusMethodNotAllowed, "error", "only POST")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			reply(w, http.StatusRequestEntityTooLarge, "error", "body over "+strconv.Itoa(maxBody)+" bytes")
			return
		}
		reply(w, http.StatusBadRequest, "error", "reading the body failed")
		return
	}

	// Authenticate before anything else is believed.
	token := r.Header.Get(headerToken)
	_, path, perr := peekProject(body)
	var secret, signing string
	switch {
	case perr != nil || path == "":
		// No project to pick a secret by: any configured one will do.
		if !anyTokenMatches(token, s.cfg.Secrets()) {
			s.unauthorized(w, "bad token")
			return
		}
		signing = s.cfg.SigningSecret
	default:
		p := s.cfg.ProjectFor(path)
		secret, signing = p.Secret, p.SigningSecret
		if !tokenMatches(token, secret) {
			s.unauthorized(w, "bad token")
			return
		}
	}
	if r.Header.Get(headerWebhookSignature) != "" && signing != "" {
		if err := verifySignature(r.Header, body, signing, s.now()); err != nil {
			s.unauthorized(w, err.Error())
			return
		}
	}
	if perr != nil {
		reply(w, http.StatusBadRequest, "error", "the body is not a GitLab webhook payload")
		return
	}

	ev, err := parseEvent(r.Header.Get(headerEvent), body)
	if err != nil {
		reply(w, http.StatusBadRequest, "error", err.Error())
		return
	}
	if ev.Work == nil {
		reply(w, http.StatusOK, "ignored", ev.Ignored)
		return
	}
	ctx := r.Context()
	if why := s.ignore(ctx, ev); why != "" {
		reply(w, http.StatusOK, "ignored", why)
		return
	}

	// Delivery-level idempotency: the same delivery, retried by GitLab, is
	// acknowledged and dropped. The check is a read; the job records the
	// key when it runs, so that the request path writes nothing but the
	// job (on SQLite, a second writer here would make both wait on the
	// file lock). A retry that comes before the job ran meets the job's
	// own uniqueness instead.
	key := r.Header.Get(headerIdempotencyKey)
	if key == "" {
		key = r.Header.Get(headerEventUUID)
	}
	if len(key) > 200 {
		key = key[:200]
	}
	if key != "" {
		seen, err := s.seenDelivery(ctx, key)
		if err != nil {
			s.log.Error("reading GitLab deliveries", "err", err)
			reply(w, http.StatusServiceUnavailable, "error", "the hub cannot read deliveries right now")
			return
		}
		if seen {
			reply(w, http.StatusOK, "duplicate", "delivery already received")
			return
		}
	}
	dup, err := s.enqueue(ctx, ev, key)
	if err != nil {
		s.log.Error("queueing a GitLab review", "err", err)
		reply(w, http.StatusServiceUnavailable, "error", "the hub cannot queue work right now")
		return
	}
	if dup {
		reply(w, http.StatusOK, "duplicate", "the same work is already queued or done")
		return
	}
	reply(w, http.StatusAccepted, "queued", ev.Work.Kind)
}

// ignore applies what can be decided without GitLab's API: the project's
// settings in timon.yaml, the bot's own notes, and updates whose head is
// already reviewed.
func (s *Service) ignore(ctx context.Context, ev *Event) string {
	settings := s.cfg.ProjectFor(ev.ProjectPath).Settings
	event := ev.Work.Trigger
	if event == review.TriggerCommand {
		event = ev.Work.Kind
	}
	if !settings.EventEnabled(event) {
		return "event " + event + " is switched off for this project"
	}
	if ev.NoteAuthorID != 0 && ev.NoteAuthorID == s.client.KnownBotUserID() {
		return "the bot's own note"
	}
	if ev.headCheck {
		// An update that says nothing of commits: a review only if the
		// head differs from the last reviewed one.
		prev, err := s.reviewer.ReviewedHead(ctx, ev.ProjectID, ev.IID)
		if err != nil || prev == "" || prev == ev.Work.HeadSHA {
			return "update without new commits"
		}
	}
	return ""
}

func (s *Service) unauthorized(w http.ResponseWriter, why string) {
	s.log.Warn("GitLab delivery refused", "reason", why)
	reply(w, http.StatusUnauthorized, "error", "authentication failed")
}

// seenDelivery reports whether a delivery key was recorded.
func (s *Service) seenDelivery(ctx context.Context, key string) (bool, error) {
	var one int
	err := s.st.QueryRow(ctx, `SELECT 1 FROM gitlab_deliveries WHERE delivery = ?`, key).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// recordDelivery records a delivery key (the job does, when it runs).
func (s *Service) recordDelivery(ctx context.Context, key string) error {
	_, err := s.st.Exec(ctx, `INSERT INTO gitlab_deliveries (delivery, received_at) VALUES (?, ?) ON CONFLICT (delivery) DO NOTHING`,
		key, store.Micros(s.now()))
	if err != nil {
		return fmt.Errorf("recording a GitLab delivery: %w", err)
	}
	return nil
}

// pruneDeliveries forgets delivery keys older than the window in which
// GitLab retries.
func (s *Service) pruneDeliveries(ctx context.Context, olderThan time.Duration) error {
	_, err := s.st.Exec(ctx, `DELETE FROM gitlab_deliveries WHERE received_at < ?`, store.Micros(s.now().Add(-olderThan)))
	return err
}

func reply(w http.ResponseWriter, status int, state, detail string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	b, _ := json.Marshal(struct {
		Status string `json:"status"`
		Detail string `json:"detail,omitempty"`
	}{state, detail})
	w.Write(append(b, '\n'))
}
