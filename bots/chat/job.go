package chat

import (
	"context"
	"errors"

	"github.com/riverqueue/river"

	"timon.dev/timon/core"
)

// JobKind is the River kind of chat event jobs.
const JobKind = "chat_event"

// maxAttempts bounds the runs of one event's job: a platform down for
// longer than River's backoff over these attempts loses the answer.
const maxAttempts = 8

// jobArgs is one chat event to answer; unique by platform and event id.
type jobArgs struct {
	Platform core.Integration `json:"platform" river:"unique"`
	EventID  string           `json:"event_id" river:"unique"`
	Event    Event            `json:"event"`
}

func (jobArgs) Kind() string { return JobKind }

// worker runs Handle for queued events.
type worker struct {
	river.WorkerDefaults[jobArgs]
	r *Router
}

// The job timeout is the queue's (jobs.job_timeout): a worker-specific
// one would also delay, by as much, the rescue of an answer whose process
// was killed.

func (w *worker) Work(ctx context.Context, job *river.Job[jobArgs]) error {
	err := w.r.Handle(ctx, &job.Args.Event)
	var perm *permanentError
	if errors.As(err, &perm) {
		w.r.log.Error("chat event dropped", "platform", job.Args.Platform, "event", job.Args.EventID, "err", err)
		return river.JobCancel(err)
	}
	if err != nil {
		w.r.log.Warn("chat event failed; it runs again", "platform", job.Args.Platform, "event", job.Args.EventID,
			"attempt", job.Attempt, "err", err)
	}
	return err
}

// permanentError is an event that no retry can answer.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }
