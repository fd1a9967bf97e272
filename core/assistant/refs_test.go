package assistant_test

import (
	"context"
	"testing"
	"time"

	"timon.dev/timon/core"
	"timon.dev/timon/core/assistant/assistanttest"
	"timon.dev/timon/core/audit"
	"timon.dev/timon/core/biblio"
	"timon.dev/timon/core/biblio/bibliotest"
	"timon.dev/timon/core/policy"
	"timon.dev/timon/core/provider/fakellm"
)

// TestSearchRefsPolicy: a non-sovereign source is searched only for the
// requests of a rule that allows non-sovereign services, for a
// classification that lists it; a rule denying task refs denies.
func TestSearchRefsPolicy(t *testing.T) {
	fake := fakellm.New()
	defer fake.Close()
	hal := bibliotest.NewHAL()
	defer hal.Close()
	src, err := biblio.New(biblio.Config{Name: "HAL", Kind: biblio.KindHAL, BaseURL: hal.URL(), Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	r := assistanttest.New(t, assistanttest.Options{ProviderURL: fake.URL(), Sources: []biblio.Source{src},
		Classifications: map[core.Classification][]string{core.ClassPublic: {"fake", "HAL"}},
		Rules: []policy.Rule{
			{Name: "no-refs-for-interns", Effect: "deny", Match: policy.Match{Groups: []string{"interns"}, Tasks: []core.Task{core.TaskRefs}}},
			{Name: "public-refs", Effect: "allow", AllowNonSovereign: true, Match: policy.Match{Tasks: []core.Task{core.TaskRefs}, Classifications: []core.Classification{core.ClassPublic}}},
			{Name: "everyone", Effect: "allow"},
		}})
	ctx := context.Background()
	ask := func(class core.Classification, groups ...string) (*core.RefsResponse, error) {
		return r.Engine.SearchRefs(ctx, &core.RefsRequest{Principal: core.Principal{UserID: "ada", Groups: groups, Integration: core.IntegrationAPI},
			Query: "soil carbon", Classification: class, Max: 3})
	}
	if got := r.Engine.Sources(); len(got) != 1 || got[0] != "HAL" {
		t.Fatalf("sources %v", got)
	}
	resp, err := ask(core.ClassPublic)
	if err != nil || len(resp.Records) != 3 || resp.Found != 137 || resp.Rule != "public-refs" || resp.Source != "HAL" {
		t.Fatalf("public: %+v, %v", resp, err)
	}
	if _, err := ask(core.ClassInternal); core.ErrorKind(err) != core.KindDenied {
		t.Fatalf("internal data to a non-sovereign source: %v", err)
	}
	if _, err := ask(core.ClassPublic, "interns"); core.ErrorKind(err) != core.KindDenied {
		t.Fatalf("interns: %v", err)
	}
	if _, err := r.Engine.SearchRefs(ctx, &core.RefsRequest{Principal: core.Principal{UserID: "ada", Integration: core.IntegrationAPI},
		Query: "x", Source: "Scopus"}); core.ErrorKind(err) != core.KindNotFound {
		t.Fatalf("unknown source: %v", err)
	}
	if n := len(hal.Queries()); n != 1 {
		t.Fatalf("HAL asked %d times", n)
	}
	es, err := audit.List(ctx, r.Store, audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range es {
		got = append(got, e.Task+":"+e.Rule+":"+e.Decision+":"+e.Outcome+":"+e.Provider)
	}
	want := []string{"refs:public-refs:allow:ok:HAL", "refs:everyone:deny:denied:HAL", "refs:no-refs-for-interns:deny:denied:HAL", "refs::deny:error:"}
	if len(got) != len(want) {
		t.Fatalf("journal %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("entry %d: %s, want %s", i, got[i], want[i])
		}
	}
}
