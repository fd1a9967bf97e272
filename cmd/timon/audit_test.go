package main

import (
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"timon.dev/timon/core/audit"
	"timon.dev/timon/core/config"
)

// TestTrustedKeys: verify trusts --public-key files, else
// journal.public_keys, else the local key (and says it is local); a key
// file inside the data directory does not count as kept outside.
func TestTrustedKeys(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	os.Mkdir(data, 0o700)
	key, _ := audit.GenerateSigningKey()
	pemKey, _ := audit.PrivateKeyPEM(key)
	pub := key.Public().(ed25519.PublicKey)
	pemPub, _ := audit.PublicKeyPEM(pub)
	cfg := &config.Config{DataDir: data}
	cfg.Journal.SigningKeyFile = filepath.Join(data, "audit-signing.key")
	cfg.Journal.KeySetFile = filepath.Join(data, "audit-keys.json")
	os.WriteFile(cfg.Journal.SigningKeyFile, pemKey, 0o600)
	outside := filepath.Join(dir, "audit.pub")
	os.WriteFile(outside, pemPub, 0o600)
	insideFile := filepath.Join(data, "audit.pub")
	os.WriteFile(insideFile, pemPub, 0o600)

	tk, err := trustedKeys(cfg, nil)
	if err != nil || tk.outside || tk.set.Lookup(audit.KeyID(pub)) == nil || !strings.Contains(tk.set.Keys[0].Source, "derived from the signing key") {
		t.Fatalf("local: %+v %v", tk, err)
	}
	if w := tk.warning(); !strings.Contains(w, "WARNING") || !strings.Contains(w, cfg.Journal.SigningKeyFile) {
		t.Fatalf("local warning: %s", w)
	}
	cfg.Journal.PublicKeys = []string{outside}
	tk, err = trustedKeys(cfg, nil)
	if err != nil || !tk.outside || tk.set.Keys[0].Source != "journal.public_keys "+outside {
		t.Fatalf("journal.public_keys: %+v %v", tk, err)
	}
	tk, err = trustedKeys(cfg, []string{insideFile})
	if err != nil || tk.outside || tk.set.Keys[0].Source != "--public-key "+insideFile {
		t.Fatalf("--public-key inside the data directory: %+v %v", tk, err)
	}
	if _, err := trustedKeys(cfg, []string{filepath.Join(dir, "missing.pub")}); err == nil {
		t.Fatal("a missing --public-key file was accepted")
	}
}

// TestAuditShowSafe: what timon audit show prints of the journal cannot
// drive the terminal; the prompt's NUL separators stay visible.
func TestAuditShowSafe(t *testing.T) {
	if got := safe("system\x00be brief\x00user\x00\x1b[2Jhi\x9b\n\tok"); got != "system␀be brief␀user␀\uFFFD[2Jhi\uFFFD\n\tok" {
		t.Fatalf("safe: %q", got)
	}
	if dash("") != "-" || dash("a\x07") != "a\uFFFD" {
		t.Fatal("dash")
	}
	if days(365*24*time.Hour) != "365d" || days(90*time.Minute) != "1h30m0s" {
		t.Fatal("days")
	}
}
