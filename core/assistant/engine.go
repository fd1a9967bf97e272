// Package assistant is the governed engine: the in-process implementation of
// core.Assistant that every request goes through, in this order:
//
//	validate → policy decision → quota reservation → untrusted material
//	→ redaction → input moderation → provider → quota settlement
//	→ output moderation → output checks → placeholder restore → journal entry
//
// Moderation runs only for the requests of policy rules with a moderation
// block (see moderation.go); a streamed answer's output moderation runs as
// it arrives, before its checks and restore.
//
// The quota reservation (the request's concurrency slot) comes before
// redaction, with an estimate from the unredacted size, so that the work a
// request makes the hub do is paid for before it is done; redaction then
// runs within a time budget (Options.RedactTimeout). Once the model has
// produced anything, its tokens count, whatever happens next: a stream the
// caller abandons is settled with the prompt and what was streamed.
//
// Every stage fails closed: if policy, redaction, the quota store or the
// journal fails, nothing is sent to a model and the caller gets a *core.Error
// saying why. Every request, allowed, denied or failed, leaves exactly one
// journal entry; when that entry cannot be written the answer is withheld.
package assistant

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"timon.dev/timon/core"
	"timon.dev/timon/core/audit"
	"timon.dev/timon/core/biblio"
	"timon.dev/timon/core/policy"
	"timon.dev/timon/core/provider"
	"timon.dev/timon/core/quota"
	"timon.dev/timon/core/redact"
)

// journal is implemented by *audit.Journal.
type journal interface {
	Append(ctx context.Context, e *audit.Entry, c *audit.Content) error
	Ping(ctx context.Context) error
	HashContent(s string) string // keyed: a reader of the journal cannot test a guess
}

// quotas is implemented by *quota.Quota.
type quotas interface {
	Reserve(ctx context.Context, subjects []quota.Subject, estimateTokens int) (*quota.Reservation, error)
}

// Options wires an Engine. Every field but Logger is required: there is no
// way to run the engine without one of its stages.
type Options struct {
	Policy    *policy.Policy
	Providers []*provider.Client
	// Redactors by profile name; every profile the policy names must be here.
	Redactors map[string]*redact.Redactor
	Quota     *quota.Quota
	// Subjects returns the quota budgets that apply to a principal.
	Subjects func(core.Principal) []quota.Subject
	Journal  *audit.Journal
	// MaxTokens is the default answer length of a task; MaxTokensCeiling
	// caps what a request may ask.
	MaxTokens        func(core.Task) int
	MaxTokensCeiling int
	// RedactTimeout is the time the redaction of one request may take;
	// past it the request is refused and nothing is sent. Zero means
	// DefaultRedactTimeout.
	RedactTimeout time.Duration
	// Classifiers are the moderation classifiers, tried in order (see
	// moderation.go); required when a policy rule moderates, else unused.
	Classifiers []*provider.Classifier
	// Sources are the bibliographic sources SearchRefs may search (see
	// refs.go), in order; none switches the search off. Their names must
	// be among the policy's providers, for classifications to name them.
	Sources []biblio.Source
	Logger  *slog.Logger
}

// DefaultRedactTimeout is the redaction budget when Options.RedactTimeout
// is zero: far above what the largest allowed request needs (about 100 MB/s
// of scanning against core.MaxInputBytes), far below what a client waits.
const DefaultRedactTimeout = 2 * time.Second

// Engine is the governed core.Assistant. It is safe for concurrent use.
type Engine struct {
	policy    *policy.Policy
	providers map[string]*provider.Client
	redactors map[string]*redact.Redactor
	// journalRed scrubs the error messages the journal keeps.
	journalRed *redact.Redactor
	quota      quotas
	subjects   func(core.Principal) []quota.Subject
	journal    journal
	maxTokens  func(core.Task) int
	ceiling    int
	redactFor  time.Duration
	// classifiers moderate the requests of rules with a moderation block.
	classifiers []*provider.Classifier
	log         *slog.Logger
	now         func() time.Time

	// sources are the bibliographic sources, in order.
	sources []biblio.Source

	// journalDown is set when an append failed; until the journal answers
	// a ping again, nothing is sent to a model.
	journalDown atomic.Bool
}

