package gitlabtest_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"

	"timon.dev/timon/webhooks/gitlab"
	"timon.dev/timon/webhooks/gitlab/gitlabtest"
	"timon.dev/timon/webhooks/review"
)

var bot = gitlabtest.User{ID: 1, Username: "bot"}

func client(t *testing.T, s *gitlabtest.Server) *gitlab.Client {
	t.Helper()
	c, err := gitlab.NewClient(s.URL(), "tok", gitlab.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// apply applies parsed hunks to old text, to check the fake's diffs.
func apply(old string, hs []review.Hunk) string {
	var oldLines []string
	if old != "" {
		oldLines = strings.Split(strings.TrimSuffix(old, "\n"), "\n")
	}
	var out []string
	next := 1
	for _, h := range hs {
		start := h.OldStart
		if h.OldLines == 0 {
			start++ // -N,0 inserts after line N
		}
		for ; next < start; next++ {
			out = append(out, oldLines[next-1])
		}
		for _, l := range h.Lines {
			switch l.Kind {
			case review.Added:
				out = append(out, l.Text)
			case review.Context:
				out = append(out, l.Text)
				next++
			case review.Removed:
				next++
			}
		}
	}
	for ; next <= len(oldLines); next++ {
		out = append(out, oldLines[next-1])
	}
	if len(out) == 0 {
		return ""
	}
	return strings.Join(out, "\n") + "\n"
}

func TestDiffsApplyAndPaginate(t *testing.T) {
	s := gitlabtest.New("tok", bot)
	defer s.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	gen := func(n int) string {
		var b strings.Builder
		for i := 0; i < n; i++ {
			fmt.Fprintf(&b, "line %d\n", rng.IntN(8))
		}
		return b.String()
	}
	base := map[string]string{}
	const files = 60 // over the client's 50 a page
	for i := 0; i < files; i++ {
		base[fmt.Sprintf("f%d.txt", i)] = gen(30)
	}
	s.AddProject(5, "g/p", base)
	changed := map[string]string{}
	for i := 0; i < files; i++ {
		changed[fmt.Sprintf("f%d.txt", i)] = gen(25 + i%10)
	}
	changed["new.txt"] = gen(5)
	s.Commit(5, "topic", "change", changed)
	iid := s.OpenMR(5, gitlabtest.MROptions{Source: "topic", Title: "t", Author: bot})

	c := client(t, s)
	diffs, err := c.Diffs(context.Background(), 5, iid)
	if err != nil {
		t.Fatal(err)
	}
	if len(diffs) != files+1 {
		t.Fatalf("%d diffs over the pages, want %d", len(diffs), files+1)
	}
	if got := s.Count(http.MethodGet, "/diffs"); got != 2 {
		t.Fatalf("%d page requests, want 2", got)
	}
	for _, d := range diffs {
		hs, err := review.ParseHunks(d.Diff)
		if err != nil {
			t.Fatalf("%s: %v\n%s", d.NewPath, err, d.Diff)
		}
		if got := apply(base[d.OldPath], hs); got != changed[d.NewPath] {
			t.Fatalf("%s: the diff does not turn the old file into the new one", d.NewPath)
		}
	}
}

func TestPositionsAreValidatedLikeGitLab(t *testing.T) {
	s := gitlabtest.New("tok", bot)
	defer s.Close()
	s.AddProject(5, "g/p", map[string]string{"a.go": "one\ntwo\nthree\n"})
	s.Commit(5, "topic", "change", map[string]string{"a.go": "one\n2\nthree\nfour\n"})
	iid := s.OpenMR(5, gitlabtest.MROptions{Source: "topic", Title: "t", Author: bot})
	c := client(t, s)
	ctx := context.Background()
	v, err := c.LatestVersion(ctx, 5, iid)
	if err != nil || v == nil {
		t.Fatal(v, err)
	}
	pos := func(old, new int) review.Position {
		return review.Position{DiffRefs: v.DiffRefs, OldPath: "a.go", NewPath: "a.go", OldLine: old, NewLine: new}
	}
	for _, ok := range []review.Position{pos(2, 0), pos(0, 2), pos(1, 1), pos(3, 3), pos(0, 4)} {
		if err := c.CreateDiscussion(ctx, 5, iid, "ok", fmt.Sprint(ok), ok); err != nil {
			t.Errorf("%+v refused: %v", ok, err)
		}
	}
	wrongSHA := pos(0, 2)
	wrongSHA.HeadSHA = "0000"
	for _, bad := range []review.Position{pos(0, 1), pos(2, 2), pos(1, 0), pos(0, 9), wrongSHA} {
		err := c.CreateDiscussion(ctx, 5, iid, "bad", "bad", bad)
		if !errors.Is(err, review.ErrInvalidPosition) || !strings.Contains(err.Error(), "line_code") {
			t.Errorf("%+v: got %v, want GitLab's invalid position error", bad, err)
		}
	}
	if s.InvalidPositions() != 5 || len(s.InlineNotes(5, iid)) != 5 {
		t.Fatalf("%d refused, %d posted", s.InvalidPositions(), len(s.InlineNotes(5, iid)))
	}
}

func TestFaults(t *testing.T) {
	s := gitlabtest.New("tok", bot)
	defer s.Close()
	s.AddProject(5, "g/p", map[string]string{"a.go": "one\n"})
	s.Commit(5, "topic", "change", map[string]string{"a.go": "two\n"})
	iid := s.OpenMR(5, gitlabtest.MROptions{Source: "topic", Title: "t", Author: bot})
	c := client(t, s)
	ctx := context.Background()

	// Written, then 502: the client finds it instead of posting again.
	s.FailAfterWrite(1)
	id, err := c.CreateNote(ctx, 5, iid, "hello <!-- m1 -->", "<!-- m1 -->")
	if err != nil || id == 0 {
		t.Fatal(id, err)
	}
	if n := len(s.Notes(5, iid)); n != 1 || s.Count(http.MethodPost, "/notes") != 1 {
		t.Fatalf("%d notes after %d POSTs", n, s.Count(http.MethodPost, "/notes"))
	}
	// diff_refs null for the first reads.
	s.NullDiffRefs(5, iid, 2)
	for i, want := range []bool{false, false, true} {
		mr, err := c.MergeRequest(ctx, 5, iid)
		if err != nil {
			t.Fatal(err)
		}
		if (mr.DiffRefs != nil) != want {
			t.Fatalf("read %d: diff refs %+v", i, mr.DiffRefs)
		}
	}
	// 429 with Retry-After, retried by the client.
	s.RateLimit(2, 0)
	if _, err := c.MergeRequest(ctx, 5, iid); err != nil {
		t.Fatal(err)
	}
	// A bad token is refused.
	bad, _ := gitlab.NewClient(s.URL(), "wrong", gitlab.ClientOptions{})
	if _, err := bad.BotUserID(ctx); err == nil {
		t.Fatal("a bad token was accepted")
	}
}

// Headers sends what GitLab sends (fixtures/*.headers).
func TestHeadersMatchGitLabs(t *testing.T) {
	for file, event := range map[string]string{"merge_request_hook.headers": gitlab.EventMergeRequest, "note_hook_merge_request.headers": gitlab.EventNote} {
		want := http.Header{}
		for _, line := range strings.Split(strings.TrimSpace(string(gitlabtest.Fixture(file))), "\n") {
			k, v, _ := strings.Cut(line, ": ")
			want.Set(k, v)
		}
		got := gitlabtest.Headers(event, "[REDACTED]", want.Get("Idempotency-Key"), want.Get("X-Gitlab-Event-UUID"))
		for k := range want {
			if got.Get(k) != want.Get(k) {
				t.Errorf("%s: %s is %q, GitLab sends %q", file, k, got.Get(k), want.Get(k))
			}
		}
	}
}
