package server

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"go.lsp.dev/jsonrpc2"
	"go.lsp.dev/protocol"

	"timon.dev/timon/lsp/complete"
)

// The acceptance signal. Every suggestion returned (an inline completion,
// a completion item) counts as shown and carries the command
// timon.accepted {id, language, kind}, which the editor runs when the
// user accepts it (VS Code for inline completions and items, nvim-cmp for
// items). Neovim 0.7's omnifunc and eglot 1.9 ignore an item's command:
// there, an edit that inserts the item's text where it was offered counts
// as its acceptance (each suggestion counts once, whichever comes first).
// The counts, never content, go to ReportSuggestions.

// defaultSuggestionsEvery is how often the counts are reported.
const defaultSuggestionsEvery = time.Minute

// acceptCommand counts a suggestion shown in language and returns the
// command its acceptance runs, and its id.
func (s *Server) acceptCommand(language, kind string) (protocol.Command, string) {
	id := s.tally.Shown(language)
	return protocol.Command{
		Title:     "timon: suggestion accepted",
		Command:   complete.AcceptedCommand,
		Arguments: []protocol.LSPAny{mustJSON(complete.Acceptance{ID: id, Language: language, Kind: kind})},
	}, id
}

// itemCommand is acceptCommand for a completion item inserting newText
// at byte offset start of document uri, whose text before had not: an
// edit that inserts it counts as its acceptance too, for the editors that
// do not run an item's command.
func (s *Server) itemCommand(uri, language, text string, start int, newText string) protocol.Command {
	cmd, id := s.acceptCommand(language, complete.KindItem)
	if !strings.HasPrefix(text[start:], newText) {
		s.tally.Offered(uri, id, start, newText)
	}
	return cmd
}

// inlineCommand is acceptCommand for an inline completion.
func (s *Server) inlineCommand(language string) protocol.Command {
	cmd, _ := s.acceptCommand(language, complete.KindInline)
	return cmd
}

// suggestionChanged counts the acceptance of the suggestion offered in
// document uri when its new text holds it (see complete.Tally.Offered).
func (s *Server) suggestionChanged(uri, text string) {
	if lang, ok := s.tally.Changed(uri, text); ok {
		s.log.Info("suggestion accepted", "language", lang, "kind", "edit")
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
