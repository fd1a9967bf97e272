package audit

import (
	"bytes"
	"context"
	"errors"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"timon.dev/timon/core/store"
	"timon.dev/timon/core/store/storetest"
)

func TestAppendListRoundTrip(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		j := openJournal(t, st, Options{SigningKey: testKey()})
		want := fill(t, j, 12)
		got, err := List(ctx, st, Filter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("listed %d entries, want %d", len(got), len(want))
		}
		prev := GenesisHash
		for i := range want {
			if want[i].Seq != int64(i+1) || want[i].PrevHash != prev {
				t.Fatalf("entry %d: seq %d prev %s, want seq %d prev %s", i, want[i].Seq, want[i].PrevHash, i+1, prev)
			}
			if !reflect.DeepEqual(got[i], want[i]) {
				t.Fatalf("entry %d round trip:\n got %+v\nwant %+v", i+1, got[i], want[i])
			}
			prev = want[i].Hash
		}
		r := mustVerify(t, st, testPub())
		if r.Entries != 12 || r.Checkpoints != 1 || r.LastCheckpoint != 12 {
			t.Fatalf("report %+v: want 12 entries and the checkpoint Close writes", r)
		}
	})
}

func TestAppendNormalizesAndValidates(t *testing.T) {
	st := storetest.SQLite(t)
	ctx := context.Background()
	j := openJournal(t, st, Options{})
	e := &Entry{Decision: "allow", Outcome: "ok", UserID: "bad\xffutf8\x00", Error: strings.Repeat("é", 2000),
		Time: time.Date(2025, 1, 1, 0, 0, 0, 999, time.FixedZone("x", 3600)), SentHash: strings.Repeat("AB", 32)}
	if err := j.Append(ctx, e, nil); err != nil {
		t.Fatal(err)
	}
	if e.Seq != 1 || !strings.HasPrefix(e.RequestID, "req_") || e.UserID != "bad\uFFFDutf8" || len(e.Error) > maxError ||
		e.Time.Location() != time.UTC || e.Time.Nanosecond() != 0 || e.ContentLevel != LevelHashes || e.SentHash != strings.Repeat("ab", 32) {
		t.Fatalf("not normalized: %+v", e)
	}
	none := &Entry{Decision: "deny", Outcome: "denied", ContentLevel: LevelNone, SentHash: HashContent("yes")}
	if err := j.Append(ctx, none, nil); err != nil || none.SentHash != "" {
		t.Fatalf("level none must drop hashes: %v %+v", err, none)
	}
	for name, bad := range map[string]*Entry{
		"decision": {Decision: "maybe", Outcome: "ok"},
		"outcome":  {Decision: "allow", Outcome: "fine"},
		"level":    {Decision: "allow", Outcome: "ok", ContentLevel: "some"},
		"hash":     {Decision: "allow", Outcome: "ok", SentHash: "abc"},
		"tokens":   {Decision: "allow", Outcome: "ok", TokensIn: -1},
		"redact":   {Decision: "allow", Outcome: "ok", Redactions: map[string]int{"x": -1}},
		"full":     {Decision: "allow", Outcome: "ok", ContentLevel: LevelFull}, // no content key
	} {
		if err := j.Append(ctx, bad, &Content{Sent: "s"}); err == nil {
			t.Errorf("%s: invalid entry accepted", name)
		}
	}
	if err := j.Append(ctx, nil, nil); err == nil {
		t.Error("nil entry accepted")
	}
	mustVerify(t, st, nil)
	if got, _ := List(ctx, st, Filter{}); len(got) != 2 {
		t.Fatalf("%d entries stored, want 2", len(got))
	}
}

