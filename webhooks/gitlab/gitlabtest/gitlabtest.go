// Package gitlabtest is a fake GitLab for tests: a real HTTP server
// (httptest) speaking the REST API v4 that timon uses, over in-memory
// repositories, merge requests, diff versions, paginated diffs, notes and
// discussions. Diffs are computed from the files of each commit, and inline
// comments are validated the way GitLab does: a position whose SHAs, paths
// or lines do not match a diff line is refused with GitLab's own 400
// ("line_code can't be blank"). Responses start from GitLab's documented
// payloads (fixtures/, copied from the shared fixtures).
//
// Reviews that learn and the commands that work in discussions are served
// on the same wire: award emoji on notes, discussions people resolve
// (their diff notes answer "resolved": true), replies added to a
// discussion, users with GitLab's "bot" field, and the suggestion blocks of
// diff notes read and checked against the position's version as GitLab
// does (InvalidSuggestions).
//
// Faults, for the failure paths: a 5xx after a POST was written, 429 with
// Retry-After, diff_refs null for the first reads after a push, and a hook
// run before each request (to move a merge request's head mid-review).
package gitlabtest

import (
	"crypto/sha1"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

//go:embed fixtures
var fixtures embed.FS

func fixture(name string) map[string]any {
	b, err := fixtures.ReadFile("fixtures/" + name)
	if err != nil {
		panic(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		var list []map[string]any
		if err2 := json.Unmarshal(b, &list); err2 != nil || len(list) == 0 {
			panic(fmt.Sprintf("gitlabtest: fixture %s: %v", name, err))
		}
		m = list[0]
	}
	return m
}

// Fixture returns a shared fixture's bytes (webhook payloads, API answers).
func Fixture(name string) []byte {
	b, err := fixtures.ReadFile("fixtures/" + name)
	if err != nil {
		panic(err)
	}
	return b
}

// InvalidPositionBody is GitLab's answer to an inline comment whose
// position matches no diff line.
var InvalidPositionBody = string(Fixture("api_error_invalid_diff_position.observed.json"))

// Access levels.
const (
	Guest      = 10
	Reporter   = 20
	Developer  = 30
	Maintainer = 40
	Owner      = 50
)

// User is a GitLab user.
type User struct {
	ID       int64
	Username string
	// Bot marks a bot user (project, group or service-account bot), as
	// GitLab's user "bot" field does.
	Bot bool
}

// Note is a note as stored.
type Note struct {
	ID           int64
	Body         string
	Author       User
	System       bool
	DiscussionID string
	// Position is set for inline (diff) notes.
	Position *Position
	// Resolved is set on the notes of a resolved discussion.
	Resolved bool
	// Awards are the note's award emoji.
	Awards []Award
	// Suggestions are the suggestion blocks of the note, checked against
	// the position's version as GitLab does.
	Suggestions []Suggestion
	Created     time.Time
	Updated     time.Time
}

// Award is an award emoji on a note.
type Award struct {
	ID   int64
	Name string // thumbsdown, thumbsup…
	User User
}

// Suggestion is a suggestion block of a diff note: the lines of the new
// version it replaces (FromLine to ToLine), what they hold (FromContent),
// what replaces them (ToContent), and whether GitLab could apply it.
type Suggestion struct {
	ID                     int64
	FromLine, ToLine       int
	FromContent, ToContent string
	Appliable              bool
}

// Position is an inline note's position.
type Position struct {
	BaseSHA, StartSHA, HeadSHA string
	OldPath, NewPath           string
	OldLine, NewLine           int
}

// Discussion is a thread.
type Discussion struct {
	ID    string
	Notes []*Note
}

// Request is a request the server received.
type Request struct {
	Method, Path string
	Status       int
}

type commit struct {
	sha, parent, title string
	files              map[string]string
}

type version struct {
	id                int64
	base, start, head string
	created           time.Time
	diffs             []fileDiff
	commitsAtHead     []string
}

type mergeRequest struct {
	iid                 int64
	id                  int64
	title, description  string
	state               string
	draft               bool
	source, target      string
	author              User
	versions            []*version
	notes               []*Note
	discussions         []*Discussion
	nullDiffRefs        int
	generated, tooLarge map[string]bool
}

type project struct {
	id            int64
	path          string
	defaultBranch string
	commits       map[string]*commit
	branches      map[string]string
	members       map[int64]int
	mrs           map[int64]*mergeRequest
}

// Server is a running fake GitLab.
type Server struct {
	ts    *httptest.Server
	token string
	bot   User

	mu          sync.Mutex
	users       map[int64]User
	projects    map[int64]*project
	seq         int64
	requests    []Request
	rateLimited int
	retryAfter  time.Duration
	failWrites  int
	invalid     int
	badSuggest  int
	onRequest   func(method, path string)
	perPage     int
}

// New starts a fake GitLab whose API accepts token (PRIVATE-TOKEN) and
// whose token belongs to the bot user bot.
func New(token string, bot User) *Server {
	s := &Server{token: token, bot: bot, users: map[int64]User{bot.ID: bot}, projects: map[int64]*project{}, seq: 1000, perPage: 20}
	s.ts = httptest.NewServer(s.routes())
	return s
}

// URL is the instance's base URL (without /api/v4).
func (s *Server) URL() string { return s.ts.URL }

// Close stops the server.
func (s *Server) Close() { s.ts.Close() }

// Bot is the token's user.
func (s *Server) Bot() User { return s.bot }

func (s *Server) next() int64 {
	s.seq++
	return s.seq
}

// AddUser registers a user.
func (s *Server) AddUser(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[u.ID] = u
}

// AddProject creates a project with an initial commit on its default
// branch (main) holding files.
func (s *Server) AddProject(id int64, path string, files map[string]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := &project{id: id, path: path, defaultBranch: "main", commits: map[string]*commit{}, branches: map[string]string{},
		members: map[int64]int{s.bot.ID: Developer}, mrs: map[int64]*mergeRequest{}}
	c := &commit{title: "Initial commit", files: maps.Clone(files)}
	c.sha = sha(c, "")
	p.commits[c.sha] = c
	p.branches["main"] = c.sha
	s.projects[id] = p
}

func sha(c *commit, salt string) string {
	h := sha1.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00", c.parent, c.title, salt)
	keys := slices.Sorted(maps.Keys(c.files))
	for _, k := range keys {
		fmt.Fprintf(h, "%s\x00%s\x00", k, c.files[k])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// SetMember gives a user an access level in a project (0 removes them).
func (s *Server) SetMember(projectID, userID int64, level int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.mustProject(projectID)
	if level == 0 {
		delete(p.members, userID)
		return
	}
	p.members[userID] = level
}

func (s *Server) mustProject(id int64) *project {
	p := s.projects[id]
	if p == nil {
		panic(fmt.Sprintf("gitlabtest: no project %d", id))
	}
	return p
}

// Commit adds a commit on branch (created from the default branch if
// new): files are merged into the parent's (a nil-valued… empty string
// value deletes the file). It returns the commit's SHA.
func (s *Server) Commit(projectID int64, branch, title string, files map[string]string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.commitLocked(s.mustProject(projectID), branch, title, files, "")
}

func (s *Server) commitLocked(p *project, branch, title string, files map[string]string, parent string) string {
	if parent == "" {
		parent = p.branches[branch]
		if parent == "" {
			parent = p.branches[p.defaultBranch]
		}
	}
	c := &commit{parent: parent, title: title, files: maps.Clone(p.commits[parent].files)}
	if c.files == nil {
		c.files = map[string]string{}
	}
	for k, v := range files {
		if v == "" {
			delete(c.files, k)
		} else {
			c.files[k] = v
		}
	}
	c.sha = sha(c, strconv.FormatInt(s.next(), 10))
	p.commits[c.sha] = c
	p.branches[branch] = c.sha
	return c.sha
}

// MROptions describes a new merge request.
type MROptions struct {
	Source, Target     string // Target zero means the default branch
	Title, Description string
	Draft              bool
	Author             User
	// Generated and TooLarge mark paths GitLab would flag so.
	Generated, TooLarge []string
}

// OpenMR opens a merge request from o.Source (which must have commits) and
// computes its first diff version. It returns the iid.
func (s *Server) OpenMR(projectID int64, o MROptions) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.mustProject(projectID)
	if o.Target == "" {
		o.Target = p.defaultBranch
	}
	iid := int64(len(p.mrs) + 1)
	mr := &mergeRequest{iid: iid, id: s.next(), title: o.Title, description: o.Description, state: "opened", draft: o.Draft,
		source: o.Source, target: o.Target, author: o.Author, generated: map[string]bool{}, tooLarge: map[string]bool{}}
	for _, g := range o.Generated {
		mr.generated[g] = true
	}
	for _, g := range o.TooLarge {
		mr.tooLarge[g] = true
	}
	p.mrs[iid] = mr
	s.newVersionLocked(p, mr)
	return iid
}

// newVersionLocked computes a diff version for the source branch's head.
func (s *Server) newVersionLocked(p *project, mr *mergeRequest) {
	head := p.branches[mr.source]
	base := s.mergeBase(p, p.branches[mr.target], head)
	v := &version{id: s.next(), base: base, start: p.branches[mr.target], head: head, created: time.Now().UTC()}
	v.diffs = treeDiff(p.commits[base].files, p.commits[head].files)
	for c := head; c != "" && c != base; c = p.commits[c].parent {
		v.commitsAtHead = append(v.commitsAtHead, c)
	}
	mr.versions = append(mr.versions, v)
}

// mergeBase is the newest ancestor of b that is also an ancestor of a.
func (s *Server) mergeBase(p *project, a, b string) string {
	anc := map[string]bool{}
	for c := a; c != ""; c = p.commits[c].parent {
		anc[c] = true
	}
	for c := b; c != ""; c = p.commits[c].parent {
		if anc[c] {
			return c
		}
	}
	return a
}

// Push adds a commit to the merge request's source branch and a new diff
// version; it returns the new head.
func (s *Server) Push(projectID, iid int64, title string, files map[string]string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.mustProject(projectID)
	mr := p.mrs[iid]
	head := s.commitLocked(p, mr.source, title, files, "")
	s.newVersionLocked(p, mr)
	return head
}

// ForcePush replaces the source branch by one new commit on the target
// branch's head (history rewritten); it returns the new head.
func (s *Server) ForcePush(projectID, iid int64, title string, files map[string]string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.mustProject(projectID)
	mr := p.mrs[iid]
	head := s.commitLocked(p, mr.source, title, files, p.branches[mr.target])
	s.newVersionLocked(p, mr)
	return head
}

// Head is the merge request's current head SHA.
func (s *Server) Head(projectID, iid int64) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.mustProject(projectID)
	return p.branches[p.mrs[iid].source]
}

// SetState sets a merge request's state (opened, closed, merged) and
// draft flag.
func (s *Server) SetState(projectID, iid int64, state string, draft bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	mr := s.mustProject(projectID).mrs[iid]
	mr.state, mr.draft = state, draft
}

// NullDiffRefs makes the next n reads of the merge request answer
// diff_refs null (and hide its newest version), as GitLab does for a few
// seconds after a push.
func (s *Server) NullDiffRefs(projectID, iid int64, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mustProject(projectID).mrs[iid].nullDiffRefs = n
}

// RateLimit makes the next n requests answer 429 with Retry-After.
func (s *Server) RateLimit(n int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rateLimited, s.retryAfter = n, retryAfter
}

// FailAfterWrite makes the next n POSTs of notes or discussions write
// what they were asked, then answer 502.
func (s *Server) FailAfterWrite(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failWrites = n
}

// OnRequest runs f (outside the server's lock) before each API request
// is handled; nil removes it.
func (s *Server) OnRequest(f func(method, path string)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onRequest = f
}

// SetPerPage sets the default page size of lists (GitLab's is 20).
func (s *Server) SetPerPage(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.perPage = n
}

// AddNote writes a note as user u (a person commenting), returning its
// id; the caller sends the matching Note Hook.
func (s *Server) AddNote(projectID, iid int64, u User, body string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	mr := s.mustProject(projectID).mrs[iid]
	n := &Note{ID: s.next(), Body: body, Author: u, Created: time.Now().UTC(), Updated: time.Now().UTC()}
	d := &Discussion{ID: discussionID(n.ID), Notes: []*Note{n}}
	n.DiscussionID = d.ID
	mr.notes = append(mr.notes, n)
	mr.discussions = append(mr.discussions, d)
	return n.ID
}

// AddDiffNote opens a discussion on a diff line as user u (a person
// commenting on the merge request's latest version), returning the note
// and discussion ids; the caller sends the matching Note Hook
// (DiffNoteHook).
func (s *Server) AddDiffNote(projectID, iid int64, u User, body string, pos Position) (int64, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	mr := s.mustProject(projectID).mrs[iid]
	v := mr.versions[len(mr.versions)-1]
	if pos.HeadSHA == "" {
		pos.BaseSHA, pos.StartSHA, pos.HeadSHA = v.base, v.start, v.head
	}
	now := time.Now().UTC()
	n := &Note{ID: s.next(), Body: body, Author: u, Created: now, Updated: now, Position: &pos}
	d := &Discussion{ID: discussionID(n.ID), Notes: []*Note{n}}
	n.DiscussionID = d.ID
	mr.notes = append(mr.notes, n)
	mr.discussions = append(mr.discussions, d)
	return n.ID, d.ID
}

// Reply adds a note by u to a discussion, returning its id.
func (s *Server) Reply(projectID, iid int64, discussion string, u User, body string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	mr := s.mustProject(projectID).mrs[iid]
	d := findDiscussion(mr, discussion)
	if d == nil {
		panic("gitlabtest: no discussion " + discussion)
	}
	return s.replyLocked(mr, d, u, body).ID
}

func (s *Server) replyLocked(mr *mergeRequest, d *Discussion, u User, body string) *Note {
	now := time.Now().UTC()
	n := &Note{ID: s.next(), Body: body, Author: u, Created: now, Updated: now, DiscussionID: d.ID, Position: d.Notes[0].Position,
		Resolved: d.Notes[0].Resolved}
	d.Notes = append(d.Notes, n)
	mr.notes = append(mr.notes, n)
	return n
}

func findDiscussion(mr *mergeRequest, id string) *Discussion {
	for _, d := range mr.discussions {
		if d.ID == id {
			return d
		}
	}
	return nil
}

// Resolve resolves (or unresolves) the discussion holding note, as a
// person clicking "Resolve thread".
func (s *Server) Resolve(projectID, iid, note int64, resolved bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	mr := s.mustProject(projectID).mrs[iid]
	for _, d := range mr.discussions {
		for _, n := range d.Notes {
			if n.ID == note {
				for _, x := range d.Notes {
					x.Resolved = resolved && x.Position != nil
				}
				return
			}
		}
	}
	panic(fmt.Sprintf("gitlabtest: no note %d", note))
}

// AwardEmoji gives note an award emoji (name: thumbsdown, thumbsup…) from
// user u.
func (s *Server) AwardEmoji(projectID, iid, note int64, u User, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	mr := s.mustProject(projectID).mrs[iid]
	for _, n := range mr.notes {
		if n.ID == note {
			n.Awards = append(n.Awards, Award{ID: s.next(), Name: name, User: u})
			return
		}
	}
	panic(fmt.Sprintf("gitlabtest: no note %d", note))
}

// InvalidSuggestions counts the suggestion blocks GitLab could not apply:
// on a removed line, or reaching beyond the new version of the file.
func (s *Server) InvalidSuggestions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.badSuggest
}

func discussionID(n int64) string {
	h := sha1.Sum([]byte("discussion:" + strconv.FormatInt(n, 10)))
	return hex.EncodeToString(h[:])
}

// Notes returns copies of the merge request's notes (diff notes included),
// oldest first.
func (s *Server) Notes(projectID, iid int64) []Note {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Note
	for _, n := range s.mustProject(projectID).mrs[iid].notes {
		out = append(out, *n)
	}
	return out
}

// Discussions returns copies of the merge request's discussions.
func (s *Server) Discussions(projectID, iid int64) []Discussion {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Discussion
	for _, d := range s.mustProject(projectID).mrs[iid].discussions {
		c := Discussion{ID: d.ID}
		for _, n := range d.Notes {
			cp := *n
			c.Notes = append(c.Notes, &cp)
		}
		out = append(out, c)
	}
	return out
}

// InlineNotes returns the notes that have a position.
func (s *Server) InlineNotes(projectID, iid int64) []Note {
	var out []Note
	for _, n := range s.Notes(projectID, iid) {
		if n.Position != nil {
			out = append(out, n)
		}
	}
	return out
}

// InvalidPositions counts the inline comments refused for their position.
func (s *Server) InvalidPositions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.invalid
}

