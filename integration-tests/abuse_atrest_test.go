package integrationtests

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"timon.dev/timon/core/audit"
)

// withUmask runs the rest of the test (and the processes it starts) under
// umask 022, the usual default that made timon.db 0644.
func withUmask(t *testing.T) {
	old := syscall.Umask(0o022)
	t.Cleanup(func() { syscall.Umask(old) })
}

// stopHub stops a hub and waits for it (its journal writes a checkpoint
// on the way out).
func stopHub(t *testing.T, h *hub) {
	t.Helper()
	h.cmd.Process.Signal(os.Interrupt)
	select {
	case <-h.waited:
	case <-time.After(30 * time.Second):
		t.Fatalf("timon serve did not stop:\n%s", h.logs.String())
	}
}

// TestAbuseAtRestDataFilesPrivate: in a data directory that already
// existed with mode 0755, under umask 022, the database, its -wal and -shm
// and the key files are 0600, and the hub warns about the directory. The
// journal's sent_hash is the HMAC of what was sent under the key in the
// data directory, not its SHA-256: a reader cannot test a guess.
func TestAbuseAtRestDataFilesPrivate(t *testing.T) {
	withUmask(t)
	fake := newFake(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "timon.yaml")
	if err := os.WriteFile(cfgPath, []byte(fmt.Sprintf(hubConfig, fake.URL())), 0o600); err != nil {
		t.Fatal(err)
	}
	h := launchHub(t, fake, cfgPath, data)
	user := h.token("ida", "physics")
	code, out, _ := h.post("/v1/assist", user, map[string]any{"task": "explain", "input": "x := 42 // the guess"})
	if code != 200 {
		t.Fatalf("assist: %d %v", code, out)
	}

	for _, name := range []string{"timon.db", "timon.db-wal", "timon.db-shm", "audit-signing.key", "audit-hash.key"} {
		fi, err := os.Stat(filepath.Join(data, name))
		if err != nil {
			t.Fatal(err)
		}
		if m := fi.Mode().Perm(); m != 0o600 {
			t.Errorf("%s has mode %04o, want 0600", name, m)
		}
	}
	if logs := h.logs.String(); !strings.Contains(logs, "the data directory is open to group or others") || !strings.Contains(logs, `"mode":"0755"`) {
		t.Errorf("no warning about the 0755 data directory in the logs:\n%s", logs)
	}

	// sent_hash is keyed.
	reqs := modelRequests(fake)
	if len(reqs) != 1 {
		t.Fatalf("%d model requests, want 1", len(reqs))
	}
	var prompt strings.Builder
	for _, m := range reqs[0].Messages {
		prompt.WriteString(m.Role + "\x00" + m.Content + "\x00")
	}
	keyHex, err := os.ReadFile(filepath.Join(data, "audit-hash.key"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(keyHex)))
	if err != nil || len(key) != 32 {
		t.Fatalf("audit-hash.key: %v", err)
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(prompt.String()))
	plain := sha256.Sum256([]byte(prompt.String()))
	export, errOut, code := h.timon("audit", "export", "--user", "ida")
	if code != 0 {
		t.Fatalf("export: %d %s", code, errOut)
	}
	var e struct {
		RequestID string `json:"request_id"`
		SentHash  string `json:"sent_hash"`
		HashKey   string `json:"hash_key"`
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(export)), &e); err != nil || e.RequestID != out["request_id"] {
		t.Fatalf("export: %v\n%s", err, export)
	}
	if e.SentHash == hex.EncodeToString(plain[:]) {
		t.Fatal("sent_hash is the SHA-256 of the prompt: anyone can test a guess")
	}
	if e.SentHash != hex.EncodeToString(mac.Sum(nil)) || e.HashKey != audit.HashKeyID(key) {
		t.Fatalf("sent_hash %s under key %q: want the HMAC-SHA-256 of what was sent under audit-hash.key (%s)", e.SentHash, e.HashKey, audit.HashKeyID(key))
	}
	if o, errOut, code := h.timon("audit", "verify", "--allow-no-checkpoint"); code != 0 || !strings.Contains(o, "OK") {
		t.Fatalf("verify: %d %s %s", code, o, errOut)
	}
}

// TestAbuseAtRestSigningKeyOpen: a signing key file readable by group or
// others stops timon serve, naming the file and the fix.
func TestAbuseAtRestSigningKeyOpen(t *testing.T) {
	withUmask(t)
	fake := newFake(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	os.Mkdir(data, 0o700)
	key, _ := audit.GenerateSigningKey()
	pemBytes, _ := audit.PrivateKeyPEM(key)
	keyPath := filepath.Join(data, "audit-signing.key")
	if err := os.WriteFile(keyPath, pemBytes, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(keyPath, 0o644)
	cfgPath := filepath.Join(dir, "timon.yaml")
	os.WriteFile(cfgPath, []byte(fmt.Sprintf(hubConfig, fake.URL())), 0o600)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "serve", "--config", cfgPath, "--addr", freeAddr(t))
	cmd.Env = append(os.Environ(), "TIMON_DATA_DIR="+data, "TIMON_PROVIDER_URL=")
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("timon serve started with a signing key readable by others:\n%s", logs.String())
	}
	if err == nil || !strings.Contains(logs.String(), keyPath) || !strings.Contains(logs.String(), "chmod 600 "+keyPath) {
		t.Fatalf("timon serve with a 0644 signing key: %v\n%s", err, logs.String())
	}
}

