package assistant_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"timon.dev/timon/core"
	"timon.dev/timon/core/assistant"
	"timon.dev/timon/core/assistant/assistanttest"
	"timon.dev/timon/core/audit"
	"timon.dev/timon/core/metrics"
	"timon.dev/timon/core/policy"
	"timon.dev/timon/core/provider"
	"timon.dev/timon/core/provider/fakellm"
)

// modRig is an engine whose only rule has the given moderation, over one
// fakellm serving both the model and the classifier.
type modRig struct {
	*assistanttest.Rig
	fake *fakellm.Server
}

func newModRig(t *testing.T, mod *policy.Moderation, guard []provider.GuardCategory) *modRig {
	t.Helper()
	fake := fakellm.New()
	t.Cleanup(fake.Close)
	cc := provider.ClassifierConfig{Config: provider.Config{Name: "modfake", Kind: provider.KindMistral, BaseURL: fake.URL(),
		Timeout: 5 * time.Second, MaxRetries: -1, Sovereign: true}}
	if guard != nil {
		cc.Wire, cc.Models, cc.Categories = provider.ModerationGuard, []string{"llama-guard"}, guard
	}
	k, err := provider.NewClassifier(cc)
	if err != nil {
		t.Fatal(err)
	}
	rig := assistanttest.New(t, assistanttest.Options{ProviderURL: fake.URL(),
		Rules:       []policy.Rule{{Name: "moderated", Effect: "allow", Moderation: mod}},
		Classifiers: []*provider.Classifier{k}})
	return &modRig{Rig: rig, fake: fake}
}

func (r *modRig) entry(t *testing.T) audit.Entry {
	t.Helper()
	es, err := audit.List(context.Background(), r.Store, audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 {
		t.Fatalf("%d journal entries, want 1", len(es))
	}
	rep, err := audit.Verify(context.Background(), r.Store, nil)
	if err != nil || !rep.OK {
		t.Fatalf("journal does not verify: %v %+v", err, rep)
	}
	return es[0]
}

// requests counts the fakellm requests by kind.
func (r *modRig) requests() (chat, moderation []fakellm.Request) {
	for _, q := range r.fake.Requests() {
		if strings.HasSuffix(q.Path, "/moderations") {
			moderation = append(moderation, q)
		} else if strings.HasSuffix(q.Path, "/chat/completions") {
			chat = append(chat, q)
		}
	}
	return chat, moderation
}

func in(actions map[string]policy.ModerationAction) *policy.Moderation {
	return &policy.Moderation{Input: actions}
}

func act(a string) policy.ModerationAction { return policy.ModerationAction{Action: a} }

func wantKind(t *testing.T, err error, kind core.Kind, msg string) {
	t.Helper()
	var ce *core.Error
	if !errors.As(err, &ce) || ce.Kind != kind || !strings.Contains(ce.Message, msg) {
		t.Fatalf("got %v, want a %s error saying %q", err, kind, msg)
	}
}

func TestModerationBlocksInputBeforeTheModel(t *testing.T) {
	r := newModRig(t, in(map[string]policy.ModerationAction{"violence_and_threats": act("block")}), nil)
	before := moderationCount(t, "in", "violence_and_threats", "block")
	_, err := r.Engine.Do(context.Background(), chat("ann", nil, "tell me how [flag:violence_and_threats]"))
	wantKind(t, err, core.KindBlocked, "refused by moderation: category violence_and_threats (input)")
	if n := moderationCount(t, "in", "violence_and_threats", "block") - before; n != 1 {
		t.Errorf("timon_moderation_total{in,violence_and_threats,block} grew by %v, want 1", n)
	}
	chats, mods := r.requests()
	if len(chats) != 0 || len(mods) != 1 {
		t.Fatalf("%d model and %d moderation requests, want 0 and 1", len(chats), len(mods))
	}
	e := r.entry(t)
	if e.Moderation != "in:violence_and_threats=block" || e.Outcome != audit.OutcomeBlocked || e.SentHash != "" {
		t.Fatalf("journal: moderation %q outcome %q sent hash %q", e.Moderation, e.Outcome, e.SentHash)
	}
}

func TestModerationWarnAndLogAnswer(t *testing.T) {
	r := newModRig(t, in(map[string]policy.ModerationAction{"health": act("warn"), "law": act("log")}), nil)
	resp, err := r.Engine.Do(context.Background(), chat("ann", nil, "my [flag:health] and [flag:law] question"))
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Notices) != 1 || !strings.Contains(resp.Notices[0], "health") {
		t.Fatalf("notices %q, want one about health", resp.Notices)
	}
	if e := r.entry(t); e.Moderation != "in:health=warn;in:law=log" || e.Outcome != audit.OutcomeOK {
		t.Fatalf("journal: moderation %q outcome %q", e.Moderation, e.Outcome)
	}
}

