package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"timon.dev/timon/core/store"
	"timon.dev/timon/core/store/storetest"
)

func seqsOf(es []Entry) []int64 {
	out := make([]int64, len(es))
	for i, e := range es {
		out[i] = e.Seq
	}
	return out
}

func TestListFilters(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		fill(t, openJournal(t, st, Options{}), 30)
		all, err := List(ctx, st, Filter{})
		if err != nil || len(all) != 30 {
			t.Fatalf("list all: %d %v", len(all), err)
		}
		count := func(keep func(*Entry) bool) int {
			n := 0
			for i := range all {
				if keep(&all[i]) {
					n++
				}
			}
			return n
		}
		day2 := time.Date(2025, 3, 2, 0, 0, 0, 0, time.UTC)
		for name, c := range map[string]struct {
			f    Filter
			keep func(*Entry) bool
		}{
			"user":        {Filter{UserID: "user1"}, func(e *Entry) bool { return e.UserID == "user1" }},
			"integration": {Filter{Integration: "gitlab"}, func(e *Entry) bool { return e.Integration == "gitlab" }},
			"group":       {Filter{Group: "team1"}, func(e *Entry) bool { return e.Groups[1] == "team1" }},
			"group all":   {Filter{Group: "physics"}, func(*Entry) bool { return true }},
			"group none":  {Filter{Group: "team"}, func(*Entry) bool { return false }},
			"outcome":     {Filter{Outcome: "denied"}, func(e *Entry) bool { return e.Outcome == "denied" }},
			"request":     {Filter{RequestID: "req-0007"}, func(e *Entry) bool { return e.RequestID == "req-0007" }},
			"since":       {Filter{Since: day2}, func(e *Entry) bool { return !e.Time.Before(day2) }},
			"until":       {Filter{Until: day2}, func(e *Entry) bool { return e.Time.Before(day2) }},
			"combined": {Filter{UserID: "user2", Integration: "mattermost", Since: day2.AddDate(0, 0, -1)},
				func(e *Entry) bool { return e.UserID == "user2" && e.Integration == "mattermost" }},
		} {
			got, err := List(ctx, st, c.f)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if want := count(c.keep); len(got) != want {
				t.Errorf("%s: %d entries, want %d", name, len(got), want)
			}
			for i := range got {
				if !c.keep(&got[i]) {
					t.Errorf("%s: entry %d does not match", name, got[i].Seq)
				}
			}
		}
		// Pages follow AfterSeq.
		var pages [][]int64
		for after := int64(0); ; {
			page, err := List(ctx, st, Filter{AfterSeq: after, Limit: 7})
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			pages = append(pages, seqsOf(page))
			after = page[len(page)-1].Seq
		}
		if len(pages) != 5 || pages[0][0] != 1 || pages[4][1] != 30 || len(pages[4]) != 2 {
			t.Fatalf("pages %v", pages)
		}
	})
}

func TestExportFormats(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		j := openJournal(t, st, Options{})
		evil := sample(1)
		evil.UserID = "=HYPERLINK(\"http://x\")"
		if err := j.Append(ctx, evil, nil); err != nil {
			t.Fatal(err)
		}
		fill(t, j, 4)
		var jl bytes.Buffer
		if err := Export(ctx, st, Filter{}, FormatJSONL, &jl); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(jl.String()), "\n")
		if len(lines) != 5 {
			t.Fatalf("%d JSON lines", len(lines))
		}
		var e Entry
		if err := json.Unmarshal([]byte(lines[1]), &e); err != nil || e.Seq != 2 || e.Hash == "" || e.PrevHash == "" {
			t.Fatalf("line 2: %+v %v", e, err)
		}
		var cb bytes.Buffer
		if err := Export(ctx, st, Filter{Limit: 3}, FormatCSV, &cb); err != nil {
			t.Fatal(err)
		}
		recs, err := csv.NewReader(&cb).ReadAll()
		if err != nil || len(recs) != 4 || len(recs[0]) != len(csvHeader) {
			t.Fatalf("csv: %d records %v", len(recs), err)
		}
		if recs[1][3] != "'"+evil.UserID {
			t.Fatalf("a formula must be defused, got %q", recs[1][3])
		}
		if !strings.Contains(recs[1][14], "iban=1") || recs[1][4] != "physics;team1" {
			t.Fatalf("csv row %v", recs[1])
		}
		if err := Export(ctx, st, Filter{}, "xml", &cb); err == nil {
			t.Fatal("unknown format accepted")
		}
	})
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestTail(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		defer func(d time.Duration) { tailPoll = d }(tailPoll)
		tailPoll = 10 * time.Millisecond
		ctx := context.Background()
		j := openJournal(t, st, Options{})
		for i := 1; i <= 30; i++ {
			if err := j.Append(ctx, sample(i), nil); err != nil {
				t.Fatal(err)
			}
		}
		var out bytes.Buffer
		if err := Tail(ctx, st, Filter{Limit: 5}, false, &out, FormatJSONL); err != nil {
			t.Fatal(err)
		}
		if lines := strings.Split(strings.TrimSpace(out.String()), "\n"); len(lines) != 5 || !strings.Contains(lines[4], `"seq":30`) || !strings.Contains(lines[0], `"seq":26`) {
			t.Fatalf("tail -n 5:\n%s", out.String())
		}

		fctx, cancel := context.WithCancel(ctx)
		var follow syncBuffer
		done := make(chan error)
		go func() { done <- Tail(fctx, st, Filter{Integration: "gitlab", Limit: 1}, true, &follow, FormatJSONL) }()
		// It follows from what it printed first: append after that.
		waitFor(t, "tail -f to print its backlog", 5*time.Second, func() bool { return strings.Contains(follow.String(), "\n") })
		for i := 31; i <= 36; i++ {
			if err := j.Append(ctx, sample(i), nil); err != nil {
				t.Fatal(err)
			}
		}
		waitFor(t, "tail -f to print the new entries", 5*time.Second, func() bool { return strings.Count(follow.String(), "\n") >= 3 })
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("tail ended with %v", err)
		}
		// The last gitlab entry before, then the two new ones (i%3 == 2).
		got := follow.String()
		for _, want := range []string{`"seq":29`, `"seq":32`, `"seq":35`} {
			if !strings.Contains(got, want) {
				t.Fatalf("follow output lacks %s:\n%s", want, got)
			}
		}
		if strings.Count(got, "\n") != 3 {
			t.Fatalf("follow output:\n%s", got)
		}
	})
}

