package review

import (
	"context"
	"errors"
)

// API is what a review needs of GitLab. *gitlab.Client (webhooks/gitlab)
// implements it over the REST API; the methods that list follow every page.
type API interface {
	MergeRequest(ctx context.Context, project, iid int64) (*MergeRequest, error)
	// LatestVersion returns the newest diff version, nil when GitLab has
	// not computed one yet.
	LatestVersion(ctx context.Context, project, iid int64) (*Version, error)
	// Diffs lists the files changed by the merge request's latest version.
	Diffs(ctx context.Context, project, iid int64) ([]FileDiff, error)
	Commits(ctx context.Context, project, iid int64) ([]Commit, error)
	// Compare lists the files changed between two commits.
	Compare(ctx context.Context, project int64, from, to string) ([]FileDiff, error)
	// RawFile reads a file at a ref; ErrNotFound when it does not exist.
	RawFile(ctx context.Context, project int64, path, ref string) ([]byte, error)
	Notes(ctx context.Context, project, iid int64) ([]Note, error)
	Discussions(ctx context.Context, project, iid int64) ([]Discussion, error)
	// CreateNote posts a note and returns its id. marker is a string the
	// body contains and no other note does: after a failure where the
	// note may have been written, the implementation looks for it instead
	// of posting blindly again.
	CreateNote(ctx context.Context, project, iid int64, body, marker string) (int64, error)
	UpdateNote(ctx context.Context, project, iid, note int64, body string) error
	// CreateDiscussion opens an inline discussion at pos; marker as for
	// CreateNote. A position GitLab refuses gives ErrInvalidPosition.
	CreateDiscussion(ctx context.Context, project, iid int64, body, marker string, pos Position) error
	// BotUserID is the id of the user the token belongs to.
	BotUserID(ctx context.Context) (int64, error)

	// Discussion reads one discussion of the merge request.
	Discussion(ctx context.Context, project, iid int64, id string) (*Discussion, error)
	// AddDiscussionNote replies in an existing discussion; marker as for
	// CreateNote.
	AddDiscussionNote(ctx context.Context, project, iid int64, discussion, body, marker string) error
	// AwardEmoji lists the award emoji of a merge-request note.
	AwardEmoji(ctx context.Context, project, iid, note int64) ([]Award, error)
	// AccessLevel is a user's access level in the project, inherited
	// ones included (0 when not a member).
	AccessLevel(ctx context.Context, project, user int64) (int, error)
	// UserIsBot reports whether a user is a bot (GitLab's user "bot"
	// field: project, group and service-account bots).
	UserIsBot(ctx context.Context, user int64) (bool, error)
}

// DeveloperAccess is GitLab's Developer access level: the least a user
// needs for timon to act on their commands or to learn from their 👎.
const DeveloperAccess = 30

// Award is an award emoji on a note.
type Award struct {
	Name   string // thumbsdown, thumbsup…
	UserID int64
}

// Errors of API implementations.
var (
	ErrNotFound        = errors.New("not found")
	ErrInvalidPosition = errors.New("GitLab refused the position of the comment")
)

// MergeRequest is the part of a merge request a review uses.
type MergeRequest struct {
	ProjectID    int64
	IID          int64
	Title        string
	Description  string
	State        string // opened, closed, merged, locked
	Draft        bool
	SourceBranch string
	TargetBranch string
	AuthorID     int64
	// AuthorUsername is the author's username.
	AuthorUsername string
	// SHA is the head commit of the source branch.
	SHA string
	// DiffRefs is nil while GitLab computes the diff of a push.
	DiffRefs *DiffRefs
	WebURL   string
}

// DiffRefs are the three commits a diff position refers to.
type DiffRefs struct {
	BaseSHA, StartSHA, HeadSHA string
}

// Version is one diff version of a merge request.
type Version struct {
	ID int64
	DiffRefs
	State string
}

// Commit is one commit of a merge request.
type Commit struct {
	ID, Title string
}

// FileDiff is one changed file as GitLab reports it.
type FileDiff struct {
	OldPath, NewPath string
	Diff             string
	NewFile          bool
	RenamedFile      bool
	DeletedFile      bool
	GeneratedFile    bool
	TooLarge         bool
	Collapsed        bool
}

// Note is a merge-request note.
type Note struct {
	ID       int64
	Body     string
	AuthorID int64
	System   bool
	// Resolvable and Resolved are the state of a note in a discussion
	// that can be resolved (diff notes).
	Resolvable, Resolved bool
	// Position is set for a note on a diff line (a DiffNote).
	Position *Position
}

// Discussion is a thread of notes.
type Discussion struct {
	ID    string
	Notes []Note
}

// Resolved reports whether the discussion is resolved: it has resolvable
// notes and all of them are resolved.
func (d *Discussion) Resolved() bool {
	any := false
	for _, n := range d.Notes {
		if n.Resolvable {
			if !n.Resolved {
				return false
			}
			any = true
		}
	}
	return any
}

// Position places an inline comment on a diff (position_type text).
// Added lines have NewLine only, removed lines OldLine only, context lines
// both; both paths are always set.
type Position struct {
	DiffRefs
	OldPath, NewPath string
	OldLine, NewLine int
}
