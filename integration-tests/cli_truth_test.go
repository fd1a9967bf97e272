package integrationtests

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"timon.dev/timon/core/audit"
	"timon.dev/timon/core/store/sqlite"
)

// The CLI must not give wrong answers that look right: an OK that checked
// nothing, an empty database made up in the wrong directory.

// runIn runs the binary with dir as working directory and dataDir as
// TIMON_DATA_DIR ("" leaves it unset: the configuration decides).
func runIn(t *testing.T, dir, dataDir, stdin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(stdin)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TIMON_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	if dataDir != "" {
		cmd.Env = append(cmd.Env, "TIMON_DATA_DIR="+dataDir)
	}
	return runCmd(t, cmd)
}

// exampleConfig is the example configuration's absolute path.
func exampleConfig(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs("../timon.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestCLIReadOnlyCreatesNothing: run from a directory without a database,
// every command that reads one fails naming the path and the
// configuration, and leaves no data directory behind.
func TestCLIReadOnlyCreatesNothing(t *testing.T) {
	dir := t.TempDir()
	want := filepath.Join(dir, "data", "timon.db")
	for _, args := range [][]string{
		{"token", "list"},
		{"token", "revoke", "tok_x"},
		{"audit", "verify"},
		{"audit", "export"},
		{"audit", "tail"},
		{"audit", "stats"},
		{"audit", "checkpoints"},
		{"audit", "retention"},
		{"audit", "rotate-key"},
	} {
		out, errOut, code := runIn(t, dir, "", "", args...)
		if code != 1 || out != "" || !strings.Contains(errOut, "no database at "+want) || !strings.Contains(errOut, "embedded") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, out, errOut)
		}
	}
	_, errOut, code := runIn(t, dir, "", "", "audit", "public-key")
	if code != 1 || !strings.Contains(errOut, "no signing key at "+filepath.Join(dir, "data", "audit-signing.key")) {
		t.Errorf("audit public-key: exit %d %s", code, errOut)
	}
	out, errOut, code := runIn(t, dir, "", "mail ada@lab-univ.fr\n", "redact")
	if code != 0 || strings.Contains(out, "ada@") || !strings.Contains(errOut, "configuration timon.example.yaml (embedded)") {
		t.Errorf("redact: exit %d %q %s", code, out, errOut)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("read-only commands left %v in the working directory", entries)
	}
}

