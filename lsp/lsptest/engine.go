package lsptest

import (
	"context"
	"testing"
	"time"

	"timon.dev/timon/core/assistant"
	"timon.dev/timon/core/assistant/assistanttest"
	"timon.dev/timon/core/audit"
	"timon.dev/timon/core/policy"
	"timon.dev/timon/core/provider"
	"timon.dev/timon/core/quota"
	"timon.dev/timon/core/store"
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
	// Moderation, when set, moderates the rule "everyone" with a
	// classifier named "modfake" on Mistral's wire at the provider's URL
	// (fakellm flags the categories named by "[flag:NAME]" markers).
	Moderation *policy.Moderation
}

// Classifier is the name of the classifier of EngineOptions.Moderation.
const Classifier = "modfake"

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
	var classifiers []*provider.Classifier
	if o.Moderation != nil {
		k, err := provider.NewClassifier(provider.ClassifierConfig{Config: provider.Config{Name: Classifier, Kind: provider.KindMistral,
			BaseURL: providerURL, Timeout: 5 * time.Second, MaxRetries: -1, Sovereign: true}})
		if err != nil {
			t.Fatal(err)
		}
		classifiers = []*provider.Classifier{k}
	}
	r := assistanttest.New(t, assistanttest.Options{
		ProviderURL: providerURL, Limits: o.Limits, Timeout: o.Timeout, Classifiers: classifiers,
		Rules: []policy.Rule{
			{Name: "no-interns", Effect: "deny", Reason: "interns may not use the assistant", Match: policy.Match{Groups: []string{DeniedGroup}}},
			{Name: "everyone", Effect: "allow", Moderation: o.Moderation},
		},
	})
	return &Local{Engine: r.Engine, Store: r.Store}
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
