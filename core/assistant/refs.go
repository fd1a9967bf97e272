package assistant

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"timon.dev/timon/core"
	"timon.dev/timon/core/audit"
	"timon.dev/timon/core/biblio"
	"timon.dev/timon/core/policy"
)

var _ core.Bibliographer = (*Engine)(nil)

// defaultRefs is the number of records asked of a source when the request
// does not say.
const defaultRefs = 10

// addSources checks and keeps the bibliographic sources.
func (e *Engine) addSources(srcs []biblio.Source) error {
	seen := map[string]bool{}
	for _, s := range srcs {
		if s == nil {
			continue
		}
		switch n := s.Name(); {
		case n == "":
			return errors.New("assistant: a bibliographic source needs a name")
		case seen[n]:
			return fmt.Errorf("assistant: bibliographic source name %q is used twice", n)
		case e.providers[n] != nil:
			return fmt.Errorf("assistant: bibliographic source %q has the name of a provider", n)
		}
		seen[s.Name()] = true
		e.sources = append(e.sources, s)
	}
	return nil
}

// Sources names the bibliographic sources, in order.
func (e *Engine) Sources() []string {
	out := make([]string, len(e.sources))
	for i, s := range e.sources {
		out[i] = s.Name()
	}
	return out
}

// SearchRefs searches one bibliographic source through the same stages as
// a model request:
//
//	validate → policy decision (task refs; the source chosen like a
//	provider) → quota reservation → redaction of the query → source
//	→ quota settlement → journal entry
//
// The source is an outside service that receives the query: placeholders
// of what redaction masked are dropped from it (a search for [[EMAIL_1]]
// finds nothing), nothing else of the request leaves. The journal entry
// names the source as provider and its kind as model, with keyed hashes of
// the query sent and of the records returned; with content "full", both.
// A search counts one request of the quota and no tokens.
func (e *Engine) SearchRefs(ctx context.Context, rr *core.RefsRequest) (resp *core.RefsResponse, err error) {
	start := e.now()
	if rr.ID == "" {
		rr.ID = NewRequestID()
	}
	req := &core.Request{ID: rr.ID, Principal: rr.Principal, Task: core.TaskRefs,
		Origin: rr.Origin, Classification: rr.Classification}
	entry := newEntry(req, start)
	var content *audit.Content
	defer endRun(e, ctx, req, entry, &content, start, "searching", &resp, &err)

	// 1. Shape.
	src, err := e.validateRefs(rr)
	if err != nil {
		return nil, err
	}
	entry.Provider, entry.Model = src.Name(), src.Kind()
	rows := rr.Max
	if rows == 0 {
		rows = defaultRefs
	}

	// 2. Policy: the source is an outside service, chosen like a provider.
	dec := e.policy.DecideSource(req, policy.Provider{Name: src.Name(), Sovereign: src.Sovereign()})
	entry.Rule, entry.Classification, entry.ContentLevel = dec.Rule, string(dec.Classification), dec.Content
	if !dec.Allow {
		return nil, &core.Error{Kind: core.KindDenied, Rule: dec.Rule, Provider: src.Name(), Message: dec.Reason}
	}
	entry.Decision = "allow"
	red := e.redactors[dec.Profile]
	if red == nil {
		return nil, core.Errorf(core.KindInternal, "redaction profile %q is not available", dec.Profile)
	}

	// 3. Quota: one request, no tokens.
	res, err := e.quota.Reserve(ctx, e.subjects(req.Principal), estimateTokens(rr.Query))
	if err != nil {
		return nil, quotaError(err)
	}
	settled := false
	defer e.releaseUnsettled(ctx, req, res, &settled)

	// 4. Redaction of the query, within the time budget.
	sent, counts, err := redactTexts(ctx, red, []string{rr.Query}, e.redactFor)
	entry.Redactions = counts
	if err != nil {
		return nil, err
	}
	query := searchable(sent[0])
	if query == "" {
		return nil, core.Errorf(core.KindInvalid, "nothing is left to search once what must not leave is masked")
	}
	if e.journalDown.Load() {
		if perr := e.journal.Ping(ctx); perr != nil {
			return nil, &core.Error{Kind: core.KindInternal, Message: "the journal is unavailable, so nothing is sent to a source", Err: perr}
		}
	}

	// 5. Source.
	entry.SentHash = e.journal.HashContent(query)
	if dec.Content == policy.ContentFull {
		content = &audit.Content{Sent: query}
	}
	recs, found, err := src.Search(ctx, query, rows)
	if err != nil {
		return nil, sourceError(ctx, src, err)
	}
	res.SettleAsync(0)
	settled = true
	returned := recordsText(recs)
	entry.ReturnedHash = e.journal.HashContent(returned)
	if content != nil {
		content.Returned = returned
	}
	return &core.RefsResponse{RequestID: req.ID, Source: src.Name(), Records: recs, Found: found,
		Redactions: counts, Rule: dec.Rule}, nil
}

