package config_test

import (
	"bytes"
	"encoding/base64"
	"path/filepath"
	"strings"
	"testing"

	"timon.dev/timon/core/config"
)

// TestJournalKeys: the hash key and the key set default beside the
// signing key in the data directory; hash_key_env gives the key itself,
// and not together with a file; public_keys is read as a list.
func TestJournalKeys(t *testing.T) {
	t.Setenv(config.EnvDataDir, "")
	t.Setenv(config.EnvProviderURL, "")
	const base = "providers:\n  - {name: p, base_url: http://127.0.0.1:1/v1, models: [m], sovereign: true}\n"
	cfg, err := config.Parse("x", []byte(base+"data_dir: /var/lib/timon\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Journal.HashKeyFile != filepath.Join("/var/lib/timon", "audit-hash.key") || cfg.Journal.HashKey != nil ||
		cfg.Journal.KeySetFile != filepath.Join("/var/lib/timon", "audit-keys.json") {
		t.Fatalf("defaults: %+v", cfg.Journal)
	}

	t.Setenv("TEST_HASH_KEY", strings.Repeat("ab", 32))
	cfg, err = config.Parse("x", []byte(base+"journal:\n  hash_key_env: TEST_HASH_KEY\n  public_keys: [/etc/timon/trust/keys.json]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(cfg.Journal.HashKey, bytes.Repeat([]byte{0xab}, 32)) || cfg.Journal.HashKeyFile != "" ||
		len(cfg.Journal.PublicKeys) != 1 || cfg.Journal.PublicKeys[0] != "/etc/timon/trust/keys.json" {
		t.Fatalf("hash_key_env: %+v", cfg.Journal)
	}

	t.Setenv("TEST_HASH_KEY", "short")
	if _, err := config.Parse("x", []byte(base+"journal:\n  hash_key_env: TEST_HASH_KEY\n")); err == nil || !strings.Contains(err.Error(), "hash_key_env") {
		t.Fatalf("a short hash key: %v", err)
	}
	if _, err := config.Parse("x", []byte(base+"journal:\n  hash_key_env: TEST_HASH_KEY\n  hash_key_file: /k\n")); err == nil {
		t.Fatal("hash_key_env and hash_key_file together were accepted")
	}
}

// TestDecodeKey: the one reader of the journal's 32-byte keys, from the
// environment or a file.
func TestDecodeKey(t *testing.T) {
	want := bytes.Repeat([]byte{0xab}, 32)
	for _, s := range []string{
		strings.Repeat("ab", 32),
		strings.Repeat("ab", 32) + "\n",
		base64.StdEncoding.EncodeToString(want),
		base64.RawURLEncoding.EncodeToString(want),
	} {
		if k, err := config.DecodeKey(s); err != nil || !bytes.Equal(k, want) {
			t.Errorf("DecodeKey(%q) = %x, %v", s, k, err)
		}
	}
	for _, s := range []string{"", "abcd", base64.StdEncoding.EncodeToString([]byte("short")), strings.Repeat("ab", 33)} {
		if _, err := config.DecodeKey(s); err == nil {
			t.Errorf("DecodeKey(%q) accepted", s)
		}
	}
}