// Requests returns the requests received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// Count counts the requests with the method whose path ends with suffix.
func (s *Server) Count(method, suffix string) int {
	n := 0
	for _, r := range s.Requests() {
		if r.Method == method && strings.HasSuffix(r.Path, suffix) {
			n++
		}
	}
	return n
}

// ---- HTTP ----

type ctx struct {
	w  http.ResponseWriter
	r  *http.Request
	st int
}

func (c *ctx) json(status int, v any) {
	c.st = status
	c.w.Header().Set("Content-Type", "application/json")
	c.w.WriteHeader(status)
	json.NewEncoder(c.w).Encode(v)
}

func (c *ctx) message(status int, msg string) { c.json(status, map[string]any{"message": msg}) }

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	h := func(pattern string, f func(c *ctx)) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			c := &ctx{w: w, r: r}
			s.serve(c, f)
		})
	}
	const mr = "/api/v4/projects/{id}/merge_requests/{iid}"
	h("GET /api/v4/user", s.getUser)
	h("GET /api/v4/projects/{id}", s.getProject)
	h("GET "+mr+"/notes/{note}", s.getNote)
	h("GET "+mr, s.getMR)
	h("GET "+mr+"/versions", s.listVersions)
	h("GET "+mr+"/versions/{vid}", s.getVersion)
	h("GET "+mr+"/diffs", s.listDiffs)
	h("GET "+mr+"/commits", s.listCommits)
	h("GET "+mr+"/notes", s.listNotes)
	h("POST "+mr+"/notes", s.createNote)
	h("PUT "+mr+"/notes/{note}", s.updateNote)
	h("GET "+mr+"/discussions", s.listDiscussions)
	h("POST "+mr+"/discussions", s.createDiscussion)
	h("GET "+mr+"/discussions/{discussion}", s.getDiscussion)
	h("POST "+mr+"/discussions/{discussion}/notes", s.addDiscussionNote)
	h("GET "+mr+"/notes/{note}/award_emoji", s.listAwards)
	h("GET /api/v4/users/{user}", s.getUserByID)
	h("GET /api/v4/projects/{id}/members/all/{user}", s.getMember)
	h("GET /api/v4/projects/{id}/repository/files/{path}/raw", s.rawFile)
	h("GET /api/v4/projects/{id}/repository/compare", s.compare)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		c := &ctx{w: w, r: r}
		s.serve(c, func(c *ctx) { c.message(http.StatusNotFound, "404 Not Found") })
	})
	return mux
}