// buildJournal writes n entries to data/timon.db, signed by a key that is
// not in the data directory, and returns that key's public half.
func buildJournal(t *testing.T, data string, n int) ed25519.PublicKey {
	t.Helper()
	ctx := context.Background()
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(filepath.Join(data, "timon.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	j, err := audit.Open(ctx, st, audit.Options{SigningKey: priv, HashKey: bytes.Repeat([]byte("k"), 32)})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		e := &audit.Entry{
			Time: time.Now(), RequestID: fmt.Sprintf("req-%d", i), UserID: "ida", Integration: "api",
			Task: "rewrite", Decision: audit.DecisionAllow, Outcome: "ok",
		}
		if err := j.Append(ctx, e, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Close(); err != nil { // writes the checkpoint of the tail
		t.Fatal(err)
	}
	return pub
}

func execDB(t *testing.T, data, query string) {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(data, "timon.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Exec(context.Background(), query); err != nil {
		t.Fatal(err)
	}
}

// TestCLIVerifyDoesNotPretend: without a public key, checkpoints are not
// "OK"; a forged one is caught with the key; a journal whose checkpoints
// were deleted is not OK unless accepted; counts are in good English.
func TestCLIVerifyDoesNotPretend(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(t.TempDir(), "data")
	pub := buildJournal(t, data, 5)
	pemPub, err := audit.PublicKeyPEM(pub)
	if err != nil {
		t.Fatal(err)
	}
	pubFile := filepath.Join(dir, "audit.pub")
	os.WriteFile(pubFile, pemPub, 0o600)
	id := audit.KeyID(pub)

	out, errOut, code := runIn(t, dir, data, "", "audit", "verify", "--public-key", pubFile)
	if code != 0 || !strings.Contains(out, "OK: 5 entries, 1 checkpoint\n") || !strings.Contains(out, "key "+id+": 1 checkpoint,") {
		t.Fatalf("intact journal with its key: exit %d %q %s", code, out, errOut)
	}
	if !strings.Contains(errOut, "configuration timon.example.yaml (embedded), database "+filepath.Join(data, "timon.db")) {
		t.Fatalf("verify does not say what it opened: %s", errOut)
	}

	// No key anywhere (the signing key is not in the data directory).
	out, errOut, code = runIn(t, dir, data, "", "audit", "verify")
	if code != 1 || strings.Contains(out, "OK") || !strings.Contains(errOut, "NOT VERIFIED") || !strings.Contains(errOut, "--public-key") {
		t.Fatalf("no key: exit %d %q %s", code, out, errOut)
	}

	// A forged signature: still not OK without a key, TAMPERED with it,
	// naming the key once.
	forged := base64.StdEncoding.EncodeToString(make([]byte, ed25519.SignatureSize))
	execDB(t, data, `UPDATE audit_checkpoints SET signature = '`+forged+`'`)
	out, errOut, code = runIn(t, dir, data, "", "audit", "verify")
	if code != 1 || strings.Contains(out, "OK") || !strings.Contains(errOut, "forged checkpoint would pass") {
		t.Fatalf("forged checkpoint without a key: exit %d %q %s", code, out, errOut)
	}
	out, errOut, code = runIn(t, dir, data, "", "audit", "verify", "--public-key", pubFile)
	if code != 1 || !strings.Contains(errOut, "TAMPERED at seq 5") || strings.Count(errOut, id) != 1 {
		t.Fatalf("forged checkpoint with the key: exit %d %q %s", code, out, errOut)
	}

	// Checkpoints deleted (a truncated or rewritten journal looks so).
	execDB(t, data, `DELETE FROM audit_checkpoints`)
	out, errOut, code = runIn(t, dir, data, "", "audit", "verify", "--public-key", pubFile)
	if code != 1 || strings.Contains(out, "OK") || !strings.Contains(errOut, "5 entries and no checkpoint: nothing proves the journal was not truncated or rewritten") {
		t.Fatalf("no checkpoint: exit %d %q %s", code, out, errOut)
	}
	out, errOut, code = runIn(t, dir, data, "", "audit", "verify", "--public-key", pubFile, "--allow-no-checkpoint")
	if code != 0 || !strings.Contains(out, "OK: 5 entries, 0 checkpoints; no checkpoint: nothing proves") {
		t.Fatalf("no checkpoint, accepted: exit %d %q %s", code, out, errOut)
	}

	// One entry: singular.
	data1 := filepath.Join(t.TempDir(), "data")
	pub1 := buildJournal(t, data1, 1)
	pem1, _ := audit.PublicKeyPEM(pub1)
	pub1File := filepath.Join(dir, "one.pub")
	os.WriteFile(pub1File, pem1, 0o600)
	out, errOut, code = runIn(t, dir, data1, "", "audit", "verify", "--public-key", pub1File)
	if code != 0 || !strings.Contains(out, "OK: 1 entry, 1 checkpoint\n") {
		t.Fatalf("one entry: exit %d %q %s", code, out, errOut)
	}

	// tail -n N, flags after the subcommand's own.
	out, errOut, code = runIn(t, dir, data, "", "audit", "tail", "-n", "2")
	if code != 0 || strings.Count(out, "\n") != 2 || !strings.Contains(out, "req-4") || strings.Contains(out, "req-2") {
		t.Fatalf("tail -n 2: exit %d %q %s", code, out, errOut)
	}
	if _, _, code := runIn(t, dir, data, "", "audit", "tail", "-n", "0"); code != 2 {
		t.Fatalf("tail -n 0: exit %d", code)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Fatalf("the working directory holds %v", entries)
	}
}

// TestCLITokensAndRedactFile: flags after the token id, expiry listed,
// revoking twice said, redact reads a file.
func TestCLITokensAndRedactFile(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(t.TempDir(), "data")
	cfg := exampleConfig(t)
	out, errOut, code := runIn(t, dir, data, "", "token", "create", "--user", "ada", "--expires", "2d", "--config", cfg)
	if code != 0 || !strings.HasPrefix(out, "timon_") || !strings.Contains(errOut, "configuration "+cfg+", database "+filepath.Join(data, "timon.db")) {
		t.Fatalf("create: exit %d %q %s", code, out, errOut)
	}
	if _, _, code := runIn(t, dir, data, "", "token", "create", "--user", "bob", "--config", cfg); code != 0 {
		t.Fatalf("create without expiry: exit %d", code)
	}
	out, errOut, code = runIn(t, dir, data, "", "token", "list", "--config", cfg)
	if code != 0 || !strings.Contains(out, "EXPIRES") {
		t.Fatalf("list: exit %d %q %s", code, out, errOut)
	}
	var adaID string
	expiry := time.Now().Add(48 * time.Hour).UTC().Format(time.DateOnly)
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) > 1 && f[1] == "ada":
			adaID = f[0]
			if !strings.Contains(line, expiry) {
				t.Errorf("ada's token does not show its expiry %s: %q", expiry, line)
			}
		case len(f) > 1 && f[1] == "bob" && !strings.Contains(line, "never"):
			t.Errorf("bob's token does not say it never expires: %q", line)
		}
	}
	if adaID == "" {
		t.Fatalf("no token for ada in %q", out)
	}
	out, errOut, code = runIn(t, dir, data, "", "token", "revoke", adaID, "--config", cfg)
	if code != 0 || out != "token "+adaID+" revoked\n" {
		t.Fatalf("revoke with --config after the id: exit %d %q %s", code, out, errOut)
	}
	out, errOut, code = runIn(t, dir, data, "", "token", "revoke", adaID, "--config", cfg)
	if code != 0 || !strings.Contains(out, "was already revoked") {
		t.Fatalf("revoke twice: exit %d %q %s", code, out, errOut)
	}
	if _, errOut, code := runIn(t, dir, data, "", "token", "revoke", "tok_nope"); code != 1 || !strings.Contains(errOut, "no token tok_nope") {
		t.Fatalf("revoke unknown: exit %d %s", code, errOut)
	}

	in := filepath.Join(dir, "notes.txt")
	os.WriteFile(in, []byte("mail ada@lab-univ.fr\n"), 0o600)
	out, errOut, code = runIn(t, dir, "", "ignored stdin", "redact", in, "--format", "text")
	if code != 0 || strings.Contains(out, "ada@") || !strings.Contains(out, "mail [[") {
		t.Fatalf("redact FILE: exit %d %q %s", code, out, errOut)
	}
	if _, errOut, code := runIn(t, dir, "", "", "redact", filepath.Join(dir, "missing.txt")); code != 1 || !strings.Contains(errOut, "missing.txt") {
		t.Fatalf("redact a missing file: exit %d %s", code, errOut)
	}
}

