package integrationtests

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mattermost/mattermost/server/public/model"

	"timon.dev/timon/bots/mattermost/mattermosttest"
	"timon.dev/timon/bots/slack/slacktest"
	"timon.dev/timon/core/provider/fakellm"
)

const (
	slackSecret    = "it-signing-secret"
	mmCommandToken = "itcommandtoken0000000000000"
)

// chatPlatforms are the fake Slack and Mattermost a chat hub talks to.
type chatPlatforms struct {
	slack *slacktest.Server
	mm    *mattermosttest.Server
	ada   string // Slack user in #lab
	alan  *model.User
	town  *model.Channel
	// env are the variables (NAME=value) that switch the bots on, given
	// to the hub's process (startHub) rather than set with t.Setenv, so
	// that the chat tests can run in parallel.
	env []string
}

// newChatPlatforms starts both fakes and notes the environment variables
// that switch the bots on (given to the hub p.startHub starts).
func newChatPlatforms(t testing.TB) *chatPlatforms {
	t.Helper()
	p := &chatPlatforms{slack: slacktest.New(), mm: mattermosttest.New(), ada: "U061F7AUR"}
	t.Cleanup(p.slack.Close)
	t.Cleanup(p.mm.Close)
	p.slack.AddUser(p.ada, "ada", "ada@lab-univ.fr", "en-US")
	p.slack.AddChannel("C123ABC456", "lab", "public", p.ada, slacktest.BotUserID)
	p.alan = p.mm.AddUser(&model.User{Username: "alan", Email: "alan@example.org", Locale: "fr"})
	p.town = p.mm.AddChannel(&model.Channel{Name: "town-square", DisplayName: "Town Square"}, p.alan.Id, p.mm.Bot().Id)
	p.env = []string{
		"TIMON_SLACK_BOT_TOKEN=xoxb-it-token",
		"TIMON_SLACK_SIGNING_SECRET=" + slackSecret,
		"TIMON_SLACK_APP_TOKEN=",
		"TIMON_MATTERMOST_URL=" + p.mm.URL(),
		"TIMON_MATTERMOST_BOT_TOKEN=" + p.mm.BotToken(),
		"TIMON_MATTERMOST_COMMAND_TOKEN=" + mmCommandToken,
	}
	return p
}

// startHub starts a hub on config with the platforms' variables and the
// test's own (env, NAME=value); its restarts (launchHub) get them too.
func (p *chatPlatforms) startHub(t testing.TB, fake *fakellm.Server, config string, env ...string) *hub {
	t.Helper()
	return startHubEnv(t, fake, config, append(slices.Clone(p.env), env...)...)
}

// chatSection switches the hub's Slack bot to HTTP mode against the fake.
func (p *chatPlatforms) chatSection() string {
	return fmt.Sprintf(`
chat:
  slack: {mode: http, api_url: %q, updates_per_minute: 60000}
  update_interval: 200ms
`, p.slack.APIURL())
}

