package audit

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"testing"
	"time"

	"timon.dev/timon/core/store"
	"timon.dev/timon/core/store/storetest"
)

// tamperFixture is a journal of 30 entries with checkpoints at 10, 20 and
// 30, and a snapshot to restore it between cases.
type tamperFixture struct {
	t  *testing.T
	st *store.Store
}

const tamperEntries = 30

func newTamperFixture(t *testing.T, st *store.Store) *tamperFixture {
	j := openJournal(t, st, Options{SigningKey: testKey(), CheckpointEvery: 10})
	fill(t, j, tamperEntries)
	f := &tamperFixture{t: t, st: st}
	f.exec(`CREATE TABLE snap_entries AS SELECT * FROM audit_entries`)
	f.exec(`CREATE TABLE snap_checkpoints AS SELECT * FROM audit_checkpoints`)
	r := mustVerify(t, st, testPub())
	if r.Entries != tamperEntries || r.Checkpoints != 3 {
		t.Fatalf("fixture: %+v", r)
	}
	return f
}

func (f *tamperFixture) exec(q string, args ...any) {
	f.t.Helper()
	if _, err := f.st.Exec(context.Background(), q, args...); err != nil {
		f.t.Fatalf("%s: %v", q, err)
	}
}

func (f *tamperFixture) restore() {
	f.t.Helper()
	f.exec(`DELETE FROM audit_entries`)
	f.exec(`INSERT INTO audit_entries SELECT * FROM snap_entries`)
	f.exec(`DELETE FROM audit_checkpoints`)
	f.exec(`INSERT INTO audit_checkpoints SELECT * FROM snap_checkpoints`)
	mustVerify(f.t, f.st, testPub())
}

// expect verifies with pub and wants the problem at seq firstBad.
func (f *tamperFixture) expect(name string, pub ed25519.PublicKey, firstBad int64, problem string) {
	f.t.Helper()
	r, err := Verify(context.Background(), f.st, pub)
	if err != nil {
		f.t.Fatalf("%s: %v", name, err)
	}
	if r.OK || r.FirstBad != firstBad || !strings.Contains(r.Problem, problem) {
		f.t.Errorf("%s: got %s (first bad %d), want seq %d and %q", name, r, r.FirstBad, firstBad, problem)
	}
}

type storedRow struct {
	seq, timeUS int64
	data, hash  string
}

func (f *tamperFixture) row(seq int64) storedRow {
	f.t.Helper()
	r := storedRow{seq: seq}
	err := f.st.QueryRow(context.Background(), `SELECT time_us, data, hash FROM audit_entries WHERE seq = ?`, seq).
		Scan(&r.timeUS, &r.data, &r.hash)
	if err != nil {
		f.t.Fatal(err)
	}
	return r
}

// rehash recomputes the chain from seq on, as an attacker who knows the
// algorithm would after changing an entry.
func (f *tamperFixture) rehash(from int64) {
	f.t.Helper()
	var prev [32]byte
	if from > 1 {
		decodeHash(&prev, f.row(from-1).hash)
	}
	var tail int64
	f.st.QueryRow(context.Background(), `SELECT MAX(seq) FROM audit_entries`).Scan(&tail)
	for seq := from; seq <= tail; seq++ {
		r := f.row(seq)
		sum := sha256.Sum256(canonical(nil, &prev, r.seq, r.timeUS, r.data))
		f.exec(`UPDATE audit_entries SET hash = ? WHERE seq = ?`, hex.EncodeToString(sum[:]), seq)
		prev = sum
	}
}