func TestCloseAndPing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		j := openJournal(t, st, Options{SigningKey: testKey()})
		if err := j.Ping(ctx); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for i := range 50 {
			wg.Go(func() {
				if err := j.Append(ctx, sample(i), nil); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if err := j.Ping(ctx); err != nil {
			t.Fatal(err)
		}
		if err := j.Close(); err != nil {
			t.Fatal(err)
		}
		if err := j.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		if err := j.Append(ctx, sample(1), nil); !errors.Is(err, ErrClosed) {
			t.Fatalf("Append after Close: %v", err)
		}
		if err := j.Ping(ctx); !errors.Is(err, ErrClosed) {
			t.Fatalf("Ping after Close: %v", err)
		}
		r := mustVerify(t, st, testPub())
		if r.Entries != 50 || r.LastCheckpoint != 50 {
			t.Fatalf("report %+v", r)
		}
		// A journal reopened on the same store chains on.
		j2 := openJournal(t, st, Options{SigningKey: testKey()})
		e := sample(99)
		if err := j2.Append(ctx, e, nil); err != nil || e.Seq != 51 {
			t.Fatalf("reopened journal appended seq %d: %v", e.Seq, err)
		}
		j2.Close()
		mustVerify(t, st, testPub())
	})
}

func TestAppendContextCanceled(t *testing.T) {
	st := storetest.SQLite(t)
	j := openJournal(t, st, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := j.Append(ctx, sample(1), nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
}

func TestCheckpointsByCountAndInterval(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		// By count, in the batch's transaction.
		j := openJournal(t, st, Options{SigningKey: testKey(), CheckpointEvery: 5, CheckpointInterval: time.Hour})
		for i := range 11 {
			if err := j.Append(ctx, sample(i), nil); err != nil {
				t.Fatal(err)
			}
		}
		cps, err := Checkpoints(ctx, st)
		if err != nil || len(cps) != 2 || cps[0].Seq != 5 || cps[1].Seq != 10 {
			t.Fatalf("checkpoints %+v %v: want 5 and 10", cps, err)
		}
		if err := j.Close(); err != nil {
			t.Fatal(err)
		}
		if cps, _ = Checkpoints(ctx, st); len(cps) != 3 || cps[2].Seq != 11 {
			t.Fatalf("Close must checkpoint the tail: %+v", cps)
		}
		// By interval, when entries are left unsigned.
		j = openJournal(t, st, Options{SigningKey: testKey(), CheckpointInterval: 20 * time.Millisecond})
		for i := range 3 {
			if err := j.Append(ctx, sample(i), nil); err != nil {
				t.Fatal(err)
			}
		}
		// A slow append may let the interval sign 12 or 13 first: what
		// matters is that the tail gets signed without a count or a Close.
		deadline := time.Now().Add(10 * time.Second)
		for {
			if cps, _ = Checkpoints(ctx, st); len(cps) >= 4 && cps[len(cps)-1].Seq == 14 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no checkpoint by interval: %+v", cps)
			}
			time.Sleep(10 * time.Millisecond)
		}
		signed := len(cps)
		j.Close()
		if cps, _ = Checkpoints(ctx, st); len(cps) != signed {
			t.Fatalf("Close must not checkpoint an already checkpointed tail: %+v", cps)
		}
		for _, c := range cps {
			if !c.VerifySignature(testPub()) || c.KeyID != KeyID(testPub()) {
				t.Fatalf("bad checkpoint %+v", c)
			}
		}
		var buf bytes.Buffer
		if err := ExportCheckpoints(ctx, st, &buf); err != nil {
			t.Fatal(err)
		}
		ext, err := ReadCheckpoints(&buf)
		if err != nil || len(ext) != signed || ext[1].Seq != 10 {
			t.Fatalf("exported checkpoints %+v %v", ext, err)
		}
		r, err := VerifyWithCheckpoints(ctx, st, testPub(), ext)
		if err != nil || !r.OK || r.Checkpoints != int64(2*signed) || r.LastCheckpoint != 14 {
			t.Fatalf("verify with exported checkpoints: %+v %v", r, err)
		}
	})
}

