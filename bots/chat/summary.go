package chat

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"timon.dev/timon/core"
)

// Catch-up summaries: summarize on a thread, or on the channel over a
// period ("since yesterday", "last 4h", "since my last message", and their
// French forms). The answer has three parts (key points, decisions, open
// questions) under headings in the requester's language, and is private
// unless the requester asks for it to be public where the channel allows
// it. The platform reads only what the requester may read (History and
// Thread check the requester's membership on the platform, not the bot's).
// A history longer than one request's budget is summarized in parts, then
// the parts' summaries merged: at most summaryMaxParts+1 governed requests,
// each journaled, redacted and moderated like any other.

// Budget of a summary.
const (
	// summaryPartTokens bounds the messages of one request (estimated at
	// four bytes a token), well within the context of the institution's
	// models (32k tokens and more) with room for the prompt and answer.
	summaryPartTokens = 6000
	// summaryMaxParts bounds the requests of one summary before the merge:
	// the earliest messages beyond them are left out, and the reply says
	// so.
	summaryMaxParts = 12
	// summaryPartAnswerTokens bounds each part's summary, so that all of
	// them together fit one request.
	summaryPartAnswerTokens = summaryPartTokens / summaryMaxParts
	// SummaryMaxMessages is the most messages a platform reads for one
	// summary (History's max).
	SummaryMaxMessages = 5000
	// summaryMineLookback is how far back "since my last message" looks
	// for it.
	summaryMineLookback = 7 * 24 * time.Hour
	// summaryMaxPeriod bounds a period asked for in hours, minutes or days.
	summaryMaxPeriod = 31 * 24 * time.Hour
)

// History is implemented by platforms that can read a channel's messages
// over a period, for catch-up summaries.
type History interface {
	// History returns the messages of ev's channel posted at or after
	// since, oldest first, at most max of them (the latest, truncated
	// true, when there are more), without ev.MessageID and what follows
	// it, and without what is not a post (joins, system messages, deleted
	// posts). It reads them only if ev.UserID is a member of the channel,
	// checked on the platform for that user (not the bot): otherwise it
	// returns an error wrapping ErrForbidden.
	History(ctx context.Context, ev *Event, since time.Time, max int) (posts []HistoryPost, truncated bool, err error)
}

// HistoryPost is a post of a channel's history.
type HistoryPost struct {
	ThreadPost
	// Mine reports that the requester wrote it.
	Mine bool
	// At is when it was posted.
	At time.Time
}

// period is the span of a channel summary.
type period struct {
	since time.Time
	// mine: from the requester's last message (looked for since since).
	mine bool
}

