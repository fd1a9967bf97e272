package gitlabtest

import (
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// HookOptions describes a Merge Request Hook delivery.
type HookOptions struct {
	// Action is open, reopen, update, close, merge, approved…
	Action string
	// OldRev is set on an update that pushed commits.
	OldRev string
	// Ready makes the update a draft → ready change.
	Ready bool
	// LabelsOnly makes the update a label change (nothing else).
	LabelsOnly bool
	// Actor is who caused the event; zero means the merge request's author.
	Actor User
}

// MergeRequestHook builds a Merge Request Hook payload for the merge
// request as it is now, from GitLab's documented payload.
func (s *Server) MergeRequestHook(projectID, iid int64, o HookOptions) []byte {
	var m map[string]any
	if err := json.Unmarshal(Fixture("merge_request_hook.json"), &m); err != nil {
		panic(err)
	}
	s.mu.Lock()
	p := s.mustProject(projectID)
	mr := p.mrs[iid]
	head := p.branches[mr.source]
	actor := o.Actor
	if actor.ID == 0 {
		actor = mr.author
	}
	proj := m["project"].(map[string]any)
	proj["id"], proj["path_with_namespace"] = p.id, p.path
	proj["namespace"] = p.path[:max(0, strings.LastIndex(p.path, "/"))]
	user := m["user"].(map[string]any)
	user["id"], user["username"], user["name"] = actor.ID, actor.Username, actor.Username
	a := m["object_attributes"].(map[string]any)
	a["id"], a["iid"], a["title"], a["description"] = mr.id, mr.iid, mr.title, mr.description
	a["source_branch"], a["target_branch"], a["state"] = mr.source, mr.target, mr.state
	a["draft"], a["work_in_progress"], a["author_id"] = mr.draft, mr.draft, mr.author.ID
	a["source_project_id"], a["target_project_id"] = p.id, p.id
	a["action"] = o.Action
	lc := a["last_commit"].(map[string]any)
	lc["id"], lc["title"], lc["message"] = head, p.commits[head].title, p.commits[head].title
	s.mu.Unlock()
	if o.OldRev != "" {
		a["oldrev"] = o.OldRev
	}
	changes := map[string]any{"updated_at": map[string]any{"previous": "2024-01-01 10:00:00 UTC", "current": "2024-01-01 10:01:00 UTC"}}
	switch {
	case o.Ready:
		changes["draft"] = map[string]any{"previous": true, "current": false}
	case o.LabelsOnly:
		changes["labels"] = m["changes"].(map[string]any)["labels"]
	}
	m["changes"] = changes
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}

// NoteHook builds a Note Hook payload for a note on the merge request,
// from GitLab's documented payload.
func (s *Server) NoteHook(projectID, iid, noteID int64, author User, body string) []byte {
	var m map[string]any
	if err := json.Unmarshal(Fixture("note_hook_merge_request.json"), &m); err != nil {
		panic(err)
	}
	s.mu.Lock()
	p := s.mustProject(projectID)
	mr := p.mrs[iid]
	head := p.branches[mr.source]
	m["project_id"] = p.id
	proj := m["project"].(map[string]any)
	proj["id"], proj["path_with_namespace"] = p.id, p.path
	user := m["user"].(map[string]any)
	user["id"], user["username"], user["name"] = author.ID, author.Username, author.Username
	a := m["object_attributes"].(map[string]any)
	a["id"], a["note"], a["author_id"], a["project_id"], a["noteable_id"] = noteID, body, author.ID, p.id, mr.id
	x := m["merge_request"].(map[string]any)
	x["id"], x["iid"], x["title"], x["state"] = mr.id, mr.iid, mr.title, mr.state
	x["source_branch"], x["target_branch"], x["source_project_id"], x["target_project_id"] = mr.source, mr.target, p.id, p.id
	x["last_commit"].(map[string]any)["id"] = head
	s.mu.Unlock()
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}

// DiffNoteHook builds the Note Hook of a note in a discussion on a diff
// line: GitLab's documented merge-request comment payload, with the
// fields a diff note's hook carries besides (object_attributes.type
// DiffNote, discussion_id, position, original_position, line_code).
func (s *Server) DiffNoteHook(projectID, iid, noteID int64, author User, body string) []byte {
	var m map[string]any
	if err := json.Unmarshal(s.NoteHook(projectID, iid, noteID, author, body), &m); err != nil {
		panic(err)
	}
	s.mu.Lock()
	mr := s.mustProject(projectID).mrs[iid]
	var n *Note
	for _, x := range mr.notes {
		if x.ID == noteID {
			n = x
		}
	}
	if n == nil || n.Position == nil {
		s.mu.Unlock()
		panic(fmt.Sprintf("gitlabtest: note %d is not a diff note", noteID))
	}
	pos := *n.Position
	s.mu.Unlock()
	a := m["object_attributes"].(map[string]any)
	a["type"] = "DiffNote"
	a["discussion_id"] = n.DiscussionID
	a["commit_id"] = pos.HeadSHA
	pm := map[string]any{"base_sha": pos.BaseSHA, "start_sha": pos.StartSHA, "head_sha": pos.HeadSHA,
		"old_path": pos.OldPath, "new_path": pos.NewPath, "position_type": "text",
		"old_line": nullable(pos.OldLine), "new_line": nullable(pos.NewLine), "line_range": nil}
	a["position"], a["original_position"] = pm, pm
	sum := sha1.Sum([]byte(pos.NewPath))
	a["line_code"] = fmt.Sprintf("%s_%d_%d", hex.EncodeToString(sum[:]), pos.OldLine, pos.NewLine)
	out, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return out
}

// Headers builds a delivery's headers as GitLab sends them
// (fixtures/*.headers): event, token, and the delivery's keys.
func Headers(event, token, idempotencyKey, eventUUID string) http.Header {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "GitLab/17.1.0-pre")
	h.Set("X-Gitlab-Event", event)
	h.Set("X-Gitlab-Instance", "https://gitlab.example.com")
	h.Set("X-Gitlab-Webhook-UUID", "3c5c0404-c866-44bc-a5f6-452bb1bfc76e")
	if token != "" {
		h.Set("X-Gitlab-Token", token)
	}
	if idempotencyKey != "" {
		h.Set("Idempotency-Key", idempotencyKey)
	}
	if eventUUID != "" {
		h.Set("X-Gitlab-Event-UUID", eventUUID)
	}
	return h
}