func TestContentEncrypted(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		j := openJournal(t, st, Options{ContentKey: testContentKey})
		const secretPrompt = "Unpublished result: the muon g-2 anomaly is 4.2 sigma"
		const secretAnswer = "Here is your paragraph about the muon g-2 anomaly"
		e := sample(1)
		e.ContentLevel, e.SentHash, e.ReturnedHash = LevelFull, "", ""
		if err := j.Append(ctx, e, &Content{Sent: secretPrompt, Returned: secretAnswer}); err != nil {
			t.Fatal(err)
		}
		if e.SentHash != HashContent(secretPrompt) || e.ReturnedHash != HashContent(secretAnswer) {
			t.Fatal("content hashes not filled in")
		}
		hashed := sample(2) // level hashes: content given is not stored
		if err := j.Append(ctx, hashed, &Content{Sent: "not stored"}); err != nil {
			t.Fatal(err)
		}
		wrong := sample(3)
		wrong.ContentLevel = LevelFull
		if err := j.Append(ctx, wrong, &Content{Sent: "other"}); err == nil {
			t.Fatal("content not matching its given hash was accepted")
		}
		j.Close()

		var (
			sealed []byte
			n      int
		)
		if err := st.QueryRow(ctx, `SELECT sealed FROM audit_content WHERE seq = ?`, e.Seq).Scan(&sealed); err != nil {
			t.Fatal(err)
		}
		st.QueryRow(ctx, `SELECT COUNT(*) FROM audit_content`).Scan(&n)
		if n != 1 {
			t.Fatalf("%d content rows, want 1", n)
		}
		for _, plain := range []string{secretPrompt, secretAnswer, "muon"} {
			if bytes.Contains(sealed, []byte(plain)) {
				t.Fatalf("stored content contains the plaintext %q", plain)
			}
		}
		var dump strings.Builder
		Export(ctx, st, Filter{}, FormatJSONL, &dump)
		if strings.Contains(dump.String(), "muon") {
			t.Fatal("export leaks content")
		}

		c, err := ReadContent(ctx, st, testContentKey, e.Seq)
		if err != nil || c.Sent != secretPrompt || c.Returned != secretAnswer {
			t.Fatalf("ReadContent: %+v %v", c, err)
		}
		if _, err := ReadContent(ctx, st, []byte("fedcba9876543210fedcba9876543210"), e.Seq); err == nil || !strings.Contains(err.Error(), "key") {
			t.Fatalf("wrong key: %v", err)
		}
		if _, err := ReadContent(ctx, st, testContentKey, hashed.Seq); !errors.Is(err, ErrNoContent) {
			t.Fatalf("level hashes: %v", err)
		}
		if _, err := ReadContent(ctx, st, testContentKey, 99); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown entry: %v", err)
		}
		// A ciphertext moved to another entry does not open.
		if _, err := st.Exec(ctx, `INSERT INTO audit_content (seq, time_us, key_id, sealed) VALUES (?, ?, ?, ?)`,
			hashed.Seq, 0, ContentKeyID(testContentKey), sealed); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Exec(ctx, `UPDATE audit_entries SET data = REPLACE(data, '"hashes"', '"full"') WHERE seq = ?`, hashed.Seq); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadContent(ctx, st, testContentKey, hashed.Seq); err == nil {
			t.Fatal("moved ciphertext opened")
		}
	})
}

