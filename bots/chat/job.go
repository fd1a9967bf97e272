package chat

import (
	"context"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/riverqueue/river"
	"golang.org/x/crypto/chacha20poly1305"

	"timon.dev/timon/core"
)

// JobKind is the River kind of chat event jobs.
const JobKind = "chat_event"

// maxAttempts bounds the runs of one event's job: a platform down for
// longer than River's backoff over these attempts loses the answer.
const maxAttempts = 8

// JobKeySize is the size of Options.JobKey.
const JobKeySize = chacha20poly1305.KeySize

// jobArgs is one chat event to answer; unique by platform and event id.
//
// What people wrote (the text, and who and where) never reaches the queue
// in clear: River keeps a job's arguments in its table, and the database
// keeps them in its files (SQLite's write-ahead log and free pages) long
// after. The event is sealed (XChaCha20-Poly1305 under Options.JobKey,
// bound to its platform and event id), and once the job is finished (the
// event answered, dropped, or out of attempts) its arguments are replaced
// by the platform and event id alone.
type jobArgs struct {
	Platform core.Integration `json:"platform" river:"unique"`
	EventID  string           `json:"event_id" river:"unique"`
	// Sealed is the event: nonce, then ciphertext. Empty once scrubbed.
	Sealed []byte `json:"sealed,omitempty"`
	// Event is an event queued in clear by a version before sealing:
	// read, never written.
	Event *Event `json:"event,omitempty"`
}

func (jobArgs) Kind() string { return JobKind }

// DeriveJobKey derives the key of Options.JobKey from a secret the hub
// always holds (the journal signing key's seed): every replica sharing
// that secret opens the jobs the others queued.
func DeriveJobKey(secret []byte) ([]byte, error) {
	if len(secret) < 32 {
		return nil, errors.New("deriving the chat job key: the secret is shorter than 32 bytes")
	}
	k, err := hkdf.Key(sha256.New, secret, nil, "timon chat job arguments v1", JobKeySize)
	if err != nil {
		return nil, fmt.Errorf("deriving the chat job key: %w", err)
	}
	return k, nil
}

func jobAAD(p core.Integration, id string) []byte {
	return []byte("timon chat event\x00" + string(p) + "\x00" + id)
}

// seal encrypts ev for the queue.
func seal(key []byte, ev *Event) ([]byte, error) {
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, fmt.Errorf("sealing chat event: %w", err)
	}
	plain, err := json.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("sealing chat event: %w", err)
	}
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("sealing chat event: %w", err)
	}
	out := aead.Seal(nonce, nonce, plain, jobAAD(ev.Platform, ev.ID))
	clear(plain)
	return out, nil
}

// open decrypts a job's event.
func open(key []byte, a *jobArgs) (*Event, error) {
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, fmt.Errorf("opening chat event: %w", err)
	}
	if len(a.Sealed) < aead.NonceSize()+aead.Overhead() {
		return nil, errors.New("opening chat event: sealed event too short")
	}
	ns := aead.NonceSize()
	plain, err := aead.Open(nil, a.Sealed[:ns], a.Sealed[ns:], jobAAD(a.Platform, a.EventID))
	if err != nil {
		return nil, fmt.Errorf("opening chat event (is the journal signing key the one that queued it? every replica needs the same): %w", err)
	}
	var ev Event
	err = json.Unmarshal(plain, &ev)
	clear(plain)
	if err != nil {
		return nil, fmt.Errorf("opening chat event: %w", err)
	}
	if ev.Platform != a.Platform || ev.ID != a.EventID {
		return nil, errors.New("opening chat event: the event does not match its job")
	}
	return &ev, nil
}

// worker runs Handle for queued events.
type worker struct {
	river.WorkerDefaults[jobArgs]
	r *Router
}

// The job timeout is the queue's (jobs.job_timeout): a worker-specific
// one would also delay, by as much, the rescue of an answer whose process
// was killed.

func (w *worker) Work(ctx context.Context, job *river.Job[jobArgs]) error {
	err := w.work(ctx, job)
	var perm *permanentError
	switch {
	case errors.As(err, &perm):
		w.r.log.Error("chat event dropped", "platform", job.Args.Platform, "event", job.Args.EventID, "err", err)
		w.scrub(ctx, job)
		return river.JobCancel(err)
	case err != nil:
		w.r.log.Warn("chat event failed; it runs again", "platform", job.Args.Platform, "event", job.Args.EventID,
			"attempt", job.Attempt, "err", err)
		if job.Attempt >= job.MaxAttempts {
			w.scrub(ctx, job) // discarded: River keeps the row a week
		}
		return err
	}
	w.scrub(ctx, job)
	return nil
}

func (w *worker) work(ctx context.Context, job *river.Job[jobArgs]) error {
	a := &job.Args
	switch {
	case a.Event != nil:
		return w.r.Handle(ctx, a.Event)
	case len(a.Sealed) > 0:
		ev, err := open(w.r.o.JobKey, a)
		if err != nil {
			return &permanentError{err}
		}
		return w.r.Handle(ctx, ev)
	}
	// Scrubbed, then run again (a crash between the scrub and River's
	// record of the outcome): it was finished.
	done, err := w.r.state.isDone(ctx, a.Platform, a.EventID)
	if err != nil {
		return err
	}
	if !done {
		return &permanentError{errors.New("answering chat event: the job no longer holds its event")}
	}
	return nil
}

// scrub replaces the job's arguments with its platform and event id.
func (w *worker) scrub(ctx context.Context, job *river.Job[jobArgs]) {
	if len(job.Args.Sealed) == 0 && job.Args.Event == nil {
		return
	}
	if err := w.r.o.Jobs.SetArgs(ctx, job.ID, jobArgs{Platform: job.Args.Platform, EventID: job.Args.EventID}); err != nil {
		w.r.log.Error("scrubbing a finished chat job failed", "platform", job.Args.Platform, "event", job.Args.EventID, "err", err)
	}
}

// permanentError is an event that no retry can answer.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }
