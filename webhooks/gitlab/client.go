package gitlab

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	gl "gitlab.com/gitlab-org/api/client-go/v2"

	"timon.dev/timon/core/retryafter"
	"timon.dev/timon/webhooks/review"
)

// ClientOptions tunes the API client; zero values take the defaults.
type ClientOptions struct {
	// HTTPClient sends the requests; zero means a pooled client with a
	// 30s timeout.
	HTTPClient *http.Client
	// MaxRetries of an idempotent request (GET, PUT, DELETE) after a 5xx
	// or a network failure, and of any request after a 429; zero means 4.
	MaxRetries int
	// MaxWait bounds one wait between two tries, Retry-After included;
	// zero means 30s.
	MaxWait time.Duration
	// MinWait is the first wait of the exponential backoff; zero means
	// 200ms.
	MinWait time.Duration
	Logger  *slog.Logger
}

// Client is timon's GitLab API client over gitlab.com/gitlab-org/api/client-go.
// Only idempotent requests are retried on a 5xx or a network failure: a POST
// that failed after GitLab may have written it is never sent again blindly;
// the client re-reads the notes or discussions to see whether the write
// happened, by the marker every body carries. A 429 is retried for every
// method (GitLab refused it before doing anything), after Retry-After.
type Client struct {
	gl  *gl.Client
	log *slog.Logger

	mu    sync.Mutex
	botID int64
}

var _ review.API = (*Client)(nil)

// NewClient builds a client for the GitLab at baseURL (https://gitlab.example.org)
// with the bot's token.
func NewClient(baseURL, token string, o ClientOptions) (*Client, error) {
	if token == "" {
		return nil, errors.New("gitlab: the bot's token is empty")
	}
	if o.HTTPClient == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 16
		o.HTTPClient = &http.Client{Transport: tr, Timeout: 30 * time.Second}
	}
	if o.MaxRetries <= 0 {
		o.MaxRetries = 4
	}
	if o.MaxWait <= 0 {
		o.MaxWait = 30 * time.Second
	}
	if o.MinWait <= 0 {
		o.MinWait = 200 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	c, err := gl.NewClient(token,
		gl.WithBaseURL(strings.TrimRight(baseURL, "/")+"/api/v4"),
		gl.WithHTTPClient(o.HTTPClient),
		gl.WithOnlyIdempotentRetries(),
		gl.WithCustomRetryMax(o.MaxRetries),
		gl.WithCustomRetryWaitMinMax(o.MinWait, o.MaxWait),
		gl.WithCustomBackoff(backoff),
		gl.WithUserAgent("timon"),
		gl.WithURLWarningLogger(slog.New(slog.DiscardHandler)),
	)
	if err != nil {
		return nil, fmt.Errorf("gitlab: building the API client: %w", err)
	}
	return &Client{gl: c, log: o.Logger}, nil
}

// backoff waits what Retry-After says on a 429 or 503 (bounded by max),
// else doubles from min with jitter.
func backoff(min, max time.Duration, attempt int, resp *http.Response) time.Duration {
	if resp != nil && (resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable) {
		if d, ok := retryafter.Parse(resp.Header); ok {
			return minDur(max, d)
		}
		if v := resp.Header.Get("RateLimit-Reset"); v != "" {
			if reset, err := strconv.ParseInt(v, 10, 64); err == nil {
				return minDur(max, time.Until(time.Unix(reset, 0)))
			}
		}
	}
	d := min << min64(int64(attempt), 10)
	d += time.Duration(rand.Int64N(int64(min) + 1))
	return minDur(max, d)
}

func minDur(a, b time.Duration) time.Duration {
	if b < 0 {
		return 0
	}
	if a < b {
		return a
	}
	return b
}

func min64(a, b int64) int64 {
	if a < b {
		return a
	}
	return b
}

// apiError turns client-go's errors into ours: 404 is review.ErrNotFound,
// the rest keeps the status and GitLab's message (never the token).
func apiError(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, gl.ErrNotFound) {
		return review.ErrNotFound
	}
	var er *gl.ErrorResponse
	if errors.As(err, &er) {
		return &StatusError{Status: er.StatusCode, Message: er.Message}
	}
	return err
}

// StatusError is an error answer of the GitLab API.
type StatusError struct {
	Status  int
	Message string
}

func (e *StatusError) Error() string {
	if e.Message == "" {
		return "GitLab answered " + strconv.Itoa(e.Status)
	}
	return "GitLab answered " + strconv.Itoa(e.Status) + ": " + e.Message
}

// mayHaveWritten reports whether a failed write may have happened on
// GitLab's side: a 5xx, or a failure with no answer at all.
func mayHaveWritten(err error) bool {
	var se *StatusError
	if errors.As(err, &se) {
		return se.Status >= 500
	}
	return err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}

// MergeRequest reads a merge request.
func (c *Client) MergeRequest(ctx context.Context, project, iid int64) (*review.MergeRequest, error) {
	mr, _, err := c.gl.MergeRequests.GetMergeRequest(project, iid, nil, gl.WithContext(ctx))
	if err != nil {
		return nil, apiError(err)
	}
	out := &review.MergeRequest{
		ProjectID: mr.ProjectID, IID: mr.IID, Title: mr.Title, Description: mr.Description, State: mr.State, Draft: mr.Draft,
		SourceBranch: mr.SourceBranch, TargetBranch: mr.TargetBranch, SHA: mr.SHA, WebURL: mr.WebURL,
	}
	if mr.Author != nil {
		out.AuthorID, out.AuthorUsername = mr.Author.ID, mr.Author.Username
	}
	if d := mr.DiffRefs; d.HeadSha != "" && d.BaseSha != "" {
		out.DiffRefs = &review.DiffRefs{BaseSHA: d.BaseSha, StartSHA: d.StartSha, HeadSHA: d.HeadSha}
	}
	return out, nil
}

// LatestVersion reads the newest diff version, nil when there is none.
func (c *Client) LatestVersion(ctx context.Context, project, iid int64) (*review.Version, error) {
	vs, _, err := c.gl.MergeRequests.GetMergeRequestDiffVersions(project, iid, &gl.GetMergeRequestDiffVersionsOptions{ListOptions: gl.ListOptions{PerPage: 1}}, gl.WithContext(ctx))
	if err != nil {
		return nil, apiError(err)
	}
	if len(vs) == 0 {
		return nil, nil
	}
	v := vs[0] // newest first
	return &review.Version{ID: v.ID, State: v.State, DiffRefs: review.DiffRefs{BaseSHA: v.BaseCommitSHA, StartSHA: v.StartCommitSHA, HeadSHA: v.HeadCommitSHA}}, nil
}

// Diffs lists the files the merge request changes, every page.
func (c *Client) Diffs(ctx context.Context, project, iid int64) ([]review.FileDiff, error) {
	opts := &gl.ListMergeRequestDiffsOptions{ListOptions: gl.ListOptions{PerPage: 50}}
	ds, err := gl.ScanAndCollect(func(p gl.PaginationOptionFunc) ([]*gl.MergeRequestDiff, *gl.Response, error) {
		return c.gl.MergeRequests.ListMergeRequestDiffs(project, iid, opts, p, gl.WithContext(ctx))
	})
	if err != nil {
		return nil, apiError(err)
	}
	out := make([]review.FileDiff, len(ds))
	for i, d := range ds {
		out[i] = review.FileDiff{OldPath: d.OldPath, NewPath: d.NewPath, Diff: d.Diff, NewFile: d.NewFile, RenamedFile: d.RenamedFile,
			DeletedFile: d.DeletedFile, GeneratedFile: d.GeneratedFile, TooLarge: d.TooLarge, Collapsed: d.Collapsed}
	}
	return out, nil
}

// Commits lists the merge request's commits, every page.
func (c *Client) Commits(ctx context.Context, project, iid int64) ([]review.Commit, error) {
	opts := &gl.GetMergeRequestCommitsOptions{ListOptions: gl.ListOptions{PerPage: 100}}
	cs, err := gl.ScanAndCollect(func(p gl.PaginationOptionFunc) ([]*gl.Commit, *gl.Response, error) {
		return c.gl.MergeRequests.GetMergeRequestCommits(project, iid, opts, p, gl.WithContext(ctx))
	})
	if err != nil {
		return nil, apiError(err)
	}
	out := make([]review.Commit, len(cs))
	for i, cm := range cs {
		out[i] = review.Commit{ID: cm.ID, Title: cm.Title}
	}
	return out, nil
}

// Compare lists the files changed between two commits.
func (c *Client) Compare(ctx context.Context, project int64, from, to string) ([]review.FileDiff, error) {
	cmp, _, err := c.gl.Repositories.Compare(project, &gl.CompareOptions{From: &from, To: &to}, gl.WithContext(ctx))
	if err != nil {
		return nil, apiError(err)
	}
	out := make([]review.FileDiff, len(cmp.Diffs))
	for i, d := range cmp.Diffs {
		out[i] = review.FileDiff{OldPath: d.OldPath, NewPath: d.NewPath, Diff: d.Diff, NewFile: d.NewFile, RenamedFile: d.RenamedFile, DeletedFile: d.DeletedFile}
	}
	return out, nil
}

// RawFile reads a file at a ref.
func (c *Client) RawFile(ctx context.Context, project int64, path, ref string) ([]byte, error) {
	b, _, err := c.gl.RepositoryFiles.GetRawFile(project, path, &gl.GetRawFileOptions{Ref: &ref}, gl.WithContext(ctx))
	if err != nil {
		return nil, apiError(err)
	}
	return b, nil
}

func toNote(n *gl.Note) review.Note {
	out := review.Note{ID: n.ID, Body: n.Body, AuthorID: n.Author.ID, System: n.System, Resolvable: n.Resolvable, Resolved: n.Resolved}
	if p := n.Position; p != nil && p.HeadSHA != "" {
		out.Position = &review.Position{
			DiffRefs: review.DiffRefs{BaseSHA: p.BaseSHA, StartSHA: p.StartSHA, HeadSHA: p.HeadSHA},
			OldPath:  p.OldPath, NewPath: p.NewPath, OldLine: int(p.OldLine), NewLine: int(p.NewLine),
		}
	}
	return out
}

func toDiscussion(d *gl.Discussion) review.Discussion {
	out := review.Discussion{ID: d.ID}
	for _, n := range d.Notes {
		out.Notes = append(out.Notes, toNote(n))
	}
	return out
}

// Notes lists the merge request's notes, every page.
func (c *Client) Notes(ctx context.Context, project, iid int64) ([]review.Note, error) {
	opts := &gl.ListMergeRequestNotesOptions{ListOptions: gl.ListOptions{PerPage: 100}}
	ns, err := gl.ScanAndCollect(func(p gl.PaginationOptionFunc) ([]*gl.Note, *gl.Response, error) {
		return c.gl.Notes.ListMergeRequestNotes(project, iid, opts, p, gl.WithContext(ctx))
	})
	if err != nil {
		return nil, apiError(err)
	}
	out := make([]review.Note, len(ns))
	for i, n := range ns {
		out[i] = toNote(n)
	}
	return out, nil
}

// Discussions lists the merge request's discussions, every page.
func (c *Client) Discussions(ctx context.Context, project, iid int64) ([]review.Discussion, error) {
	opts := &gl.ListMergeRequestDiscussionsOptions{ListOptions: gl.ListOptions{PerPage: 100}}
	ds, err := gl.ScanAndCollect(func(p gl.PaginationOptionFunc) ([]*gl.Discussion, *gl.Response, error) {
		return c.gl.Discussions.ListMergeRequestDiscussions(project, iid, opts, p, gl.WithContext(ctx))
	})
	if err != nil {
		return nil, apiError(err)
	}
	out := make([]review.Discussion, len(ds))
	for i, d := range ds {
		out[i] = toDiscussion(d)
	}
	return out, nil
}

// Discussion reads one discussion of a merge request.
func (c *Client) Discussion(ctx context.Context, project, iid int64, id string) (*review.Discussion, error) {
	d, _, err := c.gl.Discussions.GetMergeRequestDiscussion(project, iid, id, gl.WithContext(ctx))
	if err != nil {
		return nil, apiError(err)
	}
	out := toDiscussion(d)
	return &out, nil
}

