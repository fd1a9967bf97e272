// Package assistanttest builds the governed engine for tests of the front
// ends: real policy, redaction, quotas and journal on a store (a SQLite
// file unless given), with one sovereign provider at a fakellm URL.
package assistanttest

import (
	"context"
	"testing"
	"time"

	"timon.dev/timon/core"
	"timon.dev/timon/core/assistant"
	"timon.dev/timon/core/audit"
	"timon.dev/timon/core/biblio"
	"timon.dev/timon/core/policy"
	"timon.dev/timon/core/provider"
	"timon.dev/timon/core/quota"
	"timon.dev/timon/core/redact"
	"timon.dev/timon/core/store"
	"timon.dev/timon/core/store/storetest"
)

// Options shape the engine; zero values take the defaults.
type Options struct {
	// ProviderURL is the model's base URL (a fakellm's URL()).
	ProviderURL string
	// ProviderName defaults to "fake".
	ProviderName string
	// Store defaults to a new SQLite file.
	Store *store.Store
	// Rules default to one rule, "everyone", allowing everything.
	Rules []policy.Rule
	// Routes default to mistral-small-latest, and codestral-latest for
	// completions; the provider serves both.
	Routes map[string][]string
	// Redaction is the default profile (named "default").
	Redaction redact.Profile
	// Limits is every user's quota; zero means unlimited.
	Limits quota.Limits
	// Timeout of the provider; zero means 5 s.
	Timeout time.Duration
	// Classifiers moderate the rules with a moderation block.
	Classifiers []*provider.Classifier
	// Sources are the bibliographic sources, described to the policy
	// beside the provider.
	Sources []biblio.Source
	// Classifications is the policy's classifications.
	Classifications map[core.Classification][]string
}

// Rig is a governed engine and what it stands on.
type Rig struct {
	Engine   *assistant.Engine
	Store    *store.Store
	Quota    *quota.Quota
	Journal  *audit.Journal
	Subjects func(core.Principal) []quota.Subject
}

// New builds the engine; everything is closed when the test ends.
func New(t testing.TB, o Options) *Rig {
	t.Helper()
	ctx := context.Background()
	if o.ProviderName == "" {
		o.ProviderName = "fake"
	}
	if o.Store == nil {
		o.Store = storetest.SQLite(t)
	}
	if o.Rules == nil {
		o.Rules = []policy.Rule{{Name: "everyone", Effect: "allow"}}
	}
	if o.Routes == nil {
		o.Routes = map[string][]string{"default": {"mistral-small-latest"}, "complete": {"codestral-latest"}}
	}
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Second
	}
	o.Redaction.Name = "default"
	prov, err := provider.New(provider.Config{Name: o.ProviderName, Kind: provider.KindMistral, BaseURL: o.ProviderURL,
		Models: []string{"mistral-small-latest", "codestral-latest"}, Timeout: o.Timeout, MaxRetries: -1, Sovereign: true})
	if err != nil {
		t.Fatal(err)
	}
	infos := []policy.Provider{{Name: o.ProviderName, Models: prov.Models(), Sovereign: true}}
	for _, s := range o.Sources {
		infos = append(infos, policy.Provider{Name: s.Name(), Sovereign: s.Sovereign()})
	}
	pol, err := policy.New(policy.Config{Routes: o.Routes, Rules: o.Rules, Classifications: o.Classifications}, infos)
	if err != nil {
		t.Fatal(err)
	}
	red, err := redact.New(o.Redaction)
	if err != nil {
		t.Fatal(err)
	}
	r := &Rig{Store: o.Store}
	if r.Quota, err = quota.New(ctx, o.Store); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Quota.Close() })
	if r.Journal, err = audit.Open(ctx, o.Store, audit.Options{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Journal.Close() })
	r.Subjects = func(p core.Principal) []quota.Subject {
		return []quota.Subject{{Key: "user:" + p.UserID, Limits: o.Limits}}
	}
	r.Engine, err = assistant.New(assistant.Options{
		Policy: pol, Providers: []*provider.Client{prov}, Redactors: map[string]*redact.Redactor{"default": red},
		Quota: r.Quota, Subjects: r.Subjects, Journal: r.Journal, Classifiers: o.Classifiers, Sources: o.Sources,
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}
