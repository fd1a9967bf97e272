package mattermost_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/mattermost/mattermost/server/public/model"

	"timon.dev/timon/bots/chat"
	"timon.dev/timon/bots/mattermost"
	"timon.dev/timon/bots/mattermost/mattermosttest"
)

// registering builds a bot (as a restarted hub would) that registers
// /timon with the given callback URL.
func registering(t *testing.T, r *rig, commandURL string) *mattermost.Adapter {
	t.Helper()
	bot, err := mattermost.New(mattermost.Options{Config: mattermost.Config{URL: r.mm.URL(), BotToken: r.mm.BotToken(), CommandURL: commandURL}, Router: r.router})
	if err != nil {
		t.Fatal(err)
	}
	if err := bot.RegisterCommands(context.Background()); err != nil {
		t.Fatal(err)
	}
	return bot
}

func TestSlashCommandIsRegisteredOnceAndKeptUpToDate(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{noRun: true})
	const hook = "https://timon.example.org/mattermost/command"

	bot := registering(t, r, hook)
	cmds := r.mm.Commands()
	if len(cmds) != 1 {
		t.Fatalf("%d commands", len(cmds))
	}
	c := cmds[0]
	if c.Trigger != "timon" || c.TeamId != mattermosttest.TeamID || c.URL != hook || c.Method != model.CommandMethodPost ||
		!c.AutoComplete || c.CreatorId != r.botID || !strings.Contains(c.AutoCompleteHint, "ask|rewrite|translate|summarize") || c.AutoCompleteDesc == "" {
		t.Fatalf("command %+v", c)
	}
	ad := r.mm.AutocompleteSent(c.Id)
	if ad == nil || ad.IsValid() != nil || ad.Trigger != "timon" {
		t.Fatalf("autocomplete data %+v", ad)
	}
	var subs []string
	for _, s := range ad.SubCommands {
		subs = append(subs, s.Trigger)
		if s.HelpText == "" {
			t.Errorf("subcommand %s has no help text", s.Trigger)
		}
	}
	if !slices.Equal(subs, chat.Commands) {
		t.Fatalf("subcommands %v", subs)
	}
	if i := slices.IndexFunc(ad.SubCommands, func(s *model.AutocompleteData) bool { return s.Trigger == "summarize" }); !strings.Contains(ad.SubCommands[i].Hint, "since yesterday") {
		t.Fatalf("summarize hint %q", ad.SubCommands[i].Hint)
	}

	// The registered command's token is accepted (no command_token set).
	srv := httptest.NewServer(bot.Handler())
	defer srv.Close()
	res, err := r.mm.SlashCommand(context.Background(), srv.URL, c.Token, mattermosttest.Command{UserID: r.alan.Id, ChannelID: townID, Text: "help"})
	if err != nil || res.Status != http.StatusOK {
		t.Fatalf("%v %+v", err, res)
	}
	res, err = r.mm.SlashCommand(context.Background(), srv.URL, "wrongtokenwrongtokenwrong1", mattermosttest.Command{UserID: r.alan.Id, ChannelID: townID, Text: "help"})
	if err != nil || res.Status != http.StatusUnauthorized {
		t.Fatalf("a wrong token: %v %+v", err, res)
	}
	r.settle(t)

	// A restart finds it as it is: nothing created, nothing updated.
	writes := func() int {
		return r.mm.CountHits("POST /api/v4/commands") + r.mm.CountHits("PUT /api/v4/commands/{command_id}")
	}
	before := writes()
	registering(t, r, hook)
	if n := len(r.mm.Commands()); n != 1 || writes() != before {
		t.Fatalf("after a restart: %d commands, %d writes", n, writes()-before)
	}

	// A new callback URL updates the same command (same id and token).
	registering(t, r, "https://timon2.example.org/mattermost/command")
	cmds = r.mm.Commands()
	if len(cmds) != 1 || cmds[0].Id != c.Id || cmds[0].Token != c.Token || cmds[0].URL != "https://timon2.example.org/mattermost/command" {
		t.Fatalf("after a change: %+v", cmds)
	}
	if n := r.mm.CountHits("PUT /api/v4/commands/{command_id}"); n != 1 {
		t.Fatalf("%d updates", n)
	}
	if ad := r.mm.AutocompleteSent(c.Id); ad == nil || ad.IsValid() != nil {
		t.Fatalf("autocomplete data of the update %+v", ad)
	}
}

// A /timon an administrator registered by hand is taken over (updated),
// not duplicated, and its token keeps working.
func TestSlashCommandRegisteredByHandIsUpdated(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{noRun: true})
	old := r.mm.AddCommand(&model.Command{TeamId: mattermosttest.TeamID, Trigger: "timon", Method: model.CommandMethodPost,
		URL: "http://old-host/mattermost/command", CreatorId: r.alan.Id})
	bot := registering(t, r, "https://timon.example.org/mattermost/command")
	cmds := r.mm.Commands()
	if len(cmds) != 1 || cmds[0].Id != old.Id || !cmds[0].AutoComplete || cmds[0].URL != "https://timon.example.org/mattermost/command" {
		t.Fatalf("commands %+v", cmds)
	}
	srv := httptest.NewServer(bot.Handler())
	defer srv.Close()
	res, err := r.mm.SlashCommand(context.Background(), srv.URL, old.Token, mattermosttest.Command{UserID: r.alan.Id, ChannelID: townID, Text: "help"})
	if err != nil || res.Status != http.StatusOK {
		t.Fatalf("%v %+v", err, res)
	}
	r.settle(t)
}

// Without a command URL the bot registers nothing and asks nothing.
func TestSlashCommandNotRegisteredWithoutAURL(t *testing.T) {
	r := newRig(t, rigOptions{noRun: true})
	registering(t, r, "")
	if n := r.mm.CountHits("GET /api/v4/commands") + r.mm.CountHits("GET /api/v4/users/{user_id}/teams"); n != 0 || len(r.mm.Commands()) != 0 {
		t.Fatalf("%d calls, %d commands", n, len(r.mm.Commands()))
	}
}
