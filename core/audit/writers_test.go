package audit

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"timon.dev/timon/core/store"
	"timon.dev/timon/core/store/postgres"
	"timon.dev/timon/core/store/sqlite"
	"timon.dev/timon/core/store/storetest"
)

// sharedStores returns a function opening a new store handle (its own pool,
// as another process would have) on one database, for each driver.
func sharedStores(t *testing.T) map[string]func() *store.Store {
	t.Helper()
	path := filepath.Join(t.TempDir(), "shared.db")
	return map[string]func() *store.Store{
		"sqlite": func() *store.Store {
			st, err := sqlite.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		},
		"postgres": func() func() *store.Store {
			var (
				once sync.Once
				dsn  string
			)
			return func() *store.Store {
				once.Do(func() { dsn = storetest.PostgresDSN(t) })
				st, err := postgres.Open(context.Background(), dsn)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { st.Close() })
				return st
			}
		}(),
	}
}

// TestSeveralWriters appends concurrently through two journals on two
// store handles of one database — two replicas — and checks one gapless,
// verifying chain.
func TestSeveralWriters(t *testing.T) {
	for _, driver := range []string{"sqlite", "postgres"} {
		t.Run(driver, func(t *testing.T) {
			open := sharedStores(t)[driver]
			st1, st2 := open(), open()
			opt := Options{SigningKey: testKey(), CheckpointEvery: 50}
			journals := []*Journal{openJournal(t, st1, opt), openJournal(t, st2, opt)}
			const perGoroutine, goroutines = 60, 8
			var (
				mu   sync.Mutex
				seqs = map[int64]string{}
				wg   sync.WaitGroup
			)
			for g := range goroutines {
				j := journals[g%2]
				wg.Go(func() {
					for i := range perGoroutine {
						e := sample(g*1000 + i)
						e.RequestID = fmt.Sprintf("w%d-g%d-%d", g%2, g, i)
						if err := j.Append(context.Background(), e, nil); err != nil {
							t.Error(err)
							return
						}
						mu.Lock()
						if prev, dup := seqs[e.Seq]; dup {
							t.Errorf("seq %d given to %s and %s", e.Seq, prev, e.RequestID)
						}
						seqs[e.Seq] = e.RequestID
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			for _, j := range journals {
				if err := j.Close(); err != nil {
					t.Fatal(err)
				}
			}
			const total = perGoroutine * goroutines
			r := mustVerify(t, st1, testPub())
			if r.Entries != total || len(seqs) != total {
				t.Fatalf("%d entries verified, %d acknowledged, want %d", r.Entries, len(seqs), total)
			}
			for seq := int64(1); seq <= total; seq++ {
				if seqs[seq] == "" {
					t.Fatalf("seq %d missing: seqs have gaps", seq)
				}
			}
			// Both writers' entries are there, under the seqs they were told.
			got, err := List(context.Background(), st2, Filter{Limit: total})
			if err != nil || len(got) != total {
				t.Fatalf("list: %d %v", len(got), err)
			}
			for _, e := range got {
				if seqs[e.Seq] != e.RequestID {
					t.Fatalf("seq %d holds %s, acknowledged as %s", e.Seq, e.RequestID, seqs[e.Seq])
				}
			}
		})
	}
}

// Environment of the crash test's writer process.
const (
	crashEnvDriver = "TIMON_AUDIT_CRASH_DRIVER"
	crashEnvDSN    = "TIMON_AUDIT_CRASH_DSN"
)

// TestCrashWriterProcess is the writer process of TestCrashSafety: it
// appends from 8 goroutines until killed, printing "ack <seq> <request id>"
// once each Append returned.
func TestCrashWriterProcess(t *testing.T) {
	driver := os.Getenv(crashEnvDriver)
	if driver == "" {
		t.Skip("run by TestCrashSafety")
	}
	ctx := context.Background()
	var (
		st  *store.Store
		err error
	)
	if driver == "sqlite" {
		st, err = sqlite.Open(os.Getenv(crashEnvDSN))
	} else {
		st, err = postgres.Open(ctx, os.Getenv(crashEnvDSN))
	}
	if err != nil {
		t.Fatal(err)
	}
	j, err := Open(ctx, st, Options{SigningKey: testKey(), CheckpointEvery: 100, ContentKey: testContentKey})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	deadline := time.Now().Add(time.Minute) // never outlive a lost parent
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := 0; time.Now().Before(deadline); i++ {
				e := sample(i)
				e.RequestID = fmt.Sprintf("g%d-%d", g, i)
				var c *Content
				if i%10 == 0 {
					e.ContentLevel, e.SentHash, e.ReturnedHash = LevelFull, "", ""
					c = &Content{Sent: "prompt " + e.RequestID, Returned: "answer"}
				}
				if err := j.Append(ctx, e, c); err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(3)
				}
				mu.Lock()
				fmt.Fprintf(os.Stdout, "ack %d %s\n", e.Seq, e.RequestID)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	os.Exit(4) // the parent should have killed us
}

// TestCrashSafety kills (SIGKILL) a process appending a burst, then checks
// that the journal verifies and holds every entry that was acknowledged.
func TestCrashSafety(t *testing.T) {
	for _, driver := range []string{"sqlite", "postgres"} {
		t.Run(driver, func(t *testing.T) {
			var dsn string
			if driver == "sqlite" {
				dsn = filepath.Join(t.TempDir(), "crash.db")
			} else {
				dsn = storetest.PostgresDSN(t)
			}
			acks := map[int64]string{}
			for round := range 2 { // the second writer chains on what the first left
				cmd := exec.Command(os.Args[0], "-test.run=^TestCrashWriterProcess$", "-test.count=1")
				cmd.Env = append(os.Environ(), crashEnvDriver+"="+driver, crashEnvDSN+"="+dsn)
				stdout, err := cmd.StdoutPipe()
				if err != nil {
					t.Fatal(err)
				}
				var stderr strings.Builder
				cmd.Stderr = &stderr
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				sc := bufio.NewScanner(stdout)
				n, killAt := 0, 300+200*round
				killed := false
				for sc.Scan() {
					f := strings.Fields(sc.Text())
					if len(f) != 3 || f[0] != "ack" {
						continue
					}
					seq, err := strconv.ParseInt(f[1], 10, 64)
					if err != nil {
						t.Fatalf("bad line %q", sc.Text())
					}
					acks[seq] = f[2]
					if n++; n == killAt && !killed {
						cmd.Process.Kill() // SIGKILL, mid-burst
						killed = true
					}
				}
				err = cmd.Wait()
				if !killed {
					t.Fatalf("writer ended before the kill: %v\n%s", err, stderr.String())
				}
				t.Logf("round %d: killed after %d acknowledged appends (%d read from its pipe)", round, killAt, n)
			}

			var st *store.Store
			var err error
			if driver == "sqlite" {
				st, err = sqlite.Open(dsn)
			} else {
				st, err = postgres.Open(context.Background(), dsn)
			}
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			r := mustVerify(t, st, testPub())
			if r.Entries < int64(len(acks)) {
				t.Fatalf("%d entries, but %d were acknowledged", r.Entries, len(acks))
			}
			for seq, rid := range acks {
				got, err := List(context.Background(), st, Filter{AfterSeq: seq - 1, Limit: 1})
				if err != nil || len(got) != 1 || got[0].Seq != seq || got[0].RequestID != rid {
					t.Fatalf("acknowledged entry %d (%s) is not there: %+v %v", seq, rid, got, err)
				}
			}
			t.Logf("%d acknowledged entries all present; %d entries verified, %d checkpoints", len(acks), r.Entries, r.Checkpoints)
		})
	}
}
