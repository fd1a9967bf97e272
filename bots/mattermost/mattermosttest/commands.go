package mattermosttest

import (
	"net/http"
	"slices"

	"github.com/mattermost/mattermost/server/public/model"
)

// Custom slash commands, as the server manages them:
//
//	GET  /api/v4/users/{user_id}/teams       (the one team: TeamID)
//	GET  /api/v4/commands?team_id=…&custom_only=true
//	POST /api/v4/commands
//	PUT  /api/v4/commands/{command_id}
//
// Commands are checked by model.Command.IsValid (autocomplete data
// included, with model.AutocompleteData.IsValid) and a trigger is unique
// in its team. As on a real server, the autocomplete data is not stored
// for a custom command (model.Command.AutocompleteData is db:"-"): lists
// return commands without it; AutocompleteSent keeps what was sent.

// commandStore is the fake's slash commands; the caller holds s.mu.
type commandStore struct {
	byID map[string]*model.Command
	sent map[string]*model.AutocompleteData // command id → last autocomplete data sent
}

func (s *Server) commandRoutes(api func(string, func(http.ResponseWriter, *http.Request, string))) {
	api("GET /api/v4/users/{user_id}/teams", s.getTeams)
	api("GET /api/v4/commands", s.listCommands)
	api("POST /api/v4/commands", s.createCommand)
	api("PUT /api/v4/commands/{command_id}", s.updateCommand)
}

func (s *Server) commandsLocked() *commandStore {
	if s.cmds == nil {
		s.cmds = &commandStore{byID: map[string]*model.Command{}, sent: map[string]*model.AutocompleteData{}}
	}
	return s.cmds
}

// Commands returns copies of the custom slash commands (deleted ones
// included), oldest first.
func (s *Server) Commands() []*model.Command {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*model.Command
	for _, c := range s.commandsLocked().byID {
		cc := *c
		out = append(out, &cc)
	}
	slices.SortFunc(out, func(a, b *model.Command) int { return int(a.CreateAt - b.CreateAt) })
	return out
}

// AutocompleteSent returns the autocomplete data last sent for a command
// (created or updated), nil if none.
func (s *Server) AutocompleteSent(commandID string) *model.AutocompleteData {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.commandsLocked().sent[commandID]
}

// AddCommand stores a command as an administrator would have created it
// by hand (PreSave fills its id, token and times).
func (s *Server) AddCommand(c *model.Command) *model.Command {
	s.mu.Lock()
	defer s.mu.Unlock()
	c.PreSave()
	cc := *c
	cc.AutocompleteData = nil
	s.commandsLocked().byID[c.Id] = &cc
	return c
}

func (s *Server) getTeams(w http.ResponseWriter, r *http.Request, user string) {
	id := r.PathValue("user_id")
	if id == "me" {
		id = user
	}
	if id != user {
		writeError(w, http.StatusForbidden, "api.context.permissions.app_error", "You do not have the appropriate permissions.")
		return
	}
	writeJSON(w, http.StatusOK, []*model.Team{{Id: TeamID, Name: TeamName, DisplayName: "Team Awesome", Type: model.TeamOpen}})
}

func (s *Server) listCommands(w http.ResponseWriter, r *http.Request, user string) {
	q := r.URL.Query()
	if q.Get("team_id") != TeamID {
		writeError(w, http.StatusForbidden, "api.context.permissions.app_error", "You do not have the appropriate permissions.")
		return
	}
	s.mu.Lock()
	out := []*model.Command{}
	for _, c := range s.commandsLocked().byID {
		if c.TeamId == TeamID && c.DeleteAt == 0 {
			cc := *c
			out = append(out, &cc)
		}
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b *model.Command) int { return int(a.CreateAt - b.CreateAt) })
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) createCommand(w http.ResponseWriter, r *http.Request, user string) {
	var c model.Command
	if !decode(r, &c) {
		writeError(w, http.StatusBadRequest, "api.context.invalid_body_param.app_error", "Invalid or missing command in request body.")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.commandsLocked()
	for _, o := range st.byID {
		if o.TeamId == c.TeamId && o.Trigger == c.Trigger && o.DeleteAt == 0 {
			writeError(w, http.StatusBadRequest, "api.command.duplicate_trigger.app_error", "This trigger word is already in use. Please choose another word.")
			return
		}
	}
	c.Id, c.Token, c.CreatorId, c.PluginId, c.DeleteAt = "", "", user, "", 0
	c.PreSave()
	if aerr := c.IsValid(); aerr != nil {
		writeError(w, aerr.StatusCode, aerr.Id, aerr.Error())
		return
	}
	st.sent[c.Id] = c.AutocompleteData
	stored := c
	stored.AutocompleteData = nil
	st.byID[c.Id] = &stored
	s.notify()
	writeJSON(w, http.StatusCreated, &stored)
}

func (s *Server) updateCommand(w http.ResponseWriter, r *http.Request, user string) {
	var c model.Command
	if !decode(r, &c) || c.Id != r.PathValue("command_id") {
		writeError(w, http.StatusBadRequest, "api.context.invalid_body_param.app_error", "Invalid or missing command in request body.")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.commandsLocked()
	old, ok := st.byID[c.Id]
	if !ok || old.DeleteAt != 0 {
		writeError(w, http.StatusNotFound, "app.command.getcommand.app_error", "Unable to get the command.")
		return
	}
	if c.TeamId != old.TeamId {
		writeError(w, http.StatusBadRequest, "api.command.team_mismatch.app_error", "Unable to update commands across teams.")
		return
	}
	// The server keeps what the caller may not change.
	c.Token, c.CreateAt, c.CreatorId, c.PluginId, c.DeleteAt = old.Token, old.CreateAt, old.CreatorId, old.PluginId, 0
	c.PreUpdate()
	if aerr := c.IsValid(); aerr != nil {
		writeError(w, aerr.StatusCode, aerr.Id, aerr.Error())
		return
	}
	st.sent[c.Id] = c.AutocompleteData
	stored := c
	stored.AutocompleteData = nil
	st.byID[c.Id] = &stored
	s.notify()
	writeJSON(w, http.StatusOK, &stored)
}