var _ core.Assistant = (*Engine)(nil)

// New checks that every stage is present and builds the engine.
func New(o Options) (*Engine, error) {
	e := &Engine{
		policy:      o.Policy,
		providers:   map[string]*provider.Client{},
		redactors:   o.Redactors,
		subjects:    o.Subjects,
		maxTokens:   o.MaxTokens,
		ceiling:     o.MaxTokensCeiling,
		redactFor:   o.RedactTimeout,
		log:         o.Logger,
		classifiers: slices.DeleteFunc(slices.Clone(o.Classifiers), func(k *provider.Classifier) bool { return k == nil }),
		now:         time.Now,
	}
	// Typed nils must not slip into the interfaces.
	if o.Quota != nil {
		e.quota = o.Quota
	}
	if o.Journal != nil {
		e.journal = o.Journal
	}
	switch {
	case o.Policy == nil:
		return nil, errors.New("assistant: a policy is required")
	case o.Policy.UsesModeration() && len(e.classifiers) == 0:
		return nil, errors.New("assistant: a policy rule moderates, but no moderation classifier is configured")
	case len(o.Providers) == 0:
		return nil, errors.New("assistant: at least one provider is required")
	case e.quota == nil || o.Subjects == nil:
		return nil, errors.New("assistant: quotas are required")
	case e.journal == nil:
		return nil, errors.New("assistant: a journal is required")
	}
	for _, p := range o.Providers {
		e.providers[p.Name()] = p
	}
	if err := e.addSources(o.Sources); err != nil {
		return nil, err
	}
	for _, name := range o.Policy.Profiles() {
		if o.Redactors[name] == nil {
			return nil, fmt.Errorf("assistant: redaction profile %q has no redactor", name)
		}
	}
	if e.journalRed = o.Redactors["default"]; e.journalRed == nil {
		// Any profile will do: only its detectors are used.
		for _, name := range slices.Sorted(maps.Keys(o.Redactors)) {
			if e.journalRed = o.Redactors[name]; e.journalRed != nil {
				break
			}
		}
	}
	if e.journalRed == nil {
		return nil, errors.New("assistant: at least one redactor is required")
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	if e.maxTokens == nil {
		e.maxTokens = func(core.Task) int { return 1024 }
	}
	if e.ceiling <= 0 {
		e.ceiling = 4096
	}
	if e.redactFor <= 0 {
		e.redactFor = DefaultRedactTimeout
	}
	return e, nil
}

// Do answers req as a whole.
func (e *Engine) Do(ctx context.Context, req *core.Request) (*core.Response, error) {
	return e.run(ctx, req, nil)
}

// Stream answers req incrementally through emit.
func (e *Engine) Stream(ctx context.Context, req *core.Request, emit func(string) error) (*core.Response, error) {
	if emit == nil {
		return nil, core.Errorf(core.KindInvalid, "stream needs a receiver")
	}
	return e.run(ctx, req, emit)
}

// newEntry is the journal entry of req before anything is decided: denied,
// hashes only, until a stage says otherwise.
func newEntry(req *core.Request, start time.Time) *audit.Entry {
	return &audit.Entry{
		Time:         start.UTC(),
		RequestID:    req.ID,
		UserID:       req.Principal.UserID,
		Groups:       req.Principal.Groups,
		Integration:  known(req.Principal.Integration.Valid(), string(req.Principal.Integration)),
		Task:         known(req.Task.Valid(), string(req.Task)),
		Decision:     "deny",
		ContentLevel: policy.ContentHashes,
	}
}

// run is the pipeline. Each stage either passes or ends the request with a
// *core.Error; the deferred journal entry records what happened either way.
func (e *Engine) run(ctx context.Context, req *core.Request, emit func(string) error) (resp *core.Response, err error) {
	start := e.now()
	if req.ID == "" {
		req.ID = NewRequestID()
	}
	entry := newEntry(req, start)
	var (
		content *audit.Content
		mod     moderation
	)
	defer endRun(e, ctx, req, entry, &content, start, "answering", &resp, &err)
	defer mod.journal(entry) // first: the entry says what moderation found

	// 1. Shape.
	if err := req.Validate(); err != nil {
		return nil, err
	}
	maxTokens := req.MaxTokens
	if maxTokens == 0 {
		maxTokens = e.maxTokens(req.Task)
	}
	if maxTokens > e.ceiling {
		return nil, core.Errorf(core.KindInvalid, "max_tokens %d is over the ceiling of %d", maxTokens, e.ceiling)
	}

	// 2. Policy.
	dec, red, err := e.decide(req, entry)
	if err != nil {
		return nil, err
	}

	// 3. Quota, before any costly work: the estimate is from the
	// unredacted request (what redaction will scan), plus the answer.
	estimate := estimateTokens(promptText(req)) + maxTokens
	if f := req.ResponseFormat; f != nil {
		estimate += estimateTokens(f.Name) + estimateTokens(string(f.Schema))
	}
	res, err := e.quota.Reserve(ctx, e.subjects(req.Principal), estimate)
	if err != nil {
		return nil, quotaError(err)
	}
	settled := false
	defer e.releaseUnsettled(ctx, req, res, &settled)

	// Untrusted material is checked first (moderation.go): what is set
	// aside is not redacted, classified or sent.
	work := req
	if len(req.Untrusted) > 0 {
		if work, err = e.moderateUntrusted(ctx, dec.Moderation, red, req, &mod); err != nil {
			return nil, err
		}
	}

	// 4. Redaction of every text that leaves, within its time budget.
	lx, err := maskLaTeX(work) // LaTeX rewrites: protected structure (latex.go)
	if err != nil {
		return nil, err
	}
	vault := redact.NewVault()
	sent, counts, err := redactRequest(ctx, red, vault, lx.input(work), e.redactFor)
	entry.Redactions = counts
	if err != nil {
		return nil, err
	}
	prompt := promptText(sent)

	// The journal must be able to record the request before anything leaves.
	if e.journalDown.Load() {
		if perr := e.journal.Ping(ctx); perr != nil {
			return nil, &core.Error{Kind: core.KindInternal, Message: "the journal is unavailable, so nothing is sent to a model", Err: perr}
		}
	}

	// Moderation of what is sent, as sent: nothing leaves for the model
	// before it passes.
	if dec.Moderation != nil {
		if err := e.moderate(ctx, dec.Moderation, dirInput, moderationInput(sent), &mod); err != nil {
			return nil, err
		}
	}

	// 5. Provider, with failover over the decision's candidates.
	entry.SentHash = e.journal.HashContent(prompt)
	if dec.Content == policy.ContentFull {
		content = &audit.Content{Sent: prompt}
	}
	guard := newOutputGuard(red, vault, restoreMode(req), lx.stream(emit))
	if guard.streaming() && dec.Moderation != nil && len(dec.Moderation.Output) > 0 {
		guard.gate = &outputGate{e: e, ctx: ctx, mod: dec.Moderation, out: &mod, next: guard.admit}
	}
	result, err := lx.call(ctx, e, dec.Candidates, sent, maxTokens, guard, vault)
	if result != nil {
		entry.Provider, entry.Model = result.Provider, result.Model
		entry.TokensIn, entry.TokensOut = result.Usage.PromptTokens, result.Usage.CompletionTokens
	}
	if err != nil {
		if result != nil {
			// The model answered, in part (a stream cut after output
			// started, see call) or in full (a refused rewrite): its
			// tokens count, like a success's. Releasing the whole
			// reservation instead would let a client that disconnects
			// mid-answer use the model for free.
			if used := result.Usage.PromptTokens + result.Usage.CompletionTokens; used > 0 {
				res.SettleAsync(used)
				settled = true
			}
		}
		return nil, err
	}
	entry.ReturnedHash = e.journal.HashContent(result.Text)
	if content != nil {
		content.Returned = result.Text
	}

	// 6. Settle the quota with what the provider reported, now: the
	// model's work is done and counts whatever happens next (an answer
	// refused by the checks, a caller gone before the last piece).
	used := result.Usage.PromptTokens + result.Usage.CompletionTokens
	if used == 0 {
		used = estimateTokens(prompt) + estimateTokens(result.Text)
	}
	// Asynchronously: the settlement commits with the next reservation's
	// batch (or shortly after), not on this request's path. Lost in a
	// crash, it leaves the larger estimate counted and the slot to expire:
	// budgets err on the safe side. Failures surface at Quota.Close.
	res.SettleAsync(used)
	settled = true

	// Moderation of the answer, as the model wrote it (placeholders not
	// yet restored).
	if guard.gate != nil {
		if err := guard.gate.finish(); err != nil {
			return nil, err
		}
	} else if dec.Moderation != nil && strings.TrimSpace(result.Text) != "" {
		if err := e.moderate(ctx, dec.Moderation, dirOutput, provider.ModerationRequest{Input: []string{result.Text}}, &mod); err != nil {
			return nil, err
		}
	}

	// 7–8. Output checks and restore (streamed answers went through the
	// guard as they arrived).
	text, masked, err := guard.finish(result.Text)
	if err == nil {
		text, err = lx.finish(text, emit)
	}
	if err != nil {
		return nil, err
	}
	for t, n := range masked {
		if entry.Redactions == nil {
			entry.Redactions = map[string]int{}
		}
		entry.Redactions["output:"+t] += n
	}

	return &core.Response{
		RequestID:    req.ID,
		Text:         text,
		Model:        result.Model,
		Provider:     result.Provider,
		FinishReason: result.FinishReason,
		Usage:        core.Usage{PromptTokens: result.Usage.PromptTokens, CompletionTokens: result.Usage.CompletionTokens},
		Redactions:   counts,
		Rule:         dec.Rule,
		Notices:      mod.notices,
	}, nil
}

// decide applies the policy to req, journals its decision in entry, and
// returns it with the redactor of its profile.
func (e *Engine) decide(req *core.Request, entry *audit.Entry) (policy.Decision, *redact.Redactor, error) {
	dec := e.policy.Decide(req)
	entry.Rule, entry.Classification, entry.ContentLevel = dec.Rule, string(dec.Classification), dec.Content
	if !dec.Allow {
		return dec, nil, &core.Error{Kind: core.KindDenied, Rule: dec.Rule, Message: dec.Reason}
	}
	entry.Decision = "allow"
	red := e.redactors[dec.Profile]
	if red == nil {
		return dec, nil, core.Errorf(core.KindInternal, "redaction profile %q is not available", dec.Profile)
	}
	return dec, red, nil
}

// finish writes the journal entry and shapes the final error.
// endRun ends a pipeline run, deferred directly by it so that it can
// recover: a panic becomes an internal error ("internal error while
// <doing>"), the journal entry is written, and an error drops the answer.
func endRun[T any](e *Engine, ctx context.Context, req *core.Request, entry *audit.Entry, content **audit.Content,
	start time.Time, doing string, resp **T, err *error) {
	if r := recover(); r != nil {
		e.log.Error("panic while "+doing, "request_id", req.ID, "panic", fmt.Sprint(r))
		*resp, *err = nil, &core.Error{Kind: core.KindInternal, Message: "internal error while " + doing}
	}
	*err = e.finish(ctx, req, entry, *content, start, *err)
	if *err != nil {
		*resp = nil
	}
}

// releaseUnsettled gives back a reservation that the run did not settle,
// synchronously, unlike a success's settlement: the slot and the whole
// estimate are back, on every replica, before the error reaches a caller
// who may retry at once.
func (e *Engine) releaseUnsettled(ctx context.Context, req *core.Request, res *quota.Reservation, settled *bool) {
	if *settled {
		return
	}
	if err := res.Release(context.WithoutCancel(ctx)); err != nil {
		e.log.Warn("releasing a quota reservation", "request_id", req.ID, "err", err)
	}
}

func (e *Engine) finish(ctx context.Context, req *core.Request, entry *audit.Entry, content *audit.Content, start time.Time, err error) error {
	entry.LatencyMS = e.now().Sub(start).Milliseconds()
	var ce *core.Error
	if err != nil {
		ce = toCoreError(ctx, err)
		ce.RequestID = req.ID
		entry.Outcome = audit.OutcomeFor(ce.Kind)
		if errors.Is(ce, core.ErrRedactionBudget) {
			entry.Outcome = audit.OutcomeError // the hub's own limit, not the provider's
		}
		entry.Error = e.scrub(ce.Message)
	} else {
		entry.Outcome = audit.OutcomeOK
	}
	observe(entry)
	jctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if jerr := e.journal.Append(jctx, entry, content); jerr != nil {
		e.journalDown.Store(true)
		e.log.Error("journal append failed", "request_id", req.ID, "err", jerr)
		if ce == nil {
			return &core.Error{Kind: core.KindInternal, RequestID: req.ID,
				Message: "the journal could not record this request, so its answer is withheld", Err: jerr}
		}
		return ce
	}
	e.journalDown.Store(false)
	e.log.Info("request", "request_id", req.ID, "user", req.Principal.UserID, "integration", req.Principal.Integration,
		"task", req.Task, "rule", entry.Rule, "outcome", entry.Outcome, "provider", entry.Provider, "model", entry.Model,
		"tokens_in", entry.TokensIn, "tokens_out", entry.TokensOut, "latency_ms", entry.LatencyMS)
	if ce == nil {
		return nil
	}
	return ce
}

func toCoreError(ctx context.Context, err error) *core.Error {
	var ce *core.Error
	if errors.As(err, &ce) {
		return ce
	}
	if ctx.Err() != nil || errors.Is(err, context.Canceled) {
		return &core.Error{Kind: core.KindCanceled, Message: "the request was canceled", Err: err}
	}
	return &core.Error{Kind: core.KindInternal, Message: "internal error while answering", Err: err}
}

func quotaError(err error) error {
	var ce *core.Error
	if errors.As(err, &ce) {
		return ce
	}
	return &core.Error{Kind: core.KindInternal, Message: "the quota store is unavailable, so nothing is sent to a model", Err: err}
}

// clientsFor resolves the decision's candidates to their clients, in
// failover order, each once, with the model each is asked for.
func (e *Engine) clientsFor(cands []policy.Candidate) ([]*provider.Client, map[*provider.Client]string, error) {
	var clients []*provider.Client
	models := map[*provider.Client]string{}
	for _, c := range cands {
		if p := e.providers[c.Provider]; p != nil {
			if _, dup := models[p]; !dup {
				clients = append(clients, p)
				models[p] = c.Model
			}
		}
	}
	if len(clients) == 0 {
		return nil, nil, core.Errorf(core.KindUnavailable, "no configured provider serves this route")
	}
	return clients, models, nil
}

// call sends the redacted request to the first candidate that answers.
func (e *Engine) call(ctx context.Context, cands []policy.Candidate, r *core.Request, maxTokens int, g *outputGuard) (*provider.Result, error) {
	clients, models, err := e.clientsFor(cands)
	if err != nil {
		return nil, err
	}
	var res *provider.Result
	switch {
	case r.Task == core.TaskComplete:
		res, err = provider.Failover(ctx, clients, func(ctx context.Context, c *provider.Client) (*provider.Result, error) {
			return c.FIM(ctx, provider.FIMRequest{Model: models[c], Prompt: r.Prefix, Suffix: r.Suffix, MaxTokens: maxTokens,
				Temperature: r.Temperature, TopP: r.TopP, Stop: r.Stop})
		})
		if err == nil && g.streaming() {
			// The completion arrives whole; a streamed one is passed
			// through the guard like any stream, so that it is checked,
			// restored and emitted (guard.finish returns only what it
			// emitted).
			if werr := g.write(res.Text); werr != nil {
				return res, providerError(ctx, werr)
			}
		}
	case g.streaming():
		// A stream fails over only while nothing has reached the caller.
		for _, c := range clients {
			res, err = c.ChatStream(ctx, chatRequest(r, models[c], maxTokens), g.write)
			if err != nil && g.started() {
				// Cut after output started (the caller went away, the
				// provider broke off): the provider reports no usage,
				// so it is estimated from the prompt and what streamed.
				res = &provider.Result{Provider: c.Name(), Model: models[c], Usage: provider.Usage{
					PromptTokens: estimateTokens(promptText(r)), CompletionTokens: g.size/4 + 1}}
			}
			if err == nil || g.started() || !retryable(err) || ctx.Err() != nil {
				break
			}
		}
	default:
		res, err = provider.Failover(ctx, clients, func(ctx context.Context, c *provider.Client) (*provider.Result, error) {
			return c.Chat(ctx, chatRequest(r, models[c], maxTokens))
		})
	}
	if err != nil {
		return res, providerError(ctx, err)
	}
	return res, nil
}

func chatRequest(r *core.Request, model string, maxTokens int) provider.ChatRequest {
	cr := provider.ChatRequest{Model: model, Messages: buildMessages(r), MaxTokens: maxTokens, Temperature: r.Temperature, TopP: r.TopP, Stop: r.Stop}
	if f := r.ResponseFormat; f != nil {
		cr.JSONSchema = &provider.JSONSchema{Name: f.Name, Schema: f.Schema, Strict: f.Strict}
	}
	return cr
}

func retryable(err error) bool {
	var pe *provider.Error
	return errors.As(err, &pe) && pe.Retryable
}

func providerError(ctx context.Context, err error) error {
	var ce *core.Error
	if errors.As(err, &ce) {
		return ce // from the caller's emit, or the output guard
	}
	if ctx.Err() != nil {
		return &core.Error{Kind: core.KindCanceled, Message: "the request was canceled", Err: err}
	}
	var pe *provider.Error
	if errors.As(err, &pe) {
		if pe.Model != "" {
			// A 404: name the model, which is what the operator must fix.
			return &core.Error{Kind: core.KindUnavailable, Provider: pe.Provider,
				Message: fmt.Sprintf("model %q is not served by provider %s (404): check the model name and the base URL", pe.Model, pe.Provider)}
		}
		kind, verb := core.KindUnavailable, "is unavailable"
		if pe.Timeout {
			kind, verb = core.KindTimeout, "timed out"
		}
		return &core.Error{Kind: kind, Provider: pe.Provider, Message: fmt.Sprintf("model provider %s %s: %s", pe.Provider, verb, pe.Reason)}
	}
	return &core.Error{Kind: core.KindUnavailable, Message: "the model provider failed", Err: err}
}

// promptText is the text of everything sent, for hashing and estimates.
func promptText(r *core.Request) string {
	if r.Task == core.TaskComplete {
		return r.Prefix + "\x00" + r.Suffix
	}
	var b strings.Builder
	for _, m := range buildMessages(r) {
		b.WriteString(m.Role)
		b.WriteByte('\x00')
		b.WriteString(m.Content)
		b.WriteByte('\x00')
	}
	return b.String()
}

// estimateTokens is a cautious token count: about four bytes a token.
func estimateTokens(s string) int { return len(s)/4 + 1 }

// known is s when it is one of the known values, else "": an unknown task
// or integration is the caller's free text, which the journal does not keep.
func known(ok bool, s string) string {
	if ok {
		return s
	}
	return ""
}

// scrub is an error message as the journal keeps it: a message may quote
// what the caller sent (an unknown task, a model that is not allowed), so
// every finding in it, whatever the profile would do with it, is replaced
// by its type. A message that cannot be checked is withheld.
func (e *Engine) scrub(msg string) (out string) {
	defer func() {
		if recover() != nil {
			out = "the reason is withheld: it could not be checked for secrets"
		}
	}()
	var b strings.Builder
	last := 0
	for _, f := range e.journalRed.Scan(msg) {
		b.WriteString(msg[last:f.Start])
		b.WriteString("[" + f.Type + "]")
		last = f.End
	}
	if last == 0 {
		return msg
	}
	b.WriteString(msg[last:])
	return b.String()
}

// NewRequestID returns a new journal request id, to quote to support.
func NewRequestID() string {
	var b [8]byte
	rand.Read(b[:])
	return "req_" + hex.EncodeToString(b[:])
}
