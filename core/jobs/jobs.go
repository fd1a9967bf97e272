// Package jobs owns timon's durable work queue: River on the store's own
// database (store.Driver.JobClient says how: riversqlite on the SQLite file,
// riverpgxv5 on PostgreSQL), so that a chat event or a webhook acknowledged
// to its platform is worked even if the hub restarts, and several replicas
// share one queue.
//
// River delivers at least once: a job interrupted by a crash runs again
// after the rescue delay. Workers make their side effects idempotent.
package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"timon.dev/timon/core/store"
)

// Options tunes the queue; zero values take the defaults.
type Options struct {
	Logger *slog.Logger
	// Workers is how many jobs run at once in this process (default 16).
	Workers int
	// JobTimeout bounds one run of a job (default 5 minutes).
	JobTimeout time.Duration
	// RescueAfter is how long a job may stay running before it is deemed
	// lost with its process and run again (default JobTimeout + 1 minute).
	RescueAfter time.Duration
	// PollInterval is how often idle workers look for new jobs (default
	// 100 ms). It bounds how long a job queued by another process (or, on
	// SQLite, which has no LISTEN/NOTIFY, by this one) waits to start.
	PollInterval time.Duration
	// MaxAttempts is how many times a failing job is tried (default 10).
	MaxAttempts int
}

// Queue is the durable job queue of one process.
type Queue struct {
	st      *store.Store
	o       Options
	workers *river.Workers

	mu      sync.Mutex
	client  store.JobClient
	closeDB func() error
	started bool
	kinds   int // registered job kinds
}

// New prepares a queue over st; register workers, then Start.
func New(st *store.Store, o Options) *Queue {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Workers <= 0 {
		o.Workers = 16
	}
	if o.JobTimeout <= 0 {
		o.JobTimeout = 5 * time.Minute
	}
	if o.RescueAfter <= o.JobTimeout {
		o.RescueAfter = o.JobTimeout + time.Minute
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 100 * time.Millisecond
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 10
	}
	return &Queue{st: st, o: o, workers: river.NewWorkers()}
}

// Register adds the worker of one job kind. It must be called before
// Start; registering a kind twice is an error.
func Register[A river.JobArgs](q *Queue, w river.Worker[A]) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.started {
		var a A
		return fmt.Errorf("registering job kind %s: the queue has already started", a.Kind())
	}
	if err := river.AddWorkerSafely(q.workers, w); err != nil {
		return fmt.Errorf("registering job worker: %w", err)
	}
	q.kinds++
	return nil
}

// Start migrates River's tables and starts working jobs.
func (q *Queue) Start(ctx context.Context) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.started {
		return errors.New("starting the job queue: already started")
	}
	if q.kinds == 0 {
		// No front end needs durable jobs: nothing to run, no tables.
		q.started = true
		return nil
	}
	cfg := &river.Config{
		Logger:               q.o.Logger.With("component", "jobs"),
		Queues:               map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: q.o.Workers}},
		Workers:              q.workers,
		JobTimeout:           q.o.JobTimeout,
		RescueStuckJobsAfter: q.o.RescueAfter,
		FetchPollInterval:    q.o.PollInterval,
		// A short cooldown: a job queued right after another starts at once
		// instead of waiting for the next poll.
		FetchCooldown: min(q.o.PollInterval, 5*time.Millisecond),
		MaxAttempts:   q.o.MaxAttempts,
	}
	var err error
	if q.client, q.closeDB, err = q.st.Driver().JobClient(ctx, cfg); err != nil {
		return fmt.Errorf("starting the job queue: %w", err)
	}
	// River ties the client's life to Start's context; the queue's life
	// ends with Stop instead, so that a drain can let running jobs finish.
	if err := q.client.Start(context.WithoutCancel(ctx)); err != nil {
		q.client = nil
		q.closeDBLocked()
		return fmt.Errorf("starting the job queue: %w", err)
	}
	q.started = true
	return nil
}

func (q *Queue) closeDBLocked() {
	if q.closeDB != nil {
		q.closeDB()
		q.closeDB = nil
	}
}

