package gitlab

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"timon.dev/timon/webhooks/review"
)

// Event header values of the deliveries timon acts on.
const (
	EventMergeRequest = "Merge Request Hook"
	EventNote         = "Note Hook"
)

// hook is the part of a Merge Request Hook or Note Hook timon reads. The
// payloads carry much more (and dates in several formats); only these
// fields are decoded, so that an unusual field elsewhere never makes a
// delivery fail.
type hook struct {
	ObjectKind string `json:"object_kind"`
	User       struct {
		ID       int64  `json:"id"`
		Username string `json:"username"`
	} `json:"user"`
	Project struct {
		ID                int64  `json:"id"`
		PathWithNamespace string `json:"path_with_namespace"`
	} `json:"project"`
	ObjectAttributes struct {
		// Merge request hook.
		IID        int64  `json:"iid"`
		Action     string `json:"action"`
		State      string `json:"state"`
		OldRev     string `json:"oldrev"`
		LastCommit struct {
			ID string `json:"id"`
		} `json:"last_commit"`
		// Note hook.
		ID           int64  `json:"id"`
		Note         string `json:"note"`
		NoteableType string `json:"noteable_type"`
		AuthorID     int64  `json:"author_id"`
		System       bool   `json:"system"`
		// Type is DiffNote for a note on a diff line, which belongs to
		// the discussion DiscussionID.
		Type         string `json:"type"`
		DiscussionID string `json:"discussion_id"`
	} `json:"object_attributes"`
	Changes struct {
		Draft *struct {
			Previous bool `json:"previous"`
			Current  bool `json:"current"`
		} `json:"draft"`
	} `json:"changes"`
	MergeRequest *struct {
		IID   int64  `json:"iid"`
		State string `json:"state"`
	} `json:"merge_request"`
}

// Event is a delivery read and classified.
type Event struct {
	ProjectID   int64
	ProjectPath string
	IID         int64
	// Work is the job to queue; nil when the event asks for nothing.
	Work *review.Job
	// Ignored says why an event asks for nothing.
	Ignored string
	// NoteAuthorID is the author of a command note (checked by the worker
	// for access level and against the bot).
	NoteAuthorID int64
	// headCheck marks an update that does not say whether it brought
	// commits: it asks for a review only if its last commit differs from
	// the last reviewed head.
	headCheck bool
}

// errMalformed marks a body that is not a GitLab hook payload.
var errMalformed = errors.New("malformed webhook body")