// TestAbuseAtRestRotateKey: after timon audit rotate-key, the checkpoints
// of the old key and of the new one verify with the key set; verifying
// against the local key says loudly that it proves consistency only; an
// outside key set silences that; a checkpoint by a key outside the keys
// given fails, naming that key once.
func TestAbuseAtRestRotateKey(t *testing.T) {
	fake := newFake(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	cfgPath := filepath.Join(dir, "timon.yaml")
	os.WriteFile(cfgPath, []byte(hubConfigWith(fake.URL(), "journal:\n  checkpoint_every: 2\n")), 0o600)
	outside := t.TempDir()

	ask := func(h *hub, n int) {
		t.Helper()
		tok := h.token("ida", "physics")
		for i := range n {
			if code, out, _ := h.post("/v1/assist", tok, map[string]any{"task": "explain", "input": fmt.Sprintf("x := %d", i)}); code != 200 {
				t.Fatalf("assist: %d %v", code, out)
			}
		}
	}
	h := launchHub(t, fake, cfgPath, data)
	ask(h, 3)
	oldPub, _, code := h.timon("audit", "public-key")
	if code != 0 {
		t.Fatal("public-key failed")
	}
	os.WriteFile(filepath.Join(outside, "old.pub"), []byte(oldPub), 0o600)
	stopHub(t, h)

	o, errOut, code := h.timon("audit", "rotate-key")
	if code != 0 || !strings.Contains(o, "rotated") {
		t.Fatalf("rotate-key: %d %s %s", code, o, errOut)
	}
	h = launchHub(t, fake, cfgPath, data)
	ask(h, 3)
	newPub, _, _ := h.timon("audit", "public-key")
	stopHub(t, h)
	oldKey, err := audit.ParsePublicKey([]byte(oldPub))
	if err != nil {
		t.Fatal(err)
	}
	newKey, err := audit.ParsePublicKey([]byte(newPub))
	if err != nil {
		t.Fatal(err)
	}
	oldID, newID := audit.KeyID(oldKey), audit.KeyID(newKey)
	if oldID == newID {
		t.Fatal("rotate-key kept the key")
	}

	// The chain records the rotation.
	export, _, _ := h.timon("audit", "export")
	if !strings.Contains(export, `"next_key":"`+newID+`"`) {
		t.Fatalf("no rotation entry naming %s:\n%s", newID, export)
	}

	// Default: the local key and the local key set — OK, loudly local.
	o, errOut, code = h.timon("audit", "verify")
	if code != 0 || !strings.Contains(o, "OK") {
		t.Fatalf("verify after rotation: %d %s %s", code, o, errOut)
	}
	for _, id := range []string{oldID, newID} {
		if !strings.Contains(o, "key "+id+": ") || strings.Contains(o, "key "+id+": 0 checkpoints") {
			t.Errorf("verify does not say key %s checked checkpoints:\n%s", id, o)
		}
	}
	if !strings.Contains(errOut, "WARNING") || !strings.Contains(errOut, "consistent with") || !strings.Contains(o, "audit-signing.key") {
		t.Errorf("verify against the local key does not say so:\nstdout: %s\nstderr: %s", o, errOut)
	}

	// The key set kept outside: OK, no warning, its file named.
	set, _, code := h.timon("audit", "public-key", "--set")
	if code != 0 {
		t.Fatal("public-key --set failed")
	}
	setPath := filepath.Join(outside, "keys.json")
	os.WriteFile(setPath, []byte(set), 0o600)
	o, errOut, code = h.timon("audit", "verify", "--public-key", setPath)
	if code != 0 || !strings.Contains(o, "OK") || strings.Contains(errOut, "WARNING") || !strings.Contains(o, setPath) {
		t.Fatalf("verify with the outside key set: %d\nstdout: %s\nstderr: %s", code, o, errOut)
	}

	// Only the old public key: the new key's checkpoints are unknown.
	o, errOut, code = h.timon("audit", "verify", "--public-key", filepath.Join(outside, "old.pub"))
	if code != 1 || !strings.Contains(errOut, "unknown key "+newID) || strings.Count(errOut, newID) != 1 {
		t.Fatalf("verify with the old key only: %d\nstdout: %s\nstderr: %s", code, o, errOut)
	}
}
