package audit

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"timon.dev/timon/core/store"
	"timon.dev/timon/core/store/storetest"
)

var testHashKey = []byte("timon-audit-test-content-hashkey")

// TestKeyedHashes: an entry's hashes are HMAC-SHA-256 under the journal's
// hash key, named by the entry, not the SHA-256 anyone could compute; the
// content check recomputes them with that key; entries journaled before
// keyed hashes (no hash key) still check and verify.
func TestKeyedHashes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		const prompt, answer = "Is the muon g-2 anomaly real?", "Perhaps."

		// A journal from before keyed hashes.
		old := openJournal(t, st, Options{ContentKey: testContentKey, SigningKey: testKey()})
		legacy := sample(1)
		legacy.ContentLevel, legacy.SentHash, legacy.ReturnedHash = LevelFull, "", ""
		if err := old.Append(ctx, legacy, &Content{Sent: prompt, Returned: answer}); err != nil {
			t.Fatal(err)
		}
		old.Close()
		if legacy.HashKey != "" || legacy.SentHash != HashContent(prompt) {
			t.Fatalf("unkeyed journal: %+v", legacy)
		}

		j := openJournal(t, st, Options{ContentKey: testContentKey, SigningKey: testKey(), HashKey: testHashKey})
		m := hmac.New(sha256.New, testHashKey)
		m.Write([]byte(prompt))
		wantSent := hex.EncodeToString(m.Sum(nil))
		if got := j.HashContent(prompt); got != wantSent {
			t.Fatalf("Journal.HashContent = %s, want the HMAC %s", got, wantSent)
		}
		hashed := sample(2)
		hashed.SentHash, hashed.ReturnedHash = j.HashContent(prompt), j.HashContent(answer)
		if err := j.Append(ctx, hashed, nil); err != nil {
			t.Fatal(err)
		}
		full := sample(3)
		full.ContentLevel, full.SentHash, full.ReturnedHash = LevelFull, "", ""
		if err := j.Append(ctx, full, &Content{Sent: prompt, Returned: answer}); err != nil {
			t.Fatal(err)
		}
		none := sample(4)
		none.ContentLevel = LevelNone
		if err := j.Append(ctx, none, nil); err != nil {
			t.Fatal(err)
		}
		foreign := sample(5)
		foreign.HashKey = "0011223344556677"
		if err := j.Append(ctx, foreign, nil); err == nil || !strings.Contains(err.Error(), "hash key") {
			t.Fatalf("an entry under another hash key was accepted: %v", err)
		}
		j.Close()

		es, err := List(ctx, st, Filter{})
		if err != nil {
			t.Fatal(err)
		}
		byID := map[string]Entry{}
		for _, e := range es {
			byID[e.RequestID] = e
		}
		for _, e := range []Entry{byID[hashed.RequestID], byID[full.RequestID]} {
			if e.SentHash == HashContent(prompt) || e.SentHash != wantSent {
				t.Fatalf("entry %d sent_hash %s: want the HMAC %s, not the SHA-256", e.Seq, e.SentHash, wantSent)
			}
			if e.HashKey != HashKeyID(testHashKey) {
				t.Fatalf("entry %d names hash key %q, want %s", e.Seq, e.HashKey, HashKeyID(testHashKey))
			}
		}
		if e := byID[none.RequestID]; e.HashKey != "" || e.SentHash != "" {
			t.Fatalf("level none keeps %+v", e)
		}
		if e := byID[legacy.RequestID]; e.HashKey != "" || e.SentHash != HashContent(prompt) {
			t.Fatalf("the old entry changed: %+v", e)
		}

		c, err := ReadContent(ctx, st, testContentKey, full.Seq, testHashKey)
		if err != nil || c.Sent != prompt {
			t.Fatalf("content check of a keyed entry: %+v %v", c, err)
		}
		if _, err := ReadContent(ctx, st, testContentKey, full.Seq); err == nil || !strings.Contains(err.Error(), HashKeyID(testHashKey)) {
			t.Fatalf("content check without the hash key: %v", err)
		}
		if _, err := ReadContent(ctx, st, testContentKey, full.Seq, []byte("another-32-byte-hash-key-0123456")); err == nil {
			t.Fatal("content check with another hash key passed")
		}
		if c, err := ReadContent(ctx, st, testContentKey, legacy.Seq, testHashKey); err != nil || c.Returned != answer {
			t.Fatalf("content check of an old, unkeyed entry: %+v %v", c, err)
		}
		mustVerify(t, st, testPub())
		// A keyed hash changed in place no longer matches the content.
		if _, err := st.Exec(ctx, `UPDATE audit_entries SET data = REPLACE(data, ?, ?) WHERE seq = ?`,
			wantSent, HashContent(prompt), full.Seq); err != nil {
			t.Fatal(err)
		}
		if r, err := Verify(ctx, st, testPub()); err != nil || r.OK || r.FirstBad != full.Seq {
			t.Fatalf("verify after changing a hash: %+v %v", r, err)
		}
	})
}

func TestShortHashKeyRefused(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		if _, err := Open(context.Background(), st, Options{HashKey: []byte("short")}); err == nil {
			t.Fatal("a 5-byte hash key was accepted")
		}
	})
}