func TestRetention(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		j := openJournal(t, st, Options{ContentKey: testContentKey, SigningKey: testKey(), CheckpointEvery: 4})
		base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
		for i := range 10 {
			e := sample(i)
			e.Time = base.AddDate(0, 0, i)
			e.ContentLevel, e.SentHash, e.ReturnedHash = LevelFull, "", ""
			if err := j.Append(ctx, e, &Content{Sent: "prompt", Returned: "answer"}); err != nil {
				t.Fatal(err)
			}
		}
		j.Close()
		before := mustVerify(t, st, testPub())
		defer func(n int) { retentionBatch = n }(retentionBatch)
		retentionBatch = 4 // several batches
		n, err := ApplyRetention(ctx, st, base.AddDate(0, 0, 6))
		if err != nil || n != 6 {
			t.Fatalf("retention deleted %d: %v, want 6", n, err)
		}
		after := mustVerify(t, st, testPub())
		if after.Entries != before.Entries || after.Entries != 10 {
			t.Fatalf("retention changed the entries: %+v", after)
		}
		for seq := int64(1); seq <= 10; seq++ {
			_, err := ReadContent(ctx, st, testContentKey, seq)
			if seq <= 6 && !errors.Is(err, ErrNoContent) {
				t.Fatalf("entry %d: content should be gone: %v", seq, err)
			}
			if seq > 6 && err != nil {
				t.Fatalf("entry %d: content should stay: %v", seq, err)
			}
		}
		if n, err := ApplyRetention(ctx, st, base.AddDate(0, 0, 6)); err != nil || n != 0 {
			t.Fatalf("second run: %d %v", n, err)
		}
		if _, err := ApplyRetention(ctx, st, time.Time{}); err == nil {
			t.Fatal("retention without a date must be refused")
		}
	})
}

// TestWriterConnectionSettings checks the SQLite settings of the writer's
// connection: statement journals in memory, WAL checkpoints left to the
// checkpointing goroutine, and FullSync.
func TestWriterConnectionSettings(t *testing.T) {
	for _, full := range []bool{false, true} {
		st := storetest.SQLite(t)
		ctx := context.Background()
		j := openJournal(t, st, Options{FullSync: full})
		if err := j.Append(ctx, sample(1), nil); err != nil {
			t.Fatal(err)
		}
		// The writer is idle now, and its connection was set before the
		// Append was acknowledged.
		conn := j.w.conn
		var sync, temp, auto int
		conn.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&sync)
		conn.QueryRowContext(ctx, `PRAGMA temp_store`).Scan(&temp)
		conn.QueryRowContext(ctx, `PRAGMA wal_autocheckpoint`).Scan(&auto)
		wantSync := 1 // NORMAL, the store's
		if full {
			wantSync = 2
		}
		if sync != wantSync || temp != 2 || auto != 0 {
			t.Fatalf("FullSync %v: synchronous %d, temp_store %d, wal_autocheckpoint %d", full, sync, temp, auto)
		}
		j.Close()
	}
}

// TestWALStaysSmall checks that the WAL starts over: background passive
// checkpoints alone would let it grow as long as appends go on.
func TestWALStaysSmall(t *testing.T) {
	defer func(n int) { walRestartPages = n }(walRestartPages)
	walRestartPages = 256
	st := storetest.SQLite(t)
	ctx := context.Background()
	j := openJournal(t, st, Options{})
	for i := range 1500 {
		if err := j.Append(ctx, sample(i), nil); err != nil {
			t.Fatal(err)
		}
		// The checkpoints run beside the writer; on a slow disk they lag
		// behind it (the WAL grows meanwhile, and catches up later). Every
		// 100 commits, the test waits for those asked for to have run: what
		// it checks is that they run and start the WAL over, not how fast.
		if i%100 == 99 {
			waitFor(t, "the WAL checkpoints asked for", 20*time.Second, func() bool { return j.walRuns.Load() >= j.walKicks.Load() })
		}
	}
	j.Close()
	fi, err := os.Stat(st.Source() + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	// Each commit writes about 9 pages (the entry, its three indexes, and
	// one page of each of the five usage roll-ups): without the restarts,
	// 1500 commits make a WAL of about 55 MB; with them, it stays under
	// 5 MB (256 pages, then what the writer adds while the checkpoints,
	// waited for every 100 commits, lag behind).
	if fi.Size() > 7<<20 {
		t.Fatalf("WAL of %d bytes after 1500 commits: checkpoints do not run", fi.Size())
	}
}