// AddDiscussionNote replies in a discussion; like CreateNote, it never
// posts twice.
func (c *Client) AddDiscussionNote(ctx context.Context, project, iid int64, discussion, body, marker string) error {
	var lastErr error
	for attempt := 0; attempt < writeAttempts; attempt++ {
		_, _, err := c.gl.Discussions.AddMergeRequestDiscussionNote(project, iid, discussion, &gl.AddMergeRequestDiscussionNoteOptions{Body: &body}, gl.WithContext(ctx))
		if err == nil {
			return nil
		}
		lastErr = apiError(err)
		if !mayHaveWritten(lastErr) || ctx.Err() != nil {
			return lastErr
		}
		c.log.Warn("replying in a discussion failed after GitLab may have written it; checking before trying again", "project", project, "mr", iid, "err", lastErr.Error())
		bot, err := c.BotUserID(ctx)
		if err != nil {
			return errors.Join(lastErr, err)
		}
		d, err := c.Discussion(ctx, project, iid, discussion)
		if err != nil {
			return errors.Join(lastErr, err)
		}
		for _, n := range d.Notes {
			if n.AuthorID == bot && strings.Contains(n.Body, marker) {
				return nil
			}
		}
	}
	return lastErr
}

// AwardEmoji lists the award emoji of a merge-request note, every page.
func (c *Client) AwardEmoji(ctx context.Context, project, iid, note int64) ([]review.Award, error) {
	opts := &gl.ListAwardEmojiOptions{ListOptions: gl.ListOptions{PerPage: 100}}
	as, err := gl.ScanAndCollect(func(p gl.PaginationOptionFunc) ([]*gl.AwardEmoji, *gl.Response, error) {
		return c.gl.AwardEmoji.ListMergeRequestAwardEmojiOnNote(project, iid, note, opts, p, gl.WithContext(ctx))
	})
	if err != nil {
		return nil, apiError(err)
	}
	out := make([]review.Award, len(as))
	for i, a := range as {
		out[i] = review.Award{Name: a.Name, UserID: a.User.ID}
	}
	return out, nil
}

// UserIsBot reports whether a user is a bot (GitLab's user "bot" field).
func (c *Client) UserIsBot(ctx context.Context, user int64) (bool, error) {
	u, _, err := c.gl.Users.GetUser(user, &gl.GetUserOptions{}, gl.WithContext(ctx))
	if err != nil {
		return false, apiError(err)
	}
	return u.Bot, nil
}

// writeAttempts bounds the POSTs of one write whose earlier tries were
// confirmed not to have happened.
const writeAttempts = 3

// CreateNote posts a note; after a failure that may have written it, it
// looks for the marker before trying again.
func (c *Client) CreateNote(ctx context.Context, project, iid int64, body, marker string) (int64, error) {
	var lastErr error
	for attempt := 0; attempt < writeAttempts; attempt++ {
		n, _, err := c.gl.Notes.CreateMergeRequestNote(project, iid, &gl.CreateMergeRequestNoteOptions{Body: &body}, gl.WithContext(ctx))
		if err == nil {
			return n.ID, nil
		}
		lastErr = apiError(err)
		if !mayHaveWritten(lastErr) || ctx.Err() != nil {
			return 0, lastErr
		}
		c.log.Warn("posting a note failed after GitLab may have written it; checking before trying again", "project", project, "mr", iid, "err", lastErr.Error())
		id, found, err := c.findNote(ctx, project, iid, marker)
		if err != nil {
			return 0, errors.Join(lastErr, err)
		}
		if found {
			return id, nil
		}
	}
	return 0, lastErr
}

func (c *Client) findNote(ctx context.Context, project, iid int64, marker string) (int64, bool, error) {
	bot, err := c.BotUserID(ctx)
	if err != nil {
		return 0, false, err
	}
	notes, err := c.Notes(ctx, project, iid)
	if err != nil {
		return 0, false, err
	}
	for _, n := range notes {
		if n.AuthorID == bot && strings.Contains(n.Body, marker) {
			return n.ID, true, nil
		}
	}
	return 0, false, nil
}

// UpdateNote edits a note (PUT: idempotent, retried).
func (c *Client) UpdateNote(ctx context.Context, project, iid, note int64, body string) error {
	_, _, err := c.gl.Notes.UpdateMergeRequestNote(project, iid, note, &gl.UpdateMergeRequestNoteOptions{Body: &body}, gl.WithContext(ctx))
	return apiError(err)
}

