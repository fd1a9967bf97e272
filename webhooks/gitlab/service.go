package gitlab

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/riverqueue/river"

	"timon.dev/timon/core"
	"timon.dev/timon/core/jobs"
	"timon.dev/timon/core/redact"
	"timon.dev/timon/core/store"
	"timon.dev/timon/webhooks/review"
)

//go:embed migrations/*.sql
var migrations embed.FS

// DeveloperAccess is GitLab's Developer access level: the least a user
// needs for timon to act on their commands.
const DeveloperAccess = 30

// deliveryWindow is how long delivery keys are kept: GitLab retries a
// delivery within hours, not days.
const deliveryWindow = 72 * time.Hour

// Options wires the GitLab front end.
type Options struct {
	Config    *review.Config
	Store     *store.Store
	Queue     *jobs.Queue
	Assistant core.Assistant
	// Redactor finds secrets in diffs and answers (its secret findings).
	Redactor *redact.Redactor
	Logger   *slog.Logger
	Client   ClientOptions
	// KeyFile holds the key that seals what a review keeps in the store
	// (review.LoadKey creates it on first use).
	KeyFile string
	// PollInterval and LeaseFor tune the reviewer (see review.Options).
	PollInterval time.Duration
	LeaseFor     time.Duration
	// Now is the clock; zero means time.Now.
	Now func() time.Time
}

// Service is the GitLab front end: the webhook handler, the API client and
// the review job's worker.
type Service struct {
	cfg      *review.Config
	st       *store.Store
	q        *jobs.Queue
	client   *Client
	reviewer *review.Reviewer
	log      *slog.Logger
	now      func() time.Time
}

// New builds the front end, creates its tables and registers its worker
// on the queue (before the queue starts).
func New(ctx context.Context, o Options) (*Service, error) {
	if o.Config == nil || o.Store == nil || o.Queue == nil || o.Assistant == nil || o.Redactor == nil || o.KeyFile == "" {
		return nil, errors.New("gitlab: configuration, store, queue, assistant, redactor and key file are required")
	}
	if !o.Config.Enabled() {
		return nil, errors.New("gitlab: the integration is off (URL, token or webhook secret missing)")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	log := o.Logger.With("component", "gitlab")
	if o.Client.Logger == nil {
		o.Client.Logger = log
	}
	client, err := NewClient(o.Config.URL, o.Config.Token, o.Client)
	if err != nil {
		return nil, err
	}
	key, err := review.LoadKey(o.KeyFile)
	if err != nil {
		return nil, err
	}
	rv, err := review.New(ctx, review.Options{
		API: client, Assistant: o.Assistant, Store: o.Store, Config: o.Config, Redactor: o.Redactor, Logger: log,
		PollInterval: o.PollInterval, LeaseFor: o.LeaseFor, Key: key,
	})
	clear(key)
	if err != nil {
		return nil, err
	}
	if err := o.Store.Migrate(ctx, "gitlab_webhook", migrations); err != nil {
		return nil, err
	}
	s := &Service{cfg: o.Config, st: o.Store, q: o.Queue, client: client, reviewer: rv, log: log, now: o.Now}
	if s.now == nil {
		s.now = time.Now
	}
	if err := jobs.Register[ReviewArgs](o.Queue, &worker{s: s}); err != nil {
		return nil, err
	}
	return s, nil
}

// Client is the front end's GitLab API client.
func (s *Service) Client() *Client { return s.client }

// Ready checks that GitLab answers with the bot's token.
func (s *Service) Ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return s.client.Ping(ctx)
}

