package review

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"timon.dev/timon/core/store"
	"timon.dev/timon/core/store/storetest"
)

func TestStateOnBothStores(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		seal, err := newSealer(make([]byte, KeySize))
		if err != nil {
			t.Fatal(err)
		}
		s := &state{st: st, seal: seal}
		if err := s.migrate(ctx); err != nil {
			t.Fatal(err)
		}
		// Runs: stored, updated, read back.
		if _, _, found, err := s.run(ctx, 1, 2, "h", "review"); err != nil || found {
			t.Fatalf("run before any: found %v, %v", found, err)
		}
		if err := s.saveRun(ctx, 1, 2, "h", "review", statusAnswered, `{"a":1}`); err != nil {
			t.Fatal(err)
		}
		if err := s.saveRun(ctx, 1, 2, "h", "review", statusAnswered, `{"a":2}`); err != nil {
			t.Fatal(err)
		}
		status, res, found, err := s.run(ctx, 1, 2, "h", "review")
		if err != nil || !found || status != statusAnswered || res != `{"a":2}` {
			t.Fatalf("run: %q %q %v %v", status, res, found, err)
		}
		// Sealed at rest, bound to its row.
		var raw string
		if err := st.QueryRow(ctx, `SELECT result FROM gitlab_review_runs WHERE project_id = 1 AND iid = 2`).Scan(&raw); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(raw, `"a"`) || raw == "" {
			t.Fatalf("the stored result is in clear: %q", raw)
		}
		if _, err := st.Exec(ctx, `INSERT INTO gitlab_review_runs (project_id, iid, head_sha, kind, status, result, created_at, updated_at) VALUES (1, 3, 'h', 'review', ?, ?, 0, 0)`, statusAnswered, raw); err != nil {
			t.Fatal(err)
		}
		if _, _, found, _ := s.run(ctx, 1, 3, "h", "review"); found {
			t.Fatal("a result moved to another merge request opened")
		}
		// Chunks: stored sealed, read back, dropped when the run is posted.
		type out struct{ A string }
		if err := s.saveChunk(ctx, 1, 2, "h", "review", "c1", out{"quoted code"}); err != nil {
			t.Fatal(err)
		}
		var got out
		if found, err := s.chunk(ctx, 1, 2, "h", "review", "c1", &got); err != nil || !found || got.A != "quoted code" {
			t.Fatalf("chunk: %v %v %+v", found, err, got)
		}
		if found, _ := s.chunk(ctx, 1, 2, "h2", "review", "c1", &got); found {
			t.Fatal("a chunk of another head was found")
		}
		if err := st.QueryRow(ctx, `SELECT sealed FROM gitlab_review_chunks WHERE chunk = 'c1'`).Scan(&raw); err != nil || strings.Contains(raw, "quoted") {
			t.Fatalf("the stored chunk is in clear: %q %v", raw, err)
		}
		if err := s.setStatus(ctx, 1, 2, "h", "review", statusPosted); err != nil {
			t.Fatal(err)
		}
		status, res, found, err = s.run(ctx, 1, 2, "h", "review")
		if err != nil || !found || status != statusPosted || res != "" {
			t.Fatalf("run: %q %q %v %v", status, res, found, err)
		}
		if found, _ := s.chunk(ctx, 1, 2, "h", "review", "c1", &got); found {
			t.Fatal("a posted run's chunk answers are still stored")
		}
		if err := st.QueryRow(ctx, `SELECT result FROM gitlab_review_runs WHERE project_id = 1 AND iid = 2`).Scan(&raw); err != nil || raw != "" {
			t.Fatalf("a posted run keeps its result: %q %v", raw, err)
		}

		// Leases: one owner at a time, its own again, a lapsed one taken.
		until := time.Now().Add(time.Minute)
		ok, err := s.acquire(ctx, 1, 2, "job-1", until)
		if err != nil || !ok {
			t.Fatalf("first acquire: %v %v", ok, err)
		}
		if ok, _ := s.acquire(ctx, 1, 2, "job-2", until); ok {
			t.Fatal("a second owner took a held lease")
		}
		if ok, _ := s.acquire(ctx, 1, 2, "job-1", until); !ok {
			t.Fatal("the owner could not take its lease again (a rescued job)")
		}
		if ok, _ := s.acquire(ctx, 1, 3, "job-2", until); !ok {
			t.Fatal("another merge request is blocked")
		}
		if err := s.release(ctx, 1, 2, "job-2"); err != nil {
			t.Fatal(err)
		}
		if ok, _ := s.acquire(ctx, 1, 2, "job-3", until); ok {
			t.Fatal("a release by a non-owner freed the lease")
		}
		if err := s.release(ctx, 1, 2, "job-1"); err != nil {
			t.Fatal(err)
		}
		if ok, _ := s.acquire(ctx, 1, 2, "job-3", time.Now().Add(-time.Second)); !ok {
			t.Fatal("a released lease could not be taken")
		}
		if ok, _ := s.acquire(ctx, 1, 2, "job-4", until); !ok {
			t.Fatal("a lapsed lease could not be taken")
		}

		// Reviewed heads survive leases.
		if err := s.setReviewedHead(ctx, 1, 2, "abc"); err != nil {
			t.Fatal(err)
		}
		if h, err := s.reviewedHead(ctx, 1, 2); err != nil || h != "abc" {
			t.Fatalf("reviewed head %q %v", h, err)
		}
		if ok, _ := s.acquire(ctx, 1, 2, "job-5", until); ok {
			t.Fatal("setting the reviewed head freed the lease")
		}

		// Concurrent owners: exactly one wins.
		var wg sync.WaitGroup
		wins := make(chan string, 8)
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				owner := "racer-" + string(rune('a'+i))
				if ok, err := s.acquire(ctx, 9, 9, owner, until); err == nil && ok {
					wins <- owner
				}
			}()
		}
		wg.Wait()
		close(wins)
		if n := len(wins); n != 1 {
			t.Fatalf("%d owners won the same lease", n)
		}
	})
}
