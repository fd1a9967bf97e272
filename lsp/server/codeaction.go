package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.lsp.dev/jsonrpc2"
	"go.lsp.dev/protocol"
	"go.lsp.dev/uri"

	"timon.dev/timon/core"
	"timon.dev/timon/lsp/actions"
	"timon.dev/timon/lsp/complete"
	"timon.dev/timon/lsp/document"
)

// Args are the arguments of every timon.* command (the first and only
// element of workspace/executeCommand's arguments) and the data of an
// unresolved code action. Editors may run the commands themselves, for
// instance to pass the user's own instruction:
//
//	{"uri": "file:///p/paper.tex", "range": {…}, "instruction": "for a general audience"}
//
// An empty range in a LaTeX file means the paragraph at that position.
type Args struct {
	URI         string         `json:"uri"`
	Range       protocol.Range `json:"range"`
	Version     int32          `json:"version,omitempty"` // the version the range refers to; 0: the current one
	Instruction string         `json:"instruction,omitempty"`
	Action      actions.ID     `json:"action,omitempty"` // in code action data only
}

// CodeAction lists the actions for a selection. Nothing reaches the model
// here: the work happens when the user picks one (resolve or command).
func (s *Server) CodeAction(ctx context.Context, p *protocol.CodeActionParams) ([]protocol.CommandOrCodeAction, error) {
	u := string(p.TextDocument.URI)
	d := s.doc(ctx, u)
	if d == nil {
		return nil, nil
	}
	if ign, why := s.ignored(u); ign {
		s.showIgnored(ctx, u, why)
		return nil, nil
	}
	start, end := d.Offsets(p.Range, s.caps.enc)
	isTeX := actions.IsLaTeX(d.Language, u)
	if _, _, ok := actions.Target(d.Text, start, end, isTeX); !ok {
		return nil, nil
	}
	var out []protocol.CommandOrCodeAction
	for _, spec := range actions.Offered(d.Language, u, start == end) {
		kind := protocol.CodeActionKind(spec.Group)
		if !wanted(kind, p.Context.Only) {
			continue
		}
		args := Args{URI: u, Range: p.Range, Version: d.Version}
		a := &protocol.CodeAction{Title: spec.Title, Kind: &kind, Tags: []protocol.CodeActionTag{protocol.CodeActionTagLLMGenerated}}
		if s.caps.resolveEdit && spec.Edits {
			args.Action = spec.ID
			a.Data = mustJSON(args)
		} else {
			a.Command = protocol.Command{Title: spec.Title, Command: spec.Command(), Arguments: []protocol.LSPAny{mustJSON(args)}}
		}
		out = append(out, a)
	}
	if a := s.citeAction(d, p.Range, p.Context.Only); a != nil {
		out = append(out, a)
	}
	return out, nil
}

// wanted applies a code action request's "only" filter.
func wanted(kind protocol.CodeActionKind, only []protocol.CodeActionKind) bool {
	if len(only) == 0 {
		return true
	}
	for _, o := range only {
		if kind == o || strings.HasPrefix(string(kind), string(o)+".") {
			return true
		}
	}
	return false
}

func mustJSON(v any) protocol.LSPAny {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // Args always encodes
	}
	return protocol.LSPAny(b)
}

// CodeActionResolve fills in the edit of the action the user picked: the
// model is asked now, with progress shown, and the request can be
// canceled. A failure is shown and the action comes back without an edit.
func (s *Server) CodeActionResolve(ctx context.Context, a *protocol.CodeAction) (*protocol.CodeAction, error) {
	var args Args
	if len(a.Data) == 0 || json.Unmarshal(a.Data, &args) != nil || args.Action == "" {
		return a, nil // not ours to resolve (a command action)
	}
	spec, ok := actions.Lookup(args.Action)
	if !ok || !spec.Edits {
		return nil, jsonrpc2.NewError(jsonrpc2.InvalidParams, fmt.Sprintf("unknown action %q", args.Action))
	}
	wctx, cancel := s.joinWork(ctx)
	defer cancel()
	what := strings.TrimPrefix(spec.Title, "timon: ")
	edit, resp, err := s.perform(wctx, spec, args)
	switch {
	case err == nil:
		a.Edit = edit
		s.showNotices(ctx, what, resp.Notices)
	case ctx.Err() != nil:
		return nil, protocol.ErrRequestCancelled
	default:
		s.showError(ctx, what, err)
	}
	return a, nil
}

