package audit

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"testing"
	"time"

	"timon.dev/timon/core/store"
)

// testSeed makes the test signing key; the crash test's writer process
// derives the same key from it.
var testSeed = []byte("timon-audit-test-signing-key-32b")

func testKey() ed25519.PrivateKey { return ed25519.NewKeyFromSeed(testSeed) }

func testPub() ed25519.PublicKey { return testKey().Public().(ed25519.PublicKey) }

var testContentKey = []byte("0123456789abcdef0123456789abcdef")

// sample returns an entry with every field set, different for each i.
func sample(i int) *Entry {
	outcomes := []string{"ok", "denied", "blocked", "quota_exceeded", "provider_error"}
	e := &Entry{
		Time:           time.Date(2025, 3, 1+i%3, 10, 0, i%60, 123456000, time.UTC),
		RequestID:      fmt.Sprintf("req-%04d", i),
		UserID:         fmt.Sprintf("user%d", i%3),
		Groups:         []string{"physics", fmt.Sprintf("team%d", i%2)},
		Integration:    []string{"lsp", "mattermost", "gitlab"}[i%3],
		Task:           "rewrite",
		Rule:           fmt.Sprintf("rule-%d", i%4),
		Decision:       DecisionAllow,
		Outcome:        outcomes[i%len(outcomes)],
		Provider:       "mistral-local",
		Model:          "mistral-small",
		Classification: "internal",
		Redactions:     map[string]int{"email": i % 3, "iban": 1},
		TokensIn:       100 + i,
		TokensOut:      50 + i,
		LatencyMS:      int64(300 + i),
		SentHash:       HashContent(fmt.Sprintf("sent %d", i)),
		ReturnedHash:   HashContent(fmt.Sprintf("returned %d", i)),
		ContentLevel:   LevelHashes,
	}
	if e.Outcome != "ok" {
		e.Error = "reason " + e.Outcome
	}
	if e.Outcome == "denied" {
		e.Decision = DecisionDeny
	}
	return e
}

func openJournal(t testing.TB, st *store.Store, opt Options) *Journal {
	t.Helper()
	j, err := Open(context.Background(), st, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	return j
}

// fill appends n sample entries one after the other and closes j.
func fill(t testing.TB, j *Journal, n int) []Entry {
	t.Helper()
	out := make([]Entry, 0, n)
	for i := 1; i <= n; i++ {
		e := sample(i)
		if err := j.Append(context.Background(), e, nil); err != nil {
			t.Fatal(err)
		}
		out = append(out, *e)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	return out
}

func mustVerify(t testing.TB, st *store.Store, pub ed25519.PublicKey) *Report {
	t.Helper()
	r, err := Verify(context.Background(), st, pub)
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK {
		t.Fatalf("verify: %s", r)
	}
	return r
}

// waitFor polls cond until it holds, failing the test after timeout.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(timeout); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
	}
}
