package mattermost

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// The /timon slash command the bot registers itself (Config.CommandURL):
// in each team, created when absent, updated when its definition changed,
// left alone otherwise, so that restarts and replicas never duplicate it.
// Mattermost keeps, of a custom command's autocomplete, the description
// and the hint it shows after /timon; the autocomplete tree (one entry per
// subcommand, with its hint and help) is sent too, and checked by the
// server like a plugin's, but servers store it for plugin commands only:
// the hint therefore lists the subcommands itself.

// commandTrigger is the slash command's word.
const commandTrigger = "timon"

// registerTimeout bounds the registration at start.
const registerTimeout = 30 * time.Second

// subcommands are the /timon subcommands and their hints, in help's order.
var subcommands = []struct{ trigger, hint, help string }{
	{"ask", "<question>", "Ask a question (in a thread, with the thread as context)"},
	{"rewrite", "[formal|friendly|academic|concise|grammar] <text>", "Rewrite a text"},
	{"translate", "[fr|en] <text>", "Translate a text"},
	{"summarize", "[since yesterday|last 4h|since my last message] [public]", "Catch up: a thread, or this channel over a period, answered privately"},
	{"explain", "<code>", "Explain code"},
	{"review", "<diff>", "Review a pasted diff"},
	{"refs", "<topic>", "Find references (HAL, OpenAlex)"},
	{"usage", "", "Your quota and what is left"},
	{"privacy", "", "What is journaled and what is masked"},
	{"help", "", "What timon can do"},
}

// commandDefinition is the /timon command of a team, as the bot registers
// it.
func (b *Adapter) commandDefinition(teamID string) *slashCommand {
	ad := &autocompleteData{Trigger: commandTrigger, Hint: "[command]", HelpText: "timon, your institution's assistant",
		RoleID: roleSystemUser, Arguments: []*autocompleteArg{}, SubCommands: []*autocompleteData{}}
	hint := ""
	for i, s := range subcommands {
		ad.SubCommands = append(ad.SubCommands, &autocompleteData{Trigger: s.trigger, Hint: s.hint, HelpText: s.help,
			RoleID: roleSystemUser, Arguments: []*autocompleteArg{}, SubCommands: []*autocompleteData{}})
		if i > 0 {
			hint += "|"
		}
		hint += s.trigger
	}
	return &slashCommand{
		TeamID:           teamID,
		Trigger:          commandTrigger,
		Method:           commandMethodPost,
		Username:         "timon",
		AutoComplete:     true,
		AutoCompleteDesc: "Ask timon, your institution's assistant (governed, on its own models)",
		AutoCompleteHint: "[" + hint + "] …",
		DisplayName:      "timon",
		Description:      "timon, your institution's assistant",
		URL:              b.o.Config.CommandURL,
		AutocompleteData: ad,
	}
}

// same reports whether a registered command matches the definition, on
// what the server keeps.
func same(have, want *slashCommand) bool {
	return have.Trigger == want.Trigger && have.Method == want.Method && have.Username == want.Username &&
		have.IconURL == want.IconURL && have.AutoComplete == want.AutoComplete && have.AutoCompleteDesc == want.AutoCompleteDesc &&
		have.AutoCompleteHint == want.AutoCompleteHint && have.DisplayName == want.DisplayName &&
		have.Description == want.Description && have.URL == want.URL
}

// RegisterCommands registers /timon in Config.CommandTeams (every team the
// bot is in when empty): created when absent, updated when it differs from
// the bot's definition, left alone when it matches. The tokens of the
// registered commands are then accepted by Handler. It does nothing
// without Config.CommandURL. The bot account needs the permission to
// manage slash commands in those teams.
func (b *Adapter) RegisterCommands(ctx context.Context) error {
	if b.o.Config.CommandURL == "" {
		return nil
	}
	teams := b.o.Config.CommandTeams
	if len(teams) == 0 {
		ts, err := b.api.getMyTeams(ctx)
		if err != nil {
			return fmt.Errorf("listing the bot's teams to register /%s: %w", commandTrigger, err)
		}
		for _, t := range ts {
			if t != nil && t.ID != "" {
				teams = append(teams, t.ID)
			}
		}
	}
	var errs []error
	for _, teamID := range teams {
		token, err := b.registerCommand(ctx, teamID)
		if err != nil {
			errs = append(errs, fmt.Errorf("registering /%s in team %s: %w", commandTrigger, teamID, err))
			continue
		}
		b.registered.add(token)
	}
	return errors.Join(errs...)
}

// registerCommand makes /timon of one team match the definition and
// returns its token.
func (b *Adapter) registerCommand(ctx context.Context, teamID string) (string, error) {
	want := b.commandDefinition(teamID)
	list, err := b.api.listCommands(ctx, teamID)
	if err != nil {
		return "", fmt.Errorf("listing the team's commands: %w", err)
	}
	i := slices.IndexFunc(list, func(c *slashCommand) bool { return c != nil && c.Trigger == commandTrigger && c.DeleteAt == 0 })
	if i < 0 {
		c, err := b.api.createCommand(ctx, want)
		if err != nil {
			return "", fmt.Errorf("creating the command: %w", err)
		}
		b.log.Info("Mattermost slash command registered", "team", teamID, "trigger", commandTrigger)
		return c.Token, nil
	}
	have := list[i]
	if same(have, want) {
		return have.Token, nil
	}
	want.ID, want.Token, want.CreatorID = have.ID, have.Token, have.CreatorID
	c, err := b.api.updateCommand(ctx, want)
	if err != nil {
		return "", fmt.Errorf("updating the command: %w", err)
	}
	b.log.Info("Mattermost slash command updated", "team", teamID, "trigger", commandTrigger)
	return c.Token, nil
}

// tokens holds the tokens of the commands the bot registered.
type tokens struct {
	mu   sync.RWMutex
	list []string
}

func (t *tokens) add(token string) {
	if token == "" {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if !slices.Contains(t.list, token) {
		t.list = append(t.list, token)
	}
}

func (t *tokens) all() []string {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return slices.Clone(t.list)
}
