package server

import (
	"context"
	"path/filepath"
	"slices"
	"time"

	"go.lsp.dev/protocol"
	"go.lsp.dev/uri"

	"timon.dev/timon/lsp/actions"
	"timon.dev/timon/lsp/complete"
	"timon.dev/timon/lsp/document"
	"timon.dev/timon/lsp/ignore"
)

// Initialize reads what the client can do and says what the server does.
func (s *Server) Initialize(ctx context.Context, p *protocol.InitializeParams) (*protocol.InitializeResult, error) {
	c := p.Capabilities
	var offered []protocol.PositionEncodingKind
	if c.General != nil {
		offered = c.General.PositionEncodings
	}
	s.caps.enc = document.Negotiate(offered)
	if td := c.TextDocument; td != nil {
		s.caps.inline = td.InlineCompletion != nil
		s.caps.dynCompletion = td.Completion != nil && td.Completion.DynamicRegistration != nil && *td.Completion.DynamicRegistration
		if td.CodeAction != nil {
			s.caps.resolveEdit = slices.Contains(td.CodeAction.ResolveSupport.Properties, "edit")
		}
	}
	if w := c.Window; w != nil && w.WorkDoneProgress != nil {
		s.caps.workDoneProgress = *w.WorkDoneProgress
	}
	if ws := c.Workspace; ws != nil {
		s.caps.applyEdit = ws.ApplyEdit != nil && *ws.ApplyEdit
		if we := ws.WorkspaceEdit; we != nil && we.DocumentChanges != nil {
			s.caps.documentChanges = *we.DocumentChanges
		}
		if w := ws.DidChangeWatchedFiles; w != nil && w.DynamicRegistration != nil {
			s.caps.watchFiles = *w.DynamicRegistration
		}
		if we := ws.WorkspaceEdit; we != nil {
			s.caps.annotations = we.ChangeAnnotationSupport != nil
		}
	}

	var roots []string
	if folders, ok := p.WorkspaceFolders.Get(); ok {
		for _, f := range folders {
			if path, ok := fsPath(string(f.URI)); ok {
				roots = append(roots, path)
			}
		}
	}
	// Clients that predate workspace folders send only these.
	//lint:ignore SA1019 read only when the client sends no workspace folder
	rootURI, rootPath := p.RootURI, p.RootPath
	if len(roots) == 0 && rootURI != nil {
		if path, ok := fsPath(string(*rootURI)); ok {
			roots = append(roots, path)
		}
	}
	if len(roots) == 0 {
		if rp, ok := rootPath.Get(); ok && rp != "" {
			roots = append(roots, filepath.Clean(rp))
		}
	}
	if err := s.setRoots(roots); err != nil {
		return nil, err
	}

	var commands []string
	var kinds []protocol.CodeActionKind
	for _, a := range actions.All() {
		commands = append(commands, a.Command())
		if k := protocol.CodeActionKind(a.Group); !slices.Contains(kinds, k) {
			kinds = append(kinds, k)
		}
	}
	commands = append(commands, complete.AcceptedCommand)
	resolve := s.caps.resolveEdit
	change := protocol.TextDocumentSyncKindIncremental
	caps := protocol.ServerCapabilities{
		PositionEncoding: s.caps.enc.Kind(),
		TextDocumentSync: &protocol.TextDocumentSyncOptions{OpenClose: ptr(true), Change: &change},
		CodeActionProvider: &protocol.CodeActionOptions{
			CodeActionKinds: kinds, ResolveProvider: &resolve,
		},
		ExecuteCommandProvider: protocol.ExecuteCommandOptions{Commands: commands},
		HoverProvider:          protocol.Boolean(true), // citation keys (cite.go)
	}
	if s.caps.inline {
		caps.InlineCompletionProvider = &protocol.InlineCompletionOptions{}
	} else {
		caps.CompletionProvider = &protocol.CompletionOptions{TriggerCharacters: []string{".", "(", "{", "[", ",", " ", "\n"}}
	}
	s.log.Info("initialized", "client", p.ClientInfo.Name, "encoding", string(s.caps.enc.Kind()), "inline", s.caps.inline,
		"resolve", s.caps.resolveEdit, "progress", s.caps.workDoneProgress, "roots", len(roots))
	s.initialized.Store(true)
	return &protocol.InitializeResult{
		Capabilities: caps,
		ServerInfo:   protocol.ServerInfo{Name: "timon", Version: protocol.NewOptional(s.o.Version)},
	}, nil
}

func ptr[T any](v T) *T { return &v }

// setRoots replaces the workspace roots the ignore rules apply from.
func (s *Server) setRoots(roots []string) error {
	m, err := ignore.New(roots, s.o.Ignore)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.roots, s.ignore = roots, m
	s.mu.Unlock()
	return nil
}

// DidChangeWorkspaceFolders follows folders added and removed.
func (s *Server) DidChangeWorkspaceFolders(ctx context.Context, p *protocol.DidChangeWorkspaceFoldersParams) error {
	s.mu.Lock()
	roots := slices.Clone(s.roots)
	s.mu.Unlock()
	for _, f := range p.Event.Removed {
		if path, ok := fsPath(string(f.URI)); ok {
			roots = slices.DeleteFunc(roots, func(r string) bool { return r == path })
		}
	}
	for _, f := range p.Event.Added {
		if path, ok := fsPath(string(f.URI)); ok {
			roots = append(roots, path)
		}
	}
	return s.setRoots(roots)
}

// Shutdown stops the work in flight and flushes (the journal, in local
// mode) before answering: the client may kill the process right after
// exit.
func (s *Server) Shutdown(ctx context.Context) error {
	s.shutdown.Store(true)
	s.stop(3 * time.Second)
	s.flushSuggestions(ctx)
	if s.o.OnShutdown != nil {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := s.o.OnShutdown(sctx); err != nil {
			s.log.Warn("shutdown", "err", err)
		}
	}
	return nil
}

// Exit ends the session.
func (s *Server) Exit(context.Context) error {
	s.exitOnce.Do(func() { close(s.exited) })
	return nil
}

// fsPath returns the file path of a file: URI.
func fsPath(u string) (string, bool) {
	v := uri.URI(u)
	if v.Scheme() != "file" {
		return "", false
	}
	p := v.FsPath()
	if p == "" {
		return "", false
	}
	return filepath.Clean(p), true
}