// The periods a summary request may name, compiled on first use, not at
// start: every timon process (timon lsp too) links this package.
var (
	rePublic = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`(?i)(?:^|\s)(public|publicly|publiquement|pour\s+tous|for\s+everyone)\s*$`)
	})
	reYesterday = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^(?:since\s+|depuis\s+)?(?:yesterday|hier)$`) })
	reToday     = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^(?:since\s+|depuis\s+)?(?:today|aujourd'hui|aujourd’hui|ce\s+matin|this\s+morning)$`)
	})
	reMine = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^(?:since|depuis)\s+(?:my|mon)\s+(?:last|dernier)\s+(?:message|post)$`)
	})
	reLast = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^(?:(?:in\s+)?the\s+|les\s+|la\s+|le\s+)?(?:(last|past|dernières|dernieres|derniers|dernière|derniere|dernier|depuis)\s+)?(\d{1,4})?\s*(h|hrs?|hours?|heures?|m|mins?|minutes?|d|days?|j|jours?)$`)
	})
	reLastFR = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^(?:les\s+|depuis\s+les\s+)?(\d{1,4})\s+(?:dernières|dernieres|derniers)\s+(heures?|minutes?|jours?)$`)
	})
)

// parsePeriod reads a summary's period ("" or another text: ok false).
func parsePeriod(text string, now time.Time) (p period, ok bool) {
	s := strings.ToLower(strings.Join(strings.Fields(strings.TrimRight(text, " .!?")), " "))
	switch {
	case s == "":
		return period{}, false
	case reYesterday().MatchString(s):
		y, m, d := now.AddDate(0, 0, -1).Date()
		return period{since: time.Date(y, m, d, 0, 0, 0, 0, now.Location())}, true
	case reToday().MatchString(s):
		y, m, d := now.Date()
		return period{since: time.Date(y, m, d, 0, 0, 0, 0, now.Location())}, true
	case reMine().MatchString(s):
		return period{since: now.Add(-summaryMineLookback), mine: true}, true
	}
	var num, unit string
	if m := reLast().FindStringSubmatch(s); m != nil && (m[1] != "" || m[2] != "") {
		num, unit = m[2], m[3]
	} else if m := reLastFR().FindStringSubmatch(s); m != nil {
		num, unit = m[1], m[2]
	} else {
		return period{}, false
	}
	n := 1
	if num != "" {
		n, _ = strconv.Atoi(num)
	}
	if n <= 0 {
		return period{}, false
	}
	var d time.Duration
	switch unit[0] {
	case 'h':
		d = time.Hour
	case 'm':
		d = time.Minute
	default: // d, j
		d = 24 * time.Hour
	}
	span := min(time.Duration(n)*d, summaryMaxPeriod)
	return period{since: now.Add(-span)}, true
}

// wantsPublic cuts a trailing "public" (publiquement…) off a summary's
// text.
func wantsPublic(text string) (string, bool) {
	if loc := rePublic().FindStringIndex(text); loc != nil {
		return strings.TrimSpace(text[:loc[0]]), true
	}
	return text, false
}

// summarize answers the summarize command: a thread, the channel over a
// period, or the text given. The answer is private unless asked public
// where the channel's policy allows it.
func (r *Router) summarize(ctx context.Context, p Platform, ev *Event, rec *record, cmd command, model string, allowPublic bool) error {
	cat := r.cat(ev)
	text, public := wantsPublic(cmd.text)
	out := r.replier(p, ev, rec, !(public && allowPublic))
	auto := func(key string, args ...string) error {
		return out.final(ctx, cat.T(key, args...), cat.T("footer_auto"), "")
	}
	per, isPeriod := parsePeriod(text, r.now())
	var msgs []core.Message
	var notes []string
	how := "" // in a thread, what the requester added
	switch {
	case isPeriod:
		h, ok := p.(History)
		if !ok {
			if k, isKeyed := p.(keyed); isKeyed {
				h, ok = k.Platform.(History)
			}
		}
		if !ok {
			return auto("summary_unsupported")
		}
		posts, truncated, err := h.History(ctx, ev, per.since, SummaryMaxMessages)
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, ErrForbidden):
			return auto("channel_forbidden")
		case err != nil:
			return fmt.Errorf("reading the channel to summarize: %w", err)
		}
		if per.mine {
			last := -1
			for i, hp := range posts {
				if hp.Mine {
					last = i
				}
			}
			switch {
			case last >= 0:
				posts = posts[last+1:]
			case truncated:
				notes = append(notes, cat.T("summary_no_mine_recent", "n", cat.Num(len(posts))))
			default:
				notes = append(notes, cat.T("summary_no_mine", "days", cat.Num(int(summaryMineLookback/(24*time.Hour)))))
			}
		} else if truncated {
			notes = append(notes, cat.T("summary_truncated", "n", cat.Num(len(posts))))
		}
		tp := make([]ThreadPost, len(posts))
		for i, hp := range posts {
			tp[i] = hp.ThreadPost
		}
		msgs = r.shapePosts(ev, tp)
		if len(msgs) == 0 {
			return auto("summary_empty")
		}
	case ev.ThreadID != "":
		// The thread, the text (if any) saying how; a text alone when
		// there is nothing before it in the thread.
		posts, err := p.Thread(ctx, ev)
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, ErrForbidden):
			return auto("thread_forbidden")
		case err != nil:
			return fmt.Errorf("reading the thread to summarize: %w", err)
		}
		msgs = r.shapePosts(ev, posts)
		switch {
		case len(msgs) == 0 && text == "":
			return auto("need_thread")
		case len(msgs) == 0:
			return r.summarizeText(ctx, out, cat, ev, model, text)
		}
		how = text
	case text == "":
		return auto("summary_need")
	default:
		return r.summarizeText(ctx, out, cat, ev, model, text)
	}
	if err := out.placeholder(ctx, cat.T("thinking")); err != nil {
		return err
	}
	return r.summarizeMessages(ctx, out, cat, ev, model, msgs, how, notes)
}

// summarizeText summarizes a text given with the command.
func (r *Router) summarizeText(ctx context.Context, out *replier, cat *catalogue, ev *Event, model, text string) error {
	if err := out.placeholder(ctx, cat.T("thinking")); err != nil {
		return err
	}
	return r.summaryAnswer(ctx, out, cat, r.summaryRequest(ev, model, text, "", nil), nil, nil)
}

// summarizeMessages summarizes msgs in one request, or in parts within
// the budget and then the parts' summaries together; how is what the
// requester added ("in three lines"…), "" for nothing.
func (r *Router) summarizeMessages(ctx context.Context, out *replier, cat *catalogue, ev *Event, model string, msgs []core.Message, how string, notes []string) error {
	parts := chunkMessages(msgs, summaryPartTokens)
	if len(parts) > summaryMaxParts {
		left := 0
		for _, p := range parts[:len(parts)-summaryMaxParts] {
			left += len(p)
		}
		parts = parts[len(parts)-summaryMaxParts:]
		notes = append(notes, cat.T("summary_left_out", "n", cat.Num(left)))
	}
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	final := finalInstruction(cat)
	if how = strings.TrimSpace(how); how != "" {
		final += " The requester adds: " + how
	}
	notes = append(notes, cat.Plural("summary_count", len(parts), "n", cat.Num(n), "k", cat.Num(len(parts))))
	if len(parts) == 1 {
		req := r.summaryRequest(ev, model, transcript(parts[0]), final, untrusted(parts[0], func(s string) string { return s }))
		return r.summaryAnswer(ctx, out, cat, req, notes, nil)
	}
	redactions := map[string]int{}
	var summaries []string
	first := 1
	for i, part := range parts {
		instr := fmt.Sprintf("These are messages %d to %d of %d of a chat channel, oldest first (part %d of %d). "+
			"Note, as short bullet points, the key points, the decisions taken and the open questions, naming who said what where it matters. "+
			"At most %d words; no preamble.", first, first+len(part)-1, n, i+1, len(parts), summaryPartAnswerTokens/2)
		first += len(part)
		req := r.summaryRequest(ev, model, transcript(part), instr, untrusted(part, func(s string) string { return s }))
		req.MaxTokens = summaryPartAnswerTokens
		resp, err := r.o.Assistant.Do(ctx, req)
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("summarizing a chat channel: %w", ctx.Err())
			}
			text, footer, id := r.failure(cat, err)
			return out.final(ctx, text, footer, id)
		}
		for k, v := range resp.Redactions {
			redactions[k] += v
		}
		s := clipRunes(strings.TrimSpace(resp.Text), summaryPartAnswerTokens*4)
		if s == "" {
			continue
		}
		summaries = append(summaries, fmt.Sprintf("Part %d of %d:\n%s", i+1, len(parts), s))
	}
	if len(summaries) == 0 {
		return out.final(ctx, cat.T("summary_empty"), cat.T("footer_auto"), "")
	}
	input := strings.Join(summaries, "\n\n")
	req := r.summaryRequest(ev, model, input,
		"The material is the summaries of consecutive parts of one chat channel, oldest first: merge them into one. "+final,
		summaries)
	return r.summaryAnswer(ctx, out, cat, req, notes, redactions)
}

// summaryAnswer streams the (final) summary request into the reply, with
// the notes and the transparency line.
func (r *Router) summaryAnswer(ctx context.Context, out *replier, cat *catalogue, req *core.Request, notes []string, redactions map[string]int) error {
	var answer strings.Builder
	resp, err := r.o.Assistant.Stream(ctx, req, func(delta string) error {
		answer.WriteString(delta)
		out.progress(ctx, answer.String())
		return nil
	})
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("answering chat event: %w", ctx.Err())
		}
		text, footer, id := r.failure(cat, err)
		return out.final(ctx, text, footer, id)
	}
	if redactions == nil {
		redactions = map[string]int{}
	}
	for k, v := range resp.Redactions {
		redactions[k] += v
	}
	if n := countRedactions(redactions); n > 0 {
		notes = append(notes, cat.Plural("redacted", n, "n", cat.Num(n), "types", redactionTypes(redactions)))
	}
	if resp.FinishReason == "length" {
		notes = append(notes, cat.T("truncated"))
	}
	for _, n := range resp.Notices {
		notes = append(notes, noticeLine(cat, n))
	}
	tail := strings.Join(append(notes, cat.T("footer_ai", "id", resp.RequestID)), "\n")
	return out.answer(ctx, resp.Text, tail, resp.RequestID)
}

// summaryRequest is one governed summarize request over input.
func (r *Router) summaryRequest(ev *Event, model, input, instruction string, untrustedParts []string) *core.Request {
	req := &core.Request{
		Principal:   r.principal(ev),
		Model:       model,
		Task:        core.TaskSummarize,
		Input:       input,
		Instruction: instruction,
		Untrusted:   untrustedParts,
		Origin:      core.Origin{Channel: channelLabel(ev), Thread: ev.ThreadID},
	}
	if ev.ThreadID != "" {
		req.ConversationID = string(ev.Platform) + ":" + ev.ChannelID + ":" + ev.ThreadID
	}
	return req
}

// finalInstruction asks for the catch-up's three parts under headings in
// the requester's language.
func finalInstruction(cat *catalogue) string {
	return fmt.Sprintf("Write a catch-up for someone who missed these messages, in %s. "+
		"Use exactly these three headings, in this order, each on a line of its own in bold: %q, %q, %q. "+
		"Under each, short bullet points, naming who said what where it matters; write %q under a heading with nothing. "+
		"No preamble, no conclusion.",
		cat.T("summary_language"), cat.T("summary_points"), cat.T("summary_decisions"), cat.T("summary_questions"), cat.T("summary_none"))
}

// shapePosts turns posts into messages: the bot's own with role
// assistant, others' with role user and their author's name. It drops
// empty posts, the bot's placeholders and, when the adapter could not
// leave it out, the triggering message. Unbounded: cleanThread keeps the
// latest within maxThreadBytes, summaries split long histories in parts.
func (r *Router) shapePosts(ev *Event, posts []ThreadPost) []core.Message {
	var out []core.Message
	for _, p := range posts {
		text := strings.TrimSpace(p.Text)
		switch {
		case text == "":
		case p.Bot && !r.isPlaceholder(text):
			out = append(out, core.Message{Role: "assistant", Content: text})
		case !p.Bot && p.Author != "":
			out = append(out, core.Message{Role: "user", Content: p.Author + ": " + text})
		case !p.Bot:
			out = append(out, core.Message{Role: "user", Content: text})
		}
	}
	if ev.MessageID == "" && len(out) > 0 {
		if last := out[len(out)-1]; last.Role == "user" && strings.HasSuffix(strings.TrimSpace(last.Content), strings.TrimSpace(ev.Text)) {
			out = out[:len(out)-1]
		}
	}
	return out
}

// estimateTokens estimates the tokens of s: about four bytes a token,
// as the providers' own rough counts.
func estimateTokens(s string) int { return (len(s) + 3) / 4 }

// chunkMessages splits msgs, in order, into parts of at most budget
// estimated tokens each (a message longer than the budget is a part of its
// own, clipped).
func chunkMessages(msgs []core.Message, budget int) [][]core.Message {
	var parts [][]core.Message
	var cur []core.Message
	size := 0
	for _, m := range msgs {
		t := estimateTokens(m.Content) + 1
		if t > budget {
			m.Content = clipRunes(m.Content, budget*4-8)
			t = budget
		}
		if size+t > budget && len(cur) > 0 {
			parts = append(parts, cur)
			cur, size = nil, 0
		}
		cur = append(cur, m)
		size += t
	}
	if len(cur) > 0 {
		parts = append(parts, cur)
	}
	return parts
}

// clipRunes cuts s to at most n bytes, on a rune boundary, marking the
// cut.
func clipRunes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := max(0, n-len(" …"))
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + " …"
}
