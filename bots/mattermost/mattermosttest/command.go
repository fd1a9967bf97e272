package mattermosttest

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/mattermost/mattermost/server/public/model"
)

// Command is a slash command a user runs.
type Command struct {
	UserID, ChannelID string
	// RootID is the thread it is run in ("" for none): response URL
	// messages go there.
	RootID string
	// Trigger is the command word; zero means "/timon".
	Trigger string
	Text    string
}

// CommandResult is what the integration answered.
type CommandResult struct {
	Status int
	// Response is the decoded answer (nil when the status is not 200).
	Response *model.CommandResponse
	// Body is the raw answer.
	Body []byte
	// ResponseURL and TriggerID are those sent with the command.
	ResponseURL, TriggerID string
}

// SlashCommand runs a slash command as the server does: it posts the form
// fields of shared/fixtures/mattermost/slash_command.form.txt to endpoint,
// with the headers of slash_command.headers ("Authorization: Token
// TOKEN"), a fresh trigger id and a response URL served by s.
func (s *Server) SlashCommand(ctx context.Context, endpoint, token string, c Command) (*CommandResult, error) {
	s.mu.Lock()
	u, ok := s.users[c.UserID]
	ch, cok := s.channels[c.ChannelID]
	s.mu.Unlock()
	if !ok || !cok {
		return nil, fmt.Errorf("mattermosttest: unknown user %q or channel %q", c.UserID, c.ChannelID)
	}
	trigger := c.Trigger
	if trigger == "" {
		trigger = "/timon"
	}
	res := &CommandResult{
		ResponseURL: s.NewCommandHook(c.UserID, c.ChannelID, c.RootID),
		// The server's trigger ids are base64 of id:user:time:signature.
		TriggerID: base64.StdEncoding.EncodeToString([]byte(model.NewId() + ":" + c.UserID + ":" + fmt.Sprint(model.GetMillis()) + ":" + model.NewRandomString(40))),
	}
	form := url.Values{
		"channel_id":   {c.ChannelID},
		"channel_name": {ch.Name},
		"command":      {trigger},
		"response_url": {res.ResponseURL},
		"team_domain":  {TeamName},
		"team_id":      {ch.TeamId},
		"text":         {c.Text},
		"token":        {token},
		"trigger_id":   {res.TriggerID},
		"user_id":      {c.UserID},
		"user_name":    {u.Username},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("mattermosttest: slash command: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Token "+token)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", "Mattermost-Bot/1.1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("mattermosttest: slash command: %w", err)
	}
	defer resp.Body.Close()
	res.Status = resp.StatusCode
	if res.Body, err = io.ReadAll(io.LimitReader(resp.Body, maxBody)); err != nil {
		return nil, fmt.Errorf("mattermosttest: reading the slash command's answer: %w", err)
	}
	if res.Status == http.StatusOK {
		if res.Response, err = model.CommandResponseFromHTTPBody(resp.Header.Get("Content-Type"), strings.NewReader(string(res.Body))); err != nil {
			return nil, fmt.Errorf("mattermosttest: decoding the slash command's answer: %w", err)
		}
	}
	return res, nil
}
