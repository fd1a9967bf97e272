package mattermosttest_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/mattermost/mattermost/server/public/model"

	"timon.dev/timon/bots/mattermost/mattermosttest"
)

// The fake refuses what the server refuses: autocomplete data that
// model.AutocompleteData.IsValid rejects, and a trigger already used in
// the team.
func TestCommandsAreValidatedLikeTheServer(t *testing.T) {
	s := mattermosttest.New()
	defer s.Close()
	post := func(c *model.Command) int {
		t.Helper()
		b, _ := json.Marshal(c)
		req, _ := http.NewRequest(http.MethodPost, s.URL()+"/api/v4/commands", bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+s.BotToken())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	cmd := func(sub string) *model.Command {
		ad := model.NewAutocompleteData("timon", "[command]", "timon")
		ad.AddCommand(model.NewAutocompleteData(sub, "<text>", "help"))
		return &model.Command{TeamId: mattermosttest.TeamID, Trigger: "timon", Method: model.CommandMethodPost,
			URL: "https://timon.example.org/mattermost/command", AutoComplete: true, AutocompleteData: ad}
	}
	if code := post(cmd("Ask")); code != http.StatusBadRequest {
		t.Fatalf("an upper-case subcommand: status %d", code)
	}
	if code := post(cmd("ask")); code != http.StatusCreated {
		t.Fatalf("a valid command: status %d", code)
	}
	if code := post(cmd("ask")); code != http.StatusBadRequest {
		t.Fatalf("a duplicate trigger: status %d", code)
	}
	if cs := s.Commands(); len(cs) != 1 || cs[0].AutocompleteData != nil || s.AutocompleteSent(cs[0].Id) == nil {
		t.Fatalf("commands %+v", cs)
	}
}