// serve authenticates, applies faults and records the request.
func (s *Server) serve(c *ctx, f func(c *ctx)) {
	s.mu.Lock()
	hook := s.onRequest
	s.mu.Unlock()
	if hook != nil {
		hook(c.r.Method, c.r.URL.Path)
	}
	defer func() {
		s.mu.Lock()
		s.requests = append(s.requests, Request{Method: c.r.Method, Path: c.r.URL.Path, Status: c.st})
		s.mu.Unlock()
	}()
	if c.r.Header.Get("PRIVATE-TOKEN") != s.token && c.r.Header.Get("Authorization") != "Bearer "+s.token {
		c.message(http.StatusUnauthorized, "401 Unauthorized")
		return
	}
	s.mu.Lock()
	if s.rateLimited > 0 {
		s.rateLimited--
		ra := s.retryAfter
		s.mu.Unlock()
		c.w.Header().Set("Retry-After", strconv.Itoa(int((ra+time.Second-1)/time.Second)))
		c.message(http.StatusTooManyRequests, "429 Too Many Requests")
		return
	}
	s.mu.Unlock()
	f(c)
}

// lookup finds the project (by id or URL-encoded path) and merge request.
func (s *Server) lookup(c *ctx) (*project, *mergeRequest, bool) {
	p := s.projectOf(c.r.PathValue("id"))
	if p == nil {
		c.message(http.StatusNotFound, "404 Project Not Found")
		return nil, nil, false
	}
	if c.r.PathValue("iid") == "" {
		return p, nil, true
	}
	iid, _ := strconv.ParseInt(c.r.PathValue("iid"), 10, 64)
	mr := p.mrs[iid]
	if mr == nil {
		c.message(http.StatusNotFound, "404 Not found")
		return nil, nil, false
	}
	return p, mr, true
}

