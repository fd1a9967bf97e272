package review

import (
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/crypto/chacha20poly1305"
)

// KeySize is the size of the key that seals what a review keeps in the
// store between two steps (model answers, the result waiting to be
// posted): they quote the diff, which must not lie in clear at rest.
const KeySize = chacha20poly1305.KeySize

const sealDomain = "timon-gitlab-review-v1\n"

// sealer encrypts stored review data with XChaCha20-Poly1305 under random
// nonces; the associated data binds a ciphertext to its row, so that one
// moved to another row does not open.
type sealer struct {
	aead  cipher.AEAD
	idKey []byte // names chunks without revealing their text
}

func newSealer(key []byte) (*sealer, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("review: the sealing key must be %d bytes, got %d", KeySize, len(key))
	}
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, fmt.Errorf("review: %w", err)
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(sealDomain + "chunk-id"))
	return &sealer{aead: aead, idKey: m.Sum(nil)}, nil
}

func rowAD(table string, project, iid int64, head, kind, chunk string) []byte {
	return []byte(sealDomain + table + "\n" + strconv.FormatInt(project, 10) + "\n" + strconv.FormatInt(iid, 10) + "\n" +
		head + "\n" + kind + "\n" + chunk + "\n")
}

// seal returns base64(nonce || ciphertext).
func (s *sealer) seal(ad, plain []byte) (string, error) {
	out := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plain)+s.aead.Overhead())
	if _, err := rand.Read(out); err != nil {
		return "", fmt.Errorf("sealing review data: %w", err)
	}
	out = s.aead.Seal(out, out, plain, ad)
	return base64.StdEncoding.EncodeToString(out), nil
}

var errUnsealed = errors.New("stored review data does not open: another key, or altered or moved data")

func (s *sealer) open(ad []byte, sealed string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(sealed)
	ns := s.aead.NonceSize()
	if err != nil || len(b) < ns+s.aead.Overhead() {
		return nil, errUnsealed
	}
	pt, err := s.aead.Open(nil, b[:ns], b[ns:], ad)
	if err != nil {
		return nil, errUnsealed
	}
	return pt, nil
}

// chunkID names a chunk's request by a keyed hash of everything that
// decides its answer: a reader of the store cannot test a guess of it.
func (s *sealer) chunkID(parts ...string) string {
	m := hmac.New(sha256.New, s.idKey)
	for _, p := range parts {
		m.Write([]byte(strconv.Itoa(len(p)) + ":"))
		m.Write([]byte(p))
	}
	return hex.EncodeToString(m.Sum(nil)[:16])
}

// LoadKey reads the review's sealing key (64 hex characters) from path,
// creating it (0600, in a 0700 folder) on first use. Two processes
// starting at once agree on one key.
func LoadKey(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		key := make([]byte, KeySize)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("creating the review sealing key: %w", err)
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("creating the review sealing key: %w", err)
		}
		// Written aside, then linked into place: a second process starting
		// at once reads the first one's whole key, never half of it.
		f, err := os.CreateTemp(filepath.Dir(path), ".review-key-*")
		if err != nil {
			return nil, fmt.Errorf("creating the review sealing key: %w", err)
		}
		defer os.Remove(f.Name())
		_, werr := f.WriteString(hex.EncodeToString(key) + "\n")
		if err := errors.Join(werr, f.Chmod(0o600), f.Sync(), f.Close()); err != nil {
			return nil, fmt.Errorf("writing the review sealing key: %w", err)
		}
		if err := os.Link(f.Name(), path); errors.Is(err, os.ErrExist) {
			return LoadKey(path)
		} else if err != nil {
			return nil, fmt.Errorf("writing the review sealing key: %w", err)
		}
		return key, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the review sealing key: %w", err)
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(data)))
	if err != nil || len(key) != KeySize {
		return nil, fmt.Errorf("reading the review sealing key %s: expected %d bytes in hex", path, KeySize)
	}
	return key, nil
}
