package assistant

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"timon.dev/timon/core"
	"timon.dev/timon/core/audit"
	"timon.dev/timon/core/policy"
	"timon.dev/timon/core/provider"
	"timon.dev/timon/core/redact"
)

var _ core.Embedder = (*Engine)(nil)

// Embed answers an embeddings request through the same stages as Do:
//
//	validate → policy decision (task embed) → quota reservation → redaction
//	→ provider → quota settlement → journal entry
//
// The inputs are redacted like any text that leaves, but nothing is
// restored: a vector cannot have its placeholders put back, so the vectors
// returned are those of the redacted texts. The journal keeps keyed hashes
// of what was sent and of the vectors; with content "full", the redacted
// texts, never the vectors.
func (e *Engine) Embed(ctx context.Context, er *core.EmbedRequest) (resp *core.EmbedResponse, err error) {
	start := e.now()
	if er.ID == "" {
		er.ID = NewRequestID()
	}
	// What policy and the journal see: the request as any other.
	req := &core.Request{ID: er.ID, Principal: er.Principal, Task: core.TaskEmbed, Model: er.Model,
		Origin: er.Origin, Classification: er.Classification}
	entry := newEntry(req, start)
	var content *audit.Content
	defer endRun(e, ctx, req, entry, &content, start, "embedding", &resp, &err)

	// 1. Shape.
	if err := validateEmbed(er); err != nil {
		return nil, err
	}

	// 2. Policy.
	dec, red, err := e.decide(req, entry)
	if err != nil {
		return nil, err
	}

	// 3. Quota, before redaction, from the unredacted size.
	estimate := 0
	for _, in := range er.Inputs {
		estimate += estimateTokens(in)
	}
	res, err := e.quota.Reserve(ctx, e.subjects(req.Principal), estimate)
	if err != nil {
		return nil, quotaError(err)
	}
	settled := false
	defer e.releaseUnsettled(ctx, req, res, &settled)

	// 4. Redaction of every input, within the time budget.
	sent, counts, err := redactTexts(ctx, red, er.Inputs, e.redactFor)
	entry.Redactions = counts
	if err != nil {
		return nil, err
	}
	if e.journalDown.Load() {
		if perr := e.journal.Ping(ctx); perr != nil {
			return nil, &core.Error{Kind: core.KindInternal, Message: "the journal is unavailable, so nothing is sent to a model", Err: perr}
		}
	}

	// 5. Provider, with failover over the decision's candidates.
	prompt := strings.Join(sent, "\x00")
	entry.SentHash = e.journal.HashContent(prompt)
	if dec.Content == policy.ContentFull {
		content = &audit.Content{Sent: prompt}
	}
	emb, err := e.embedCall(ctx, dec.Candidates, sent, er.Dimensions)
	if err != nil {
		return nil, err
	}
	entry.Provider, entry.Model, entry.TokensIn = emb.Provider, emb.Model, emb.Usage.PromptTokens
	entry.ReturnedHash = e.journal.HashContent(vectorsText(emb.Vectors))

	// 6. Settle with what the provider reported.
	used := emb.Usage.PromptTokens
	if used == 0 {
		used = estimateTokens(prompt)
	}
	res.SettleAsync(used)
	settled = true

	return &core.EmbedResponse{
		RequestID:  req.ID,
		Vectors:    emb.Vectors,
		Model:      emb.Model,
		Provider:   emb.Provider,
		Usage:      core.Usage{PromptTokens: emb.Usage.PromptTokens},
		Redactions: counts,
		Rule:       dec.Rule,
	}, nil
}

// validateEmbed checks an embeddings request's shape.
func validateEmbed(er *core.EmbedRequest) error {
	if er.Principal.UserID == "" {
		return core.Errorf(core.KindUnauthenticated, "request has no user")
	}
	if !er.Principal.Integration.Valid() {
		return core.Errorf(core.KindInvalid, "unknown integration %q", er.Principal.Integration)
	}
	if er.Classification != "" && !er.Classification.Valid() {
		return core.Errorf(core.KindInvalid, "unknown classification %q (expected public, internal, confidential or secret)", er.Classification)
	}
	switch n := len(er.Inputs); {
	case n == 0:
		return core.Errorf(core.KindInvalid, "input needs at least one text")
	case n > core.MaxEmbedInputs:
		return core.Errorf(core.KindInvalid, "input holds %d texts, more than the %d allowed", n, core.MaxEmbedInputs)
	}
	size := 0
	for i, in := range er.Inputs {
		if in == "" {
			return core.Errorf(core.KindInvalid, "input[%d] is empty", i)
		}
		size += len(in)
	}
	if size > core.MaxInputBytes {
		return core.Errorf(core.KindInvalid, "request text is %d bytes, more than the %d allowed", size, core.MaxInputBytes)
	}
	if er.Dimensions < 0 {
		return core.Errorf(core.KindInvalid, "dimensions must not be negative")
	}
	return nil
}

// redactTexts redacts each text with one vault, under ctx and, when
// budget > 0, a time budget (see redactRequest).
func redactTexts(ctx context.Context, red *redact.Redactor, texts []string, budget time.Duration) ([]string, map[string]int, error) {
	o := &outgoing{ctx: ctx, red: red, vault: redact.NewVault()}
	if budget > 0 {
		var cancel context.CancelFunc
		o.deadline = time.Now().Add(budget)
		o.ctx, cancel = context.WithDeadline(ctx, o.deadline)
		defer cancel()
	}
	out := make([]string, len(texts))
	var err error
	for i, t := range texts {
		if out[i], err = o.text(t); err != nil {
			break
		}
	}
	counts := redact.Counts(o.found)
	if len(counts) == 0 {
		counts = nil
	}
	if err != nil {
		return nil, counts, redactionError(ctx, err, budget)
	}
	return out, counts, nil
}

// embedCall sends the redacted inputs to the first candidate that answers.
func (e *Engine) embedCall(ctx context.Context, cands []policy.Candidate, inputs []string, dims int) (*provider.Embedding, error) {
	clients, models, err := e.clientsFor(cands)
	if err != nil {
		return nil, err
	}
	var got *provider.Embedding
	_, err = provider.Failover(ctx, clients, func(ctx context.Context, c *provider.Client) (*provider.Result, error) {
		emb, err := c.Embed(ctx, provider.EmbedRequest{Model: models[c], Input: inputs, Dimensions: dims})
		if err != nil {
			return nil, err
		}
		got = emb
		return &provider.Result{Provider: emb.Provider, Model: emb.Model}, nil
	})
	if err != nil {
		var pe *provider.Error
		if errors.As(err, &pe) && pe.StatusCode == http.StatusNotFound && ctx.Err() == nil {
			return nil, &core.Error{Kind: core.KindNotFound, Provider: pe.Provider,
				Message: fmt.Sprintf("provider %s does not serve embeddings for model %q (404): check the route of task embed", pe.Provider, pe.Model)}
		}
		return nil, providerError(ctx, err)
	}
	return got, nil
}

// vectorsText is the vectors as the journal hashes them.
func vectorsText(vs [][]float64) string {
	var b []byte
	for _, v := range vs {
		for i, x := range v {
			if i > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendFloat(b, x, 'g', -1, 64)
		}
		b = append(b, '\n')
	}
	return string(b)
}
