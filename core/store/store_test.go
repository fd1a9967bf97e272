package store_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"timon.dev/timon/core/store"
	"timon.dev/timon/core/store/storetest"
)

func TestRebind(t *testing.T) {
	st := storetest.SQLite(t)
	if got := st.Rebind("SELECT ? , '?'"); got != "SELECT ? , '?'" {
		t.Fatalf("sqlite rebind changed the query: %q", got)
	}
}

func TestTokens(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		tok := &store.Token{UserID: "alice", Groups: []string{"physics", "admin"}, Name: "laptop"}
		secret, err := st.CreateToken(ctx, tok)
		if err != nil {
			t.Fatal(err)
		}
		if len(secret) < 40 || secret[:6] != store.TokenPrefix {
			t.Fatalf("weak or unprefixed token %q", secret)
		}
		got, err := st.LookupToken(ctx, secret)
		if err != nil {
			t.Fatal(err)
		}
		if got.UserID != "alice" || len(got.Groups) != 2 || got.Groups[1] != "admin" || got.ID != tok.ID || !got.Active(time.Now()) {
			t.Fatalf("lookup returned %+v", got)
		}
		if _, err := st.LookupToken(ctx, secret+"x"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown token: got %v, want ErrNotFound", err)
		}
		var raw string
		if err := st.QueryRow(ctx, `SELECT hash FROM tokens WHERE id = ?`, tok.ID).Scan(&raw); err != nil || raw == secret {
			t.Fatalf("the secret must not be stored (hash %q, err %v)", raw, err)
		}
		if err := st.TouchToken(ctx, got, time.Now()); err != nil {
			t.Fatal(err)
		}
		if err := st.RevokeToken(ctx, tok.ID); err != nil {
			t.Fatal(err)
		}
		got, _ = st.LookupToken(ctx, secret)
		if got.Active(time.Now()) {
			t.Fatal("revoked token still active")
		}
		if err := st.RevokeToken(ctx, "tok_nope"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("revoking unknown token: %v", err)
		}
		list, err := st.ListTokens(ctx, "alice")
		if err != nil || len(list) != 1 {
			t.Fatalf("list: %v %v", list, err)
		}
	})
}

func TestMigrateConcurrentAndIdempotent(t *testing.T) {
	fsys := fstest.MapFS{
		"m/001_a.sql":          {Data: []byte("CREATE TABLE widgets (id TEXT PRIMARY KEY, n BIGINT NOT NULL)\n--;\nCREATE INDEX widgets_n ON widgets (n)")},
		"m/002_b.sqlite.sql":   {Data: []byte("ALTER TABLE widgets ADD COLUMN note TEXT NOT NULL DEFAULT ''")},
		"m/002_b.postgres.sql": {Data: []byte("ALTER TABLE widgets ADD COLUMN note TEXT NOT NULL DEFAULT ''")},
	}
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for range 4 {
			wg.Go(func() { errs <- st.Migrate(ctx, "widgets", fsys) })
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if _, err := st.Exec(ctx, `INSERT INTO widgets (id, n, note) VALUES (?, ?, ?)`, "a", 1, "x"); err != nil {
			t.Fatal(err)
		}
		var n int
		st.QueryRow(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE component = ?`, "widgets").Scan(&n)
		if n != 2 {
			t.Fatalf("%d migrations recorded, want 2", n)
		}
	})
}

func TestMigrateRejectsBadNames(t *testing.T) {
	st := storetest.SQLite(t)
	err := st.Migrate(context.Background(), "bad", fstest.MapFS{"x.sql": {Data: []byte("SELECT 1")}})
	if err == nil {
		t.Fatal("a migration without a version number must be refused")
	}
}

func TestTxRollsBackOnPanic(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		func() {
			defer func() { recover() }()
			st.Tx(ctx, func(tx *store.Tx) error {
				tx.Exec(ctx, `INSERT INTO tokens (id, hash, user_id, groups_json, name, created_at, expires_at, revoked_at, last_used_at) VALUES ('p', 'h', 'u', '[]', '', 0, 0, 0, 0)`)
				panic("boom")
			})
		}()
		// The write lock was released and the insert rolled back.
		done := make(chan error, 1)
		go func() {
			done <- st.Tx(ctx, func(tx *store.Tx) error {
				_, err := tx.Exec(ctx, `DELETE FROM tokens WHERE id = 'nothing'`)
				return err
			})
		}()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(15 * time.Second):
			t.Fatal("a panicking transaction kept the write lock")
		}
		var n int
		st.QueryRow(ctx, `SELECT COUNT(*) FROM tokens WHERE id = 'p'`).Scan(&n)
		if n != 0 {
			t.Fatal("the panicking transaction's insert was kept")
		}
	})
}

func TestTokenScope(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		lsp := &store.Token{UserID: "bob", Name: "editor", Scope: []string{"lsp"}}
		secret, err := st.CreateToken(ctx, lsp)
		if err != nil {
			t.Fatal(err)
		}
		got, err := st.LookupToken(ctx, secret)
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		if len(got.Scope) != 1 || !got.Allows("lsp") || got.Allows("api") {
			t.Fatalf("scope not kept: %+v", got)
		}
		if err := got.Usable(now, "lsp"); err != nil {
			t.Fatal(err)
		}
		if err := got.Usable(now, "api"); !errors.Is(err, store.ErrTokenScope) {
			t.Fatalf("an lsp token used through the API: %v", err)
		}
		all := &store.Token{UserID: "bob"}
		secret2, err := st.CreateToken(ctx, all)
		if err != nil {
			t.Fatal(err)
		}
		got2, _ := st.LookupToken(ctx, secret2)
		if !got2.Allows("api") || !got2.Allows("slack") || len(got2.Scope) != 0 {
			t.Fatalf("an unscoped token must allow everything: %+v", got2)
		}
		chat := &store.Token{Scope: []string{"chat"}}
		if !chat.Allows("mattermost") || !chat.Allows("slack") || chat.Allows("lsp") {
			t.Fatal("chat stands for both chat platforms only")
		}
		// A person revokes only their own tokens.
		if err := st.RevokeUserToken(ctx, lsp.ID, "mallory"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("revoking another's token: %v", err)
		}
		if err := st.RevokeUserToken(ctx, lsp.ID, "bob"); err != nil {
			t.Fatal(err)
		}
		got, _ = st.LookupToken(ctx, secret)
		if err := got.Usable(now, "lsp"); !errors.Is(err, store.ErrTokenRevoked) {
			t.Fatalf("revoked: %v", err)
		}
		exp := &store.Token{ID: "tok_x", ExpiresAt: now.Add(-time.Second)}
		if err := exp.Usable(now, "lsp"); !errors.Is(err, store.ErrTokenExpired) {
			t.Fatalf("expired: %v", err)
		}
	})
}