// peekProject reads only the project of a payload, to pick the secret
// that authenticates it.
func peekProject(body []byte) (id int64, path string, err error) {
	var p struct {
		ProjectID int64 `json:"project_id"`
		Project   struct {
			ID                int64  `json:"id"`
			PathWithNamespace string `json:"path_with_namespace"`
		} `json:"project"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return 0, "", fmt.Errorf("%w: %v", errMalformed, err)
	}
	id = p.Project.ID
	if id == 0 {
		id = p.ProjectID
	}
	return id, p.Project.PathWithNamespace, nil
}

// parseEvent reads a delivery of the given X-Gitlab-Event and decides what
// it asks for.
func parseEvent(kind string, body []byte) (*Event, error) {
	var h hook
	if err := json.Unmarshal(body, &h); err != nil {
		return nil, fmt.Errorf("%w: %v", errMalformed, err)
	}
	ev := &Event{ProjectID: h.Project.ID, ProjectPath: h.Project.PathWithNamespace}
	switch kind {
	case EventMergeRequest:
		if h.ObjectKind != "merge_request" || h.ObjectAttributes.IID <= 0 || ev.ProjectID <= 0 {
			return nil, fmt.Errorf("%w: a Merge Request Hook needs object_kind merge_request, a project and an iid", errMalformed)
		}
		ev.IID = h.ObjectAttributes.IID
		trigger, why := mrTrigger(&h)
		if trigger == "" && why == whyNoCommits {
			trigger, ev.headCheck = "push", true
		}
		if trigger == "" {
			ev.Ignored = why
			return ev, nil
		}
		if h.ObjectAttributes.LastCommit.ID == "" && ev.headCheck {
			ev.Ignored = whyNoCommits
			return ev, nil
		}
		if h.ObjectAttributes.LastCommit.ID == "" {
			return nil, fmt.Errorf("%w: a Merge Request Hook needs object_attributes.last_commit.id", errMalformed)
		}
		ev.Work = &review.Job{ProjectID: ev.ProjectID, ProjectPath: ev.ProjectPath, IID: ev.IID, HeadSHA: h.ObjectAttributes.LastCommit.ID,
			Kind: review.KindReview, Trigger: trigger, Actor: h.User.Username}
		return ev, nil
	case EventNote:
		if h.ObjectKind != "note" || ev.ProjectID <= 0 {
			return nil, fmt.Errorf("%w: a Note Hook needs object_kind note and a project", errMalformed)
		}
		a := &h.ObjectAttributes
		if a.NoteableType != "MergeRequest" || h.MergeRequest == nil {
			ev.Ignored = "not a merge request note"
			return ev, nil
		}
		ev.IID = h.MergeRequest.IID
		if ev.IID <= 0 || a.ID <= 0 {
			return nil, fmt.Errorf("%w: a merge request Note Hook needs merge_request.iid and object_attributes.id", errMalformed)
		}
		if a.System {
			ev.Ignored = "system note"
			return ev, nil
		}
		if h.MergeRequest.State != "" && h.MergeRequest.State != "opened" {
			ev.Ignored = "merge request is " + h.MergeRequest.State
			return ev, nil
		}
		cmd, arg, ok := parseCommand(a.Note)
		if !ok {
			ev.Ignored = "no /timon command"
			return ev, nil
		}
		if cmd == "" {
			ev.Ignored = "unknown /timon command"
			return ev, nil
		}
		author := a.AuthorID
		if author == 0 {
			author = h.User.ID
		}
		ev.NoteAuthorID = author
		ev.Work = &review.Job{ProjectID: ev.ProjectID, ProjectPath: ev.ProjectPath, IID: ev.IID, Kind: cmd,
			Trigger: review.TriggerCommand, Question: arg, NoteID: a.ID, Actor: h.User.Username}
		if cmd == review.KindAsk {
			// Asked in a discussion on a diff line: answered there, with
			// its hunk. Elsewhere it is explain's question.
			if a.Type == "DiffNote" && a.DiscussionID != "" {
				ev.Work.DiscussionID = a.DiscussionID
			} else {
				ev.Work.Kind = review.KindExplain
			}
		}
		return ev, nil
	case "":
		return nil, fmt.Errorf("%w: the X-Gitlab-Event header is missing", errMalformed)
	}
	ev.Ignored = "event " + kind + " is not used"
	return ev, nil
}

const whyNoCommits = "update without new commits"

// mrTrigger decides whether a merge request event asks for a review:
// opened, reopened, marked ready, or updated with new commits. Label,
// title, description, assignee and other edits do not.
func mrTrigger(h *hook) (trigger, ignored string) {
	a := &h.ObjectAttributes
	if a.State != "" && a.State != "opened" {
		return "", "merge request is " + a.State
	}
	switch a.Action {
	case "open":
		return "open", ""
	case "reopen":
		return "reopen", ""
	case "update":
		if d := h.Changes.Draft; d != nil && d.Previous && !d.Current {
			return "ready", ""
		}
		if a.OldRev != "" {
			return "push", ""
		}
		return "", whyNoCommits
	}
	return "", "action " + a.Action + " does not ask for a review"
}

// parseCommand finds a /timon command on a line of its own in a note; cmd
// is "" for an unknown one, ok false when there is none. Commands in
// quotes (> …) or code blocks do not count.
func parseCommand(note string) (cmd, arg string, ok bool) {
	inFence := false
	for _, line := range strings.Split(note, "\n") {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "```") || strings.HasPrefix(t, "~~~") {
			inFence = !inFence
			continue
		}
		if inFence || !strings.HasPrefix(t, "/timon") {
			continue
		}
		rest := strings.TrimPrefix(t, "/timon")
		if rest != "" && rest[0] != ' ' && rest[0] != '\t' {
			continue // /timonfoo
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			return "", "", true
		}
		switch strings.ToLower(fields[0]) {
		case "review":
			return review.KindReview, "", true
		case "describe":
			return review.KindDescribe, "", true
		case "explain":
			q := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(rest), fields[0]))
			return review.KindExplain, q, true
		case "improve":
			return review.KindImprove, "", true
		case "ask":
			q := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(rest), fields[0]))
			return review.KindAsk, q, true
		}
		return "", "", true
	}
	return "", "", false
}
