package integrationtests

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mattermost/mattermost/server/public/model"

	"timon.dev/timon/bots/mattermost/mattermosttest"
	"timon.dev/timon/bots/slack/slacktest"
)

// catchUpSection is chatSection with the Mattermost bot registering
// /timon itself.
func (p *chatPlatforms) catchUpSection() string {
	return p.chatSection() + "  mattermost: {command_url: \"https://timon.test/mattermost/command\"}\n"
}

// TestChatCatchUpSummaries runs catch-up summaries through the real
// binary: a channel over a period on Slack, answered privately, from the
// period's messages only and with a secret masked; refused on Slack and
// on Mattermost to a requester who is not a member of the channel, though
// the bot is.
func TestChatCatchUpSummaries(t *testing.T) {
	t.Parallel()
	fake := newFake(t)
	p := newChatPlatforms(t)
	h := p.startHub(t, fake, fmt.Sprintf(hubConfig, fake.URL())+p.catchUpSection())
	ctx := ctxT(t)
	now := time.Now()

	p.slack.AddUser("U0BOB", "bob", "bob@lab-univ.fr", "en-US")
	p.slack.AddMessageAt("C123ABC456", "", "U0BOB", "OLD: the budget meeting moved", now.Add(-30*time.Hour))
	for i := range 40 {
		p.slack.AddMessageAt("C123ABC456", "", "U0BOB", fmt.Sprintf("cryostat run %d is fine", i), now.Add(-3*time.Hour+time.Duration(i)*time.Minute))
	}
	p.slack.AddMessageAt("C123ABC456", "", "U0BOB", "the key is AKIAZ3MSJV4WWNKWXK7Q", now.Add(-time.Hour))
	mention := p.slack.AddMessage("C123ABC456", "", p.ada, "<@"+slacktest.BotUserID+"> summarize last 4h")
	resp, err := slacktest.Deliver(http.DefaultClient, h.url+"/slack/events", "application/json",
		slacktest.AppMention("EvCatch1", "C123ABC456", p.ada, "summarize last 4h", mention, ""), slackSecret, 0)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("delivery: %v %v", err, resp)
	}
	resp.Body.Close()
	done := func() bool {
		for _, m := range p.slack.BotMessages() {
			if strings.Contains(m.Text, "journal request") {
				return true
			}
		}
		return false
	}
	if err := p.slack.Wait(ctx, done); err != nil {
		t.Fatal("no Slack summary")
	}
	reqs := modelRequests(fake)
	if len(reqs) != 1 {
		t.Fatalf("%d model requests", len(reqs))
	}
	sent := reqs[0].LastUser()
	if !strings.Contains(sent, "bob: cryostat run 0 is fine") || !strings.Contains(sent, "bob: cryostat run 39 is fine") ||
		strings.Contains(sent, "OLD") || strings.Contains(sent, "AKIAZ3MSJV4WWNKWXK7Q") || !strings.Contains(sent, "Open questions") {
		t.Fatalf("sent %.500q", sent)
	}
	for _, m := range p.slack.BotMessages() {
		if !m.Ephemeral || m.For != p.ada {
			t.Fatalf("a summary reply is not private to the requester: %+v", m)
		}
	}

	// Slack: carla is not in #lab (the bot is): refused, nothing read.
	p.slack.AddUser("U0CARLA", "carla", "carla@lab-univ.fr", "en-US")
	v := url.Values{"team_id": {slacktest.Team}, "channel_id": {"C123ABC456"}, "channel_name": {"lab"}, "user_id": {"U0CARLA"},
		"user_name": {"carla"}, "command": {"/timon"}, "text": {"summarize since yesterday"}, "response_url": {p.slack.ResponseURL()}, "trigger_id": {"9.9.9"}}
	resp, err = slacktest.Deliver(http.DefaultClient, h.url+"/slack/commands", "application/x-www-form-urlencoded", []byte(v.Encode()), slackSecret, 0)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("slash command: %v %v", err, resp)
	}
	resp.Body.Close()
	if err := p.slack.Wait(ctx, func() bool { return len(p.slack.Responses()) > 0 }); err != nil {
		t.Fatal("no Slack answer to the non-member")
	}
	if r := p.slack.Responses(); r[0].ResponseType != "ephemeral" || !strings.Contains(r[0].Text, "not a member") {
		t.Fatalf("responses %+v", r)
	}

	// Mattermost: alan is not in ~lab (open; the bot is): refused.
	grace := p.mm.AddUser(&model.User{Username: "grace", Email: "grace@example.org", Locale: "en"})
	lab := p.mm.AddChannel(&model.Channel{Name: "lab", DisplayName: "Lab", Type: model.ChannelTypeOpen}, grace.Id, p.mm.Bot().Id)
	if _, err := p.mm.PostAt(grace.Id, lab.Id, "The ORION results are in", now.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	res, err := p.mm.SlashCommand(ctx, h.url+"/mattermost/command", mmCommandToken, mattermosttest.Command{UserID: p.alan.Id, ChannelID: lab.Id, Text: "summarize since yesterday"})
	if err != nil || res.Status != http.StatusOK {
		t.Fatalf("%v %+v", err, res)
	}
	if err := p.mm.Wait(ctx, func() bool {
		for _, e := range p.mm.Ephemerals() {
			if e.UserID == p.alan.Id && strings.Contains(e.Message, "membre") {
				return true
			}
		}
		return false
	}); err != nil {
		t.Fatalf("no refusal for the non-member: %+v", p.mm.Ephemerals())
	}
	if n := len(modelRequests(fake)); n != 1 {
		t.Fatalf("%d model requests after the refusals", n)
	}
}