func TestVerifyCatchesTampering(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		f := newTamperFixture(t, st)
		pub := testPub()

		// A changed column, in the first, a middle and the last entry, and
		// in a checkpointed one.
		for _, seq := range []int64{1, 10, 17, tamperEntries} {
			r := f.row(seq)
			flipped := []byte(r.hash)
			flipped[5] = "01"[(flipped[5]+1)%2]
			for col, val := range map[string]any{
				"time_us": r.timeUS + 1,
				"data":    r.data + " ",
				"hash":    string(flipped),
			} {
				f.exec(`UPDATE audit_entries SET `+col+` = ? WHERE seq = ?`, val, seq)
				f.expect(fmt.Sprintf("column %s of entry %d", col, seq), pub, seq, "")
				f.restore()
			}
			f.exec(`UPDATE audit_entries SET hash = UPPER(hash) WHERE seq = ?`, seq)
			f.expect(fmt.Sprintf("uppercased hash of entry %d", seq), pub, seq, "hash")
			f.restore()

			// Every field inside the data column.
			var fields map[string]any
			if err := json.Unmarshal([]byte(r.data), &fields); err != nil {
				t.Fatal(err)
			}
			keys := make([]string, 0, len(fields))
			for k := range fields {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			if len(keys) < 18 {
				t.Fatalf("sample entry leaves fields empty: %v", keys)
			}
			for _, k := range append(keys, "added") {
				changed := map[string]any{}
				for k2, v := range fields {
					changed[k2] = v
				}
				switch v := fields[k].(type) {
				case string:
					changed[k] = v + "x"
				case float64:
					changed[k] = v + 1
				case []any:
					changed[k] = append(v, "admin")
				case map[string]any:
					changed[k] = map[string]any{"email": 0}
				case nil:
					changed[k] = "new"
				}
				data, _ := json.Marshal(changed)
				f.exec(`UPDATE audit_entries SET data = ? WHERE seq = ?`, string(data), seq)
				f.expect(fmt.Sprintf("field %s of entry %d", k, seq), pub, seq, "does not match its hash")
				f.restore()
			}
		}

		// A changed seq.
		f.exec(`UPDATE audit_entries SET seq = 1000 WHERE seq = 15`)
		f.expect("renumbered entry", pub, 15, "missing")
		f.restore()

		// Deleted entries: the first, one in the middle, one at a chunk
		// boundary-free position right after a checkpoint.
		for _, seq := range []int64{1, 15, 21} {
			f.exec(`DELETE FROM audit_entries WHERE seq = ?`, seq)
			f.expect(fmt.Sprintf("deleted entry %d", seq), pub, seq, "missing")
			f.restore()
		}

		// Inserted entries: in the middle (later ones moved up), with a
		// random hash or with a hash computed as the writer would; at the
		// end with a random hash; before the first.
		r15 := f.row(15)
		forge := func(seq int64, hash string) {
			f.exec(`INSERT INTO audit_entries (seq, time_us, data, hash) VALUES (?, ?, ?, ?)`,
				seq, r15.timeUS, strings.Replace(r15.data, `"user_id":"`, `"user_id":"forged-`, 1), hash)
		}
		f.exec(`UPDATE audit_entries SET seq = seq + 1000000 WHERE seq >= 15`)
		f.exec(`UPDATE audit_entries SET seq = seq - 999999 WHERE seq >= 1000000`)
		forge(15, strings.Repeat("ab", 32))
		f.expect("inserted entry", pub, 15, "does not match its hash")
		f.rehashOne(15)
		f.expect("inserted entry with a computed hash", pub, 16, "does not match its hash")
		f.restore()
		forge(tamperEntries+1, strings.Repeat("ab", 32))
		f.expect("appended forged entry", pub, tamperEntries+1, "does not match its hash")
		f.restore()
		forge(0, strings.Repeat("ab", 32))
		f.expect("entry before the first", pub, 0, "out of the sequence")
		f.restore()

		// Two entries swapped.
		f.exec(`UPDATE audit_entries SET seq = -1 WHERE seq = 12`)
		f.exec(`UPDATE audit_entries SET seq = 12 WHERE seq = 13`)
		f.exec(`UPDATE audit_entries SET seq = 13 WHERE seq = -1`)
		f.expect("swapped entries", pub, 12, "does not match its hash")
		f.restore()

		// The tail truncated after a checkpoint: the checkpoint at 30
		// names an entry that is gone, even without a key.
		f.exec(`DELETE FROM audit_entries WHERE seq > 25`)
		f.expect("truncated tail", pub, 26, "truncated after seq 25")
		f.expect("truncated tail, chain only", nil, 26, "truncated after seq 25")
		f.restore()
		f.exec(`DELETE FROM audit_entries WHERE seq > 20`)
		f.expect("truncated right after a checkpoint", pub, 21, "truncated after seq 20")
		f.restore()

		// A chain recomputed from a changed entry on: the checkpoint at 20
		// no longer matches.
		f.exec(`UPDATE audit_entries SET time_us = time_us + 1 WHERE seq = 15`)
		f.rehash(15)
		f.expect("rewritten chain", pub, 20, "rewritten")
		f.restore()
		// ... and with the checkpoints deleted too, the database alone looks
		// fine: only a copy of the checkpoints kept elsewhere catches it.
		exported, err := Checkpoints(context.Background(), st)
		if err != nil {
			t.Fatal(err)
		}
		f.exec(`UPDATE audit_entries SET time_us = time_us + 1 WHERE seq = 15`)
		f.rehash(15)
		f.exec(`DELETE FROM audit_checkpoints`)
		mustVerify(t, st, pub)
		r, err := VerifyWithCheckpoints(context.Background(), st, pub, exported)
		if err != nil || r.OK || r.FirstBad != 20 {
			t.Errorf("rewritten chain and checkpoints, verified against an exported copy: %s", r)
		}
		f.restore()

		// Checkpoints: a forged signature, one signed by another key, an
		// altered time. Without a key, only positions are checked.
		f.exec(`UPDATE audit_checkpoints SET signature = ? WHERE seq = 20`, strings.Repeat("A", 86)+"==")
		f.expect("forged checkpoint signature", pub, 20, "not signed by key")
		if r, _ := Verify(context.Background(), st, nil); !r.OK {
			t.Errorf("without a public key, signatures are not checked: %s", r)
		}
		f.restore()
		_, other, _ := ed25519.GenerateKey(nil)
		forged := signCheckpoint(other, 20, f.row(20).hash, time.Now())
		f.exec(`UPDATE audit_checkpoints SET signature = ?, key_id = ? WHERE seq = 20`, forged.Signature, forged.KeyID)
		f.expect("checkpoint signed by another key", pub, 20, "signed by unknown key "+forged.KeyID)
		f.restore()
		// Signed by another key but naming the trusted one.
		f.exec(`UPDATE audit_checkpoints SET signature = ? WHERE seq = 20`, forged.Signature)
		f.expect("checkpoint signed by another key, naming ours", pub, 20, "not signed by key")
		f.restore()
		f.exec(`UPDATE audit_checkpoints SET time_us = time_us + 1 WHERE seq = 10`)
		f.expect("checkpoint time changed", pub, 10, "not signed by key")
		f.restore()
		f.exec(`UPDATE audit_checkpoints SET hash = ? WHERE seq = 10`, f.row(9).hash)
		f.expect("checkpoint hash changed", nil, 10, "names another hash")
		f.restore()
	})
}

