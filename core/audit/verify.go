package audit

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"timon.dev/timon/core/store"
)

// Report is the result of Verify.
type Report struct {
	Entries        int64  `json:"entries"`         // entries checked
	Checkpoints    int64  `json:"checkpoints"`     // checkpoints checked against the chain
	LastCheckpoint int64  `json:"last_checkpoint"` // seq of the last checkpoint found good (0: none)
	FirstBad       int64  `json:"first_bad"`       // the first seq found wrong (0 when OK)
	Problem        string `json:"problem,omitempty"`
	OK             bool   `json:"ok"`
	// Signatures is false when no public key was given: checkpoint
	// signatures were not checked, only their positions.
	Signatures bool `json:"signatures"`
	// SignedBy counts, per key id, the checkpoints whose signature was
	// checked with that key.
	SignedBy map[string]int64 `json:"signed_by,omitempty"`
}

func (r *Report) String() string {
	if r.OK {
		s := fmt.Sprintf("OK: %s, %s", count(r.Entries, "entry", "entries"), count(r.Checkpoints, "checkpoint", "checkpoints"))
		switch {
		case r.Entries > 0 && r.Checkpoints == 0:
			s += "; no checkpoint: nothing proves the journal was not truncated or rewritten"
		case r.Entries > r.LastCheckpoint:
			s += fmt.Sprintf("; %s after the last checkpoint (seq %d)", count(r.Entries-r.LastCheckpoint, "entry", "entries"), r.LastCheckpoint)
		}
		return s
	}
	return fmt.Sprintf("TAMPERED at seq %d: %s", r.FirstBad, r.Problem)
}

// count writes n and the noun, singular for one.
func count(n int64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.FormatInt(n, 10) + " " + many
}

// verifyChunk is the number of entries one worker scans in one query (a
// variable for tests).
var verifyChunk int64 = 1 << 16

// Verify checks the whole journal: every entry's hash against its columns
// and its predecessor's hash, seqs 1..n without gaps, and every checkpoint
// against the entry it names. With pub, checkpoint signatures are checked
// too; pub nil checks the chain and checkpoint positions only.
//
// Tampering is reported in the Report (OK false, FirstBad, Problem); the
// error is for failures to read the database.
func Verify(ctx context.Context, st *store.Store, pub ed25519.PublicKey) (*Report, error) {
	return VerifyWithCheckpoints(ctx, st, pub, nil)
}

// oneKey is the key set of VerifyWithCheckpoints's single key.
func oneKey(pub ed25519.PublicKey) (*KeySet, error) {
	if pub == nil {
		return nil, nil
	}
	ks := &KeySet{}
	if err := ks.Add(TrustedKey{Public: pub}); err != nil {
		return nil, fmt.Errorf("verifying journal: %w", err)
	}
	return ks, nil
}

// VerifyWithCheckpoints is Verify that also checks checkpoints kept outside
// the database (read with ReadCheckpoints from an ExportCheckpoints file):
// a journal rewritten or truncated along with its checkpoints table is
// caught by them.
func VerifyWithCheckpoints(ctx context.Context, st *store.Store, pub ed25519.PublicKey, external []Checkpoint) (*Report, error) {
	keys, err := oneKey(pub)
	if err != nil {
		return nil, err
	}
	return VerifyKeys(ctx, st, keys, external)
}