// validateRefs checks a search's shape and finds its source.
func (e *Engine) validateRefs(rr *core.RefsRequest) (biblio.Source, error) {
	switch {
	case rr.Principal.UserID == "":
		return nil, core.Errorf(core.KindUnauthenticated, "request has no user")
	case !rr.Principal.Integration.Valid():
		return nil, core.Errorf(core.KindInvalid, "unknown integration %q", rr.Principal.Integration)
	case rr.Classification != "" && !rr.Classification.Valid():
		return nil, core.Errorf(core.KindInvalid, "unknown classification %q (expected public, internal, confidential or secret)", rr.Classification)
	case strings.TrimSpace(rr.Query) == "":
		return nil, core.Errorf(core.KindInvalid, "a search needs a query")
	case len(rr.Query) > core.MaxRefsQueryBytes:
		return nil, core.Errorf(core.KindInvalid, "the query is %d bytes, more than the %d allowed", len(rr.Query), core.MaxRefsQueryBytes)
	case rr.Max < 0 || rr.Max > core.MaxRefsRecords:
		return nil, core.Errorf(core.KindInvalid, "a search returns 1 to %d records", core.MaxRefsRecords)
	}
	if len(e.sources) == 0 {
		return nil, core.Errorf(core.KindNotFound, "no bibliographic source is configured")
	}
	if rr.Source == "" {
		return e.sources[0], nil
	}
	for _, s := range e.sources {
		if s.Name() == rr.Source {
			return s, nil
		}
	}
	return nil, core.Errorf(core.KindNotFound, "unknown bibliographic source %q", rr.Source)
}

var (
	placeholder = regexp.MustCompile(`\[\[[A-Z][A-Z0-9_]*_\d+\]\]`)
	spaces      = regexp.MustCompile(`\s+`)
)

// searchable is a redacted query as a source receives it: without the
// placeholders of what was masked.
func searchable(q string) string {
	return strings.TrimSpace(spaces.ReplaceAllString(placeholder.ReplaceAllString(q, " "), " "))
}

// sourceError words a source's failure.
func sourceError(ctx context.Context, src biblio.Source, err error) error {
	if ctx.Err() != nil {
		return &core.Error{Kind: core.KindCanceled, Message: "the request was canceled", Err: err}
	}
	var be *biblio.Error
	if errors.As(err, &be) {
		kind, verb := core.KindUnavailable, "is unavailable"
		if be.Timeout {
			kind, verb = core.KindTimeout, "timed out"
		}
		return &core.Error{Kind: kind, Provider: src.Name(), Message: fmt.Sprintf("bibliographic source %s %s: %s", src.Name(), verb, be.Reason)}
	}
	return &core.Error{Kind: core.KindUnavailable, Provider: src.Name(), Message: fmt.Sprintf("bibliographic source %s failed", src.Name()), Err: err}
}

// recordsText is the records as the journal hashes (and, with content
// "full", keeps) them.
func recordsText(recs []core.Record) string {
	var b strings.Builder
	for _, r := range recs {
		b.WriteString(r.ID + "\x00" + r.Title + "\x00" + strings.Join(r.Authors, "; ") + "\x00" + strconv.Itoa(r.Year) + "\x00" + r.DOI + "\x00" + r.URL + "\n")
	}
	return b.String()
}