// Stop stops fetching jobs and waits for running ones until ctx ends; then
// it cancels them. A cancelled or unfinished job stays in the queue and runs
// again after a restart (or on another replica).
func (q *Queue) Stop(ctx context.Context) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.started || q.client == nil {
		q.started = false
		q.closeDBLocked()
		return nil
	}
	q.started = false
	err := q.client.Stop(ctx)
	if err != nil && ctx.Err() != nil {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = errors.Join(err, q.client.StopAndCancel(cctx))
		cancel()
	}
	q.closeDBLocked()
	if err != nil {
		return fmt.Errorf("stopping the job queue: %w", err)
	}
	return nil
}

// Insert queues a job. duplicate is true when a unique job with the same
// key already exists (see river.UniqueOpts), in which case nothing was
// added.
func (q *Queue) Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (duplicate bool, err error) {
	q.mu.Lock()
	c := q.client
	q.mu.Unlock()
	if c == nil {
		return false, fmt.Errorf("queueing %s job: the job queue is not started", args.Kind())
	}
	res, err := c.Insert(ctx, args, opts)
	if err != nil {
		return false, fmt.Errorf("queueing %s job: %w", args.Kind(), err)
	}
	return res.UniqueSkippedAsDuplicate, nil
}

// pending are the states of a job that is still to be worked.
var pending = []rivertype.JobState{
	rivertype.JobStateAvailable, rivertype.JobStateRunning, rivertype.JobStateRetryable,
	rivertype.JobStateScheduled, rivertype.JobStatePending,
}

// Stats describes the queue for metrics and readiness.
type Stats struct {
	Pending   int           // available, running, retryable or scheduled
	OldestAge time.Duration // age of the oldest pending job
}

// Stats counts the pending jobs (of the given kinds, or all).
func (q *Queue) Stats(ctx context.Context, kinds ...string) (Stats, error) {
	q.mu.Lock()
	c := q.client
	q.mu.Unlock()
	if c == nil {
		return Stats{}, errors.New("reading job queue stats: the job queue is not started")
	}
	var s Stats
	params := river.NewJobListParams().States(pending...).First(10000).OrderBy(river.JobListOrderByID, river.SortOrderAsc)
	if len(kinds) > 0 {
		params = params.Kinds(kinds...)
	}
	res, err := c.JobList(ctx, params)
	if err != nil {
		return Stats{}, fmt.Errorf("reading job queue stats: %w", err)
	}
	s.Pending = len(res.Jobs)
	if len(res.Jobs) > 0 {
		s.OldestAge = time.Since(res.Jobs[0].CreatedAt)
	}
	return s, nil
}

// StatsByKind counts the pending jobs of each kind.
func (q *Queue) StatsByKind(ctx context.Context) (map[string]Stats, error) {
	q.mu.Lock()
	c := q.client
	q.mu.Unlock()
	if c == nil {
		return nil, nil // no job kinds: nothing pending
	}
	res, err := c.JobList(ctx, river.NewJobListParams().States(pending...).First(10000).OrderBy(river.JobListOrderByID, river.SortOrderAsc))
	if err != nil {
		return nil, fmt.Errorf("reading job queue stats: %w", err)
	}
	out := map[string]Stats{}
	for _, j := range res.Jobs {
		s := out[j.Kind]
		if s.Pending == 0 {
			s.OldestAge = time.Since(j.CreatedAt)
		}
		s.Pending++
		out[j.Kind] = s
	}
	return out, nil
}

// Wait blocks until no job of the given kinds (or of any kind) is pending,
// or ctx ends. Tests and graceful shutdown use it.
func (q *Queue) Wait(ctx context.Context, kinds ...string) error {
	for {
		s, err := q.Stats(ctx, kinds...)
		if err != nil {
			return err
		}
		if s.Pending == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %d pending jobs: %w", s.Pending, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// SetArgs replaces the stored arguments of job id with args: a worker
// scrubs what a finished job no longer needs before River keeps the row
// (completed jobs for a day, discarded ones for a week). The unique key,
// computed at insertion, is left as it is.
func (q *Queue) SetArgs(ctx context.Context, id int64, args river.JobArgs) error {
	b, err := json.Marshal(args)
	if err != nil {
		return fmt.Errorf("encoding %s job arguments: %w", args.Kind(), err)
	}
	// A JSON text: PostgreSQL reads it as jsonb, SQLite's JSON functions
	// (River reads args through json()) take text as well as JSONB.
	if _, err := q.st.Exec(context.WithoutCancel(ctx), `UPDATE river_job SET args = ? WHERE id = ?`, string(b), id); err != nil {
		return fmt.Errorf("replacing %s job arguments: %w", args.Kind(), err)
	}
	return nil
}
