package audit

import (
	"context"
	"errors"
	"fmt"

	"timon.dev/timon/core/store"
)

// An administrator's reading of one request's entries is itself
// journaled, before anything is shown: an entry of integration "audit",
// task "read", whose Subject is the request id read and whose user is the
// reader. It records who read which request, never what was read.
const (
	IntegrationAudit = "audit"
	TaskRead         = "read"
)

// Reader is who reads the journal, as authenticated: the user of an
// administrator's token, or the operating system's user of the CLI.
type Reader struct {
	UserID string
	Groups []string
}

// Reading is what an administrator reads of one request (Journal.Read).
type Reading struct {
	RequestID string         `json:"request_id"`
	Entries   []ReadingEntry `json:"entries"`
	// Journaled is the entry that records this reading.
	Journaled Entry `json:"journaled"`
}

// ReadingEntry is one entry of the request, with its content when the
// policy kept it (content: full) and it can be opened here.
type ReadingEntry struct {
	Entry
	// Content is what the journal keeps: the prompt as sent to the model,
	// after redaction (placeholders stand for what was found), and the
	// answer as the model returned it, before the values were put back.
	// Nil when not kept or not readable: ContentNote says why.
	Content *Content `json:"content,omitempty"`
	// ContentNote says what Content is, or why there is none.
	ContentNote string `json:"content_note"`
}

// Content notes.
const (
	noteRedacted  = "kept (content: full), as sent to the model: redacted, placeholders stand for what was found; the answer as the model returned it, before the values were put back"
	noteNoKey     = "kept (content: full) but not readable here: no content key is configured (journal.content_key_env or journal.content_key_file)"
	noteNoContent = "content not kept: deleted by retention (journal.retention), or nothing was sent to a model"
)

// Read returns the entries of request requestID with their stored content,
// for an administrator. The reading is journaled first, by who — if that
// fails nothing is returned — and returned in Reading.Journaled. An
// unknown request id is store.ErrNotFound, and is not journaled.
func (j *Journal) Read(ctx context.Context, requestID string, who Reader) (*Reading, error) {
	if requestID == "" {
		return nil, errors.New("reading the journal: no request id")
	}
	if who.UserID == "" {
		return nil, errors.New("reading the journal: no reader")
	}
	entries, err := List(ctx, j.st, Filter{RequestID: requestID, Limit: maxLimit})
	if err != nil {
		return nil, fmt.Errorf("reading request %s: %w", requestID, err)
	}
	if len(entries) == 0 {
		return nil, fmt.Errorf("no journal entry for request %s: %w", requestID, store.ErrNotFound)
	}
	rec := &Entry{
		UserID: who.UserID, Groups: who.Groups, Integration: IntegrationAudit, Task: TaskRead,
		Decision: DecisionAllow, Outcome: OutcomeOK, ContentLevel: LevelNone, Subject: requestID,
	}
	if err := j.Append(ctx, rec, nil); err != nil {
		return nil, fmt.Errorf("journaling the reading of request %s, so nothing is shown: %w", requestID, err)
	}
	r := &Reading{RequestID: requestID, Journaled: *rec, Entries: make([]ReadingEntry, len(entries))}
	for i, e := range entries {
		re := &r.Entries[i]
		re.Entry = e
		if e.ContentLevel != LevelFull {
			re.ContentNote = "content not kept: policy content: " + e.ContentLevel
			continue
		}
		if j.opt.ContentKey == nil {
			re.ContentNote = noteNoKey
			continue
		}
		var hashKeys [][]byte
		if j.opt.HashKey != nil {
			hashKeys = append(hashKeys, j.opt.HashKey)
		}
		c, err := ReadContent(ctx, j.st, j.opt.ContentKey, e.Seq, hashKeys...)
		switch {
		case errors.Is(err, ErrNoContent):
			re.ContentNote = noteNoContent
		case err != nil:
			re.ContentNote = "kept (content: full) but not readable: " + err.Error()
		default:
			re.Content, re.ContentNote = c, noteRedacted
		}
	}
	return r, nil
}
