package audit

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"timon.dev/timon/core/store"
)

// Key rotation. The checkpoints after a rotation are signed by a new key;
// those before keep the old key's signature, so verification takes a set
// of public keys, each with its period (KeySet). The rotation itself is in
// the chain: an entry (integration "audit", task "rotate-key") whose
// NextKey names the new key's id, covered by a checkpoint that the old key
// signs in the same transaction. The old key's period ends at that
// checkpoint's time, the new key's starts there.

// Rotation is what Rotate recorded.
type Rotation struct {
	Entry      Entry      // the key-rotation entry
	Checkpoint Checkpoint // signed by the old key, on Entry
	OldKey     TrustedKey // the old key, NotAfter the checkpoint's time
	NewKey     TrustedKey // the new key, NotBefore the checkpoint's time
}

// Rotate journals the replacement of the signing key old by next: a
// key-rotation entry naming KeyID(next), by who, and a checkpoint on it
// signed by old. Every process still signing with old must stop before:
// a checkpoint old signs after the rotation is refused by verification.
func Rotate(ctx context.Context, st *store.Store, old ed25519.PrivateKey, next ed25519.PublicKey, who string) (*Rotation, error) {
	if len(next) != ed25519.PublicKeySize {
		return nil, errors.New("rotating the signing key: the new key is not an Ed25519 public key")
	}
	oldPub := old.Public().(ed25519.PublicKey)
	if KeyID(oldPub) == KeyID(next) {
		return nil, errors.New("rotating the signing key: the new key is the old one")
	}
	j, err := Open(ctx, st, Options{SigningKey: old, CheckpointEvery: 1})
	if err != nil {
		return nil, fmt.Errorf("rotating the signing key: %w", err)
	}
	e := &Entry{
		UserID: who, Integration: "audit", Task: "rotate-key", Decision: DecisionAllow, Outcome: "ok",
		NextKey: KeyID(next),
	}
	err = j.Append(ctx, e, nil)
	if cerr := j.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("rotating the signing key: %w", err)
	}
	var (
		c  Checkpoint
		us int64
	)
	err = st.QueryRow(ctx, `SELECT seq, hash, time_us, key_id, signature FROM audit_checkpoints WHERE seq = ?`, e.Seq).
		Scan(&c.Seq, &c.Hash, &us, &c.KeyID, &c.Signature)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("rotating the signing key: no checkpoint on the rotation entry %d", e.Seq)
	}
	if err != nil {
		return nil, fmt.Errorf("rotating the signing key: reading its checkpoint: %w", err)
	}
	c.Time = time.UnixMicro(us).UTC()
	if c.KeyID != KeyID(oldPub) || c.Hash != e.Hash || !c.VerifySignature(oldPub) {
		return nil, fmt.Errorf("rotating the signing key: the checkpoint on the rotation entry %d is not the old key's", e.Seq)
	}
	return &Rotation{
		Entry:      *e,
		Checkpoint: c,
		OldKey:     TrustedKey{KeyID: KeyID(oldPub), Public: oldPub, NotAfter: c.Time},
		NewKey:     TrustedKey{KeyID: KeyID(next), Public: next, NotBefore: c.Time},
	}, nil
}