// ExecuteCommand starts the action and answers at once (Emacs' eglot gives
// up on a request after 10 seconds); the edit follows as
// workspace/applyEdit, an explanation as window/showMessage.
func (s *Server) ExecuteCommand(ctx context.Context, p *protocol.ExecuteCommandParams) (protocol.LSPAny, error) {
	if p.Command == complete.AcceptedCommand {
		return s.accepted(p)
	}
	spec, ok := actions.ByCommand(p.Command)
	if !ok {
		return nil, jsonrpc2.NewError(jsonrpc2.InvalidParams, fmt.Sprintf("unknown command %q", p.Command))
	}
	if len(p.Arguments) != 1 {
		return nil, jsonrpc2.NewError(jsonrpc2.InvalidParams, fmt.Sprintf("%s takes one argument {uri, range, instruction?}", p.Command))
	}
	var args Args
	if err := json.Unmarshal(p.Arguments[0], &args); err != nil || args.URI == "" {
		return nil, jsonrpc2.NewError(jsonrpc2.InvalidParams, fmt.Sprintf("%s: expected {uri, range, instruction?} as argument", p.Command))
	}
	if s.docs.Get(args.URI) == nil {
		return nil, jsonrpc2.NewError(jsonrpc2.InvalidParams, fmt.Sprintf("%s: %s is not open", p.Command, args.URI))
	}
	if spec.Edits && !s.caps.applyEdit {
		return nil, jsonrpc2.NewError(jsonrpc2.InvalidRequest, "this client cannot apply edits sent by the server (workspace/applyEdit)")
	}
	if !s.background(func() { s.runCommand(s.work, spec, args) }) {
		return nil, jsonrpc2.NewError(jsonrpc2.InvalidRequest, "the server is shutting down")
	}
	return nil, nil
}

// runCommand performs an action in the background and delivers its
// result.
func (s *Server) runCommand(ctx context.Context, spec actions.Spec, args Args) {
	what := strings.TrimPrefix(spec.Title, "timon: ")
	edit, resp, err := s.perform(ctx, spec, args)
	// Logged once the result (an edit, a message, or nothing) is delivered.
	defer s.log.Info("action done", "action", string(spec.ID), "edit", edit != nil, "error", string(core.ErrorKind(err)))
	if err == nil {
		s.showNotices(ctx, what, resp.Notices)
	}
	switch {
	case err != nil:
		if s.work.Err() == nil {
			s.showError(ctx, what, err)
		}
	case !spec.Edits:
		s.notify(ctx, protocol.MessageTypeInfo, "timon — "+resp.Text, false)
	case edit == nil:
		s.notify(ctx, protocol.MessageTypeInfo, "timon: "+what+": nothing to change", false)
	default:
		label := "timon: " + what
		// Emacs 28's jsonrpc may read this request in the same chunk as
		// the answer to executeCommand and leave it unprocessed until
		// something else arrives: nudge it with a log line if it is slow
		// to answer.
		nudge := time.AfterFunc(time.Second, func() {
			s.client.LogMessage(context.WithoutCancel(ctx), &protocol.LogMessageParams{Type: protocol.MessageTypeLog, Message: "timon: waiting for the editor to apply " + what})
		})
		res, err := s.client.ApplyEdit(ctx, &protocol.ApplyWorkspaceEditParams{Label: &label, Edit: *edit})
		nudge.Stop()
		switch {
		case err != nil:
			s.log.Warn("applying an edit", "err", err)
		case !res.Applied:
			reason := "the editor refused it"
			if res.FailureReason != nil {
				reason = *res.FailureReason
			}
			s.notify(ctx, protocol.MessageTypeWarning, fmt.Sprintf("timon: %s was not applied: %s", what, reason), false)
		}
	}
}

// errChanged is the error of an action whose text changed meanwhile.
var errChanged = errors.New("the text changed while timon was working; run the action again")

