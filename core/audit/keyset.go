package audit

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"
)

// TrustedKey is a public key that may have signed checkpoints, in the
// period it was in use. A signing key's period ends when `timon audit
// rotate-key` retires it: a checkpoint it signs later is refused.
type TrustedKey struct {
	KeyID     string            // KeyID(Public)
	Public    ed25519.PublicKey //
	NotBefore time.Time         // zero: no start
	NotAfter  time.Time         // zero: still in use
	Source    string            // where the key came from, for reports
}

// covers reports whether t is within k's period.
func (k *TrustedKey) covers(t time.Time) bool {
	return (k.NotBefore.IsZero() || !t.Before(k.NotBefore)) && (k.NotAfter.IsZero() || !t.After(k.NotAfter))
}

func (k *TrustedKey) String() string {
	s := k.KeyID
	if k.Source != "" {
		s += " (from " + k.Source + ")"
	}
	return s
}

// KeySet is the public keys a verification trusts, one per key id.
type KeySet struct {
	Keys []TrustedKey
}

// Add adds pub with its period; a key already in the set keeps the
// narrowest period both give it.
func (s *KeySet) Add(k TrustedKey) error {
	if len(k.Public) != ed25519.PublicKeySize {
		return errors.New("not an Ed25519 public key")
	}
	k.KeyID = KeyID(k.Public)
	for i := range s.Keys {
		o := &s.Keys[i]
		if o.KeyID != k.KeyID {
			continue
		}
		if !k.NotBefore.IsZero() && (o.NotBefore.IsZero() || k.NotBefore.After(o.NotBefore)) {
			o.NotBefore = k.NotBefore
		}
		if !k.NotAfter.IsZero() && (o.NotAfter.IsZero() || k.NotAfter.Before(o.NotAfter)) {
			o.NotAfter = k.NotAfter
		}
		return nil
	}
	s.Keys = append(s.Keys, k)
	return nil
}

// Merge adds every key of o.
func (s *KeySet) Merge(o *KeySet) {
	if o == nil {
		return
	}
	for _, k := range o.Keys {
		s.Add(k)
	}
}

// Lookup returns the key named id, or nil.
func (s *KeySet) Lookup(id string) *TrustedKey {
	if s == nil {
		return nil
	}
	for i := range s.Keys {
		if s.Keys[i].KeyID == id {
			return &s.Keys[i]
		}
	}
	return nil
}

// Describe lists the keys and where they came from, for a report.
func (s *KeySet) Describe() string {
	if s == nil || len(s.Keys) == 0 {
		return "none"
	}
	parts := make([]string, 0, len(s.Keys))
	for i := range s.Keys {
		k := &s.Keys[i]
		p := k.String()
		if !k.NotAfter.IsZero() {
			p += ", retired " + k.NotAfter.UTC().Format(time.RFC3339)
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, "; ")
}

// keySetJSON is the key-set file: what `timon audit rotate-key` keeps and
// `timon audit public-key --set` prints.
type keySetJSON struct {
	Keys []keySetKey `json:"keys"`
}

type keySetKey struct {
	KeyID     string     `json:"key_id"`
	PublicKey string     `json:"public_key"` // base64 of the 32 bytes
	NotBefore *time.Time `json:"not_before,omitempty"`
	NotAfter  *time.Time `json:"not_after,omitempty"`
}

// MarshalJSON writes the key-set file: {"keys": [{"key_id", "public_key"
// (base64), "not_before", "not_after"}]}, keys sorted by the start of
// their period.
func (s *KeySet) MarshalJSON() ([]byte, error) {
	keys := append([]TrustedKey(nil), s.Keys...)
	sort.SliceStable(keys, func(a, b int) bool { return keys[a].NotBefore.Before(keys[b].NotBefore) })
	out := keySetJSON{Keys: []keySetKey{}}
	for _, k := range keys {
		e := keySetKey{KeyID: k.KeyID, PublicKey: base64.StdEncoding.EncodeToString(k.Public)}
		if !k.NotBefore.IsZero() {
			t := k.NotBefore.UTC()
			e.NotBefore = &t
		}
		if !k.NotAfter.IsZero() {
			t := k.NotAfter.UTC()
			e.NotAfter = &t
		}
		out.Keys = append(out.Keys, e)
	}
	return json.MarshalIndent(out, "", "  ")
}

// ParseKeySet reads a key set, or a single public key (PEM or base64, see
// ParsePublicKey) as a set of one key without a period. source names where
// it came from in reports.
func ParseKeySet(data []byte, source string) (*KeySet, error) {
	s := &KeySet{}
	if !bytes.HasPrefix(bytes.TrimSpace(data), []byte("{")) {
		pub, err := ParsePublicKey(data)
		if err != nil {
			return nil, err
		}
		return s, s.Add(TrustedKey{Public: pub, Source: source})
	}
	var f keySetJSON
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("parsing key set: %w", err)
	}
	for i, e := range f.Keys {
		raw, err := base64.StdEncoding.DecodeString(e.PublicKey)
		if err != nil || len(raw) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("parsing key set: key %d: public_key is not the base64 of 32 bytes", i+1)
		}
		k := TrustedKey{Public: raw, Source: source}
		if id := KeyID(k.Public); e.KeyID != "" && e.KeyID != id {
			return nil, fmt.Errorf("parsing key set: key %d says key_id %s, its public key's is %s", i+1, e.KeyID, id)
		}
		if e.NotBefore != nil {
			k.NotBefore = *e.NotBefore
		}
		if e.NotAfter != nil {
			k.NotAfter = *e.NotAfter
		}
		if err := s.Add(k); err != nil {
			return nil, fmt.Errorf("parsing key set: key %d: %w", i+1, err)
		}
	}
	return s, nil
}

// ReadKeySetFile reads a key-set file or a public key file (see
// ParseKeySet); the file's path is the keys' source.
func ReadKeySetFile(path string) (*KeySet, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading public keys: %w", err)
	}
	s, err := ParseKeySet(data, path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}
