// Package server is timon lsp's language server: thin LSP handlers over
// the features of lsp/complete (completion) and lsp/actions (code actions,
// LaTeX rewrites), with the documents of lsp/document, the ignore rules of
// lsp/ignore, and a core.Assistant (the governed engine in local mode, the
// hub's client in remote mode) behind them.
//
// Dispatch. go.lsp.dev/protocol's NewServer releases every message,
// notifications included, for concurrent handling, which lets a didChange
// overtake the didOpen or didChange before it. This server uses its own
// handler chain instead: notifications run in wire order on the read loop
// (they are quick and never wait for the client), every request is
// released to run concurrently once the documents as they stand at its
// arrival are captured, so a slow model never holds up typing, and
// $/cancelRequest (numeric or string id) cancels the request it names.
package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.lsp.dev/jsonrpc2"
	"go.lsp.dev/protocol"

	"timon.dev/timon/core"
	"timon.dev/timon/lsp/complete"
	"timon.dev/timon/lsp/document"
	"timon.dev/timon/lsp/ignore"
)

// Options configure a server.
type Options struct {
	// Assistant answers every request; required.
	Assistant core.Assistant
	// Principal is who asks (local mode); remote mode's hub takes it from
	// the token and only Integration matters.
	Principal core.Principal

	// Completion settings (see config.LSP): zero values mean the
	// defaults of lsp/complete.
	PrefixTokens, SuffixTokens int
	CompletionMaxTokens        int
	Debounce, MaxDebounce      time.Duration
	ProseCompletion            bool

	// Ignore adds gitignore-style patterns to .timonignore and the
	// defaults.
	Ignore []string

	// Glossary is the institution's translation glossary (config
	// lsp.glossary; source French, target English), followed before the
	// project's .timon/glossary.tsv.
	Glossary []core.GlossaryTerm
	// PlainRewrites sends rewrites as plain edits even to clients that
	// could preview them (lsp.preview_rewrites: false); by default a
	// rewrite's edits carry a change annotation that needs confirmation
	// where the client supports change annotations.
	PlainRewrites bool

	// ReportSuggestions receives the counts of completion suggestions
	// shown and accepted (by language, no content) every SuggestionsEvery
	// (zero: a minute) and at shutdown; nil keeps them in the session.
	ReportSuggestions func(ctx context.Context, counts []core.SuggestionCount) error
	SuggestionsEvery  time.Duration

	// OnShutdown runs when the client asks the server to shut down,
	// before it answers: the place to flush the journal, since some
	// clients kill the server as soon as it exits.
	OnShutdown func(ctx context.Context) error

	Version string
	Logger  *slog.Logger
}

// ErrNoShutdown is returned by Serve when the client went away or said
// exit without asking for a shutdown first (the process should exit 1).
var ErrNoShutdown = errors.New("the client left without a shutdown request")

// Server is one LSP session.
type Server struct {
	protocol.UnimplementedServer

	o      Options
	log    *slog.Logger
	conn   jsonrpc2.Conn
	client protocol.Client
	docs   *document.Store
	comp   *complete.Completer
	latex  *latexProject // the writer's definitions and glossary (latexctx.go)
	cites  *citeState    // the project's bibliographies (cite.go)
	tally  *complete.Tally

	work     context.Context // ends at shutdown or exit: all model calls stop
	stopWork context.CancelFunc
	bg       sync.WaitGroup // background actions (executeCommand)

	initialized atomic.Bool
	shutdown    atomic.Bool
	exited      chan struct{}
	exitOnce    sync.Once

	// Set by initialize, read-only afterwards.
	caps capabilities

	mu       sync.Mutex
	ignore   *ignore.Matcher
	roots    []string
	progress map[string]context.CancelFunc // progress token → cancel
	calls    map[string]context.CancelFunc // request id → cancel
	stopping bool                          // no more background work
	seq      int
	shown    map[core.Kind]time.Time // completion errors last shown
	skipped  map[string]bool         // ignored documents already reported
	noticed  map[string]bool         // completion notices shown: document + "\x00" + notice
}

