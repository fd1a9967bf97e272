package audit

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Entry is one journal entry: what one request did, never what it said.
type Entry struct {
	Seq            int64          `json:"seq"` // assigned on append, 1..n, no gaps
	Time           time.Time      `json:"time"`
	RequestID      string         `json:"request_id"` // shown to the user so they can quote it
	UserID         string         `json:"user_id"`
	Groups         []string       `json:"groups,omitempty"`
	Integration    string         `json:"integration,omitempty"`
	Task           string         `json:"task,omitempty"`
	Rule           string         `json:"rule,omitempty"`     // policy rule that decided
	Decision       string         `json:"decision"`           // "allow" | "deny"
	Outcome        string         `json:"outcome"`            // see Outcomes
	Error          string         `json:"error,omitempty"`    // short reason for non-ok outcomes (no content, no secrets)
	Provider       string         `json:"provider,omitempty"` // provider name
	Model          string         `json:"model,omitempty"`
	Classification string         `json:"classification,omitempty"`
	Redactions     map[string]int `json:"redactions,omitempty"` // counts by type
	TokensIn       int            `json:"tokens_in"`
	TokensOut      int            `json:"tokens_out"`
	LatencyMS      int64          `json:"latency_ms"`
	SentHash       string         `json:"sent_hash,omitempty"`     // hex HMAC-SHA-256 (or, without HashKey, SHA-256) of what was sent to the model ("" if nothing)
	ReturnedHash   string         `json:"returned_hash,omitempty"` // the same of what the model returned ("" if nothing)
	HashKey        string         `json:"hash_key,omitempty"`      // HashKeyID of the key of SentHash and ReturnedHash; "": unkeyed SHA-256 (entries journaled before keyed hashes)
	ContentLevel   string         `json:"content_level"`           // "none" | "hashes" | "full"
	// NextKey is set on a key-rotation entry only: the KeyID of the
	// signing key that signs the checkpoints after it. The checkpoint on
	// that entry is signed by the key it replaces.
	NextKey string `json:"next_key,omitempty"`
	// Subject is set on an entry that records an administrator's reading
	// of the journal (integration "audit", task "read"): the request id
	// whose entries were read. Never the content read.
	Subject string `json:"subject,omitempty"`
	// Moderation is the moderation outcome, per direction, flagged
	// categories with the action taken, e.g.
	// "in:violence_and_threats=block" or "out:health=warn"; "in:error=allow"
	// when a classifier failed and the rule let the request through. Never
	// text. Empty when nothing was flagged or no rule moderates.
	Moderation string `json:"moderation,omitempty"`

	// PrevHash and Hash are computed by the journal.
	PrevHash string `json:"prev_hash"`
	Hash     string `json:"hash"`
}

// Content is what was sent to and returned by the model. It is stored,
// encrypted, only for entries whose ContentLevel is "full".
type Content struct {
	Sent     string `json:"sent"`
	Returned string `json:"returned"`
}

// Decisions.
const (
	DecisionAllow = "allow"
	DecisionDeny  = "deny"
)

// Content levels.
const (
	LevelNone   = "none"   // neither content nor hashes of it
	LevelHashes = "hashes" // keyed hashes of what was sent and returned
	LevelFull   = "full"   // hashes, and the content itself, encrypted
)

// maxError bounds Entry.Error: a short reason, not a dump.
const maxError = 1024

