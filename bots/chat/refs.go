package chat

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"timon.dev/timon/core"
	"timon.dev/timon/core/biblio"
	"timon.dev/timon/core/store"
)

// The refs command searches the institution's bibliographic sources (HAL,
// OpenAlex…) through the engine's Bibliographer, governed like any request,
// and answers with the records as the sources gave them: every title,
// author, year and link comes from a source's response, never from a
// model. A model may then rank the records and write a short synthesis
// citing them by number; the synthesis is never shown as it streams, and
// every reference-like text in it that matches no record is removed and
// counted (biblio.Verify). "refs bibtex 1 3" (or "bibtex 1,3") gives
// records of the requester's last search in the thread as BibTeX, kept in
// the store (chat_refs), never asked of a model.

// refsPerSource is the number of records asked of each source.
const refsPerSource = 10

// maxAbstract bounds each record's abstract given to the model.
const maxAbstract = 800

// refs answers the refs command (and its bibtex follow-up).
func (r *Router) refs(ctx context.Context, p Platform, ev *Event, rec *record, cmd command, model string, public bool) error {
	cat := r.cat(ev)
	notice := func(text string) error {
		return r.replier(p, ev, rec, ev.ChannelType != ChannelDM).final(ctx, text, cat.T("footer_auto"), "")
	}
	b, ok := r.o.Assistant.(core.Bibliographer)
	if !ok {
		return notice(cat.T("refs_unavailable"))
	}
	if args, ok := bibtexArgs(ev.Text, cmd.text); ok {
		return r.bibtex(ctx, p, ev, rec, args, public)
	}
	if cmd.text == "" {
		return notice(cat.T("need_text_refs"))
	}
	sources := b.Sources()
	if len(sources) == 0 {
		return notice(cat.T("refs_no_sources"))
	}

	out := r.replier(p, ev, rec, !public)
	if err := out.placeholder(ctx, cat.T("thinking")); err != nil {
		return err
	}
	var (
		recs     []core.Record
		notes    []string
		searched []string
		ids      []string
		masked   = map[string]int{}
		seenDOI  = map[string]bool{}
	)
	for _, name := range sources {
		resp, err := b.SearchRefs(ctx, &core.RefsRequest{Principal: r.principal(ev), Source: name, Query: cmd.text,
			Max: refsPerSource, Origin: core.Origin{Channel: channelLabel(ev), Thread: ev.ThreadID}})
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("searching bibliographic sources: %w", ctx.Err())
			}
			ce := core.AsError(err, "internal error")
			if ce.RequestID != "" {
				ids = append(ids, ce.RequestID)
			}
			notes = append(notes, r.sourceFailure(cat, name, ce))
			continue
		}
		ids = append(ids, resp.RequestID)
		searched = append(searched, name)
		for t, n := range resp.Redactions {
			masked[t] = max(masked[t], n)
		}
		for _, rc := range resp.Records {
			if d := strings.ToLower(rc.DOI); d != "" {
				if seenDOI[d] {
					continue // the same work, from an earlier source
				}
				seenDOI[d] = true
			}
			recs = append(recs, rc)
		}
	}
	id := ""
	if len(ids) > 0 {
		id = ids[0]
	}
	if n := countRedactions(masked); n > 0 {
		notes = append([]string{cat.Plural("refs_masked", n, "n", cat.Num(n), "types", redactionTypes(masked))}, notes...)
	}
	if len(recs) == 0 {
		body := strings.Join(notes, "\n")
		if len(searched) > 0 {
			body = strings.TrimSpace(cat.T("refs_none", "sources", strings.Join(searched, ", ")) + "\n" + body)
		}
		return out.final(ctx, body, footer(cat, id), id)
	}
	if err := r.saveRefs(ctx, ev, recs); err != nil {
		return err
	}

	body := cat.Plural("refs_title", len(recs), "n", cat.Num(len(recs)), "sources", strings.Join(searched, ", ")) + "\n" + r.listRecords(out, recs)
	tail := notes
	// The synthesis: only what is checked is shown.
	synth, err := r.synthesis(ctx, ev, cmd.text, model, recs)
	switch {
	case err != nil && ctx.Err() != nil:
		return fmt.Errorf("answering chat event: %w", ctx.Err())
	case err != nil:
		ce := core.AsError(err, "internal error")
		reason, _, _ := r.failure(cat, ce)
		tail = append(tail, cat.T("refs_no_synthesis", "reason", reason))
	case strings.TrimSpace(synth.Text) != "":
		text, removed := biblio.Verify(synth.Text, recs)
		body += "\n\n" + cat.T("refs_synthesis") + "\n" + out.policy.Markdown(text)
		if removed > 0 {
			tail = append(tail, cat.Plural("refs_removed", removed, "n", cat.Num(removed)))
		}
		if n := countRedactions(synth.Redactions); n > 0 {
			tail = append(tail, cat.Plural("redacted", n, "n", cat.Num(n), "types", redactionTypes(synth.Redactions)))
		}
		id = synth.RequestID
	}
	tail = append(tail, cat.T("refs_bibtex_hint"))
	if synth != nil && id == synth.RequestID {
		tail = append(tail, cat.T("footer_ai", "id", id))
	} else {
		tail = append(tail, footer(cat, id))
	}
	return out.final(ctx, body, strings.Join(tail, "\n"), id)
}

