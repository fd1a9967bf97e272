package server

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"go.lsp.dev/jsonrpc2"
	"go.lsp.dev/protocol"

	"timon.dev/timon/lsp/complete"
)

// The acceptance signal. Every suggestion returned (an inline completion,
// a completion item) counts as shown and carries the command
// timon.accepted {id, language, kind}, which the editor runs when the
// user accepts it (VS Code for inline completions and items; clients that
// ignore an item's command, such as Neovim 0.7's omnifunc, count shown
// only). The counts, never content, go to ReportSuggestions.

// defaultSuggestionsEvery is how often the counts are reported.
const defaultSuggestionsEvery = time.Minute

// acceptCommand counts a suggestion shown in language and returns the
// command its acceptance runs.
func (s *Server) acceptCommand(language, kind string) protocol.Command {
	id := s.tally.Shown(language)
	return protocol.Command{
		Title:     "timon: suggestion accepted",
		Command:   complete.AcceptedCommand,
		Arguments: []protocol.LSPAny{mustJSON(complete.Acceptance{ID: id, Language: language, Kind: kind})},
	}
}

// accepted runs timon.accepted: it counts the acceptance of a suggestion
// this session showed (once; another id is ignored) and answers at once.
func (s *Server) accepted(p *protocol.ExecuteCommandParams) (protocol.LSPAny, error) {
	var a complete.Acceptance
	if len(p.Arguments) != 1 || json.Unmarshal(p.Arguments[0], &a) != nil || a.ID == "" {
		return nil, jsonrpc2.NewError(jsonrpc2.InvalidParams, fmt.Sprintf("%s takes one argument {id, language, kind}", complete.AcceptedCommand))
	}
	if lang, ok := s.tally.Accepted(a.ID); ok {
		kind := a.Kind
		if kind != complete.KindInline && kind != complete.KindItem {
			kind = "unknown"
		}
		s.log.Info("suggestion accepted", "language", lang, "kind", kind)
	} else {
		s.log.Debug("acceptance of an unknown or already counted suggestion")
	}
	return nil, nil
}

// reportSuggestions reports the counts periodically until ctx ends.
func (s *Server) reportSuggestions(ctx context.Context) {
	if s.o.ReportSuggestions == nil {
		return
	}
	every := s.o.SuggestionsEvery
	if every <= 0 {
		every = defaultSuggestionsEvery
	}
	s.tally.Run(ctx, every, func(err error) {
		s.log.Warn("reporting suggestion counts; they are kept for the next report", "err", err)
	})
}

// flushSuggestions reports what is left, at shutdown (within 3 seconds).
func (s *Server) flushSuggestions(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Second)
	defer cancel()
	if err := s.tally.Flush(ctx); err != nil {
		s.log.Warn("reporting suggestion counts at shutdown", "err", err)
	}
}