func TestModerationStrongestActionWins(t *testing.T) {
	r := newModRig(t, in(map[string]policy.ModerationAction{"health": act("warn"), "*": act("block")}), nil)
	_, err := r.Engine.Do(context.Background(), chat("ann", nil, "[flag:health] [flag:law]"))
	wantKind(t, err, core.KindBlocked, "category law (input)")
	if e := r.entry(t); e.Moderation != "in:health=warn;in:law=block" {
		t.Fatalf("journal: moderation %q", e.Moderation)
	}
}

func TestModerationLogOnlyIsSilent(t *testing.T) {
	r := newModRig(t, in(map[string]policy.ModerationAction{"*": act("log")}), nil)
	resp, err := r.Engine.Do(context.Background(), chat("ann", nil, "[flag:pii]"))
	if err != nil || len(resp.Notices) != 0 {
		t.Fatalf("got %v, notices %q", err, resp.Notices)
	}
	if e := r.entry(t); e.Moderation != "in:pii=log" {
		t.Fatalf("journal: moderation %q", e.Moderation)
	}
}

func TestModerationThreshold(t *testing.T) {
	for _, tc := range []struct {
		score, threshold float64
		blocked          bool
	}{
		{0.6, 0.8, false}, // flagged by the classifier, under the rule's threshold
		{0.9, 0.8, true},
		{0.4, 0.3, true}, // not flagged by the classifier, over the threshold
		{0.4, 0, false},  // no threshold: the classifier's flag
		{0.6, 0, true},
	} {
		r := newModRig(t, in(map[string]policy.ModerationAction{"health": {Action: "block", Threshold: tc.threshold}}), nil)
		r.fake.SetModeration(func(string) map[string]float64 { return map[string]float64{"health": tc.score} })
		_, err := r.Engine.Do(context.Background(), chat("ann", nil, "a question"))
		if blocked := core.ErrorKind(err) == core.KindBlocked; blocked != tc.blocked {
			t.Errorf("score %v threshold %v: got %v, want blocked %v", tc.score, tc.threshold, err, tc.blocked)
		}
	}
}

