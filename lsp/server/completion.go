package server

import (
	"context"
	"errors"
	"strings"
	"unicode"
	"unicode/utf8"

	"go.lsp.dev/protocol"

	"timon.dev/timon/lsp/complete"
	"timon.dev/timon/lsp/document"
)

// Completion answers textDocument/completion for clients without inline
// completion (Neovim, Emacs): one item whose textEdit inserts the
// suggestion. The edit starts at the word being typed, so that clients
// filtering items by that word keep it. Inside a citation command it
// answers the bibliography's keys instead (cite.go), for every client.
func (s *Server) Completion(ctx context.Context, p *protocol.CompletionParams) (protocol.CompletionResult, error) {
	empty := &protocol.CompletionList{IsIncomplete: true, Items: []protocol.CompletionItem{}}
	// Inside a citation command: the bibliography's keys, never the model.
	if list, ok := s.citeCompletion(ctx, string(p.TextDocument.URI), p.Position); ok {
		return list, nil
	}
	if s.caps.inline {
		// Registered for citations only: the model's suggestions come
		// through inline completion.
		return empty, nil
	}
	// No context (Neovim's omnifunc) or Invoked: the user may have asked,
	// so comments and strings are completed too; but nvim-cmp and
	// company-mode send Invoked on every keystroke, so it is debounced
	// like typing.
	invoked := p.Context.TriggerKind == 0 || p.Context.TriggerKind == protocol.CompletionTriggerKindInvoked
	d, off, text, err := s.suggest(ctx, string(p.TextDocument.URI), p.Position, invoked, false)
	if err != nil || text == "" {
		return empty, err
	}
	ws := wordStart(d.Text, off)
	word := d.Text[ws:off]
	newText := word + text
	label := firstLine(strings.TrimLeft(newText, " \t\n"))
	if utf8.RuneCountInString(label) > 60 {
		label = string([]rune(label)[:60]) + "…"
	}
	item := protocol.CompletionItem{
		Label:            label,
		Kind:             protocol.CompletionItemKindText,
		Detail:           protocol.NewOptional("timon"),
		Documentation:    &protocol.MarkupContent{Kind: protocol.MarkupKindMarkdown, Value: "```" + d.Language + "\n" + newText + "\n```"},
		Preselect:        protocol.NewOptional(true),
		SortText:         protocol.NewOptional("0000"),
		FilterText:       protocol.NewOptional(filterText(newText, label)),
		InsertTextFormat: protocol.InsertTextFormatPlainText,
		InsertTextMode:   protocol.InsertTextModeAsIs, // the suggestion is already indented
		TextEdit:         &protocol.TextEdit{Range: d.Range(ws, off, s.caps.enc), NewText: newText},
		Command:          s.itemCommand(d.URI, d.Language, d.Text, ws, newText),
	}
	return &protocol.CompletionList{IsIncomplete: true, Items: []protocol.CompletionItem{item}}, nil
}

// InlineCompletion answers textDocument/inlineCompletion (VS Code).
func (s *Server) InlineCompletion(ctx context.Context, p *protocol.InlineCompletionParams) (protocol.InlineCompletionResult, error) {
	empty := &protocol.InlineCompletionList{Items: []protocol.InlineCompletionItem{}}
	// Inline Invoked is only sent on an explicit request (a key, a
	// command), never while typing: it may skip the rest of the debounce.
	invoked := p.Context.TriggerKind == protocol.InlineCompletionTriggerKindInvoked
	d, off, text, err := s.suggest(ctx, string(p.TextDocument.URI), p.Position, invoked, invoked)
	if err != nil || text == "" {
		return empty, err
	}
	r := d.Range(off, off, s.caps.enc)
	return &protocol.InlineCompletionList{Items: []protocol.InlineCompletionItem{{
		InsertText: protocol.String(text), Range: &r, Command: s.inlineCommand(d.Language),
	}}}, nil
}

// suggest computes the suggestion at pos. A request made pointless by a
// keystroke gets nothing; one canceled by the client gets the
// RequestCancelled error; a failing model or a refusal (moderation)
// gets nothing and, once in a while, a message saying why; a notice
// (moderation's warn) keeps the suggestion and is shown once per document.
func (s *Server) suggest(ctx context.Context, u string, pos protocol.Position, invoked, explicit bool) (*document.Doc, int, string, error) {
	d := s.doc(ctx, u)
	if d == nil {
		return nil, 0, "", nil
	}
	if ign, why := s.ignored(u); ign {
		s.showIgnored(ctx, u, why)
		return nil, 0, "", nil
	}
	off := d.Offset(pos, s.caps.enc)
	wctx, cancel := s.joinWork(ctx)
	defer cancel()
	res, err := s.comp.Complete(wctx, complete.Request{
		URI: u, Path: s.displayPath(u), Language: d.Language, Text: d.Text, Offset: off, Version: d.Version, Invoked: invoked, Explicit: explicit,
	})
	switch {
	case err == nil:
		s.showCompletionNotices(ctx, u, res.Notices)
		return d, off, res.Text, nil
	case errors.Is(err, complete.ErrSuperseded):
		return nil, 0, "", nil
	case ctx.Err() != nil:
		return nil, 0, "", protocol.ErrRequestCancelled
	case s.work.Err() != nil:
		return nil, 0, "", nil
	}
	s.showCompletionError(ctx, err)
	return nil, 0, "", nil
}

// wordStart is the start of the identifier that ends at off.
func wordStart(text string, off int) int {
	i := off
	for i > 0 {
		r, n := utf8.DecodeLastRuneInString(text[:i])
		if r != '_' && !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			break
		}
		i -= n
	}
	return i
}

// filterText is what the client matches the typed word against: the
// suggestion's first line, or its label when that line is empty (the
// suggestion starts on a new line and nothing was typed).
func filterText(newText, label string) string {
	if f := firstLine(newText); f != "" {
		return f
	}
	return label
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
