package audit

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"

	"timon.dev/timon/core/store"
)

// Checkpoint is a signed statement that entry Seq had hash Hash at Time.
// The journal writes one every Options.CheckpointEvery entries, every
// Options.CheckpointInterval, and on Close. Export them (ExportCheckpoints)
// to keep them elsewhere: then even a rewrite of the whole database,
// checkpoints included, is caught by VerifyWithCheckpoints.
type Checkpoint struct {
	Seq       int64     `json:"seq"`
	Hash      string    `json:"hash"`
	Time      time.Time `json:"time"`
	KeyID     string    `json:"key_id"`    // KeyID of the signing key's public half
	Signature string    `json:"signature"` // base64 Ed25519 signature of Message()
}

const checkpointTimeFormat = "2006-01-02T15:04:05.000000Z"

// CheckpointMessage is the text a checkpoint's signature covers:
// "timon-audit-checkpoint\n<seq>\n<hash>\n<time>\n", time in UTC with
// microseconds (2006-01-02T15:04:05.000000Z).
func CheckpointMessage(seq int64, hash string, t time.Time) []byte {
	return []byte("timon-audit-checkpoint\n" + strconv.FormatInt(seq, 10) + "\n" + hash + "\n" +
		t.UTC().Format(checkpointTimeFormat) + "\n")
}

// Message returns the signed text of c.
func (c *Checkpoint) Message() []byte { return CheckpointMessage(c.Seq, c.Hash, c.Time) }

// VerifySignature reports whether c is signed by pub.
func (c *Checkpoint) VerifySignature(pub ed25519.PublicKey) bool {
	sig, err := base64.StdEncoding.DecodeString(c.Signature)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return false
	}
	return ed25519.Verify(pub, c.Message(), sig)
}

// KeyID names a public key: the first 8 bytes of its SHA-256, in hex.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

func signCheckpoint(priv ed25519.PrivateKey, seq int64, hash string, now time.Time) Checkpoint {
	now = now.UTC().Truncate(time.Microsecond)
	c := Checkpoint{Seq: seq, Hash: hash, Time: now, KeyID: KeyID(priv.Public().(ed25519.PublicKey))}
	c.Signature = base64.StdEncoding.EncodeToString(ed25519.Sign(priv, c.Message()))
	return c
}

// Checkpoints returns every stored checkpoint, in seq order.
func Checkpoints(ctx context.Context, st *store.Store) ([]Checkpoint, error) {
	rows, err := st.Query(ctx, `SELECT seq, hash, time_us, key_id, signature FROM audit_checkpoints ORDER BY seq`)
	if err != nil {
		return nil, fmt.Errorf("reading checkpoints: %w", err)
	}
	defer rows.Close()
	var out []Checkpoint
	for rows.Next() {
		var (
			c  Checkpoint
			us int64
		)
		if err := rows.Scan(&c.Seq, &c.Hash, &us, &c.KeyID, &c.Signature); err != nil {
			return nil, fmt.Errorf("reading checkpoints: %w", err)
		}
		c.Time = time.UnixMicro(us).UTC()
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading checkpoints: %w", err)
	}
	return out, nil
}

// ExportCheckpoints writes every checkpoint to w as JSON lines, to be kept
// somewhere the database's administrators cannot write.
func ExportCheckpoints(ctx context.Context, st *store.Store, w io.Writer) error {
	cps, err := Checkpoints(ctx, st)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	for i := range cps {
		if err := enc.Encode(&cps[i]); err != nil {
			return fmt.Errorf("exporting checkpoints: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("exporting checkpoints: %w", err)
	}
	return nil
}

// ReadCheckpoints parses what ExportCheckpoints wrote.
func ReadCheckpoints(r io.Reader) ([]Checkpoint, error) {
	dec := json.NewDecoder(r)
	var out []Checkpoint
	for {
		var c Checkpoint
		if err := dec.Decode(&c); err == io.EOF {
			return out, nil
		} else if err != nil {
			return nil, fmt.Errorf("reading checkpoint %d: %w", len(out)+1, err)
		}
		out = append(out, c)
	}
}