func TestStatsAndUsage(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		want := fill(t, openJournal(t, st, Options{}), 30)
		s, err := StatsFor(ctx, st, Filter{})
		if err != nil {
			t.Fatal(err)
		}
		var tokensIn, denials, emails int64
		for _, e := range want {
			tokensIn += int64(e.TokensIn)
			emails += int64(e.Redactions["email"])
			if e.Outcome == OutcomeDenied {
				denials++
			}
		}
		if s.Total.Requests != 30 || s.Total.TokensIn != tokensIn || s.Total.Denials != denials ||
			s.Total.Redactions["email"] != emails || s.Total.Redactions["iban"] != 30 || s.Total.Outcomes["blocked"] != 6 {
			t.Fatalf("total %+v", s.Total)
		}
		if s.ByGroup["physics"].Requests != 30 || s.ByGroup["team0"].Requests+s.ByGroup["team1"].Requests != 30 {
			t.Fatalf("by group %+v", s.ByGroup)
		}
		if len(s.ByIntegration) != 3 || s.ByIntegration["lsp"].Requests != 10 || len(s.ByDay) != 3 || s.ByDay["2025-03-02"].Requests != 10 {
			t.Fatalf("by integration %v, by day %v", s.ByIntegration, s.ByDay)
		}
		g, err := StatsFor(ctx, st, Filter{Integration: "lsp"})
		if err != nil || g.Total.Requests != 10 {
			t.Fatalf("filtered stats %+v %v", g, err)
		}

		u, err := Usage(ctx, st, "user1", time.Date(2025, 3, 2, 0, 0, 0, 0, time.UTC))
		if err != nil {
			t.Fatal(err)
		}
		var req, in, out int64
		for _, e := range want {
			if e.UserID == "user1" && !e.Time.Before(u.Since) {
				req, in, out = req+1, in+int64(e.TokensIn), out+int64(e.TokensOut)
			}
		}
		if req == 0 || u.Requests != req || u.TokensIn != in || u.TokensOut != out {
			t.Fatalf("usage %+v, want %d requests, %d in, %d out", u, req, in, out)
		}
	})
}

func TestKeys(t *testing.T) {
	priv, err := GenerateSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	privPEM, err := PrivateKeyPEM(priv)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM, err := PublicKeyPEM(priv.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(privPEM), "BEGIN PRIVATE KEY") || !strings.Contains(string(pubPEM), "BEGIN PUBLIC KEY") {
		t.Fatalf("PEM:\n%s%s", privPEM, pubPEM)
	}
	p2, err := ParsePrivateKey(privPEM)
	if err != nil || !p2.Equal(priv) {
		t.Fatalf("private PEM round trip: %v", err)
	}
	pub, err := ParsePublicKey(pubPEM)
	if err != nil || !pub.Equal(priv.Public()) {
		t.Fatalf("public PEM round trip: %v", err)
	}
	// `openssl genpkey -algorithm ed25519` output.
	const opensslKey = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIExNkSzg0OSlTbYx8mMqKE+xGPmpBATcH9+By9QpilTA\n-----END PRIVATE KEY-----\n"
	if k, err := ParsePrivateKey([]byte(opensslKey)); err != nil || len(k) != 64 {
		t.Fatalf("openssl key: %v", err)
	}
	seedB64 := []byte(" " + b64(priv.Seed()) + "\n")
	if k, err := ParsePrivateKey(seedB64); err != nil || !k.Equal(priv) {
		t.Fatalf("base64 seed: %v", err)
	}
	if k, err := ParsePublicKey([]byte(b64(pub))); err != nil || !k.Equal(pub) {
		t.Fatalf("base64 public key: %v", err)
	}
	for _, bad := range []string{"", "not a key", b64([]byte("short")), string(pubPEM)} {
		if _, err := ParsePrivateKey([]byte(bad)); err == nil {
			t.Errorf("private key %q accepted", bad)
		}
	}
	if _, err := ParsePublicKey(privPEM); err == nil {
		t.Error("a private key PEM accepted as public key")
	}
	// A checkpoint verifies with the exported public key.
	c := signCheckpoint(priv, 7, strings.Repeat("0", 64), time.Now())
	if !c.VerifySignature(pub) || c.VerifySignature(testPub()) {
		t.Fatal("checkpoint signature")
	}
	if !strings.HasPrefix(string(c.Message()), "timon-audit-checkpoint\n7\n") {
		t.Fatalf("message %q", c.Message())
	}
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
