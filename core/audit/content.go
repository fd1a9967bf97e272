package audit

import (
	"context"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"

	"timon.dev/timon/core/store"
)

// ErrNoContent is returned by ReadContent for an entry whose content is not
// stored: its level was not "full", none was given, or retention deleted it.
var ErrNoContent = errors.New("no content stored")

const (
	contentDomain = "timon-audit-content-v1\n"
	keyIDDomain   = "timon-audit-content-key\n"
)

// ContentKeyID names a content key without revealing it: the first 8 bytes
// of a domain-separated SHA-256, in hex. It is stored next to each sealed
// content so that a wrong key is reported as such.
func ContentKeyID(key []byte) string {
	h := sha256.New()
	h.Write([]byte(keyIDDomain))
	h.Write(key)
	return hex.EncodeToString(h.Sum(nil)[:8])
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != chacha20poly1305.KeySize {
		return nil, fmt.Errorf("content key must be %d bytes, got %d", chacha20poly1305.KeySize, len(key))
	}
	return chacha20poly1305.NewX(key)
}

// contentAD binds sealed content to its entry: the request id and the
// hashes the chain commits to. Moving a ciphertext to another entry makes
// it fail to open.
func contentAD(requestID, sentHash, returnedHash string) []byte {
	return []byte(contentDomain + requestID + "\n" + sentHash + "\n" + returnedHash + "\n")
}

// seal encrypts c with XChaCha20-Poly1305 under a random 24-byte nonce
// (random nonces of that size never collide in practice, whatever the
// volume). The result is nonce || ciphertext.
func seal(aead cipher.AEAD, n *Entry, c *Content) ([]byte, error) {
	pt := make([]byte, 0, 8+len(c.Sent)+len(c.Returned))
	pt = binary.BigEndian.AppendUint64(pt, uint64(len(c.Sent)))
	pt = append(pt, c.Sent...)
	pt = append(pt, c.Returned...)
	out := make([]byte, aead.NonceSize(), aead.NonceSize()+len(pt)+aead.Overhead())
	if _, err := rand.Read(out); err != nil {
		return nil, err
	}
	out = aead.Seal(out, out, pt, contentAD(n.RequestID, n.SentHash, n.ReturnedHash))
	clear(pt)
	return out, nil
}

func open(aead cipher.AEAD, requestID, sentHash, returnedHash string, sealed []byte) (*Content, error) {
	ns := aead.NonceSize()
	if len(sealed) < ns+aead.Overhead() {
		return nil, errors.New("sealed content too short")
	}
	pt, err := aead.Open(nil, sealed[:ns], sealed[ns:], contentAD(requestID, sentHash, returnedHash))
	if err != nil {
		return nil, errors.New("sealed content does not open: wrong key, or altered or moved ciphertext")
	}
	if len(pt) < 8 {
		return nil, errors.New("sealed content malformed")
	}
	n := binary.BigEndian.Uint64(pt)
	if n > uint64(len(pt)-8) {
		return nil, errors.New("sealed content malformed")
	}
	return &Content{Sent: string(pt[8 : 8+n]), Returned: string(pt[8+n:])}, nil
}

// ReadContent decrypts the stored content of entry seq with key, for an
// administrator. It checks the content against the hashes the chain holds:
// keyed with the hash key the entry names, one of hashKeys (the journal's
// Options.HashKey, and earlier ones), or unkeyed SHA-256 for entries
// journaled before keyed hashes. An unknown entry is store.ErrNotFound; an
// entry without stored content is ErrNoContent.
func ReadContent(ctx context.Context, st *store.Store, key []byte, seq int64, hashKeys ...[]byte) (*Content, error) {
	aead, err := newAEAD(key)
	if err != nil {
		return nil, fmt.Errorf("reading content of entry %d: %w", seq, err)
	}
	var (
		data   string
		keyID  sql.NullString
		sealed []byte
	)
	err = st.QueryRow(ctx, `SELECT e.data, c.key_id, c.sealed
		FROM audit_entries e LEFT JOIN audit_content c ON c.seq = e.seq WHERE e.seq = ?`, seq).
		Scan(&data, &keyID, &sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("journal entry %d: %w", seq, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("reading content of entry %d: %w", seq, err)
	}
	e, err := decode(seq, 0, []byte(data), "", "")
	if err != nil {
		return nil, err
	}
	if e.ContentLevel != LevelFull {
		return nil, fmt.Errorf("journal entry %d has content level %q: %w", seq, e.ContentLevel, ErrNoContent)
	}
	if !keyID.Valid {
		return nil, fmt.Errorf("journal entry %d: %w (none was given, or retention deleted it)", seq, ErrNoContent)
	}
	if want := ContentKeyID(key); keyID.String != want {
		return nil, fmt.Errorf("content of entry %d was encrypted with key %s, not with the given key %s", seq, keyID.String, want)
	}
	c, err := open(aead, e.RequestID, e.SentHash, e.ReturnedHash, sealed)
	if err != nil {
		return nil, fmt.Errorf("content of entry %d: %w", seq, err)
	}
	sent, ok := contentHash(e.HashKey, hashKeys, c.Sent)
	if !ok {
		return nil, fmt.Errorf("content of entry %d: its hashes are under hash key %s, which was not given", seq, e.HashKey)
	}
	returned, _ := contentHash(e.HashKey, hashKeys, c.Returned)
	if !hmac.Equal([]byte(sent), []byte(e.SentHash)) || !hmac.Equal([]byte(returned), []byte(e.ReturnedHash)) {
		return nil, fmt.Errorf("content of entry %d does not match the hashes its entry records", seq)
	}
	return c, nil
}