func (s *Server) projectOf(id string) *project {
	if n, err := strconv.ParseInt(id, 10, 64); err == nil {
		return s.projects[n]
	}
	for _, p := range s.projects {
		if p.path == id {
			return p
		}
	}
	return nil
}

func (s *Server) userJSON(u User) map[string]any {
	return map[string]any{"id": u.ID, "username": u.Username, "name": u.Username, "state": "active",
		"avatar_url": "", "web_url": s.ts.URL + "/" + u.Username}
}

func (s *Server) getUser(c *ctx) {
	u := fixture("api_get_current_user.json")
	u["id"], u["username"], u["name"], u["bot"] = s.bot.ID, s.bot.Username, s.bot.Username, true
	c.json(http.StatusOK, u)
}

func (s *Server) getMR(c *ctx) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, mr, ok := s.lookup(c)
	if !ok {
		return
	}
	m := fixture("api_get_merge_request.json")
	head := p.branches[mr.source]
	m["id"], m["iid"], m["project_id"] = mr.id, mr.iid, p.id
	m["title"], m["description"], m["state"] = mr.title, mr.description, mr.state
	m["draft"], m["work_in_progress"] = mr.draft, mr.draft
	m["source_branch"], m["target_branch"] = mr.source, mr.target
	m["source_project_id"], m["target_project_id"] = p.id, p.id
	m["sha"] = head
	m["author"] = s.userJSON(mr.author)
	m["web_url"] = fmt.Sprintf("%s/%s/-/merge_requests/%d", s.ts.URL, p.path, mr.iid)
	m["reference"] = fmt.Sprintf("!%d", mr.iid)
	m["user_notes_count"] = len(mr.notes)
	v := mr.versions[len(mr.versions)-1]
	if mr.nullDiffRefs > 0 {
		mr.nullDiffRefs--
		m["diff_refs"] = nil
	} else {
		m["diff_refs"] = map[string]any{"base_sha": v.base, "head_sha": v.head, "start_sha": v.start}
	}
	c.json(http.StatusOK, m)
}