// CreateDiscussion opens an inline discussion; like CreateNote, it never
// posts twice. A 400 about the position is review.ErrInvalidPosition.
func (c *Client) CreateDiscussion(ctx context.Context, project, iid int64, body, marker string, pos review.Position) error {
	ptype := "text"
	po := &gl.PositionOptions{
		BaseSHA: &pos.BaseSHA, StartSHA: &pos.StartSHA, HeadSHA: &pos.HeadSHA, PositionType: &ptype,
		OldPath: &pos.OldPath, NewPath: &pos.NewPath,
	}
	if pos.NewLine > 0 {
		n := int64(pos.NewLine)
		po.NewLine = &n
	}
	if pos.OldLine > 0 {
		o := int64(pos.OldLine)
		po.OldLine = &o
	}
	var lastErr error
	for attempt := 0; attempt < writeAttempts; attempt++ {
		_, _, err := c.gl.Discussions.CreateMergeRequestDiscussion(project, iid, &gl.CreateMergeRequestDiscussionOptions{Body: &body, Position: po}, gl.WithContext(ctx))
		if err == nil {
			return nil
		}
		lastErr = apiError(err)
		var se *StatusError
		if errors.As(lastErr, &se) && se.Status == http.StatusBadRequest && (strings.Contains(se.Message, "line_code") || strings.Contains(se.Message, "position")) {
			return fmt.Errorf("%w: %s", review.ErrInvalidPosition, se.Message)
		}
		if !mayHaveWritten(lastErr) || ctx.Err() != nil {
			return lastErr
		}
		c.log.Warn("opening a discussion failed after GitLab may have written it; checking before trying again", "project", project, "mr", iid, "err", lastErr.Error())
		found, err := c.findDiscussion(ctx, project, iid, marker)
		if err != nil {
			return errors.Join(lastErr, err)
		}
		if found {
			return nil
		}
	}
	return lastErr
}

func (c *Client) findDiscussion(ctx context.Context, project, iid int64, marker string) (bool, error) {
	bot, err := c.BotUserID(ctx)
	if err != nil {
		return false, err
	}
	ds, err := c.Discussions(ctx, project, iid)
	if err != nil {
		return false, err
	}
	for _, d := range ds {
		for _, n := range d.Notes {
			if n.AuthorID == bot && strings.Contains(n.Body, marker) {
				return true, nil
			}
		}
	}
	return false, nil
}

// BotUserID reads (once) the id of the token's user.
func (c *Client) BotUserID(ctx context.Context) (int64, error) {
	c.mu.Lock()
	id := c.botID
	c.mu.Unlock()
	if id != 0 {
		return id, nil
	}
	u, _, err := c.gl.Users.CurrentUser(gl.WithContext(ctx))
	if err != nil {
		return 0, fmt.Errorf("reading the bot's user (GET /user): %w", apiError(err))
	}
	c.mu.Lock()
	c.botID = u.ID
	c.mu.Unlock()
	return u.ID, nil
}

// KnownBotUserID is the bot's id if already read, else 0; it never waits.
func (c *Client) KnownBotUserID() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.botID
}

// AccessLevel is the user's access level in the project, inherited ones
// included (0 when not a member).
func (c *Client) AccessLevel(ctx context.Context, project, user int64) (int, error) {
	m, _, err := c.gl.ProjectMembers.GetInheritedProjectMember(project, user, gl.WithContext(ctx))
	if err != nil {
		if err := apiError(err); errors.Is(err, review.ErrNotFound) {
			return 0, nil
		} else {
			return 0, err
		}
	}
	return int(m.AccessLevel), nil
}

// Ping checks that GitLab answers with the token (and learns the bot's id).
func (c *Client) Ping(ctx context.Context) error {
	_, err := c.BotUserID(ctx)
	return err
}

// Project reads a project's path with namespace, as GitLab knows it.
func (c *Client) Project(ctx context.Context, project int64) (string, error) {
	p, _, err := c.gl.Projects.GetProject(project, &gl.GetProjectOptions{}, gl.WithContext(ctx))
	if err != nil {
		return "", apiError(err)
	}
	if p.PathWithNamespace == "" {
		return "", fmt.Errorf("GitLab gave project %d without a path", project)
	}
	return p.PathWithNamespace, nil
}

// Note reads one note of a merge request.
func (c *Client) Note(ctx context.Context, project, iid, note int64) (review.Note, error) {
	n, _, err := c.gl.Notes.GetMergeRequestNote(project, iid, note, gl.WithContext(ctx))
	if err != nil {
		return review.Note{}, apiError(err)
	}
	return toNote(n), nil
}
