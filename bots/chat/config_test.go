package chat_test

import (
	"errors"
	"strings"
	"testing"

	"timon.dev/timon/bots/chat"
	"timon.dev/timon/core/config"
)

const chatBase = `
providers:
  - {name: local, base_url: "http://127.0.0.1:8000/v1", models: [mistral-small-latest, codestral-latest]}
policy: {routes: {default: [mistral-small-latest]}, rules: [{name: all, effect: allow}]}
`

// parse reads a configuration with the chat section.
func parse(name, src string) (*chat.Config, error) {
	c := &chat.Config{}
	_, err := config.Parse(name, []byte(src), config.Section{At: "chat", Settings: c})
	return c, err
}

func TestChannelPolicyAndGroups(t *testing.T) {
	f, tr := false, true
	c := chat.Config{
		Policy: chat.ChannelPolicy{Models: []string{"mistral-small-latest"}},
		Channels: []chat.ChannelPolicy{
			{Match: []string{"slack:T1/#random"}, Off: true},
			{Platform: "slack", Match: []string{"type:private"}, Public: &f, Commands: []string{"ask"}},
			{Match: []string{"type:private"}, Public: &tr},
		},
		Groups: chat.Groups{Teams: map[string][]string{"T1": {"physics", "staff"}}, Channels: map[string][]string{"slack:T1/#lab": {"lab", "staff"}, "C9": {"interns"}, "mattermost:C8": {"mm"}}},
	}
	if p := c.PolicyFor(chat.Channel{Platform: "slack", Team: "T1", ID: "C1", Name: "Random", Type: "public"}); !p.Off {
		t.Error("#random is not off")
	}
	// The same name in another workspace, or on Mattermost, is another
	// channel.
	for _, ch := range []chat.Channel{
		{Platform: "slack", Team: "T2", ID: "C1", Name: "random", Type: "public"},
		{Platform: "mattermost", Team: "T1", ID: "C1", Name: "random", Type: "public"},
		{Platform: "slack", ID: "C1", Name: "random", Type: "public"},
	} {
		if p := c.PolicyFor(ch); p.Off {
			t.Errorf("%+v is off", ch)
		}
	}
	p := c.PolicyFor(chat.Channel{Platform: "slack", ID: "G1", Name: "secret", Type: "private"})
	if p.Public || strings.Join(p.Commands, ",") != "ask,help" || p.Models[0] != "mistral-small-latest" {
		t.Errorf("slack private %+v", p)
	}
	if p := c.PolicyFor(chat.Channel{Platform: "mattermost", ID: "x", Type: "private"}); !p.Public || len(p.Commands) != len(chat.Commands) {
		t.Errorf("mattermost private %+v", p)
	}
	if g := c.GroupsFor("T1", chat.Channel{Platform: "slack", Team: "T1", ID: "C2", Name: "lab"}); strings.Join(g, ",") != "lab,physics,staff" {
		t.Errorf("groups %v", g)
	}
	// A channel named lab in another team, or on the other platform, gets
	// no group from the name.
	for _, ch := range []chat.Channel{
		{Platform: "slack", Team: "T2", ID: "C3", Name: "lab"},
		{Platform: "mattermost", Team: "q1w2e3", ID: "C3", Name: "lab"},
		{Platform: "mattermost", ID: "C3", Name: "lab"},
	} {
		if g := c.GroupsFor(ch.Team, ch); len(g) != 0 {
			t.Errorf("%+v: groups %v", ch, g)
		}
	}
	if g := c.GroupsFor("", chat.Channel{Platform: "mattermost", ID: "C8"}); strings.Join(g, ",") != "mm" {
		t.Errorf("mattermost:C8 groups %v", g)
	}
	if g := c.GroupsFor("", chat.Channel{Platform: "slack", ID: "C8"}); len(g) != 0 {
		t.Errorf("mattermost:C8 granted on slack: %v", g)
	}
	if g := c.GroupsFor("T2", chat.Channel{ID: "C9"}); strings.Join(g, ",") != "interns" {
		t.Errorf("groups %v", g)
	}
}

func TestChatChannelNamesNeedPlatformAndTeam(t *testing.T) {
	_, err := parse("timon.yaml", chatBase+`
chat:
  groups:
    channels: {"#lab-private": [lab], "slack:#x": [x], "mattermost:/#y": [y], "teams:T1/#z": [z], "T1/#w": [w]}
  channels:
    - {match: ["#random"], off: true}
`)
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %v", err)
	}
	for _, want := range []string{
		`chat.groups.channels: "#lab-private": a bare #name matches a channel of that name in any team and on either platform`,
		`write it slack:<workspace id>/#lab-private or mattermost:<team id>/#lab-private`,
		`"slack:#x": a channel name needs its team id`,
		`"mattermost:/#y": a channel name needs its team id`,
		`"teams:T1/#z": expected slack: or mattermost:`,
		`"T1/#w": a channel name needs its platform`,
		`chat.channels[0].match[0]: a bare #name`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
	c, err := parse("timon.yaml", chatBase+`
chat:
  groups:
    channels: {"slack:T0123ABCD/#lab-private": [lab], "mattermost:q1w2e3/#lab-private": [lab], C0456EFGH: [interns]}
  channels:
    - {match: ["slack:T0123ABCD/#random", "mattermost:C1", "type:dm"], off: true}
`)
	if err != nil {
		t.Fatal(err)
	}
	if g := c.GroupsFor("q1w2e3", chat.Channel{Platform: "mattermost", Team: "q1w2e3", ID: "x", Name: "Lab-Private"}); len(g) != 1 {
		t.Errorf("groups %v", g)
	}
	if g := c.GroupsFor("other", chat.Channel{Platform: "mattermost", Team: "other", ID: "x", Name: "lab-private"}); len(g) != 0 {
		t.Errorf("a foreign team's #lab-private got %v", g)
	}
}
