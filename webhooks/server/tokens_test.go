package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"timon.dev/timon/core/remote"
	"timon.dev/timon/core/store"
	"timon.dev/timon/core/store/sqlite"
)

// TestRevokeSelf: DELETE /v1/tokens/self revokes the token presented and
// that one only (another token of the same person still works); the same
// call again is 401; a token scoped to lsp only may revoke itself, with
// or without the editor's header, though the scope keeps it off the API.
func TestRevokeSelf(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "timon.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	create := func(scope ...string) (string, string) {
		tok := &store.Token{UserID: "ada", Groups: []string{"physics"}, Scope: scope}
		secret, err := st.CreateToken(ctx, tok)
		if err != nil {
			t.Fatal(err)
		}
		return secret, tok.ID
	}
	srv := httptest.NewServer(New(Options{Store: st}))
	t.Cleanup(srv.Close)
	call := func(method, path, secret string, header ...string) (int, errorBody) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+secret)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var e errorBody
		json.NewDecoder(resp.Body).Decode(&e)
		return resp.StatusCode, e
	}
	revoked := func(id string) bool {
		t.Helper()
		toks, err := st.ListTokens(ctx, "ada")
		if err != nil {
			t.Fatal(err)
		}
		for _, tok := range toks {
			if tok.ID == id {
				return !tok.RevokedAt.IsZero()
			}
		}
		t.Fatalf("no token %s", id)
		return false
	}

	first, firstID := create()
	second, secondID := create()
	if code, e := call(http.MethodDelete, "/v1/tokens/self", first); code != http.StatusNoContent {
		t.Fatalf("revoking: %d %+v", code, e)
	}
	if !revoked(firstID) || revoked(secondID) {
		t.Fatalf("revoked: first %v, second %v; want the first only", revoked(firstID), revoked(secondID))
	}
	if code, e := call(http.MethodDelete, "/v1/tokens/self", first); code != http.StatusUnauthorized || e.Code != "unauthenticated" {
		t.Fatalf("revoking again: %d %+v, want 401 unauthenticated", code, e)
	}
	if code, _ := call(http.MethodGet, "/v1/models", first); code != http.StatusUnauthorized {
		t.Fatalf("the revoked token on /v1/models: %d, want 401", code)
	}
	if code, e := call(http.MethodGet, "/v1/models", second); code != http.StatusOK {
		t.Fatalf("the other token of the same person: %d %+v", code, e)
	}
	if code, _ := call(http.MethodDelete, "/v1/tokens/self", "timon_unknown"); code != http.StatusUnauthorized {
		t.Fatalf("an unknown token: %d, want 401", code)
	}
	if code, _ := call(http.MethodPost, "/v1/tokens/self", second); code != http.StatusMethodNotAllowed {
		t.Fatalf("POST: %d, want 405", code)
	}

	// Scoped to lsp: refused on the API, yet it may give itself up, with
	// the editor's header or without.
	for _, header := range [][]string{nil, {remote.IntegrationHeader, "lsp"}} {
		lsp, lspID := create("lsp")
		if code, _ := call(http.MethodGet, "/v1/models", lsp); code != http.StatusForbidden {
			t.Fatalf("an lsp-only token on the API: %d, want 403", code)
		}
		if code, e := call(http.MethodDelete, "/v1/tokens/self", lsp, header...); code != http.StatusNoContent || !revoked(lspID) {
			t.Fatalf("an lsp-only token revoking itself (%v): %d %+v", header, code, e)
		}
	}
	if revoked(secondID) {
		t.Fatal("the other token was revoked")
	}
}