func TestChatBotsAnswerMentionsInThread(t *testing.T) {
	t.Parallel()
	fake := newFake(t)
	p := newChatPlatforms(t)
	h := p.startHub(t, fake, fmt.Sprintf(hubConfig, fake.URL())+p.chatSection())
	ctx := ctxT(t)

	// Slack (HTTP Events API): a signed mention, delivered twice as Slack
	// retries, is answered once in its thread.
	root := p.slack.AddMessage("C123ABC456", "", p.ada, "<@"+slacktest.BotUserID+"> ask is it everything a river should be?")
	body := slacktest.AppMention("EvIT1", "C123ABC456", p.ada, "ask is it everything a river should be?", root, "")
	for retry := range 2 {
		resp, err := slacktest.Deliver(http.DefaultClient, h.url+"/slack/events", "application/json", body, slackSecret, retry)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("delivery %d: status %d", retry, resp.StatusCode)
		}
	}
	final := func(text string) bool { return strings.Contains(text, "journal request req_") }
	if err := p.slack.Wait(ctx, func() bool {
		r := p.slack.Replies("C123ABC456", root)
		return len(r) == 1 && final(r[0].Text)
	}); err != nil {
		t.Fatalf("no Slack answer: %+v", p.slack.BotMessages())
	}
	if r := p.slack.Replies("C123ABC456", root)[0]; !strings.HasPrefix(r.Text, "echo: is it everything a river should be?") || !strings.Contains(r.Text, "AI-generated") {
		t.Fatalf("Slack answer %q", r.Text)
	}

	// A bad signature is refused.
	resp, err := slacktest.Deliver(http.DefaultClient, h.url+"/slack/events", "application/json", body, "wrong", 0)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("bad signature: status %d", resp.StatusCode)
	}

	// Mattermost (WebSocket): a mention is answered in its thread, in
	// French (alan's locale).
	if err := p.mm.Wait(ctx, func() bool { return p.mm.Connected(p.mm.Bot().Id) }); err != nil {
		t.Fatal("the Mattermost bot did not connect")
	}
	post, err := p.mm.Post(p.alan.Id, p.town.Id, "", "@"+p.mm.Bot().Username+" ask where is the sample?")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.mm.Wait(ctx, func() bool {
		r := p.mm.Replies(post.Id, p.mm.Bot().Id)
		return len(r) == 1 && strings.Contains(r[0].Message, "requête du journal req_")
	}); err != nil {
		t.Fatalf("no Mattermost answer: %+v", p.mm.Replies(post.Id, ""))
	}
	if r := p.mm.Replies(post.Id, p.mm.Bot().Id)[0]; !strings.HasPrefix(r.Message, "echo: where is the sample?") || !strings.Contains(r.Message, "Généré par IA") {
		t.Fatalf("Mattermost answer %q", r.Message)
	}

	// The Mattermost slash command refuses a wrong token.
	res, err := p.mm.SlashCommand(ctx, h.url+"/mattermost/command", "wrong-token", mattermosttest.Command{UserID: p.alan.Id, ChannelID: p.town.Id, Text: "help"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != http.StatusUnauthorized {
		t.Fatalf("wrong command token: status %d", res.Status)
	}
	if n := fake.Count(); n != 2 {
		t.Fatalf("the model was asked %d times for two mentions", n)
	}
	// The hub's logs carry neither what was asked nor the platforms' secrets.
	logs := h.logs.String()
	for _, s := range []string{"river should be", "where is the sample", "xoxb-it-token", slackSecret, mmCommandToken, p.mm.BotToken()} {
		if strings.Contains(logs, s) {
			t.Errorf("the logs contain %q", s)
		}
	}
}

func TestChatEntryPointsWithoutSecretsAnswer404(t *testing.T) {
	t.Parallel()
	noSecrets := map[string]string{}
	var env []string
	for _, v := range []string{"TIMON_SLACK_BOT_TOKEN", "TIMON_SLACK_SIGNING_SECRET", "TIMON_SLACK_APP_TOKEN",
		"TIMON_MATTERMOST_URL", "TIMON_MATTERMOST_BOT_TOKEN", "TIMON_MATTERMOST_COMMAND_TOKEN"} {
		noSecrets[v] = ""
		env = append(env, v+"=")
	}
	fake := newFake(t)
	h := startHubEnv(t, fake, fmt.Sprintf(hubConfig, fake.URL()), env...)
	body := slacktest.AppMention("EvX", "C1", "U1", "hello", "1.000001", "")
	for _, path := range []string{"/slack/events", "/slack/commands", "/mattermost/command"} {
		resp, err := slacktest.Deliver(http.DefaultClient, h.url+path, "application/json", body, "anything", 0)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: status %d, want 404", path, resp.StatusCode)
		}
	}
	// The Slack bot token in HTTP mode without the signing secret is
	// half-configured: the hub refuses to start rather than run a bot
	// that hears nothing.
	noSecrets["TIMON_SLACK_BOT_TOKEN"] = "xoxb-it-token"
	cfg := filepath.Join(t.TempDir(), "timon.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(hubConfig, fake.URL())+"\nchat:\n  slack: {mode: http}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := runTimonEnv(t, noSecrets, "serve", "--config", cfg, "--addr", freeAddr(t))
	if code != 1 || !strings.Contains(errOut, "chat.slack: half-configured: HTTP mode (chat.slack.mode: http) needs the signing secret") {
		t.Errorf("slack without signing secret: exit %d\n%s", code, errOut)
	}
}