// visibleVersions are the versions a client may see (newest first): the
// newest is hidden while diff_refs are null.
func visibleVersions(mr *mergeRequest) []*version {
	vs := slices.Clone(mr.versions)
	if mr.nullDiffRefs > 0 && len(vs) > 1 {
		vs = vs[:len(vs)-1]
	}
	slices.Reverse(vs)
	return vs
}

func versionJSON(mr *mergeRequest, v *version) map[string]any {
	m := fixture("api_list_merge_request_versions.json")
	m["id"], m["head_commit_sha"], m["base_commit_sha"], m["start_commit_sha"] = v.id, v.head, v.base, v.start
	m["created_at"], m["merge_request_id"], m["state"], m["real_size"] = v.created.Format(time.RFC3339Nano), mr.id, "collected", strconv.Itoa(len(v.diffs))
	return m
}

func (s *Server) listVersions(c *ctx) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, mr, ok := s.lookup(c)
	if !ok {
		return
	}
	var out []any
	for _, v := range visibleVersions(mr) {
		out = append(out, versionJSON(mr, v))
	}
	paginate(c, out, s.perPage)
}

func (s *Server) getVersion(c *ctx) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, mr, ok := s.lookup(c)
	if !ok {
		return
	}
	vid, _ := strconv.ParseInt(c.r.PathValue("vid"), 10, 64)
	for _, v := range mr.versions {
		if v.id == vid {
			m := versionJSON(mr, v)
			var commits []any
			for _, sha := range v.commitsAtHead {
				commits = append(commits, commitJSON(p.commits[sha]))
			}
			m["commits"] = commits
			m["diffs"] = s.diffsJSON(mr, v.diffs)
			c.json(http.StatusOK, m)
			return
		}
	}
	c.message(http.StatusNotFound, "404 Not found")
}

func commitJSON(cm *commit) map[string]any {
	return map[string]any{"id": cm.sha, "short_id": cm.sha[:8], "title": cm.title, "message": cm.title,
		"author_name": "Dev", "author_email": "dev@example.org", "parent_ids": []string{cm.parent}}
}

func (s *Server) diffsJSON(mr *mergeRequest, diffs []fileDiff) []any {
	var out []any
	for _, d := range diffs {
		diff := d.Diff
		tooLarge := mr != nil && mr.tooLarge[d.NewPath]
		if tooLarge {
			diff = ""
		}
		out = append(out, map[string]any{
			"old_path": d.OldPath, "new_path": d.NewPath, "a_mode": "100644", "b_mode": "100644", "diff": diff,
			"collapsed": false, "too_large": tooLarge, "new_file": d.NewFile, "renamed_file": d.Renamed, "deleted_file": d.DeletedFile,
			"generated_file": mr != nil && mr.generated[d.NewPath],
		})
	}
	return out
}

func (s *Server) listDiffs(c *ctx) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, mr, ok := s.lookup(c)
	if !ok {
		return
	}
	v := visibleVersions(mr)[0]
	paginate(c, s.diffsJSON(mr, v.diffs), s.perPage)
}

func (s *Server) listCommits(c *ctx) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, mr, ok := s.lookup(c)
	if !ok {
		return
	}
	v := visibleVersions(mr)[0]
	var out []any
	for _, sha := range v.commitsAtHead {
		out = append(out, commitJSON(p.commits[sha]))
	}
	paginate(c, out, s.perPage)
}

func (s *Server) compare(c *ctx) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, _, ok := s.lookup(c)
	if !ok {
		return
	}
	from, to := p.commits[c.r.URL.Query().Get("from")], p.commits[c.r.URL.Query().Get("to")]
	if from == nil || to == nil {
		c.message(http.StatusNotFound, "404 Ref Not Found")
		return
	}
	var commits []any
	for x := to.sha; x != "" && x != from.sha; x = p.commits[x].parent {
		commits = append(commits, commitJSON(p.commits[x]))
	}
	c.json(http.StatusOK, map[string]any{"commit": commitJSON(to), "commits": commits, "diffs": s.diffsJSON(nil, treeDiff(from.files, to.files)),
		"compare_timeout": false, "compare_same_ref": from.sha == to.sha})
}

func (s *Server) rawFile(c *ctx) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, _, ok := s.lookup(c)
	if !ok {
		return
	}
	ref := c.r.URL.Query().Get("ref")
	if ref == "" {
		ref = p.defaultBranch
	}
	sha := p.branches[ref]
	if sha == "" && p.commits[ref] != nil {
		sha = ref
	}
	cm := p.commits[sha]
	content, found := "", false
	if cm != nil {
		content, found = cm.files[c.r.PathValue("path")]
	}
	if !found {
		c.message(http.StatusNotFound, "404 File Not Found")
		return
	}
	c.st = http.StatusOK
	c.w.Header().Set("Content-Type", "text/plain")
	io.WriteString(c.w, content)
}

