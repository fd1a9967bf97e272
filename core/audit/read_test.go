package audit

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"timon.dev/timon/core/store"
	"timon.dev/timon/core/store/storetest"
)

// TestAuditRead: an administrator reads a request's entries with the
// content kept under content: full; content not kept or dropped by
// retention is said so; the reading is journaled (who, which request,
// never the content) in the chain and checkpointed; an unknown request is
// ErrNotFound and leaves no entry.
func TestAuditRead(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		old := time.Now().AddDate(0, 0, -40)
		j := openJournal(t, st, Options{ContentKey: testContentKey, HashKey: testHashKey, SigningKey: testKey()})
		full := &Entry{RequestID: "req-full", UserID: "ida", Decision: DecisionAllow, Outcome: OutcomeOK, ContentLevel: LevelFull}
		if err := j.Append(ctx, full, &Content{Sent: "explain <EMAIL_1>", Returned: "it is an address"}); err != nil {
			t.Fatal(err)
		}
		hashed := &Entry{RequestID: "req-hashed", UserID: "ida", Decision: DecisionAllow, Outcome: OutcomeOK, ContentLevel: LevelHashes,
			SentHash: j.HashContent("x")}
		dropped := &Entry{Time: old, RequestID: "req-dropped", UserID: "ida", Decision: DecisionAllow, Outcome: OutcomeOK, ContentLevel: LevelFull}
		for _, e := range []*Entry{hashed, dropped} {
			var c *Content
			if e.ContentLevel == LevelFull {
				c = &Content{Sent: "old prompt", Returned: "old answer"}
			}
			if err := j.Append(ctx, e, c); err != nil {
				t.Fatal(err)
			}
		}
		if n, err := ApplyRetention(ctx, st, time.Now().AddDate(0, 0, -30)); err != nil || n != 1 {
			t.Fatalf("retention: %d %v", n, err)
		}

		who := Reader{UserID: "root", Groups: []string{"admin"}}
		r, err := j.Read(ctx, "req-full", who)
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Entries) != 1 || r.Entries[0].Seq != full.Seq || r.Entries[0].Content == nil ||
			r.Entries[0].Content.Sent != "explain <EMAIL_1>" || r.Entries[0].Content.Returned != "it is an address" ||
			!strings.Contains(r.Entries[0].ContentNote, "redacted") {
			t.Fatalf("read of a full entry: %+v", r)
		}
		rec := r.Journaled
		if rec.Seq != dropped.Seq+1 || rec.Integration != IntegrationAudit || rec.Task != TaskRead || rec.Subject != "req-full" ||
			rec.UserID != "root" || rec.ContentLevel != LevelNone || rec.SentHash != "" {
			t.Fatalf("the reading's entry: %+v", rec)
		}
		for id, note := range map[string]string{
			"req-hashed":  "content not kept: policy content: hashes",
			"req-dropped": "content not kept: deleted by retention",
		} {
			r, err := j.Read(ctx, id, who)
			if err != nil || len(r.Entries) != 1 || r.Entries[0].Content != nil || !strings.HasPrefix(r.Entries[0].ContentNote, note) {
				t.Fatalf("read %s: %+v %v", id, r, err)
			}
		}
		if _, err := j.Read(ctx, "req-unknown", who); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("an unknown request: %v", err)
		}
		if err := j.Close(); err != nil {
			t.Fatal(err)
		}

		reads, err := List(ctx, st, Filter{Integration: IntegrationAudit})
		if err != nil || len(reads) != 3 {
			t.Fatalf("journaled readings: %d %v", len(reads), err)
		}
		for _, e := range reads {
			if e.Task != TaskRead || e.UserID != "root" || e.Subject == "" || e.Subject == "req-unknown" {
				t.Fatalf("a journaled reading: %+v", e)
			}
		}
		rep := mustVerify(t, st, testPub())
		if rep.Entries != 6 || rep.LastCheckpoint != 6 {
			t.Fatalf("verify after the readings: %s", rep)
		}

		// Without the content key, the content is said to be kept but
		// not readable here.
		nokey := openJournal(t, st, Options{HashKey: testHashKey})
		r, err = nokey.Read(ctx, "req-full", who)
		if err != nil || r.Entries[0].Content != nil || !strings.Contains(r.Entries[0].ContentNote, "no content key") {
			t.Fatalf("read without the content key: %+v %v", r, err)
		}
	})
}

func TestAuditParseWhen(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"":                     {},
		"7d":                   now.AddDate(0, 0, -7),
		"24h":                  now.Add(-24 * time.Hour),
		"90m":                  now.Add(-90 * time.Minute),
		"2026-01-31":           time.Date(2026, 1, 31, 0, 0, 0, 0, time.UTC),
		"2026-01-31T08:00:00Z": time.Date(2026, 1, 31, 8, 0, 0, 0, time.UTC),
	} {
		got, err := ParseWhen(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("ParseWhen(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"yesterday", "-7d", "7", "2026-13-01"} {
		if _, err := ParseWhen(in, now); err == nil || !strings.Contains(err.Error(), "duration ago (7d, 24h, 90m)") {
			t.Errorf("ParseWhen(%q): %v", in, err)
		}
	}
}