// TestCLIHelpEverywhere: --help on every command and subcommand prints its
// usage with every flag on stdout and exits 0; the top-level usage lists
// every subcommand.
func TestCLIHelpEverywhere(t *testing.T) {
	dir := t.TempDir()
	filters := []string{"--since", "--until", "--user", "--integration", "--group", "--outcome"}
	cases := map[string][]string{
		"serve":             {"--config", "--addr"},
		"lsp":               {"--config", "--hub"},
		"redact":            {"--config", "--profile", "--format", "FILE"},
		"config":            {"--config"},
		"config check":      {"--config"},
		"token":             {"create", "list", "revoke"},
		"token create":      {"--config", "--user", "--groups", "--name", "--expires"},
		"token list":        {"--config", "--user"},
		"token revoke":      {"--config", "TOKEN_ID"},
		"audit":             {"verify", "export", "tail", "stats", "public-key", "rotate-key", "checkpoints", "retention", "--allow-no-checkpoint", "-n N"},
		"audit verify":      {"--config", "--public-key", "--checkpoints", "--allow-no-checkpoint"},
		"audit export":      append([]string{"--config", "--format"}, filters...),
		"audit tail":        append([]string{"--config", "--format", "-n", "-f"}, filters...),
		"audit stats":       append([]string{"--config"}, filters...),
		"audit public-key":  {"--config", "--set"},
		"audit checkpoints": {"--config"},
		"audit retention":   {"--config"},
		"audit rotate-key":  {"--config"},
	}
	for cmd, want := range cases {
		for _, h := range []string{"--help", "-h"} {
			out, errOut, code := runIn(t, dir, "", "", append(strings.Fields(cmd), h)...)
			if code != 0 || !strings.Contains(out, "usage") {
				t.Errorf("%s %s: exit %d, stdout %q, stderr %q", cmd, h, code, out, errOut)
				continue
			}
			group := cmd == "audit" || cmd == "token" || cmd == "config"
			for _, w := range want {
				ok := strings.Contains(out, w)
				if !group && strings.HasPrefix(w, "-") {
					// A flag set's flag is described in the list of flags,
					// which flag prints with one dash.
					name := "\n  -" + strings.TrimLeft(w, "-")
					ok = strings.Contains(out, name+" ") || strings.Contains(out, name+"\t") || strings.Contains(out, name+"\n")
				}
				if !ok {
					t.Errorf("%s %s does not mention %s:\n%s", cmd, h, w, out)
				}
			}
		}
	}
	out, _, code := runIn(t, dir, "", "", "help")
	if code != 0 {
		t.Fatalf("help: exit %d", code)
	}
	for _, sub := range []string{"serve", "lsp", "audit verify", "audit export|tail|stats", "audit public-key", "audit checkpoints", "audit retention", "audit rotate-key", "redact", "token create|list|revoke", "config check", "version"} {
		if !strings.Contains(out, "timon "+sub) {
			t.Errorf("the usage does not list timon %s", sub)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("help left %v in the working directory", entries)
	}
}