func (s *Server) getMember(c *ctx) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, _, ok := s.lookup(c)
	if !ok {
		return
	}
	uid, _ := strconv.ParseInt(c.r.PathValue("user"), 10, 64)
	level, member := p.members[uid]
	if !member {
		c.message(http.StatusNotFound, "404 Not found")
		return
	}
	m := s.userJSON(s.users[uid])
	m["id"], m["access_level"] = uid, level
	c.json(http.StatusOK, m)
}

func (s *Server) noteJSON(p *project, mr *mergeRequest, n *Note) map[string]any {
	m := fixture("api_merge_request_note.json")
	m["id"], m["body"], m["author"], m["system"] = n.ID, n.Body, s.userJSON(n.Author), n.System
	m["noteable_id"], m["noteable_iid"], m["project_id"] = mr.id, mr.iid, p.id
	m["created_at"], m["updated_at"] = n.Created.Format(time.RFC3339Nano), n.Updated.Format(time.RFC3339Nano)
	if n.Position != nil {
		m["type"] = "DiffNote"
		m["resolvable"] = true
		m["resolved"] = n.Resolved
		m["resolved_by"] = nil
		if n.Resolved {
			m["resolved_by"] = s.userJSON(mr.author)
		}
		var sugg []any
		for _, x := range n.Suggestions {
			sugg = append(sugg, map[string]any{"id": x.ID, "from_line": x.FromLine, "to_line": x.ToLine, "appliable": x.Appliable,
				"applied": false, "from_content": x.FromContent, "to_content": x.ToContent})
		}
		m["suggestions"] = sugg
		m["position"] = map[string]any{"base_sha": n.Position.BaseSHA, "start_sha": n.Position.StartSHA, "head_sha": n.Position.HeadSHA,
			"old_path": n.Position.OldPath, "new_path": n.Position.NewPath, "position_type": "text",
			"old_line": nullable(n.Position.OldLine), "new_line": nullable(n.Position.NewLine)}
	} else {
		m["type"] = nil
	}
	return m
}

func nullable(n int) any {
	if n == 0 {
		return nil
	}
	return n
}

func (s *Server) getProject(c *ctx) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, _, ok := s.lookup(c)
	if !ok {
		return
	}
	name := p.path[strings.LastIndex(p.path, "/")+1:]
	ns := p.path[:max(0, strings.LastIndex(p.path, "/"))]
	c.json(http.StatusOK, map[string]any{"id": p.id, "name": name, "path": name, "path_with_namespace": p.path,
		"name_with_namespace": strings.ReplaceAll(p.path, "/", " / "), "default_branch": p.defaultBranch,
		"web_url": s.ts.URL + "/" + p.path, "visibility": "private",
		"namespace": map[string]any{"id": 1, "name": ns, "path": ns, "full_path": ns, "kind": "group"}})
}

func (s *Server) getNote(c *ctx) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, mr, ok := s.lookup(c)
	if !ok {
		return
	}
	id, _ := strconv.ParseInt(c.r.PathValue("note"), 10, 64)
	for _, n := range mr.notes {
		if n.ID == id {
			c.json(http.StatusOK, s.noteJSON(p, mr, n))
			return
		}
	}
	c.message(http.StatusNotFound, "404 Note Not Found")
}

func (s *Server) listNotes(c *ctx) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, mr, ok := s.lookup(c)
	if !ok {
		return
	}
	var out []any
	for _, n := range mr.notes {
		out = append(out, s.noteJSON(p, mr, n))
	}
	paginate(c, out, s.perPage)
}

func (s *Server) discussionJSON(p *project, mr *mergeRequest, d *Discussion) map[string]any {
	var notes []any
	for _, n := range d.Notes {
		notes = append(notes, s.noteJSON(p, mr, n))
	}
	return map[string]any{"id": d.ID, "individual_note": len(d.Notes) == 1 && d.Notes[0].Position == nil, "notes": notes}
}

func (s *Server) listDiscussions(c *ctx) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, mr, ok := s.lookup(c)
	if !ok {
		return
	}
	var out []any
	for _, d := range mr.discussions {
		out = append(out, s.discussionJSON(p, mr, d))
	}
	paginate(c, out, s.perPage)
}

// params reads a JSON body, or form fields such as position[new_line].
func params(r *http.Request) (map[string]any, error) {
	ct := r.Header.Get("Content-Type")
	if strings.HasPrefix(ct, "application/json") {
		var m map[string]any
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			return nil, err
		}
		return m, nil
	}
	if err := r.ParseMultipartForm(1 << 20); err != nil && err != http.ErrNotMultipart {
		return nil, err
	}
	if r.PostForm == nil {
		r.ParseForm()
	}
	m := map[string]any{}
	pos := map[string]any{}
	for k, v := range r.PostForm {
		if inner, ok := strings.CutPrefix(k, "position["); ok {
			pos[strings.TrimSuffix(inner, "]")] = v[0]
			continue
		}
		m[k] = v[0]
	}
	if len(pos) > 0 {
		m["position"] = pos
	}
	return m, nil
}

