package audit

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"timon.dev/timon/core/store"
)

// Filter selects entries. Zero fields do not filter. Times and seqs are
// read through indexes; the other fields are matched within what they
// select, so give a time range on a large journal.
type Filter struct {
	Since       time.Time // entries at or after
	Until       time.Time // entries before
	UserID      string
	Integration string
	Group       string // entries of users in this group
	Outcome     string
	RequestID   string // the id a user quoted
	AfterSeq    int64  // entries with a greater seq: the cursor of List's pages
	Limit       int    // List: 0 means 100, at most 10000; Export: 0 means all
}

const (
	defaultLimit = 100
	maxLimit     = 10000
)

// jsonField extracts a string field of the data column.
func jsonField(st *store.Store, name string) string {
	return st.Driver().JSONField("e.data", name)
}

// where builds the conditions of f.
func (f *Filter) where(st *store.Store) (string, []any) {
	var (
		conds []string
		args  []any
	)
	add := func(cond string, arg any) {
		conds = append(conds, cond)
		args = append(args, arg)
	}
	if f.AfterSeq > 0 {
		add(`e.seq > ?`, f.AfterSeq)
	}
	if !f.Since.IsZero() {
		add(`e.time_us >= ?`, f.Since.UnixMicro())
	}
	if !f.Until.IsZero() {
		add(`e.time_us < ?`, f.Until.UnixMicro())
	}
	if f.UserID != "" {
		add(jsonField(st, "user_id")+` = ?`, f.UserID)
	}
	if f.RequestID != "" {
		add(jsonField(st, "request_id")+` = ?`, f.RequestID)
	}
	if f.Integration != "" {
		add(jsonField(st, "integration")+` = ?`, f.Integration)
	}
	if f.Outcome != "" {
		add(jsonField(st, "outcome")+` = ?`, f.Outcome)
	}
	if f.Group != "" {
		add(st.Driver().JSONArrayHas("e.data", "groups"), f.Group)
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// scan says how each reads.
type scan struct {
	upTo   int64 // no seq above, if positive
	desc   bool  // newest first
	limit  int   // at most this many, if positive
	noPrev bool  // leave PrevHash empty (saves a lookup per entry)
}

// each calls fn with every entry matching f, ascending by seq unless
// s.desc.
func each(ctx context.Context, st *store.Store, f Filter, s scan, fn func(*Entry) error) error {
	where, args := f.where(st)
	if s.upTo > 0 {
		if where == "" {
			where = " WHERE e.seq <= ?"
		} else {
			where += " AND e.seq <= ?"
		}
		args = append(args, s.upTo)
	}
	q := `SELECT e.seq, e.time_us, e.data, e.hash, COALESCE(p.hash, '')
		FROM audit_entries e LEFT JOIN audit_entries p ON p.seq = e.seq - 1`
	if s.noPrev {
		q = `SELECT e.seq, e.time_us, e.data, e.hash, '' FROM audit_entries e`
	}
	q += where + ` ORDER BY e.seq`
	if s.desc {
		q += ` DESC`
	}
	if s.limit > 0 {
		q += ` LIMIT ?`
		args = append(args, s.limit)
	}
	rows, err := st.Query(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("reading journal: %w", err)
	}
	defer rows.Close()
	var (
		seq, us        int64
		hash, prevHash string
		data           sql.RawBytes
	)
	for rows.Next() {
		if err := rows.Scan(&seq, &us, &data, &hash, &prevHash); err != nil {
			return fmt.Errorf("reading journal: %w", err)
		}
		if seq == 1 && !s.noPrev {
			prevHash = GenesisHash
		}
		e, err := decode(seq, us, data, hash, prevHash)
		if err != nil {
			return fmt.Errorf("reading journal: %w", err)
		}
		if err := fn(&e); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading journal: %w", err)
	}
	return nil
}

// List returns up to f.Limit entries matching f with a seq above
// f.AfterSeq, ascending: pass the last one's Seq as the next AfterSeq.
func List(ctx context.Context, st *store.Store, f Filter) ([]Entry, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = defaultLimit
	}
	limit = min(limit, maxLimit)
	var out []Entry
	err := each(ctx, st, f, scan{limit: limit}, func(e *Entry) error {
		out = append(out, *e)
		return nil
	})
	return out, err
}

// Formats of Export and Tail.
const (
	FormatJSONL = "jsonl"
	FormatCSV   = "csv"
)

// csvHeader names the columns of the CSV format.
var csvHeader = []string{"seq", "time", "request_id", "user_id", "groups", "integration", "task", "rule", "decision",
	"outcome", "error", "provider", "model", "classification", "redactions", "tokens_in", "tokens_out", "latency_ms",
	"sent_hash", "returned_hash", "content_level", "subject", "moderation", "prev_hash", "hash"}

// entryWriter writes entries in one format.
type entryWriter struct {
	bw  *bufio.Writer
	enc *json.Encoder
	cw  *csv.Writer
	rec []string
}

func newEntryWriter(w io.Writer, format string) (*entryWriter, error) {
	ew := &entryWriter{bw: bufio.NewWriter(w)}
	switch format {
	case FormatJSONL, "":
		ew.enc = json.NewEncoder(ew.bw)
	case FormatCSV:
		ew.cw = csv.NewWriter(ew.bw)
		if err := ew.cw.Write(csvHeader); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("unknown format %q (jsonl or csv)", format)
	}
	return ew, nil
}

func (ew *entryWriter) write(e *Entry) error {
	if ew.enc != nil {
		return ew.enc.Encode(e)
	}
	reds := make([]string, 0, len(e.Redactions))
	for k, v := range e.Redactions {
		reds = append(reds, k+"="+strconv.Itoa(v))
	}
	sort.Strings(reds)
	ew.rec = append(ew.rec[:0], strconv.FormatInt(e.Seq, 10), e.Time.Format(time.RFC3339Nano), cell(e.RequestID),
		cell(e.UserID), cell(strings.Join(e.Groups, ";")), cell(e.Integration), cell(e.Task), cell(e.Rule), e.Decision,
		e.Outcome, cell(e.Error), cell(e.Provider), cell(e.Model), cell(e.Classification), cell(strings.Join(reds, ";")),
		strconv.Itoa(e.TokensIn), strconv.Itoa(e.TokensOut), strconv.FormatInt(e.LatencyMS, 10),
		e.SentHash, e.ReturnedHash, e.ContentLevel, cell(e.Subject), cell(e.Moderation), e.PrevHash, e.Hash)
	return ew.cw.Write(ew.rec)
}

// cell defuses a text cell a spreadsheet would run as a formula (OWASP
// "CSV injection"): the security officer opens exports in one.
func cell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func (ew *entryWriter) flush() error {
	if ew.cw != nil {
		ew.cw.Flush()
		if err := ew.cw.Error(); err != nil {
			return err
		}
	}
	return ew.bw.Flush()
}

// Export writes the entries matching f (ascending, f.Limit of them if not
// zero) to w as JSON lines or CSV. Hashes are included, content never.
func Export(ctx context.Context, st *store.Store, f Filter, format string, w io.Writer) error {
	ew, err := newEntryWriter(w, format)
	if err != nil {
		return fmt.Errorf("exporting journal: %w", err)
	}
	if err := each(ctx, st, f, scan{limit: f.Limit}, ew.write); err != nil {
		return fmt.Errorf("exporting journal: %w", err)
	}
	if err := ew.flush(); err != nil {
		return fmt.Errorf("exporting journal: %w", err)
	}
	return nil
}

// tailPoll is how often Tail looks for new entries when following.
var tailPoll = 500 * time.Millisecond

// Tail writes the last entries matching f — f.Limit of them, 20 when zero;
// or all those after f.AfterSeq if it is set — then, with follow, every new
// matching entry as it is committed, until ctx ends (which is not an error).
func Tail(ctx context.Context, st *store.Store, f Filter, follow bool, w io.Writer, format string) error {
	ew, err := newEntryWriter(w, format)
	if err != nil {
		return fmt.Errorf("tailing journal: %w", err)
	}
	tail := func() (int64, error) {
		var seq int64
		err := st.QueryRow(ctx, `SELECT COALESCE(MAX(seq), 0) FROM audit_entries`).Scan(&seq)
		return seq, err
	}
	// Every seq up to the tail read is committed (seqs are assigned under
	// the append lock), so reading up to it and resuming after it misses
	// nothing.
	cursor, err := tail()
	if err != nil {
		return fmt.Errorf("tailing journal: %w", err)
	}
	var last []Entry
	if f.AfterSeq == 0 {
		n := f.Limit
		if n <= 0 {
			n = 20
		}
		err = each(ctx, st, f, scan{upTo: cursor, desc: true, limit: n}, func(e *Entry) error { last = append(last, *e); return nil })
		slices.Reverse(last)
	} else {
		err = each(ctx, st, f, scan{upTo: cursor}, func(e *Entry) error { last = append(last, *e); return nil })
	}
	if err != nil {
		return fmt.Errorf("tailing journal: %w", err)
	}
	for i := range last {
		if err := ew.write(&last[i]); err != nil {
			return fmt.Errorf("tailing journal: %w", err)
		}
	}
	if err := ew.flush(); err != nil {
		return fmt.Errorf("tailing journal: %w", err)
	}
	if !follow {
		return nil
	}
	t := time.NewTicker(tailPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		upTo, err := tail()
		if err == nil && upTo > cursor {
			g := f
			g.AfterSeq = max(cursor, f.AfterSeq)
			err = each(ctx, st, g, scan{upTo: upTo}, ew.write)
			cursor = upTo
		}
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return fmt.Errorf("tailing journal: %w", err)
		}
		if err := ew.flush(); err != nil {
			return fmt.Errorf("tailing journal: %w", err)
		}
	}
}
