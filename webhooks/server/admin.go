package server

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"timon.dev/timon/core"
	"timon.dev/timon/core/audit"
	"timon.dev/timon/core/store"
)

// adminRoutes serves the journal to administrators:
//
//	GET /admin/audit?since=&until=&user=&integration=&group=&outcome=&request_id=&after=&limit=
//	    entries, ascending; "next" is the cursor for the following page;
//	    no window by default (the whole journal, 100 entries a page)
//	GET /admin/audit/{request_id}
//	    one request's entries, with the content kept under content: full;
//	    the reading is journaled first (integration audit, task read)
//	GET /admin/usage?since=&until=&user=&integration=&group=
//	    requests, denials (by policy), invalid requests, outcomes, redactions,
//	    tokens and moderation findings ("in:health=warn": requests) per
//	    integration, group and day; by default the last 30 days; and
//	    "suggestions": completion suggestions shown and accepted per
//	    integration, language and day (whole UTC days)
//
// since and until take what the CLI's --since and --until do: a date, an
// RFC 3339 time, or a duration ago (7d, 24h, 90m). The answers echo the
// window applied, null for no bound.
//
// Each route goes through mw (authentication, the admin group).
func (s *Server) adminRoutes(mw ...func(http.Handler) http.Handler) {
	s.handle("GET /admin/audit", http.HandlerFunc(s.adminAudit), mw...)
	s.handle("GET /admin/audit/{request_id}", http.HandlerFunc(s.adminAuditRequest), mw...)
	s.handle("GET /admin/usage", http.HandlerFunc(s.adminUsage), mw...)
}

// usageWindow is /admin/usage's window when since is not given.
const usageWindow = 30 * 24 * time.Hour

func adminFilter(r *http.Request) (audit.Filter, error) {
	q := r.URL.Query()
	f := audit.Filter{
		UserID: q.Get("user"), Integration: q.Get("integration"), Group: q.Get("group"),
		Outcome: q.Get("outcome"), RequestID: q.Get("request_id"),
	}
	var err error
	now := time.Now()
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if *p.dst, err = audit.ParseWhen(q.Get(p.name), now); err != nil {
			return f, core.Errorf(core.KindInvalid, "%s: %v", p.name, err)
		}
	}
	if v := q.Get("after"); v != "" {
		if f.AfterSeq, err = strconv.ParseInt(v, 10, 64); err != nil || f.AfterSeq < 0 {
			return f, core.Errorf(core.KindInvalid, "after: expected a sequence number")
		}
	}
	if v := q.Get("limit"); v != "" {
		if f.Limit, err = strconv.Atoi(v); err != nil || f.Limit < 1 || f.Limit > 1000 {
			return f, core.Errorf(core.KindInvalid, "limit: expected 1 to 1000")
		}
	}
	return f, nil
}

func (s *Server) adminAudit(w http.ResponseWriter, r *http.Request) {
	f, err := adminFilter(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	if f.Limit == 0 {
		f.Limit = 100
	}
	entries, err := audit.List(r.Context(), s.o.Store, f)
	if err != nil {
		s.log.Error("listing the journal", "err", err)
		writeError(w, r, core.Errorf(core.KindInternal, "the journal could not be read"))
		return
	}
	body := map[string]any{"since": bound(f.Since), "until": bound(f.Until), "entries": entries}
	if len(entries) == f.Limit {
		body["next"] = entries[len(entries)-1].Seq
	}
	writeJSON(w, http.StatusOK, body)
}

func (s *Server) adminUsage(w http.ResponseWriter, r *http.Request) {
	f, err := adminFilter(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	if f.Since.IsZero() {
		f.Since = time.Now().Add(-usageWindow)
	}
	stats, err := audit.StatsFor(r.Context(), s.o.Store, f)
	if err != nil {
		s.log.Error("journal statistics", "err", err)
		writeError(w, r, core.Errorf(core.KindInternal, "the journal could not be read"))
		return
	}
	body := map[string]any{"since": bound(f.Since), "until": bound(f.Until), "stats": stats}
	if s.o.Suggestions != nil {
		sugg, err := s.o.Suggestions.Stats(r.Context(), f)
		if err != nil {
			s.log.Error("suggestion statistics", "err", err)
			writeError(w, r, core.Errorf(core.KindInternal, "the suggestion counts could not be read"))
			return
		}
		body["suggestions"] = sugg
	}
	writeJSON(w, http.StatusOK, body)
}

// bound is a window's bound as the answers echo it: RFC 3339 in UTC, or
// null when there is none.
func bound(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// adminAuditRequest answers one request's entries with their content, as
// timon audit show does. The reading is journaled before anything is
// answered, by the administrator the token names; an unknown request id is
// 404 and leaves no entry.
func (s *Server) adminAuditRequest(w http.ResponseWriter, r *http.Request) {
	if s.o.Journal == nil {
		writeError(w, r, core.Errorf(core.KindInternal, "this hub has no journal to read"))
		return
	}
	id := r.PathValue("request_id")
	p := principal(r)
	read, err := s.o.Journal.Read(r.Context(), id, audit.Reader{UserID: p.UserID, Groups: p.Groups})
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeError(w, r, core.Errorf(core.KindNotFound, "no journal entry for request %s", id))
		return
	case err != nil:
		s.log.Error("reading a request's journal entries", "err", err)
		writeError(w, r, core.Errorf(core.KindInternal, "the journal could not be read, or the reading could not be journaled"))
		return
	}
	writeJSON(w, http.StatusOK, read)
}
