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

	// Authenticate before anything else is believed: the secret of the
	// project the body names (a claim, checked again below), or any
	// configured one when it names none.
	token := r.Header.Get(headerToken)
	_, claimed, perr := peekProject(body)
	if perr != nil || claimed == "" {
		if !anyTokenMatches(token, s.cfg.Secrets()) {
			s.unauthorized(w, "bad token")
			return
		}
		if err := checkSignature(r.Header, body, s.cfg.SigningSecret, s.now()); err != nil {
			s.unauthorized(w, err.Error())
			return
		}
	} else if err := s.authenticate(r.Header, body, token, s.cfg.ProjectFor(claimed)); err != nil {
		s.unauthorized(w, err.Error())
		return
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
	if ev.NoteAuthorID != 0 && ev.NoteAuthorID == s.client.KnownBotUserID() {
		reply(w, http.StatusOK, "ignored", "the bot's own note")
		return
	}
	ctx := r.Context()

	// The job works on the project id; the path in the body is a claim.
	// The project is read from GitLab by that id, and the delivery must
	// authenticate for the project GitLab names: its secret (and signing
	// secret) bind the delivery to its scope. Settings and the journal's
	// origin come from GitLab's answer from here on.
	path, status, why := s.projectInScope(ctx, r.Header, body, token, ev.ProjectID)
	if status != 0 {
		reply(w, status, "error", why)
		return
	}
	if path != ev.ProjectPath {
		s.log.Warn("GitLab delivery names another path than GitLab gives for its project id", "project", ev.ProjectID, "gitlab_path", path)
	}
	ev.ProjectPath, ev.Work.ProjectPath = path, path
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

// ignore applies what can be decided without more of GitLab's API: the
// project's settings in timon.yaml and updates whose head is already
// reviewed.
func (s *Service) ignore(ctx context.Context, ev *Event) string {
	settings := s.cfg.ProjectFor(ev.ProjectPath).Settings
	event := ev.Work.Trigger
	if event == review.TriggerCommand {
		event = ev.Work.Kind
	}
	if !settings.EventEnabled(event) {
		return "event " + event + " is switched off for this project"
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

// errOutOfScope is the refusal of a delivery whose secret does not cover
// the project it would make timon work on; the same words whether the
// project is in another scope or unknown to the bot.
const errOutOfScope = "the webhook's secret does not cover the project this delivery is about"

// projectInScope reads project id from GitLab and checks that the
// delivery's secret (and signature, when the scope has a signing secret)
// is the one of the scope GitLab puts the project in. It returns the
// project's path, or an HTTP status and the reason of the refusal.
func (s *Service) projectInScope(ctx context.Context, h http.Header, body []byte, token string, id int64) (path string, status int, why string) {
	ctx, cancel := context.WithTimeout(ctx, projectLookupTimeout)
	defer cancel()
	path, err := s.client.Project(ctx, id)
	switch {
	case errors.Is(err, review.ErrNotFound):
		s.log.Warn("GitLab delivery refused: the bot cannot see its project", "project", id)
		return "", http.StatusForbidden, errOutOfScope
	case err != nil:
		s.log.Error("reading a delivery's project from GitLab", "project", id, "err", err)
		return "", http.StatusServiceUnavailable, "the hub cannot check the delivery's project with GitLab right now"
	}
	if err := s.authenticate(h, body, token, s.cfg.ProjectFor(path)); err != nil {
		s.log.Warn("GitLab delivery refused: its secret is not the one of the project it is about", "project", id, "path", path, "reason", err.Error())
		return "", http.StatusForbidden, errOutOfScope
	}
	return path, 0, ""
}

// projectLookupTimeout bounds the handler's read of a delivery's project
// (GitLab gives up on a webhook after 10 seconds).
const projectLookupTimeout = 5 * time.Second

// authenticate checks a delivery against a project's secrets: the token
// must be the project's webhook secret and, when the project has a
// signing secret, the delivery must carry a valid signature.
func (s *Service) authenticate(h http.Header, body []byte, token string, p review.Project) error {
	if !tokenMatches(token, p.Secret) {
		return errors.New("bad token")
	}
	return checkSignature(h, body, p.SigningSecret, s.now())
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