// capabilities is what the client declared that changes what the server
// does.
type capabilities struct {
	enc              document.Encoding
	inline           bool // textDocument/inlineCompletion
	resolveEdit      bool // codeAction/resolve may fill in the edit
	workDoneProgress bool // window/workDoneProgress/create
	documentChanges  bool // versioned edits in a WorkspaceEdit
	applyEdit        bool // workspace/applyEdit
	watchFiles       bool // workspace/didChangeWatchedFiles, registered dynamically
	dynCompletion    bool // textDocument/completion may be registered dynamically
	annotations      bool // change annotations in a WorkspaceEdit
}

// Serve runs a session over rwc (stdin and stdout for timon lsp) until the
// client says exit or goes away. It returns nil after an orderly shutdown
// and exit, ErrNoShutdown otherwise.
func Serve(ctx context.Context, rwc io.ReadWriteCloser, o Options) error {
	s, err := New(o)
	if err != nil {
		return err
	}
	return s.Serve(ctx, rwc)
}

// New returns a server ready to Serve one session.
func New(o Options) (*Server, error) {
	if o.Assistant == nil {
		return nil, errors.New("lsp server: no assistant")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Principal.Integration == "" {
		o.Principal.Integration = core.IntegrationLSP
	}
	m, err := ignore.New(nil, o.Ignore)
	if err != nil {
		return nil, fmt.Errorf("lsp server: ignore patterns: %w", err)
	}
	s := &Server{
		o: o, log: o.Logger, docs: document.NewStore(), ignore: m,
		exited: make(chan struct{}), progress: map[string]context.CancelFunc{}, calls: map[string]context.CancelFunc{},
		shown: map[core.Kind]time.Time{}, skipped: map[string]bool{}, noticed: map[string]bool{},
		latex: newLaTeXProject(o.Glossary),
	}
	s.cites = newCiteState(s)
	s.comp = complete.New(complete.Options{
		Assistant: o.Assistant, Principal: o.Principal,
		PrefixTokens: o.PrefixTokens, SuffixTokens: o.SuffixTokens, MaxTokens: o.CompletionMaxTokens,
		Debounce: o.Debounce, MaxDebounce: o.MaxDebounce, ProseAuto: o.ProseCompletion, Logger: o.Logger,
	})
	s.tally = complete.NewTally(o.ReportSuggestions)
	return s, nil
}

// Serve runs the session; see the package function.
func (s *Server) Serve(ctx context.Context, rwc io.ReadWriteCloser) error {
	s.work, s.stopWork = context.WithCancel(ctx)
	defer s.stopWork()
	connCtx, connCancel := context.WithCancel(ctx)
	defer connCancel()
	s.conn = jsonrpc2.NewConn(newTolerantStream(rwc, s.log), jsonrpc2.WithCodec(codec{}))
	s.client = protocol.ClientDispatcher(s.conn)
	handler := s.dispatch(protocol.ServerHandler(s, jsonrpc2.MethodNotFoundHandler))
	s.conn.Go(connCtx, handler)
	go s.reportSuggestions(s.work)
	select {
	case <-s.exited:
	case <-s.conn.Done():
	case <-ctx.Done():
	}
	s.stop(3 * time.Second)
	connCancel()
	closed := make(chan struct{})
	go func() { s.conn.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(2 * time.Second):
		// A client that keeps the pipe open without reading: leave.
	}
	if !s.shutdown.Load() {
		s.flushSuggestions(context.Background())
		if s.o.OnShutdown != nil {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := s.o.OnShutdown(sctx); err != nil {
				s.log.Warn("closing after the client left", "err", err)
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return ErrNoShutdown
	}
	return nil
}

// snapshotKey carries the documents as they stood when a request arrived.
type snapshotKey struct{}

// dispatch is the ordering and cancellation middleware described in the
// package comment.
//
// It does not use protocol.CancelHandler: that derives a cancellable
// context from every call's pooled request context, and for a call
// answered without being released (initialize, a refused request) the
// request is recycled while the context package's propagation goroutine
// still reads it (a data race, then a "nil parent" panic, in
// go.lsp.dev/jsonrpc2 v1.0.1). Here a cancellable context is derived only
// for calls that are released, whose requests are never recycled.
func (s *Server) dispatch(next jsonrpc2.Handler) jsonrpc2.Handler {
	return func(ctx context.Context, req *jsonrpc2.Request) (any, error) {
		method := req.Method()
		if method == protocol.MethodCancelRequest {
			s.cancelRequest(req.Params())
			return nil, nil
		}
		if !req.IsCall() {
			if !s.initialized.Load() && method != protocol.MethodExit {
				return nil, nil // before initialize, notifications are dropped
			}
			// In wire order, on the read loop. An error must not end the
			// connection: it is logged.
			if _, err := next(ctx, req); err != nil {
				s.log.Warn("notification failed", "method", method, "err", err)
			}
			return nil, nil
		}
		switch {
		case method == protocol.MethodInitialize:
			if s.initialized.Load() {
				return nil, jsonrpc2.NewError(jsonrpc2.InvalidRequest, "initialize was already received")
			}
			return next(ctx, req)
		case !s.initialized.Load():
			return nil, jsonrpc2.NewError(-32002, "the server is not initialized yet")
		case s.shutdown.Load():
			return nil, jsonrpc2.NewError(jsonrpc2.InvalidRequest, "the server is shutting down")
		}
		// Register for $/cancelRequest before the read loop moves on.
		key := idKey(req.ID())
		cctx, cancel := context.WithCancel(context.WithValue(ctx, snapshotKey{}, s.docs.Snapshot()))
		s.mu.Lock()
		s.calls[key] = cancel
		s.mu.Unlock()
		jsonrpc2.Async(ctx)
		defer func() {
			s.mu.Lock()
			delete(s.calls, key)
			s.mu.Unlock()
			cancel()
		}()
		return next(cctx, req)
	}
}

// idKey is a request id as a map key: numeric and string ids differ.
func idKey(id jsonrpc2.ID) string {
	if n, ok := id.Number(); ok {
		return "n" + strconv.FormatInt(n, 10)
	}
	v, _ := id.StringValue()
	return "s" + v
}

// cancelRequest cancels the call a $/cancelRequest names, by numeric or
// string id; an unknown or finished id is ignored.
func (s *Server) cancelRequest(params []byte) {
	var p protocol.CancelParams
	if err := protocol.Unmarshal(params, &p); err != nil {
		s.log.Debug("malformed $/cancelRequest", "err", err)
		return
	}
	var key string
	switch id := p.ID.(type) {
	case protocol.Integer:
		key = "n" + strconv.FormatInt(int64(id), 10)
	case protocol.String:
		key = "s" + string(id)
	default:
		return
	}
	s.mu.Lock()
	cancel := s.calls[key]
	s.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// background runs f in a goroutine that shutdown waits for; it reports
// false, running nothing, once the server is stopping.
func (s *Server) background(f func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping {
		return false
	}
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		f()
	}()
	return true
}

// stop stops the work in flight and waits (at most wait) for the
// background actions to end.
func (s *Server) stop(wait time.Duration) {
	s.mu.Lock()
	s.stopping = true
	s.mu.Unlock()
	s.stopWork()
	done := make(chan struct{})
	go func() { s.bg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(wait):
		s.log.Warn("some actions were still running when the server stopped")
	}
}

// joinWork returns a context that ends with ctx or when the server stops
// working (shutdown, exit).
func (s *Server) joinWork(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(s.work, cancel)
	return ctx, func() { stop(); cancel() }
}

// doc returns the document uri as it stood when the request in ctx
// arrived (the current one outside requests), nil if it is not open.
func (s *Server) doc(ctx context.Context, uri string) *document.Doc {
	if snap, ok := ctx.Value(snapshotKey{}).(map[string]*document.Doc); ok {
		return snap[uri]
	}
	return s.docs.Get(uri)
}

// codec is go.lsp.dev/protocol's union-aware payload codec (which the
// package installs only through NewServer).
type codec struct{}

func (codec) Marshal(v any) ([]byte, error) {
	switch m := v.(type) {
	case jsonrpc2.RawMessage:
		if m == nil {
			return []byte("null"), nil
		}
		return m, nil
	case *jsonrpc2.RawMessage:
		if m == nil || *m == nil {
			return []byte("null"), nil
		}
		return *m, nil
	}
	return protocol.Marshal(v)
}

func (codec) Unmarshal(data []byte, v any) error {
	if p, ok := v.(*jsonrpc2.RawMessage); ok {
		*p = append(jsonrpc2.RawMessage(nil), data...)
		return nil
	}
	return protocol.Unmarshal(data, v)
}