func footer(cat *catalogue, id string) string {
	if id == "" {
		return cat.T("footer_auto")
	}
	return cat.T("refs_footer", "id", id)
}

// sourceFailure words a source that was not searched or did not answer.
func (r *Router) sourceFailure(cat *catalogue, name string, ce *core.Error) string {
	reason := ce.Message
	switch ce.Kind {
	case core.KindUnavailable, core.KindTimeout:
		// "bibliographic source HAL is unavailable: HTTP 503" → "HTTP 503"
		if _, after, ok := strings.Cut(reason, ": "); ok {
			reason = after
		}
		return cat.T("refs_source_down", "source", name, "reason", reason)
	case core.KindDenied:
		rule := ce.Rule
		if rule == "" {
			rule = "(default)"
		}
		return cat.T("refs_denied", "source", name, "rule", "`"+rule+"`", "reason", reason)
	}
	text, _, _ := r.failure(cat, ce)
	return text
}

// listRecords writes the records as a numbered list: title, authors
// (the first three), year and a link (the DOI's, else the record's page),
// each from the record; the text of the fields is sanitized like any
// outside text, the links are built here and checked.
func (r *Router) listRecords(w *replier, recs []core.Record) string {
	var b strings.Builder
	for i, rc := range recs {
		fmt.Fprintf(&b, "%d. *%s*", i+1, w.policy.Markdown(oneLine(rc.Title)))
		if a := shortAuthors(rc.Authors); a != "" {
			b.WriteString(" — " + w.policy.Markdown(oneLine(a)))
		}
		if rc.Year > 0 {
			b.WriteString(" (" + strconv.Itoa(rc.Year) + ")")
		}
		if link := recordLink(rc); link != "" {
			b.WriteString(" — " + link)
		}
		b.WriteByte('\n')
	}
	return strings.TrimRight(b.String(), "\n")
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	s = strings.ReplaceAll(s, "*", "∗")
	if utf8.RuneCountInString(s) > 300 {
		rs := []rune(s)
		s = string(rs[:300]) + "…"
	}
	return s
}

// shortAuthors is the first three authors, then "et al.".
func shortAuthors(as []string) string {
	if len(as) <= 3 {
		return strings.Join(as, ", ")
	}
	return strings.Join(as[:3], ", ") + " et al."
}

// recordLink is the record's DOI as a doi.org link, else its page when
// it is a plain http(s) URL; "" when neither.
func recordLink(rc core.Record) string {
	if rc.DOI != "" {
		var b strings.Builder
		for _, c := range []byte(rc.DOI) {
			if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~/:;()", c) >= 0 {
				b.WriteByte(c)
			} else {
				fmt.Fprintf(&b, "%%%02X", c)
			}
		}
		return "https://doi.org/" + b.String()
	}
	u, err := url.Parse(rc.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		strings.ContainsAny(rc.URL, " \t\n<>|\"'`*_") {
		return ""
	}
	return rc.URL
}

// synthesis asks the model to rank the records and write a short
// synthesis citing them by number. The records are material others wrote:
// data, not instructions.
func (r *Router) synthesis(ctx context.Context, ev *Event, question, model string, recs []core.Record) (*core.Response, error) {
	var in strings.Builder
	for i, rc := range recs {
		fmt.Fprintf(&in, "[%d] %s", i+1, oneLine(rc.Title))
		if len(rc.Authors) > 0 {
			in.WriteString(". " + oneLine(shortAuthors(rc.Authors)))
		}
		if rc.Year > 0 {
			in.WriteString(". " + strconv.Itoa(rc.Year))
		}
		if a := oneLine(rc.Abstract); a != "" {
			if rs := []rune(a); len(rs) > maxAbstract {
				a = string(rs[:maxAbstract]) + "…"
			}
			in.WriteString(". Abstract: " + a)
		}
		in.WriteString("\n")
	}
	input := strings.TrimSpace(in.String())
	instr := fmt.Sprintf("These are bibliographic records found for a question, numbered [1] to [%d]. "+
		"Rank them by relevance to the question, then write a short synthesis (at most six sentences) in the language of the question. "+
		"Cite the records only by their number in brackets, such as [2]. Cite nothing else: no author names with years, no DOIs, no URLs, no other works. "+
		"If the records do not answer the question, say so.\nThe question: %s", len(recs), question)
	req := &core.Request{
		Principal: r.principal(ev),
		Task:      core.TaskSummarize,
		Model:     model,
		Input:     input,
		// The records' text (abstracts above all) is written by others.
		Untrusted:   []string{input},
		Instruction: instr,
		Origin:      core.Origin{Channel: channelLabel(ev), Thread: ev.ThreadID},
	}
	if ev.ThreadID != "" {
		req.ConversationID = string(ev.Platform) + ":" + ev.ChannelID + ":" + ev.ThreadID
	}
	return r.o.Assistant.Do(ctx, req)
}