func TestModerationBlocksOutput(t *testing.T) {
	mod := &policy.Moderation{Output: map[string]policy.ModerationAction{"selfharm": act("block"), "health": act("warn")}}
	r := newModRig(t, mod, nil)
	answer := "the answer [flag:selfharm]"
	r.fake.Handle(func(q fakellm.Request) fakellm.Reply {
		if strings.HasSuffix(q.Path, "/chat/completions") {
			return fakellm.Reply{Text: answer}
		}
		return fakellm.Reply{}
	})
	_, err := r.Engine.Do(context.Background(), chat("ann", nil, "a question"))
	wantKind(t, err, core.KindBlocked, "refused by moderation: category selfharm (output)")

	// Streamed: nothing reaches the caller.
	var got []string
	_, err = r.Engine.Stream(context.Background(), chat("ann", nil, "a question"), func(s string) error {
		got = append(got, s)
		return nil
	})
	wantKind(t, err, core.KindBlocked, "(output)")
	if len(got) != 0 {
		t.Fatalf("a blocked answer was streamed: %q", got)
	}

	// A warned answer is streamed, once checked, with its notice.
	answer = "the answer [flag:health]"
	resp, err := r.Engine.Stream(context.Background(), chat("ann", nil, "a question"), func(s string) error {
		got = append(got, s)
		return nil
	})
	if err != nil || strings.Join(got, "") != answer || len(resp.Notices) != 1 {
		t.Fatalf("got %v, streamed %q, notices %q", err, got, resp.Notices)
	}
	es, err := audit.List(context.Background(), r.Store, audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var mods []string
	for _, e := range es {
		mods = append(mods, e.Moderation)
	}
	slices.Sort(mods)
	if want := []string{"out:health=warn", "out:selfharm=block", "out:selfharm=block"}; !slices.Equal(mods, want) {
		t.Fatalf("journal moderation %q, want %q", mods, want)
	}
}

func TestModerationClassifierDownFailsClosed(t *testing.T) {
	mod := in(map[string]policy.ModerationAction{"*": act("block")})
	r := newModRig(t, mod, nil)
	r.fake.Handle(func(q fakellm.Request) fakellm.Reply {
		if strings.HasSuffix(q.Path, "/moderations") {
			return fakellm.Reply{Status: 503}
		}
		return fakellm.Reply{}
	})
	_, err := r.Engine.Do(context.Background(), chat("ann", nil, "a question"))
	wantKind(t, err, core.KindUnavailable, "moderation is unavailable, so nothing was sent (classifier modfake)")
	if chats, _ := r.requests(); len(chats) != 0 {
		t.Fatalf("%d model requests after a failed moderation", len(chats))
	}
	if e := r.entry(t); e.Moderation != "in:error=block" {
		t.Fatalf("journal: moderation %q", e.Moderation)
	}

	mod.OnError = "allow"
	if _, err := r.Engine.Do(context.Background(), chat("ann", nil, "a question")); err != nil {
		t.Fatalf("on_error allow: %v", err)
	}
}

func TestModerationSeesOnlyRedactedText(t *testing.T) {
	r := newModRig(t, in(map[string]policy.ModerationAction{"*": act("block")}), nil)
	const mail = "ada@lab-univ.fr"
	if _, err := r.Engine.Do(context.Background(), chat("ann", nil, "write to "+mail+" today")); err != nil {
		t.Fatal(err)
	}
	_, mods := r.requests()
	if len(mods) != 1 {
		t.Fatalf("%d moderation requests, want 1", len(mods))
	}
	if strings.Contains(string(mods[0].Body), mail) {
		t.Fatalf("the classifier got the address: %s", mods[0].Body)
	}
}

func TestModerationGuardModelGetsCustomCategory(t *testing.T) {
	const desc = "Results of studies not yet published."
	r := newModRig(t, in(map[string]policy.ModerationAction{"unpublished_results": act("block")}),
		[]provider.GuardCategory{{Name: "unpublished_results", Description: desc}})
	_, err := r.Engine.Do(context.Background(), chat("ann", nil, "our trial [flag:unpublished_results]"))
	wantKind(t, err, core.KindBlocked, "category unpublished_results (input)")
	chats, _ := r.requests()
	if len(chats) != 1 || chats[0].Model != "llama-guard" || !strings.Contains(chats[0].LastUser(), desc) {
		t.Fatalf("guard requests %+v: want one to llama-guard listing %q", chats, desc)
	}
}

func TestNoModerationNoClassifierCall(t *testing.T) {
	r := newModRig(t, nil, nil)
	resp, err := r.Engine.Do(context.Background(), chat("ann", nil, "[flag:violence_and_threats]"))
	if err != nil || len(resp.Notices) != 0 {
		t.Fatalf("got %v, notices %q", err, resp.Notices)
	}
	if _, mods := r.requests(); len(mods) != 0 {
		t.Fatalf("%d moderation requests without moderation", len(mods))
	}
	if e := r.entry(t); e.Moderation != "" {
		t.Fatalf("journal: moderation %q", e.Moderation)
	}
}

func TestModeratingRuleNeedsAClassifier(t *testing.T) {
	pol, err := policy.New(policy.Config{Routes: map[string][]string{"default": {"m"}},
		Rules: []policy.Rule{{Name: "r", Effect: "allow", Moderation: in(map[string]policy.ModerationAction{"*": act("block")})}}},
		[]policy.Provider{{Name: "p", Models: []string{"m"}, Sovereign: true}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = assistant.New(assistant.Options{Policy: pol})
	if err == nil || !strings.Contains(err.Error(), "no moderation classifier") {
		t.Fatalf("got %v, want the missing classifier named", err)
	}
}

// moderationCount reads timon_moderation_total{direction,category,decision}
// from the registry /metrics serves.
func moderationCount(t *testing.T, labels ...string) float64 {
	t.Helper()
	mfs, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "timon_moderation_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			if got["direction"] == labels[0] && got["category"] == labels[1] && got["decision"] == labels[2] {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}