// perform runs action spec on args with progress: it returns the edit
// (for editing actions, nil when nothing changes) and the assistant's
// answer (its text is the explanation of explain; its notices, a
// moderation warning, are for the user).
func (s *Server) perform(ctx context.Context, spec actions.Spec, args Args) (*protocol.WorkspaceEdit, *core.Response, error) {
	d := s.docs.Get(args.URI)
	if d == nil {
		return nil, nil, core.Errorf(core.KindInvalid, "%s is not open", s.displayPath(args.URI))
	}
	if args.Version != 0 && args.Version != d.Version {
		return nil, nil, core.Errorf(core.KindInvalid, "the document changed since the action was offered; choose it again")
	}
	if ign, why := s.ignored(args.URI); ign {
		return nil, nil, core.Errorf(core.KindDenied, "%s is never sent to the assistant (%s)", s.displayPath(args.URI), why)
	}
	isTeX := actions.IsLaTeX(d.Language, args.URI)
	start, end := d.Offsets(args.Range, s.caps.enc)
	start, end, ok := actions.Target(d.Text, start, end, isTeX)
	if !ok {
		return nil, nil, core.Errorf(core.KindInvalid, "select some text first")
	}
	if spec.LaTeX != isTeX {
		return nil, nil, core.Errorf(core.KindInvalid, "%s is for %s", spec.Title, map[bool]string{true: "LaTeX files", false: "code"}[spec.LaTeX])
	}
	if spec.ID == actions.Cite {
		return s.performCite(ctx, args, d, start, end)
	}

	ctx, done := s.beginProgress(ctx, spec.Title)
	defer done()
	req := actions.Request(spec, d.Text[start:end], args.Instruction,
		core.Origin{Path: s.displayPath(args.URI), Language: d.Language}, s.o.Principal)
	req.LaTeX = s.latexContext(ctx, spec, d.Text, args.URI)
	resp, err := s.o.Assistant.Do(ctx, req)
	if err != nil {
		return nil, nil, err
	}
	if !spec.Edits {
		return nil, resp, nil
	}
	edits := actions.Edits(spec, d.Text, start, end, resp.Text)
	if len(edits) == 0 {
		return nil, resp, nil
	}
	// Positions are computed on the document as it is now: it may have
	// changed after the target (fine) but not before its end.
	cur := s.docs.Get(args.URI)
	if cur == nil || len(cur.Text) < end || cur.Text[:end] != d.Text[:end] {
		return nil, nil, errChanged
	}
	var note *protocol.ChangeAnnotation
	if s.previewing() {
		n := rewriteNote(spec, d.Text[start:end], resp.Redactions)
		note = &n
	}
	return s.workspaceEdit(cur, edits, note), resp, nil
}

// workspaceEdit makes one WorkspaceEdit of edits on d: versioned when the
// client supports it, so that an editor refuses it on a changed buffer,
// and with every edit under the change annotation note when there is one
// (previewed rewrites: only with versioned edits).
func (s *Server) workspaceEdit(d *document.Doc, edits []actions.Edit, note *protocol.ChangeAnnotation) *protocol.WorkspaceEdit {
	tes := make([]protocol.TextEdit, len(edits))
	for i, e := range edits {
		tes[i] = protocol.TextEdit{Range: d.Range(e.Start, e.End, s.caps.enc), NewText: e.NewText}
	}
	if s.caps.documentChanges {
		elems := make([]protocol.TextDocumentEditElement, len(tes))
		for i := range tes {
			if note != nil {
				elems[i] = &protocol.AnnotatedTextEdit{TextEdit: tes[i], AnnotationID: RewriteAnnotation}
			} else {
				elems[i] = &tes[i]
			}
		}
		v := d.Version
		we := &protocol.WorkspaceEdit{DocumentChanges: []protocol.DocumentChange{&protocol.TextDocumentEdit{
			TextDocument: protocol.OptionalVersionedTextDocumentIdentifier{
				TextDocumentIdentifier: protocol.TextDocumentIdentifier{URI: uri.URI(d.URI)}, Version: &v,
			},
			Edits: elems,
		}}}
		if note != nil {
			we.ChangeAnnotations = map[protocol.ChangeAnnotationIdentifier]protocol.ChangeAnnotation{RewriteAnnotation: *note}
		}
		return we
	}
	return &protocol.WorkspaceEdit{Changes: map[uri.URI][]protocol.TextEdit{uri.URI(d.URI): tes}}
}