func str(m map[string]any, k string) string {
	switch v := m[k].(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return ""
}

func num(m map[string]any, k string) int {
	n, _ := strconv.Atoi(str(m, k))
	return n
}

// takeWriteFault consumes one "fail after write" fault.
func (s *Server) takeWriteFault() bool {
	if s.failWrites > 0 {
		s.failWrites--
		return true
	}
	return false
}

func (s *Server) createNote(c *ctx) {
	body, err := params(c.r)
	s.mu.Lock()
	defer s.mu.Unlock()
	p, mr, ok := s.lookup(c)
	if !ok {
		return
	}
	if err != nil || str(body, "body") == "" {
		c.message(http.StatusBadRequest, "400 Bad request - body is missing")
		return
	}
	now := time.Now().UTC()
	n := &Note{ID: s.next(), Body: str(body, "body"), Author: s.bot, Created: now, Updated: now}
	d := &Discussion{ID: discussionID(n.ID), Notes: []*Note{n}}
	n.DiscussionID = d.ID
	mr.notes = append(mr.notes, n)
	mr.discussions = append(mr.discussions, d)
	if s.takeWriteFault() {
		c.message(http.StatusBadGateway, "502 Bad Gateway")
		return
	}
	c.json(http.StatusCreated, s.noteJSON(p, mr, n))
}

func (s *Server) updateNote(c *ctx) {
	body, err := params(c.r)
	s.mu.Lock()
	defer s.mu.Unlock()
	p, mr, ok := s.lookup(c)
	if !ok {
		return
	}
	id, _ := strconv.ParseInt(c.r.PathValue("note"), 10, 64)
	for _, n := range mr.notes {
		if n.ID != id {
			continue
		}
		if n.Author.ID != s.bot.ID {
			c.message(http.StatusForbidden, "403 Forbidden")
			return
		}
		if err != nil || str(body, "body") == "" {
			c.message(http.StatusBadRequest, "400 Bad request - body is missing")
			return
		}
		n.Body, n.Updated = str(body, "body"), time.Now().UTC()
		c.json(http.StatusOK, s.noteJSON(p, mr, n))
		return
	}
	c.message(http.StatusNotFound, "404 Not found")
}

func (s *Server) createDiscussion(c *ctx) {
	body, err := params(c.r)
	s.mu.Lock()
	defer s.mu.Unlock()
	p, mr, ok := s.lookup(c)
	if !ok {
		return
	}
	if err != nil || str(body, "body") == "" {
		c.message(http.StatusBadRequest, "400 Bad request - body is missing")
		return
	}
	now := time.Now().UTC()
	n := &Note{ID: s.next(), Body: str(body, "body"), Author: s.bot, Created: now, Updated: now}
	if raw, has := body["position"]; has {
		pm, _ := raw.(map[string]any)
		pos, valid := s.validPosition(mr, pm)
		if !valid {
			s.invalid++
			c.st = http.StatusBadRequest
			c.w.Header().Set("Content-Type", "application/json")
			c.w.WriteHeader(http.StatusBadRequest)
			io.WriteString(c.w, InvalidPositionBody)
			return
		}
		n.Position = pos
		n.Suggestions = s.suggestionsLocked(p, mr, n)
	}
	d := &Discussion{ID: discussionID(n.ID), Notes: []*Note{n}}
	n.DiscussionID = d.ID
	mr.notes = append(mr.notes, n)
	mr.discussions = append(mr.discussions, d)
	if s.takeWriteFault() {
		c.message(http.StatusBadGateway, "502 Bad Gateway")
		return
	}
	c.json(http.StatusCreated, s.discussionJSON(p, mr, d))
}

func (s *Server) getDiscussion(c *ctx) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, mr, ok := s.lookup(c)
	if !ok {
		return
	}
	d := findDiscussion(mr, c.r.PathValue("discussion"))
	if d == nil {
		c.message(http.StatusNotFound, "404 Discussion Not Found")
		return
	}
	c.json(http.StatusOK, s.discussionJSON(p, mr, d))
}

// addDiscussionNote is POST .../discussions/:discussion_id/notes: a reply
// in a thread, answered with the new note.
func (s *Server) addDiscussionNote(c *ctx) {
	body, err := params(c.r)
	s.mu.Lock()
	defer s.mu.Unlock()
	p, mr, ok := s.lookup(c)
	if !ok {
		return
	}
	d := findDiscussion(mr, c.r.PathValue("discussion"))
	if d == nil {
		c.message(http.StatusNotFound, "404 Discussion Not Found")
		return
	}
	if err != nil || str(body, "body") == "" {
		c.message(http.StatusBadRequest, "400 Bad request - body is missing")
		return
	}
	n := s.replyLocked(mr, d, s.bot, str(body, "body"))
	if n.Position != nil {
		n.Suggestions = s.suggestionsLocked(p, mr, n)
	}
	if s.takeWriteFault() {
		c.message(http.StatusBadGateway, "502 Bad Gateway")
		return
	}
	c.json(http.StatusCreated, s.noteJSON(p, mr, n))
}

func (s *Server) listAwards(c *ctx) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, mr, ok := s.lookup(c)
	if !ok {
		return
	}
	id, _ := strconv.ParseInt(c.r.PathValue("note"), 10, 64)
	for _, n := range mr.notes {
		if n.ID != id {
			continue
		}
		out := []any{}
		for _, a := range n.Awards {
			out = append(out, map[string]any{"id": a.ID, "name": a.Name, "user": s.userJSON(a.User),
				"created_at": n.Created.Format(time.RFC3339Nano), "updated_at": n.Created.Format(time.RFC3339Nano),
				"awardable_id": n.ID, "awardable_type": "Note"})
		}
		paginate(c, out, s.perPage)
		return
	}
	c.message(http.StatusNotFound, "404 Note Not Found")
}