// bibtexArgs reports whether the command asks for BibTeX ("bibtex 1 3",
// "refs bibtex 1,3") and returns what follows the word.
func bibtexArgs(raw, text string) (string, bool) {
	w, _ := firstWord(raw)
	if strings.EqualFold(strings.TrimRight(w, ":,"), "bibtex") {
		return text, true
	}
	w, rest := firstWord(text)
	if strings.EqualFold(strings.TrimRight(w, ":,"), "bibtex") {
		return rest, true
	}
	return "", false
}

// bibtex answers the records chosen from the requester's last search in
// the thread, as BibTeX.
func (r *Router) bibtex(ctx context.Context, p Platform, ev *Event, rec *record, args string, public bool) error {
	cat := r.cat(ev)
	out := r.replier(p, ev, rec, !public)
	recs, err := r.loadRefs(ctx, ev)
	if err != nil {
		return err
	}
	if len(recs) == 0 {
		return out.final(ctx, cat.T("refs_bibtex_none"), cat.T("footer_auto"), "")
	}
	chosen, ok := choose(args, len(recs))
	if !ok {
		return out.final(ctx, cat.T("refs_bibtex_range", "n", strconv.Itoa(len(recs))), cat.T("footer_auto"), "")
	}
	var sel []core.Record
	for _, i := range chosen {
		sel = append(sel, recs[i-1])
	}
	// Backticks would close the code block; mentions are defused by the
	// platform's policy.
	bib := strings.ReplaceAll(biblio.BibTeX(sel), "`", "'")
	return out.final(ctx, "```\n"+strings.TrimRight(bib, "\n")+"\n```", cat.T("footer_auto"), "")
}

// choose reads record numbers ("1 3", "1,3", "2-4"); none means all.
func choose(args string, n int) ([]int, bool) {
	var out []int
	seen := map[int]bool{}
	add := func(i int) {
		if !seen[i] {
			seen[i] = true
			out = append(out, i)
		}
	}
	for _, part := range strings.FieldsFunc(args, func(c rune) bool { return c == ',' || c == ';' || c == ' ' || c == '\t' || c == '\n' }) {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 1 || a > n {
			return nil, false
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a || b > n {
				return nil, false
			}
		}
		for i := a; i <= b; i++ {
			add(i)
		}
	}
	if len(out) == 0 {
		for i := 1; i <= n; i++ {
			out = append(out, i)
		}
	}
	return out, true
}

// saveRefs keeps the records of the requester's last search in ev's
// thread (records from public sources, not what anyone wrote), for the
// bibtex follow-up; older searches are dropped after keepRecords.
func (r *Router) saveRefs(ctx context.Context, ev *Event, recs []core.Record) error {
	data, err := json.Marshal(recs)
	if err != nil {
		return fmt.Errorf("encoding bibliographic records: %w", err)
	}
	now := r.now()
	_, err = r.o.Store.Exec(context.WithoutCancel(ctx), `INSERT INTO chat_refs (platform, channel_id, thread_id, user_id, records, created_at) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (platform, channel_id, thread_id, user_id) DO UPDATE SET records = excluded.records, created_at = excluded.created_at`,
		string(ev.Platform), ev.ChannelID, ev.ThreadID, ev.UserID, string(data), store.Micros(now))
	if err != nil {
		return fmt.Errorf("recording bibliographic records: %w", err)
	}
	// Best effort, as the state's purge.
	r.o.Store.Exec(ctx, `DELETE FROM chat_refs WHERE created_at < ?`, store.Micros(now.Add(-keepRecords)))
	return nil
}

// loadRefs reads the records of the requester's last search in ev's
// thread; none when there is none.
func (r *Router) loadRefs(ctx context.Context, ev *Event) ([]core.Record, error) {
	var data string
	err := r.o.Store.QueryRow(ctx, `SELECT records FROM chat_refs WHERE platform = ? AND channel_id = ? AND thread_id = ? AND user_id = ?`,
		string(ev.Platform), ev.ChannelID, ev.ThreadID, ev.UserID).Scan(&data)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("reading bibliographic records: %w", err)
	}
	var recs []core.Record
	if err := json.Unmarshal([]byte(data), &recs); err != nil {
		return nil, fmt.Errorf("reading bibliographic records: %w", err)
	}
	return recs, nil
}