// TestMattermostSlashCommandRegisteredAtStart: with command_url, the hub
// registers /timon (autocomplete data valid), accepts its token, and a
// restart neither duplicates nor rewrites it.
func TestMattermostSlashCommandRegisteredAtStart(t *testing.T) {
	t.Parallel()
	fake := newFake(t)
	p := newChatPlatforms(t)
	h := p.startHub(t, fake, fmt.Sprintf(hubConfig, fake.URL())+p.catchUpSection())
	ctx := ctxT(t)
	waitFor(t, 20*time.Second, "the registered command", func() bool { return len(p.mm.Commands()) == 1 })
	c := p.mm.Commands()[0]
	if c.Trigger != "timon" || c.URL != "https://timon.test/mattermost/command" || !c.AutoComplete {
		t.Fatalf("command %+v", c)
	}
	if ad := p.mm.AutocompleteSent(c.Id); ad == nil || ad.IsValid() != nil || len(ad.SubCommands) < 5 {
		t.Fatalf("autocomplete data %+v", ad)
	}
	res, err := p.mm.SlashCommand(ctx, h.url+"/mattermost/command", c.Token, mattermosttest.Command{UserID: p.alan.Id, ChannelID: p.town.Id, Text: "help"})
	if err != nil || res.Status != http.StatusOK {
		t.Fatalf("the registered command's token: %v %+v", err, res)
	}

	// Restart on the same data and configuration.
	h.cmd.Process.Signal(os.Interrupt)
	<-h.waited
	lists := p.mm.CountHits("GET /api/v4/commands")
	launchHub(t, fake, h.cfg, h.data)
	waitFor(t, 20*time.Second, "the restarted hub to look at the commands", func() bool { return p.mm.CountHits("GET /api/v4/commands") > lists })
	if n := len(p.mm.Commands()); n != 1 || p.mm.CountHits("POST /api/v4/commands") != 1 || p.mm.CountHits("PUT /api/v4/commands/{command_id}") != 0 {
		t.Fatalf("after a restart: %d commands, %d creations, %d updates", n, p.mm.CountHits("POST /api/v4/commands"), p.mm.CountHits("PUT /api/v4/commands/{command_id}"))
	}
}
