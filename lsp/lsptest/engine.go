package lsptest

import (
	"context"
	"testing"
	"time"

	"timon.dev/timon/core"
	"timon.dev/timon/core/assistant"
	"timon.dev/timon/core/audit"
	"timon.dev/timon/core/policy"
	"timon.dev/timon/core/provider"
	"timon.dev/timon/core/quota"
	"timon.dev/timon/core/redact"
	"timon.dev/timon/core/store"
	"timon.dev/timon/core/store/storetest"
)

// DeniedGroup is a group the engine of Engine refuses (rule
// "no-interns", reason "interns may not use the assistant").
const DeniedGroup = "interns"

// EngineOptions tune Engine.
type EngineOptions struct {
	// Limits is every user's quota; zero means unlimited.
	Limits quota.Limits
	// Timeout of the provider; zero means 5s.
	Timeout time.Duration
}

// Local is a governed engine as timon lsp runs it in local mode: real
// policy, redaction, quotas and a journal on a SQLite file in a temporary
// directory, with the model at a fakellm URL.
type Local struct {
	Engine *assistant.Engine
	Store  *store.Store
}

// Engine builds a Local engine whose model is at providerURL (a fakellm's
// URL()). Completions route to codestral-latest, the rest to
// mistral-small-latest.
func Engine(t testing.TB, providerURL string, o EngineOptions) *Local {
	t.Helper()
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Second
	}
	ctx := context.Background()
	st := storetest.SQLite(t)
	prov, err := provider.New(provider.Config{Name: "fake", Kind: provider.KindMistral, BaseURL: providerURL,
		Models: []string{"mistral-small-latest", "codestral-latest"}, Timeout: o.Timeout, MaxRetries: -1, Sovereign: true})
	if err != nil {
		t.Fatal(err)
	}
	pol, err := policy.New(policy.Config{
		Routes: map[string][]string{"default": {"mistral-small-latest"}, "complete": {"codestral-latest"}},
		Rules: []policy.Rule{
			{Name: "no-interns", Effect: "deny", Reason: "interns may not use the assistant", Match: policy.Match{Groups: []string{DeniedGroup}}},
			{Name: "everyone", Effect: "allow"},
		},
	}, []policy.Provider{{Name: "fake", Models: prov.Models(), Sovereign: true}})
	if err != nil {
		t.Fatal(err)
	}
	def, err := redact.New(redact.Profile{Name: "default"})
	if err != nil {
		t.Fatal(err)
	}
	q, err := quota.New(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	j, err := audit.Open(ctx, st, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close(); j.Close() })
	eng, err := assistant.New(assistant.Options{
		Policy: pol, Providers: []*provider.Client{prov}, Redactors: map[string]*redact.Redactor{"default": def},
		Quota: q, Subjects: func(p core.Principal) []quota.Subject {
			return []quota.Subject{{Key: "user:" + p.UserID, Limits: o.Limits}}
		},
		Journal: j,
	})
	if err != nil {
		t.Fatal(err)
	}
	return &Local{Engine: eng, Store: st}
}

// Journal lists the journal's entries, oldest first.
func (l *Local) Journal(t testing.TB) []audit.Entry {
	t.Helper()
	es, err := audit.List(context.Background(), l.Store, audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	return es
}