// HashContent returns the unkeyed hex SHA-256 of content s, and "" for
// empty content: what entries journaled before keyed hashes record (their
// HashKey is empty), and what a Journal without Options.HashKey records.
// Anyone can compute it, so a reader of such an entry can test a guess of
// what was sent; Journal.HashContent is the keyed hash.
func HashContent(s string) string {
	if s == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// KeyedHash returns the hex HMAC-SHA-256 of content s under key, and "" for
// empty content: what an entry whose HashKey is HashKeyID(key) records.
// Without the key, a reader of the journal cannot test whether a given
// text was sent.
func KeyedHash(key []byte, s string) string {
	if s == "" {
		return ""
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(s))
	return hex.EncodeToString(m.Sum(nil))
}

const hashKeyIDDomain = "timon-audit-hash-key\n"

// HashKeyID names a content-hash key without revealing it: the first 8
// bytes of a domain-separated SHA-256, in hex. Entries record it, so that
// a content check knows which key their hashes are under.
func HashKeyID(key []byte) string {
	h := sha256.New()
	h.Write([]byte(hashKeyIDDomain))
	h.Write(key)
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// contentHash is the hash an entry with hash key id kid records for s,
// with keys the content-hash keys known; ok false when kid is not among
// them.
func contentHash(kid string, keys [][]byte, s string) (string, bool) {
	if kid == "" {
		return HashContent(s), true
	}
	for _, k := range keys {
		if HashKeyID(k) == kid {
			return KeyedHash(k, s), true
		}
	}
	return "", false
}

// genesis is the previous hash of entry 1.
var genesis [32]byte

// GenesisHash is Entry.PrevHash of the first entry.
var GenesisHash = hex.EncodeToString(genesis[:])

// record is the part of an entry stored as the canonical JSON column data.
// Fields are declared in key order so that the encoding has sorted keys;
// maps are sorted by encoding/json.
type record struct {
	Classification string         `json:"classification,omitempty"`
	ContentLevel   string         `json:"content_level,omitempty"`
	Decision       string         `json:"decision,omitempty"`
	Error          string         `json:"error,omitempty"`
	Groups         []string       `json:"groups,omitempty"`
	HashKey        string         `json:"hash_key,omitempty"`
	Integration    string         `json:"integration,omitempty"`
	LatencyMS      int64          `json:"latency_ms,omitempty"`
	Model          string         `json:"model,omitempty"`
	Moderation     string         `json:"moderation,omitempty"`
	NextKey        string         `json:"next_key,omitempty"`
	Outcome        string         `json:"outcome,omitempty"`
	Provider       string         `json:"provider,omitempty"`
	Redactions     map[string]int `json:"redactions,omitempty"`
	RequestID      string         `json:"request_id,omitempty"`
	ReturnedHash   string         `json:"returned_hash,omitempty"`
	Rule           string         `json:"rule,omitempty"`
	SentHash       string         `json:"sent_hash,omitempty"`
	Subject        string         `json:"subject,omitempty"`
	Task           string         `json:"task,omitempty"`
	TokensIn       int            `json:"tokens_in,omitempty"`
	TokensOut      int            `json:"tokens_out,omitempty"`
	UserID         string         `json:"user_id,omitempty"`
}

// row is an entry as stored: the columns the hash covers.
type row struct {
	seq    int64
	timeUS int64
	data   string
}

// clean makes s storable identically by both drivers: valid UTF-8, no NUL
// (PostgreSQL TEXT refuses both).
func clean(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "")
	}
	return s
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// hexClass tells lowercase hex digits (1) and uppercase ones (2) from the
// rest (0).
var hexClass = func() (c [256]uint8) {
	for _, b := range "0123456789abcdef" {
		c[b] = 1
	}
	for _, b := range "ABCDEF" {
		c[b] = 2
	}
	return c
}()

// validHash reports whether h is "" or a hash as stored: 64 lowercase hex
// digits.
func validHash(h string) bool {
	if h == "" {
		return true
	}
	if len(h) != 64 {
		return false
	}
	for i := 0; i < len(h); i++ {
		if hexClass[h[i]] != 1 {
			return false
		}
	}
	return true
}

// normHash returns a given content hash as stored, lowercase.
func normHash(h string) (string, bool) {
	if h == "" {
		return "", true
	}
	if len(h) != 64 {
		return h, false
	}
	upper := false
	for i := 0; i < len(h); i++ {
		switch hexClass[h[i]] {
		case 0:
			return h, false
		case 2:
			upper = true
		}
	}
	if upper {
		h = strings.ToLower(h)
	}
	return h, true
}

// normalize validates e and returns the entry as it will be stored: strings
// cleaned, time in UTC microseconds, a request id, a content level. Seq,
// PrevHash and Hash are left for the writer.
func normalize(e *Entry, now time.Time) (Entry, error) {
	n := *e
	n.Seq, n.PrevHash, n.Hash = 0, "", ""
	if n.Time.IsZero() {
		n.Time = now
	}
	n.Time = n.Time.UTC().Truncate(time.Microsecond)
	for _, p := range [...]*string{&n.RequestID, &n.UserID, &n.Integration, &n.Task, &n.Rule, &n.Decision, &n.Outcome,
		&n.Error, &n.Provider, &n.Model, &n.Classification, &n.ContentLevel, &n.HashKey, &n.NextKey, &n.Subject, &n.Moderation} {
		*p = clean(*p)
	}
	n.Error = truncate(n.Error, maxError)
	if n.RequestID == "" {
		var b [8]byte
		rand.Read(b[:])
		n.RequestID = "req_" + hex.EncodeToString(b[:])
	}
	if len(n.Groups) > 0 {
		g := make([]string, len(n.Groups))
		for i, s := range n.Groups {
			g[i] = clean(s)
		}
		n.Groups = g
	} else {
		n.Groups = nil
	}
	if len(n.Redactions) > 0 {
		r := make(map[string]int, len(n.Redactions))
		for k, v := range n.Redactions {
			if v < 0 {
				return n, fmt.Errorf("invalid journal entry: negative redaction count for %q", k)
			}
			r[clean(k)] += v
		}
		n.Redactions = r
	} else {
		n.Redactions = nil
	}
	switch n.Decision {
	case DecisionAllow, DecisionDeny:
	default:
		return n, fmt.Errorf("invalid journal entry: decision %q is neither allow nor deny", n.Decision)
	}
	if !slices.Contains(Outcomes, n.Outcome) {
		return n, fmt.Errorf("invalid journal entry: unknown outcome %q", n.Outcome)
	}
	if n.TokensIn < 0 || n.TokensOut < 0 || n.LatencyMS < 0 {
		return n, fmt.Errorf("invalid journal entry: negative tokens or latency")
	}
	var ok1, ok2 bool
	n.SentHash, ok1 = normHash(n.SentHash)
	n.ReturnedHash, ok2 = normHash(n.ReturnedHash)
	if !ok1 || !ok2 {
		return n, fmt.Errorf("invalid journal entry: content hashes must be 64 hex digits")
	}
	switch n.ContentLevel {
	case "":
		n.ContentLevel = LevelNone
		if n.SentHash != "" || n.ReturnedHash != "" {
			n.ContentLevel = LevelHashes
		}
	case LevelNone:
		// Policy said not even hashes: a hash of a short text can be
		// guessed, so the journal does not keep one it was handed.
		n.SentHash, n.ReturnedHash, n.HashKey = "", "", ""
	case LevelHashes, LevelFull:
	default:
		return n, fmt.Errorf("invalid journal entry: unknown content level %q", n.ContentLevel)
	}
	return n, nil
}

// encode returns the stored row of a normalized entry (seq still 0).
func encode(n *Entry) (row, error) {
	data, err := json.Marshal(record{
		Classification: n.Classification,
		ContentLevel:   n.ContentLevel,
		Decision:       n.Decision,
		Error:          n.Error,
		Groups:         n.Groups,
		HashKey:        n.HashKey,
		Integration:    n.Integration,
		LatencyMS:      n.LatencyMS,
		Model:          n.Model,
		Moderation:     n.Moderation,
		NextKey:        n.NextKey,
		Outcome:        n.Outcome,
		Provider:       n.Provider,
		Redactions:     n.Redactions,
		RequestID:      n.RequestID,
		ReturnedHash:   n.ReturnedHash,
		Rule:           n.Rule,
		SentHash:       n.SentHash,
		Subject:        n.Subject,
		Task:           n.Task,
		TokensIn:       n.TokensIn,
		TokensOut:      n.TokensOut,
		UserID:         n.UserID,
	})
	if err != nil {
		return row{}, fmt.Errorf("encoding journal entry: %w", err)
	}
	return row{timeUS: n.Time.UnixMicro(), data: string(data)}, nil
}

// decode rebuilds an entry from its stored columns.
func decode(seq, timeUS int64, data []byte, hash, prevHash string) (Entry, error) {
	var r record
	if err := json.Unmarshal(data, &r); err != nil {
		return Entry{}, fmt.Errorf("entry %d: bad data column: %w", seq, err)
	}
	return Entry{
		Seq: seq, Time: time.UnixMicro(timeUS).UTC(), RequestID: r.RequestID, UserID: r.UserID,
		Groups: r.Groups, Integration: r.Integration, Task: r.Task, Rule: r.Rule, Decision: r.Decision,
		Outcome: r.Outcome, Error: r.Error, Provider: r.Provider, Model: r.Model, Classification: r.Classification,
		Redactions: r.Redactions, TokensIn: r.TokensIn, TokensOut: r.TokensOut, LatencyMS: r.LatencyMS,
		SentHash: r.SentHash, ReturnedHash: r.ReturnedHash, HashKey: r.HashKey, ContentLevel: r.ContentLevel,
		NextKey: r.NextKey, Subject: r.Subject, Moderation: r.Moderation, PrevHash: prevHash, Hash: hash,
	}, nil
}

// hashDomain starts the hashed bytes of every entry; a new encoding gets a
// new version.
const hashDomain = "timon-audit-entry-v1\n"

// canonical appends the bytes an entry's hash covers to buf: the domain,
// the previous entry's hash, then every stored column in order, integers as
// 8 bytes big-endian and strings as an 8-byte big-endian length followed by
// their bytes. Nothing is ambiguous: each field has a fixed size or a length.
func canonical[S ~string | ~[]byte](buf []byte, prev *[32]byte, seq, timeUS int64, data S) []byte {
	buf = append(buf, hashDomain...)
	buf = append(buf, prev[:]...)
	buf = binary.BigEndian.AppendUint64(buf, uint64(seq))
	buf = binary.BigEndian.AppendUint64(buf, uint64(timeUS))
	buf = binary.BigEndian.AppendUint64(buf, uint64(len(data)))
	buf = append(buf, data...)
	return buf
}

// decodeHash parses a stored hash: 64 lowercase hex digits, nothing else.
func decodeHash(dst *[32]byte, h string) bool {
	if len(h) != 64 || !validHash(h) {
		return false
	}
	_, err := hex.Decode(dst[:], []byte(h))
	return err == nil
}