// Run learns the bot's user id (so that the handler can drop its own notes
// at once) and prunes old delivery keys, until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	go s.learnBot(ctx)
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		if err := s.pruneDeliveries(ctx, deliveryWindow); err != nil && ctx.Err() == nil {
			s.log.Warn("pruning old GitLab delivery keys", "err", err)
		}
		if err := s.reviewer.Prune(ctx, deliveryWindow); err != nil && ctx.Err() == nil {
			s.log.Warn("pruning what unfinished reviews left", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// learnBot reads the bot's user id, retrying until GitLab answers.
func (s *Service) learnBot(ctx context.Context) {
	wait := time.Second
	for s.client.KnownBotUserID() == 0 {
		if err := s.Ready(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("GitLab does not answer with the bot's token yet", "url", s.cfg.URL, "reason", err.Error())
		}
		if s.client.KnownBotUserID() != 0 {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Minute)
	}
}

// ReviewArgs is the durable job of one piece of merge-request work. It is
// unique by project, merge request, head, kind, trigger and command note:
// the same event is queued once however many deliveries carry it. Two
// events asking for the same work (open, then reopen, on one head) may both
// be queued; the reviewer's stored runs make the second post nothing.
//
// It holds references only, never content: the job reads the merge
// request, its diff and the command's note from GitLab when it runs.
// ProjectPath is GitLab's answer for ProjectID when the delivery came,
// never the delivery's own claim.
type ReviewArgs struct {
	ProjectID    int64  `json:"project_id" river:"unique"`
	IID          int64  `json:"iid" river:"unique"`
	HeadSHA      string `json:"head_sha" river:"unique"`
	Work         string `json:"work" river:"unique"`
	NoteID       int64  `json:"note_id" river:"unique"`
	ProjectPath  string `json:"project_path"`
	Trigger      string `json:"trigger" river:"unique"`
	Actor        string `json:"actor,omitempty"`
	NoteAuthorID int64  `json:"note_author_id,omitempty"`
	// Discussion is the discussion an ask was written in (the delivery's
	// claim, checked against GitLab when the job runs).
	Discussion string `json:"discussion_id,omitempty"`
	// Delivery is the key of the delivery that queued the job, recorded
	// when it runs; not part of the job's uniqueness.
	Delivery string `json:"delivery,omitempty"`
}

// JobKind is the River kind of ReviewArgs.
const JobKind = "gitlab_review"

// Kind is River's job kind.
func (ReviewArgs) Kind() string { return JobKind }

// InsertOpts makes the job unique by its tagged fields.
func (ReviewArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

func (s *Service) enqueue(ctx context.Context, ev *Event, delivery string) (duplicate bool, err error) {
	w := ev.Work
	return s.q.Insert(ctx, ReviewArgs{
		ProjectID: w.ProjectID, IID: w.IID, HeadSHA: w.HeadSHA, Work: w.Kind, NoteID: w.NoteID,
		ProjectPath: w.ProjectPath, Trigger: w.Trigger, Actor: w.Actor, NoteAuthorID: ev.NoteAuthorID,
		Discussion: w.DiscussionID, Delivery: delivery,
	}, nil)
}

// worker runs ReviewArgs jobs.
type worker struct {
	river.WorkerDefaults[ReviewArgs]
	s *Service
}

// Work checks what the handler could not (the bot's own notes, the
// commenter's access level) and runs the review. A busy merge request, a
// diff GitLab is still computing or an exhausted quota snooze the job.
func (w *worker) Work(ctx context.Context, job *river.Job[ReviewArgs]) error {
	a := job.Args
	s := w.s
	log := s.log.With("job", job.ID, "project", a.ProjectID, "mr", a.IID, "work", a.Work)
	if a.Delivery != "" {
		if err := s.recordDelivery(ctx, a.Delivery); err != nil {
			log.Warn("recording the delivery key", "err", err)
		}
	}
	question := ""
	if a.Trigger == review.TriggerCommand {
		// The command, its author and its question are GitLab's note as
		// it is now, not what the delivery said.
		note, err := s.client.Note(ctx, a.ProjectID, a.IID, a.NoteID)
		if errors.Is(err, review.ErrNotFound) {
			log.Info("command dropped: its note is gone")
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading the command's note %d: %w", a.NoteID, err)
		}
		cmd, arg, ok := parseCommand(note.Body)
		if cmd == review.KindAsk && a.Discussion == "" {
			cmd = review.KindExplain
		}
		if !ok || cmd != a.Work || note.System {
			log.Info("command dropped: its note no longer asks for it")
			return nil
		}
		question = arg
		bot, err := s.client.BotUserID(ctx)
		if err != nil {
			return err
		}
		if note.AuthorID == bot {
			return nil
		}
		level, err := s.client.AccessLevel(ctx, a.ProjectID, note.AuthorID)
		if err != nil {
			return fmt.Errorf("reading the access level of user %d: %w", note.AuthorID, err)
		}
		if level < DeveloperAccess {
			log.Info("command ignored: its author has less than Developer access", "user", note.AuthorID, "access_level", level)
			return nil
		}
		if a.Discussion != "" {
			// The delivery names the discussion; GitLab must agree that
			// the note is in it.
			d, err := s.client.Discussion(ctx, a.ProjectID, a.IID, a.Discussion)
			if errors.Is(err, review.ErrNotFound) {
				log.Info("command dropped: its discussion is gone")
				return nil
			}
			if err != nil {
				return fmt.Errorf("reading the command's discussion: %w", err)
			}
			if !slices.ContainsFunc(d.Notes, func(n review.Note) bool { return n.ID == a.NoteID }) {
				log.Warn("command dropped: its note is not in the discussion the delivery names")
				return nil
			}
		}
	}
	out, err := s.reviewer.Run(ctx, review.Job{
		ProjectID: a.ProjectID, ProjectPath: a.ProjectPath, IID: a.IID, HeadSHA: a.HeadSHA, Kind: a.Work, Trigger: a.Trigger,
		Question: question, NoteID: a.NoteID, DiscussionID: a.Discussion, Actor: a.Actor, Owner: "job-" + strconv.FormatInt(job.ID, 10),
	})
	var re *review.RetryError
	switch {
	case errors.Is(err, review.ErrBusy):
		return river.JobSnooze(2 * time.Second)
	case errors.Is(err, review.ErrDiffNotReady):
		log.Info("GitLab has not computed the diff yet; trying again later")
		return river.JobSnooze(15 * time.Second)
	case errors.As(err, &re):
		log.Info("quota exhausted; trying again when it resets", "retry_at", re.At)
		return river.JobSnooze(max(time.Until(re.At), time.Second))
	case errors.Is(err, review.ErrNotFound):
		// The merge request (or project) is gone, or the bot cannot see
		// it: trying again will not help.
		log.Warn("merge request work dropped: GitLab does not find it for the bot", "err", err)
		return river.JobCancel(err)
	case err != nil:
		log.Warn("merge request work failed; River tries again", "attempt", job.Attempt, "err", err)
		return err
	}
	log.Info("merge request work done", "outcome", string(out))
	return nil
}
