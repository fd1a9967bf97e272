package integrationtests

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"timon.dev/timon/core/provider/fakellm"
)

// TestAbuseStreamCutIsCharged: a client that reads part of a streamed
// answer and then disconnects pays for what it got. Against timon serve,
// with the model streaming slowly, the journal entry has the prompt and the
// streamed tokens (outcome canceled) and the quota counts them, with the
// concurrency slot given back.
func TestAbuseStreamCutIsCharged(t *testing.T) {
	t.Parallel()
	fake := newFake(t)
	// Slow enough that the client leaves long before the end.
	fake.Handle(func(fakellm.Request) fakellm.Reply {
		return fakellm.Reply{Text: strings.Repeat("word ", 2000), ChunkDelay: 20 * time.Millisecond}
	})
	h := startHub(t, fake, fake.URL())
	user := h.token("cutter")
	admin := h.token("root", "admin")

	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	body, _ := json.Marshal(map[string]any{"task": "chat", "stream": true,
		"messages": []any{map[string]any{"role": "user", "content": strings.Repeat("a long question ", 100)}}})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, h.url+"/v1/assist", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+user)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("stream: %d", resp.StatusCode)
	}
	// Read three delta events, then go away.
	sc := bufio.NewScanner(resp.Body)
	deltas := 0
	for deltas < 3 && sc.Scan() {
		if sc.Text() == "event: delta" {
			deltas++
		}
	}
	if deltas < 3 {
		t.Fatalf("only %d delta event(s) before the end: %v", deltas, sc.Err())
	}
	cancel()
	resp.Body.Close()

	// The journal entry appears once the hub has noticed.
	deadline := ctxT(t)
	var entry map[string]any
	for entry == nil {
		if deadline.Err() != nil {
			t.Fatal("no journal entry for the cut stream")
		}
		entry = cutEntry(t, h, admin, "cutter")
		if entry == nil {
			time.Sleep(50 * time.Millisecond) // polling the hub for a condition
		}
	}
	in, _ := entry["tokens_in"].(float64)
	out, _ := entry["tokens_out"].(float64)
	// The question alone is 1,600 bytes: about 400 tokens.
	if entry["outcome"] != "canceled" || in < 300 || out < 1 {
		t.Fatalf("journal entry %v", entry)
	}

	// The quota counts the same tokens, and the slot is free.
	db, err := sql.Open("sqlite", "file:"+filepath.Join(h.data, "timon.db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	want := int64(in + out)
	for {
		var tokens, leases int64
		err := db.QueryRow(`SELECT day_tokens FROM quota_usage WHERE subject = 'user:cutter'`).Scan(&tokens)
		if err == nil {
			err = db.QueryRow(`SELECT count(*) FROM quota_leases WHERE subject = 'user:cutter'`).Scan(&leases)
		}
		if err == nil && tokens == want && leases == 0 {
			break
		}
		if deadline.Err() != nil {
			t.Fatalf("quota: %d tokens, %d lease(s), want %d tokens and none (%v)", tokens, leases, want, err)
		}
		time.Sleep(20 * time.Millisecond) // polling the store for a condition
	}
}

// cutEntry is the user's latest journal entry, nil if none yet.
func cutEntry(t *testing.T, h *hub, admin, user string) map[string]any {
	t.Helper()
	entries := auditEntries(t, h, admin, url.Values{"user": {user}})
	if len(entries) == 0 {
		return nil
	}
	return entries[len(entries)-1]
}
