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
