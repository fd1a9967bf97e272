package jobs_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"timon.dev/timon/core/jobs"
	"timon.dev/timon/core/store"
	"timon.dev/timon/core/store/storetest"
)

type echoArgs struct {
	Key  string `json:"key" river:"unique"`
	Note string `json:"note"`
}

func (echoArgs) Kind() string { return "test_echo" }

type echoWorker struct {
	river.WorkerDefaults[echoArgs]
	mu      sync.Mutex
	seen    map[string]int
	block   chan struct{} // when set, Work waits on it (or on ctx)
	started chan struct{} // when set, Work sends on it first
}

func (w *echoWorker) Work(ctx context.Context, j *river.Job[echoArgs]) error {
	if w.started != nil {
		w.started <- struct{}{}
	}
	if w.block != nil {
		select {
		case <-w.block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.seen[j.Args.Key]++
	return nil
}

func (w *echoWorker) count(key string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.seen[key]
}

func start(t *testing.T, st *store.Store, w *echoWorker) *jobs.Queue {
	t.Helper()
	q := jobs.New(st, jobs.Options{PollInterval: 50 * time.Millisecond})
	if err := jobs.Register(q, w); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return q
}

func TestJobsRunOnceAndDeduplicate(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		w := &echoWorker{seen: map[string]int{}}
		q := start(t, st, w)
		defer q.Stop(context.Background())
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()

		var dups atomic.Int32
		var wg sync.WaitGroup
		for range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				dup, err := q.Insert(ctx, echoArgs{Key: "delivery-1", Note: "n"}, &river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true}})
				if err != nil {
					t.Error(err)
				}
				if dup {
					dups.Add(1)
				}
			}()
		}
		wg.Wait()
		if _, err := q.Insert(ctx, echoArgs{Key: "delivery-2"}, nil); err != nil {
			t.Fatal(err)
		}
		if err := q.Wait(ctx, "test_echo"); err != nil {
			t.Fatal(err)
		}
		if got := w.count("delivery-1"); got != 1 {
			t.Errorf("delivery-1 worked %d times, want 1", got)
		}
		if got := w.count("delivery-2"); got != 1 {
			t.Errorf("delivery-2 worked %d times, want 1", got)
		}
		if dups.Load() != 9 {
			t.Errorf("%d inserts reported as duplicates, want 9", dups.Load())
		}
	})
}

func TestJobsSurviveARestart(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		// The first process takes the job but stops before finishing it.
		first := &echoWorker{seen: map[string]int{}, block: make(chan struct{}), started: make(chan struct{}, 1)}
		q1 := start(t, st, first)
		if _, err := q1.Insert(ctx, echoArgs{Key: "k"}, nil); err != nil {
			t.Fatal(err)
		}
		select {
		case <-first.started:
		case <-ctx.Done():
			t.Fatal("the first process never took the job")
		}
		sctx, scancel := context.WithTimeout(ctx, 100*time.Millisecond)
		q1.Stop(sctx)
		scancel()
		if first.count("k") != 0 {
			t.Fatal("the blocked worker finished")
		}

		// The next process works it.
		second := &echoWorker{seen: map[string]int{}}
		q2 := start(t, st, second)
		defer q2.Stop(context.Background())
		if err := q2.Wait(ctx, "test_echo"); err != nil {
			t.Fatal(err)
		}
		if got := second.count("k"); got != 1 {
			t.Errorf("after restart the job ran %d times, want 1", got)
		}
	})
}

func TestRegisterAfterStartIsAnError(t *testing.T) {
	st := storetest.SQLite(t)
	q := start(t, st, &echoWorker{seen: map[string]int{}})
	defer q.Stop(context.Background())
	if err := jobs.Register(q, &echoWorker{seen: map[string]int{}}); err == nil {
		t.Fatal("registering after Start succeeded")
	}
	if _, err := jobs.New(st, jobs.Options{}).Insert(context.Background(), echoArgs{Key: "x"}, nil); err == nil {
		t.Fatal("inserting into a queue that is not started succeeded")
	}
}