func (f *tamperFixture) rehashOne(seq int64) {
	f.t.Helper()
	var prev [32]byte
	decodeHash(&prev, f.row(seq-1).hash)
	r := f.row(seq)
	sum := sha256.Sum256(canonical(nil, &prev, r.seq, r.timeUS, r.data))
	f.exec(`UPDATE audit_entries SET hash = ? WHERE seq = ?`, hex.EncodeToString(sum[:]), seq)
}

// TestVerifyChunks checks a journal spanning several verify chunks: a
// problem in any chunk, and at chunk boundaries, is found and the first one
// reported.
func TestVerifyChunks(t *testing.T) {
	defer func(n int64) { verifyChunk = n }(verifyChunk)
	verifyChunk = 1000
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		n := int(3*verifyChunk + 100)
		bulkFill(t, st, n, testKey(), 5000)
		f := &tamperFixture{t: t, st: st}
		f.exec(`CREATE TABLE snap_entries AS SELECT * FROM audit_entries`)
		f.exec(`CREATE TABLE snap_checkpoints AS SELECT * FROM audit_checkpoints`)
		r := mustVerify(t, st, testPub())
		if r.Entries != int64(n) {
			t.Fatalf("verified %d entries, want %d", r.Entries, n)
		}
		for _, seq := range []int64{1, verifyChunk - 1, verifyChunk, verifyChunk + 1, 2*verifyChunk + 1, int64(n)} {
			f.exec(`DELETE FROM audit_entries WHERE seq = ?`, seq)
			want := "missing"
			if seq == int64(n) {
				want = "truncated"
			}
			f.expect(fmt.Sprintf("deleted %d", seq), testPub(), seq, want)
			f.restore()
			f.exec(`UPDATE audit_entries SET time_us = time_us + 1 WHERE seq = ?`, seq)
			f.expect(fmt.Sprintf("changed %d", seq), testPub(), seq, "does not match")
			f.restore()
		}
		// Two problems: the first is reported.
		f.exec(`UPDATE audit_entries SET time_us = time_us + 1 WHERE seq = ?`, int64(n-5))
		f.exec(`UPDATE audit_entries SET time_us = time_us + 1 WHERE seq = ?`, int64(verifyChunk+7))
		f.expect("two problems", testPub(), min(int64(n-5), verifyChunk+7), "does not match")
		f.restore()
	})
}

// bulkFill writes n sample entries in batches of maxBatch through the
// writer's commit path, without the goroutine: fast setup for big journals.
func bulkFill(t testing.TB, st *store.Store, n int, key ed25519.PrivateKey, every int) {
	t.Helper()
	ctx := context.Background()
	if err := st.Migrate(ctx, "audit", migrations); err != nil {
		t.Fatal(err)
	}
	j := &Journal{st: st, opt: Options{SigningKey: key, CheckpointEvery: every}, log: slog.New(slog.DiscardHandler)}
	defer j.dropConn()
	batch := make([]*pending, 0, maxBatch)
	now := time.Now()
	for i := 1; i <= n; i++ {
		e, err := normalize(sample(i), now)
		if err != nil {
			t.Fatal(err)
		}
		p := &pending{entry: e}
		if p.row, err = encode(&e); err != nil {
			t.Fatal(err)
		}
		batch = append(batch, p)
		if len(batch) == maxBatch || i == n {
			if err := j.commit(batch); err != nil {
				t.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	if key != nil {
		if err := j.checkpointTail(); err != nil {
			t.Fatal(err)
		}
	}
	if st.Dialect() == store.SQLite {
		// As the journal's WAL checkpoints would have.
		if _, err := st.Exec(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
			t.Fatal(err)
		}
	}
}