// VerifyKeys is VerifyWithCheckpoints with a set of trusted public keys:
// each checkpoint must be signed by the key its KeyID names, that key must
// be in keys, and the checkpoint's time within that key's period. A
// checkpoint without a key id (kept from elsewhere) must be signed by one
// of the keys whose period covers it. keys nil checks the chain and the
// checkpoints' positions only.
func VerifyKeys(ctx context.Context, st *store.Store, keys *KeySet, external []Checkpoint) (*Report, error) {
	if keys != nil && len(keys.Keys) == 0 {
		return nil, errors.New("verifying journal: the set of public keys is empty")
	}
	cps, err := Checkpoints(ctx, st)
	if err != nil {
		return nil, fmt.Errorf("verifying journal: %w", err)
	}
	cps = append(cps, external...)
	sort.SliceStable(cps, func(a, b int) bool { return cps[a].Seq < cps[b].Seq })

	v := &verifier{st: st, cps: map[int64][]Checkpoint{}}
	v.stopAt.Store(math.MaxInt64)
	signedBy := map[string]int64{}
	for _, c := range cps {
		switch {
		case c.Seq < 1:
			v.fail(c.Seq, fmt.Sprintf("a checkpoint names seq %d, which no entry can have", c.Seq))
		case !validHash(c.Hash) || c.Hash == "":
			v.fail(c.Seq, fmt.Sprintf("the checkpoint at seq %d holds a malformed hash", c.Seq))
		default:
			if keys != nil {
				kid, problem := checkSignature(&c, keys)
				if problem != "" {
					v.fail(c.Seq, problem)
					continue
				}
				signedBy[kid]++
			}
			v.cps[c.Seq] = append(v.cps[c.Seq], c)
		}
	}

	var tail int64
	if err := st.QueryRow(ctx, `SELECT COALESCE(MAX(seq), 0) FROM audit_entries`).Scan(&tail); err != nil {
		return nil, fmt.Errorf("verifying journal: %w", err)
	}
	// Chunks of seqs, the first without a lower bound (a seq below 1 is
	// caught) and the last without an upper one (entries appended while
	// verifying are checked too, so checkpoints read above all exist).
	var chunks []*chunk
	for lo := int64(1); lo <= tail || len(chunks) == 0; lo += verifyChunk {
		chunks = append(chunks, &chunk{lo: lo, hi: lo + verifyChunk - 1})
	}
	chunks[len(chunks)-1].open = true

	workers := min(runtime.GOMAXPROCS(0), len(chunks))
	next := make(chan *chunk, len(chunks))
	for _, c := range chunks {
		next <- c
	}
	close(next)
	var wg sync.WaitGroup
	errs := make([]error, workers)
	for w := range workers {
		wg.Go(func() {
			conn, release, err := st.Driver().ScanConn(ctx)
			if err != nil {
				errs[w] = err
				v.stopAt.Store(math.MinInt64)
				return
			}
			defer release()
			for c := range next {
				if c.lo > v.stopAt.Load() {
					continue
				}
				if err := v.scan(ctx, conn, c); err != nil {
					errs[w] = err
					v.stopAt.Store(math.MinInt64)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("verifying journal: %w", err)
	}

	r := &Report{Signatures: keys != nil}
	if len(signedBy) > 0 {
		r.SignedBy = signedBy
	}
	last := int64(0)
	for _, c := range chunks {
		r.Entries += c.entries
		r.Checkpoints += c.checkpoints
		r.LastCheckpoint = max(r.LastCheckpoint, c.lastCheckpoint)
		last = max(last, c.last)
	}
	if v.bad == 0 && v.problem == "" {
		for _, c := range cps {
			if c.Seq > last {
				v.fail(last+1, fmt.Sprintf("the checkpoint at seq %d names an entry that no longer exists: the journal was truncated after seq %d", c.Seq, last))
				break
			}
		}
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.problem == "" {
		r.OK = true
		return r, nil
	}
	r.FirstBad, r.Problem = v.bad, v.problem
	return r, nil
}

// checkSignature checks c's signature against keys; it returns the key id
// that signed it, or the problem.
func checkSignature(c *Checkpoint, keys *KeySet) (string, string) {
	if c.KeyID == "" {
		// Kept from elsewhere without its key id: any key in use then.
		for i := range keys.Keys {
			k := &keys.Keys[i]
			if k.covers(c.Time) && c.VerifySignature(k.Public) {
				return k.KeyID, ""
			}
		}
		return "", fmt.Sprintf("the checkpoint at seq %d names no key and none of the trusted keys in use at %s signed it: forged or altered",
			c.Seq, c.Time.UTC().Format(time.RFC3339))
	}
	k := keys.Lookup(c.KeyID)
	switch {
	case k == nil:
		return "", fmt.Sprintf("the checkpoint at seq %d is signed by unknown key %s: not one of the trusted keys (%s); re-signed by someone else, or give that key's public half if it is a key of yours",
			c.Seq, c.KeyID, keys.Describe())
	case !c.VerifySignature(k.Public):
		return "", fmt.Sprintf("the checkpoint at seq %d is not signed by key %s, which it names: forged or altered", c.Seq, k)
	case !k.covers(c.Time):
		return "", fmt.Sprintf("the checkpoint at seq %d was signed at %s by key %s outside its period (%s to %s): a retired key still in use, or a forged checkpoint",
			c.Seq, c.Time.UTC().Format(time.RFC3339Nano), k, period(k.NotBefore), period(k.NotAfter))
	}
	return k.KeyID, ""
}

func period(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

type chunk struct {
	lo, hi int64 // seqs expected in this chunk
	open   bool  // last chunk: no upper bound

	entries        int64
	checkpoints    int64
	lastCheckpoint int64
	last           int64 // last seq seen
}

type verifier struct {
	st  *store.Store
	cps map[int64][]Checkpoint // read-only during the scan

	stopAt  atomic.Int64 // scanning past the first problem found is useless
	mu      sync.Mutex
	bad     int64
	problem string
}

// fail records a problem at seq, keeping the earliest.
func (v *verifier) fail(seq int64, problem string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.problem == "" || seq < v.bad {
		v.bad, v.problem = seq, problem
	}
	for {
		cur := v.stopAt.Load()
		if seq >= cur || v.stopAt.CompareAndSwap(cur, seq) {
			return
		}
	}
}

// scan checks the entries of one chunk: each hash is recomputed from the
// columns and the previous stored hash, whose own correctness the entry
// before it proves, so chunks are checked independently and in parallel.
func (v *verifier) scan(ctx context.Context, conn *sql.Conn, c *chunk) error {
	var prev [32]byte
	if c.lo > 1 {
		var h string
		err := conn.QueryRowContext(ctx, v.st.Rebind(`SELECT hash FROM audit_entries WHERE seq = ?`), c.lo-1).Scan(&h)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			v.fail(c.lo-1, fmt.Sprintf("entry %d is missing", c.lo-1))
			return nil
		case err != nil:
			return err
		case !decodeHash(&prev, h):
			v.fail(c.lo-1, fmt.Sprintf("entry %d holds a malformed hash", c.lo-1))
			return nil
		}
	}
	q := `SELECT seq, time_us, data, hash FROM audit_entries WHERE 1 = 1`
	var args []any
	if c.lo > 1 {
		q += ` AND seq >= ?`
		args = append(args, c.lo)
	}
	if !c.open {
		q += ` AND seq <= ?`
		args = append(args, c.hi)
	}
	// The driver's rows are read directly: database/sql would copy every
	// value once more, and convert a tampered column's type silently.
	return conn.Raw(func(dc any) error {
		qc, ok := dc.(driver.QueryerContext)
		if !ok {
			return errors.New("the database driver cannot query with a context")
		}
		named := make([]driver.NamedValue, len(args))
		for i, a := range args {
			named[i] = driver.NamedValue{Ordinal: i + 1, Value: a}
		}
		rows, err := qc.QueryContext(ctx, v.st.Rebind(q+` ORDER BY seq`), named)
		if err != nil {
			return err
		}
		defer rows.Close()
		return v.check(c, rows, prev)
	})
}

// check verifies the rows of one chunk, prev being the hash before it.
func (v *verifier) check(c *chunk, rows driver.Rows, prev [32]byte) error {
	var (
		dest   = make([]driver.Value, 4)
		buf    []byte
		sum    [32]byte
		hexSum [64]byte
	)
	want := c.lo
	for {
		if err := rows.Next(dest); err == io.EOF {
			break
		} else if err != nil {
			return err
		}
		seq, ok1 := dest[0].(int64)
		timeUS, ok2 := dest[1].(int64)
		data, ok3 := text(dest[2])
		stored, ok4 := text(dest[3])
		if !ok1 {
			v.fail(want, fmt.Sprintf("the entry after seq %d has a seq of type %T", want-1, dest[0]))
			return nil
		}
		if seq > v.stopAt.Load() {
			break
		}
		switch {
		case seq > want:
			if want == seq-1 {
				v.fail(want, fmt.Sprintf("entry %d is missing (deleted)", want))
			} else {
				v.fail(want, fmt.Sprintf("entries %d to %d are missing (deleted)", want, seq-1))
			}
			return nil
		case seq < want:
			v.fail(seq, fmt.Sprintf("an entry has seq %d, out of the sequence 1..n (inserted)", seq))
			return nil
		case !ok2 || !ok3 || !ok4:
			v.fail(seq, fmt.Sprintf("entry %d has a column of the wrong type: it was altered", seq))
			return nil
		}
		buf = canonical(buf[:0], &prev, seq, timeUS, data)
		sum = sha256.Sum256(buf)
		hex.Encode(hexSum[:], sum[:])
		if string(hexSum[:]) != stored {
			v.fail(seq, fmt.Sprintf("entry %d does not match its hash: it was altered, inserted or moved, or the entry before it was", seq))
			return nil
		}
		for _, cp := range v.cps[seq] {
			if cp.Hash != stored {
				v.fail(seq, fmt.Sprintf("the checkpoint at seq %d names another hash than the entry's: the journal was rewritten from there or before", seq))
				return nil
			}
			c.checkpoints++
			c.lastCheckpoint = seq
		}
		prev = sum
		c.entries++
		c.last = seq
		want++
	}
	if !c.open && c.last != c.hi && c.hi <= v.stopAt.Load() {
		from := max(c.last+1, c.lo)
		v.fail(from, fmt.Sprintf("entries %d to %d are missing (deleted)", from, c.hi))
	}
	return nil
}

// text returns a text value as the driver gave it.
func text(v driver.Value) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case []byte:
		return string(v), true
	}
	return "", false
}
