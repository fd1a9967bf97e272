package integrationtests

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"timon.dev/timon/bots/slack/slacktest"
	"timon.dev/timon/core/biblio/bibliotest"
	"timon.dev/timon/core/provider/fakellm"
)

// TestChatRefsThroughSlack: the real binary, a Slack mention "refs …"
// answered in its thread with the fake HAL's records, the model's invented
// references removed, and the query redacted on its way to HAL.
func TestChatRefsThroughSlack(t *testing.T) {
	t.Parallel()
	fake := newFake(t)
	hal := bibliotest.NewHAL()
	t.Cleanup(hal.Close)
	p := newChatPlatforms(t)
	cfg := fmt.Sprintf(hubConfig, fake.URL()) + p.chatSection() + fmt.Sprintf(`
bibliography:
  sources:
    - {name: HAL, kind: hal, base_url: %q, timeout: 5s, sovereign: true}
`, hal.URL())
	h := p.startHub(t, fake, cfg)
	ctx := ctxT(t)
	fake.Handle(func(r fakellm.Request) fakellm.Reply {
		if strings.Contains(r.LastUser(), "bibliographic records") {
			return fakellm.Reply{Text: "Carbon is stored in vineyard soils [1][2]; see Dupont et al. (2019), [7] and https://doi.org/10.9999/fake."}
		}
		return fakellm.Reply{}
	})

	const question = "refs soil carbon ORION vineyards"
	root := p.slack.AddMessage("C123ABC456", "", p.ada, "<@"+slacktest.BotUserID+"> "+question)
	body := slacktest.AppMention("EvRefs1", "C123ABC456", p.ada, question, root, "")
	resp, err := slacktest.Deliver(http.DefaultClient, h.url+"/slack/events", "application/json", body, slackSecret, 0)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("delivery: status %d", resp.StatusCode)
	}
	if err := p.slack.Wait(ctx, func() bool {
		r := p.slack.Replies("C123ABC456", root)
		return len(r) == 1 && strings.Contains(r[0].Text, "journal request req_")
	}); err != nil {
		t.Fatalf("no Slack answer: %+v", p.slack.BotMessages())
	}
	text := p.slack.Replies("C123ABC456", root)[0].Text
	for _, want := range []string{
		"1. *Soil carbon sequestration in Burgundy vineyards* — Jeanne Dupuis, Marc Lefèvre, Anne Martin et al. (2019) — https://doi.org/10.1016/j.geoderma.2019.05.012",
		"2. *Cover crops and soil organic matter: a thesis* — Claire Rousseau (2021) — https://theses.hal.science/tel-02345678",
		"Carbon is stored in vineyard soils [1][2]; see,",
		"3 unverified references were removed",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the answer lacks %q:\n%s", want, text)
		}
	}
	for _, bad := range []string{"Dupont", "[7]", "10.9999"} {
		if strings.Contains(text, bad) {
			t.Errorf("the answer keeps %q:\n%s", bad, text)
		}
	}
	if q := hal.Queries(); len(q) != 1 || q[0].Get("q") != "soil carbon vineyards" {
		t.Fatalf("HAL received %v", q)
	}
	if logs := h.logs.String(); strings.Contains(logs, "soil carbon") {
		t.Error("the logs contain the query")
	}
}