func (s *Server) getUserByID(c *ctx) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, _ := strconv.ParseInt(c.r.PathValue("user"), 10, 64)
	u, ok := s.users[id]
	if !ok {
		c.message(http.StatusNotFound, "404 User Not Found")
		return
	}
	m := s.userJSON(u)
	m["bot"] = u.Bot || u.ID == s.bot.ID
	c.json(http.StatusOK, m)
}

// suggestionRE matches the opening fence of a suggestion block:
// ```suggestion:-A+B (lines above and below the commented one).
var suggestionRE = regexp.MustCompile("(?m)^(`{3,})suggestion(?::-(\\d+)\\+(\\d+))?[ \\t]*$")

// suggestionsLocked reads the suggestion blocks of a diff note the way
// GitLab does: each replaces the commented line of the new version (and
// the lines the -A+B range adds); it is appliable only on a line of the
// new version whose range stays inside the file. A block that is not is
// counted (InvalidSuggestions).
func (s *Server) suggestionsLocked(p *project, mr *mergeRequest, n *Note) []Suggestion {
	var out []Suggestion
	body := n.Body
	for {
		loc := suggestionRE.FindStringSubmatchIndex(body)
		if loc == nil {
			return out
		}
		fence := body[loc[2]:loc[3]]
		above, below := 0, 0
		if loc[4] >= 0 {
			above, _ = strconv.Atoi(body[loc[4]:loc[5]])
			below, _ = strconv.Atoi(body[loc[6]:loc[7]])
		}
		rest := body[loc[1]:]
		rest = strings.TrimPrefix(rest, "\n")
		end := strings.Index(rest, "\n"+fence)
		content := rest
		if end >= 0 {
			content = rest[:end]
			body = rest[end+1+len(fence):]
		} else {
			body = ""
		}
		sg := Suggestion{ID: s.next(), ToContent: content + "\n"}
		pos := n.Position
		file := p.commits[pos.HeadSHA]
		lines := []string(nil)
		if file != nil {
			if text, ok := file.files[pos.NewPath]; ok {
				lines = strings.SplitAfter(text, "\n")
				if len(lines) > 0 && lines[len(lines)-1] == "" {
					lines = lines[:len(lines)-1]
				}
			}
		}
		if pos.NewLine > 0 {
			sg.FromLine, sg.ToLine = pos.NewLine-above, pos.NewLine+below
		}
		if pos.NewLine > 0 && sg.FromLine >= 1 && sg.ToLine <= len(lines) {
			sg.Appliable = true
			sg.FromContent = strings.Join(lines[sg.FromLine-1:sg.ToLine], "")
		} else {
			s.badSuggest++
		}
		out = append(out, sg)
	}
}

// validPosition checks a text position the way GitLab does: the SHAs of
// one of the merge request's versions, a file of that version's diff, and
// a line of that diff (added: new_line only; removed: old_line only;
// context: both).
func (s *Server) validPosition(mr *mergeRequest, pm map[string]any) (*Position, bool) {
	if pm == nil || str(pm, "position_type") != "text" {
		return nil, false
	}
	pos := &Position{BaseSHA: str(pm, "base_sha"), StartSHA: str(pm, "start_sha"), HeadSHA: str(pm, "head_sha"),
		OldPath: str(pm, "old_path"), NewPath: str(pm, "new_path"), OldLine: num(pm, "old_line"), NewLine: num(pm, "new_line")}
	var v *version
	for _, x := range mr.versions {
		if x.base == pos.BaseSHA && x.start == pos.StartSHA && x.head == pos.HeadSHA {
			v = x
		}
	}
	if v == nil || (pos.OldLine == 0 && pos.NewLine == 0) {
		return nil, false
	}
	for _, d := range v.diffs {
		if d.NewPath != pos.NewPath || d.OldPath != pos.OldPath {
			continue
		}
		for _, l := range diffLines(d.Diff) {
			switch {
			case l.kind == '+' && pos.OldLine == 0 && l.new == pos.NewLine,
				l.kind == '-' && pos.NewLine == 0 && l.old == pos.OldLine,
				l.kind == ' ' && l.old == pos.OldLine && l.new == pos.NewLine:
				return pos, true
			}
		}
	}
	return nil, false
}

// paginate answers one page of items with GitLab's pagination headers.
func paginate(c *ctx, items []any, defaultPer int) {
	q := c.r.URL.Query()
	per, _ := strconv.Atoi(q.Get("per_page"))
	if per <= 0 {
		per = defaultPer
	}
	per = min(per, 100)
	page, _ := strconv.Atoi(q.Get("page"))
	if page <= 0 {
		page = 1
	}
	total := len(items)
	pages := max(1, (total+per-1)/per)
	lo := min(total, (page-1)*per)
	hi := min(total, lo+per)
	h := c.w.Header()
	h.Set("X-Page", strconv.Itoa(page))
	h.Set("X-Per-Page", strconv.Itoa(per))
	h.Set("X-Total", strconv.Itoa(total))
	h.Set("X-Total-Pages", strconv.Itoa(pages))
	if page < pages {
		h.Set("X-Next-Page", strconv.Itoa(page+1))
		u := *c.r.URL
		qq := u.Query()
		qq.Set("page", strconv.Itoa(page+1))
		u.RawQuery = qq.Encode()
		h.Set("Link", fmt.Sprintf(`<http://%s%s?%s>; rel="next"`, c.r.Host, u.EscapedPath(), u.RawQuery))
	} else {
		h.Set("X-Next-Page", "")
	}
	if page > 1 {
		h.Set("X-Prev-Page", strconv.Itoa(page-1))
	}
	out := items[lo:hi]
	if out == nil {
		out = []any{}
	}
	c.json(http.StatusOK, out)
}
