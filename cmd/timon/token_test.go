package main

import (
	"bytes"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"timon.dev/timon/core/store/sqlite"
)

func TestTokenCreateScope(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("TIMON_DATA_DIR", dir)
	var out, errOut bytes.Buffer
	if err := cmdToken(t.Context(), []string{"create", "--user", "ada", "--scope", "lsp, api"}, &out, &errOut); err != nil {
		t.Fatalf("%v: %s", err, errOut.String())
	}
	st, err := sqlite.Open(filepath.Join(dir, "timon.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	tok, err := st.LookupToken(t.Context(), strings.TrimSpace(out.String()))
	if err != nil || strings.Join(tok.Scope, ",") != "lsp,api" || !tok.Allows("lsp") || tok.Allows("slack") {
		t.Fatalf("token %+v %v", tok, err)
	}
	errOut.Reset()
	if err := cmdToken(t.Context(), []string{"create", "--user", "ada", "--scope", "everything"}, &out, &errOut); !errors.Is(err, errUsage) ||
		!strings.Contains(errOut.String(), `unknown integration "everything"`) {
		t.Fatalf("bad scope: %v %s", err, errOut.String())
	}
}

// TestTokenListScope: the list ends with each token's scope, "all" when it
// has none; the id stays the first field.
func TestTokenListScope(t *testing.T) {
	t.Setenv("TIMON_DATA_DIR", t.TempDir())
	var out, errOut bytes.Buffer
	for _, args := range [][]string{{"create", "--user", "ada", "--scope", "lsp,api"}, {"create", "--user", "bob"}} {
		if err := cmdToken(t.Context(), args, &out, &errOut); err != nil {
			t.Fatalf("%v: %s", err, errOut.String())
		}
	}
	out.Reset()
	if err := cmdToken(t.Context(), []string{"list"}, &out, &errOut); err != nil {
		t.Fatalf("%v: %s", err, errOut.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if h := strings.Fields(lines[0]); len(lines) != 3 || h[len(h)-1] != "SCOPE" || h[0] != "ID" {
		t.Fatalf("list:\n%s", out.String())
	}
	scopes := map[string]string{}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if !strings.HasPrefix(f[0], "tok_") {
			t.Fatalf("the id is not the first field: %q", l)
		}
		scopes[f[1]] = f[len(f)-1]
	}
	if scopes["ada"] != "lsp,api" || scopes["bob"] != "all" {
		t.Fatalf("scopes %v in:\n%s", scopes, out.String())
	}
}
