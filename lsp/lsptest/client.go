// Package lsptest drives a language server over a pipe the way a real
// editor does: LSP header framing, requests with numeric or string ids,
// $/cancelRequest, initialize with the capabilities real clients declare
// (VS Code, Neovim 0.7, Emacs eglot 1.9, a UTF-8 client), documents kept on
// the client side and changed incrementally, server requests answered
// (workspace/applyEdit applied to the client's copy and followed by
// didChange, annotated edits included, an edit needing confirmation
// declined on request as a discarded VS Code preview;
// window/workDoneProgress/create accepted), and notifications
// recorded (window/showMessage, window/logMessage, $/progress,
// textDocument/publishDiagnostics). It also builds the governed engine of
// local mode on fakellm (Engine). It works on any io.ReadWriteCloser: an
// in-process server or the timon binary's stdio.
package lsptest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/textproto"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.lsp.dev/protocol"

	"timon.dev/timon/lsp/document"
)

// wire is one JSON-RPC message.
type wire struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id,omitempty"`
	Method  string          `json:"method,omitempty"`
	Params  json.RawMessage `json:"params,omitempty"`
	Result  json.RawMessage `json:"result,omitempty"`
	Error   *RPCError       `json:"error,omitempty"`
}

// RPCError is a JSON-RPC error answer.
type RPCError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func (e *RPCError) Error() string { return fmt.Sprintf("rpc error %d: %s", e.Code, e.Message) }

// CodeRequestCancelled is the LSP error code of a canceled request.
const CodeRequestCancelled = -32800

// Client is a scripted LSP client. Its methods are safe for concurrent use.
type Client struct {
	t      testing.TB
	rwc    io.ReadWriteCloser
	wmu    sync.Mutex
	nextID int64

	mu       sync.Mutex
	pending  map[string]chan *wire
	docs     map[string]*clientDoc
	enc      document.Encoding
	messages []protocol.ShowMessageParams
	logs     []protocol.LogMessageParams
	progress []Progress
	tokens   []string
	applied  []protocol.ApplyWorkspaceEditParams
	diags    map[string]protocol.PublishDiagnosticsParams // the last published, by URI
	regs     []protocol.Registration                      // client/registerCapability
	stray    []RPCError                                   // error answers to no request of ours (id null)
	refuse   bool                                         // answer applyEdit with applied: false
	decline  bool                                         // decline the preview of edits that need confirmation
	changed  chan struct{}
	closed   chan struct{}
	readErr  error
}

// Progress is one $/progress notification.
type Progress struct {
	Token string
	Kind  string // begin, report, end
	Title string
	// Cancellable is the begin's cancellable.
	Cancellable bool
}

type clientDoc struct {
	lang    string
	version int32
	text    string
}

// New starts a client on rwc (closed by t's cleanup).
func New(t testing.TB, rwc io.ReadWriteCloser) *Client {
	c := &Client{
		t: t, rwc: rwc, pending: map[string]chan *wire{}, docs: map[string]*clientDoc{}, diags: map[string]protocol.PublishDiagnosticsParams{},
		changed: make(chan struct{}), closed: make(chan struct{}),
	}
	go c.read()
	t.Cleanup(func() { rwc.Close() })
	return c
}

func (c *Client) write(m *wire) error {
	m.JSONRPC = "2.0"
	body, err := json.Marshal(m)
	if err != nil {
		return err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_, err = fmt.Fprintf(c.rwc, "Content-Length: %d\r\n\r\n%s", len(body), body)
	return err
}

func (c *Client) read() {
	r := textproto.NewReader(bufio.NewReaderSize(c.rwc, 1<<16))
	defer func() {
		c.mu.Lock()
		for _, ch := range c.pending {
			close(ch)
		}
		c.pending = map[string]chan *wire{}
		c.mu.Unlock()
		close(c.closed)
		c.signal()
	}()
	for {
		h, err := r.ReadMIMEHeader()
		if err != nil {
			c.readErr = err
			return
		}
		n, err := strconv.Atoi(h.Get("Content-Length"))
		if err != nil {
			c.readErr = fmt.Errorf("bad Content-Length %q", h.Get("Content-Length"))
			return
		}
		body := make([]byte, n)
		if _, err := io.ReadFull(r.R, body); err != nil {
			c.readErr = err
			return
		}
		var m wire
		if err := json.Unmarshal(body, &m); err != nil {
			c.readErr = fmt.Errorf("server sent invalid JSON %q: %w", body, err)
			return
		}
		switch {
		case m.Method == "": // a response
			c.mu.Lock()
			ch := c.pending[string(m.ID)]
			delete(c.pending, string(m.ID))
			c.mu.Unlock()
			if ch != nil {
				ch <- &m
			} else if m.Error != nil {
				c.mu.Lock()
				c.stray = append(c.stray, *m.Error)
				c.mu.Unlock()
				c.signal()
			}
		case len(m.ID) > 0: // a request from the server
			go c.serve(&m)
		default:
			c.notification(&m)
		}
	}
}

// signal wakes WaitFor.
func (c *Client) signal() {
	c.mu.Lock()
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()
}

func (c *Client) notification(m *wire) {
	switch m.Method {
	case "window/showMessage":
		var p protocol.ShowMessageParams
		if json.Unmarshal(m.Params, &p) == nil {
			c.mu.Lock()
			c.messages = append(c.messages, p)
			c.mu.Unlock()
		}
	case "window/logMessage":
		var p protocol.LogMessageParams
		if json.Unmarshal(m.Params, &p) == nil {
			c.mu.Lock()
			c.logs = append(c.logs, p)
			c.mu.Unlock()
		}
	case "textDocument/publishDiagnostics":
		var p protocol.PublishDiagnosticsParams
		if protocol.Unmarshal(m.Params, &p) == nil {
			c.mu.Lock()
			c.diags[string(p.URI)] = p
			c.mu.Unlock()
		}
	case "$/progress":
		var p struct {
			Token json.RawMessage `json:"token"`
			Value struct {
				Kind        string `json:"kind"`
				Title       string `json:"title"`
				Cancellable bool   `json:"cancellable"`
			} `json:"value"`
		}
		if json.Unmarshal(m.Params, &p) == nil {
			c.mu.Lock()
			c.progress = append(c.progress, Progress{Token: tokenString(p.Token), Kind: p.Value.Kind, Title: p.Value.Title, Cancellable: p.Value.Cancellable})
			c.mu.Unlock()
		}
	}
	c.signal()
}

func tokenString(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

// serve answers a request from the server as an editor would.
func (c *Client) serve(m *wire) {
	reply := &wire{ID: m.ID}
	switch m.Method {
	case "workspace/applyEdit":
		var p protocol.ApplyWorkspaceEditParams
		if err := protocol.Unmarshal(m.Params, &p); err != nil {
			reply.Error = &RPCError{Code: -32602, Message: err.Error()}
			break
		}
		c.mu.Lock()
		c.applied = append(c.applied, p)
		refuse := c.refuse
		declined := c.decline && NeedsConfirmation(p.Edit)
		c.mu.Unlock()
		res := map[string]any{"applied": false, "failureReason": "refused by the test"}
		if declined {
			// VS Code answers a preview the user discarded without a reason.
			res = map[string]any{"applied": false}
		} else if !refuse {
			if err := c.Apply(p.Edit); err != nil {
				res["failureReason"] = err.Error()
			} else {
				res = map[string]any{"applied": true}
			}
		}
		reply.Result, _ = json.Marshal(res)
	case "window/workDoneProgress/create":
		var p struct {
			Token json.RawMessage `json:"token"`
		}
		json.Unmarshal(m.Params, &p)
		c.mu.Lock()
		c.tokens = append(c.tokens, tokenString(p.Token))
		c.mu.Unlock()
		reply.Result = json.RawMessage("null")
	case "workspace/configuration":
		reply.Result = json.RawMessage("[]")
	case "client/registerCapability", "client/unregisterCapability":
		if m.Method == "client/registerCapability" {
			var p protocol.RegistrationParams
			if protocol.Unmarshal(m.Params, &p) == nil {
				c.mu.Lock()
				c.regs = append(c.regs, p.Registrations...)
				c.mu.Unlock()
			}
		}
		reply.Result = json.RawMessage("null")
	default:
		reply.Error = &RPCError{Code: -32601, Message: "method not found: " + m.Method}
	}
	if err := c.write(reply); err != nil {
		c.t.Logf("lsptest: answering %s: %v", m.Method, err)
	}
	c.signal()
}

// Pending is a request sent and not yet answered.
type Pending struct {
	c  *Client
	id json.RawMessage
	ch chan *wire
}

// Send sends a request with the given id (an int or a string; nil for the
// next number) without waiting for the answer.
func (c *Client) Send(method string, params any, id any) (*Pending, error) {
	if id == nil {
		c.mu.Lock()
		c.nextID++
		id = c.nextID
		c.mu.Unlock()
	}
	rawID, err := json.Marshal(id)
	if err != nil {
		return nil, err
	}
	raw, err := encodeParams(params)
	if err != nil {
		return nil, err
	}
	p := &Pending{c: c, id: rawID, ch: make(chan *wire, 1)}
	c.mu.Lock()
	c.pending[string(rawID)] = p.ch
	c.mu.Unlock()
	if err := c.write(&wire{ID: rawID, Method: method, Params: raw}); err != nil {
		return nil, err
	}
	return p, nil
}

func encodeParams(params any) (json.RawMessage, error) {
	switch p := params.(type) {
	case nil:
		return nil, nil
	case string:
		return json.RawMessage(p), nil
	case json.RawMessage:
		return p, nil
	}
	return protocol.Marshal(params)
}

// Wait waits for the answer and decodes it into result (which may be
// nil). An error answer is a *RPCError.
func (p *Pending) Wait(ctx context.Context, result any) error {
	select {
	case m, ok := <-p.ch:
		if !ok {
			return fmt.Errorf("the connection closed before the answer: %v", p.c.readErr)
		}
		if m.Error != nil {
			return m.Error
		}
		if result == nil || len(m.Result) == 0 || string(m.Result) == "null" {
			return nil
		}
		if raw, ok := result.(*json.RawMessage); ok {
			*raw = append((*raw)[:0], m.Result...)
			return nil
		}
		return protocol.Unmarshal(m.Result, result)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Cancel sends $/cancelRequest for the request.
func (p *Pending) Cancel() error {
	return p.c.Notify("$/cancelRequest", fmt.Sprintf(`{"id":%s}`, p.id))
}

// Call sends a request and waits for its answer.
func (c *Client) Call(ctx context.Context, method string, params, result any) error {
	p, err := c.Send(method, params, nil)
	if err != nil {
		return err
	}
	return p.Wait(ctx, result)
}

// Notify sends a notification.
func (c *Client) Notify(method string, params any) error {
	raw, err := encodeParams(params)
	if err != nil {
		return err
	}
	return c.write(&wire{Method: method, Params: raw})
}

// Initialize sends initialize with the capabilities (JSON, e.g. VSCode)
// and the workspace root (a file:// URI, "" for none), then initialized.
func (c *Client) Initialize(ctx context.Context, capabilities, rootURI string) (*protocol.InitializeResult, error) {
	root := "null"
	folders := "null"
	if rootURI != "" {
		root = strconv.Quote(rootURI)
		folders = fmt.Sprintf(`[{"uri":%s,"name":"root"}]`, root)
	}
	params := fmt.Sprintf(`{"processId":null,"clientInfo":{"name":"lsptest"},"rootUri":%s,"workspaceFolders":%s,"capabilities":%s}`, root, folders, capabilities)
	var res protocol.InitializeResult
	if err := c.Call(ctx, "initialize", params, &res); err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.enc = document.UTF16
	switch res.Capabilities.PositionEncoding {
	case protocol.PositionEncodingKindUTF8:
		c.enc = document.UTF8
	case protocol.PositionEncodingKindUTF32:
		c.enc = document.UTF32
	}
	c.mu.Unlock()
	return &res, c.Notify("initialized", "{}")
}

// Shutdown sends shutdown, then exit.
func (c *Client) Shutdown(ctx context.Context) error {
	if err := c.Call(ctx, "shutdown", nil, nil); err != nil {
		return err
	}
	return c.Notify("exit", nil)
}

// Closed is closed when the server closes its end.
func (c *Client) Closed() <-chan struct{} { return c.closed }

// Open sends didOpen (version 1) and keeps the document.
func (c *Client) Open(uri, language, text string) error { return c.OpenVersion(uri, language, 1, text) }

// OpenVersion is Open at the given version (eglot opens at 0).
func (c *Client) OpenVersion(uri, language string, version int32, text string) error {
	c.mu.Lock()
	c.docs[uri] = &clientDoc{lang: language, version: version, text: text}
	c.mu.Unlock()
	return c.Notify("textDocument/didOpen", map[string]any{
		"textDocument": map[string]any{"uri": uri, "languageId": language, "version": version, "text": text},
	})
}

// Close sends didClose.
func (c *Client) Close(uri string) error {
	c.mu.Lock()
	delete(c.docs, uri)
	c.mu.Unlock()
	return c.Notify("textDocument/didClose", map[string]any{"textDocument": map[string]any{"uri": uri}})
}

// Replace changes the bytes [start, end) of the document to text and sends
// the incremental didChange a client sends, in the negotiated encoding.
func (c *Client) Replace(uri string, start, end int, text string) error {
	c.mu.Lock()
	d := c.docs[uri]
	if d == nil {
		c.mu.Unlock()
		return fmt.Errorf("lsptest: %s is not open", uri)
	}
	snap := document.New(uri, d.lang, d.version, d.text)
	r := snap.Range(start, end, c.enc)
	d.text = d.text[:start] + text + d.text[end:]
	d.version++
	v := d.version
	c.mu.Unlock()
	return c.Notify("textDocument/didChange", map[string]any{
		"textDocument":   map[string]any{"uri": uri, "version": v},
		"contentChanges": []any{map[string]any{"range": r, "text": text}},
	})
}

// Type inserts text at the end of the document, one didChange per
// character, waiting gap between them.
func (c *Client) Type(uri, text string, gap time.Duration) error {
	for _, r := range text {
		off := len(c.Text(uri))
		if err := c.Replace(uri, off, off, string(r)); err != nil {
			return err
		}
		if gap > 0 {
			time.Sleep(gap)
		}
	}
	return nil
}

// Text is the client's copy of the document.
func (c *Client) Text(uri string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d := c.docs[uri]; d != nil {
		return d.text
	}
	return ""
}

// Version is the client's version of the document.
func (c *Client) Version(uri string) int32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d := c.docs[uri]; d != nil {
		return d.version
	}
	return 0
}

// Pos converts a byte offset of the document to a position in the
// negotiated encoding.
func (c *Client) Pos(uri string, off int) protocol.Position {
	c.mu.Lock()
	defer c.mu.Unlock()
	d := c.docs[uri]
	return document.New(uri, "", 0, d.text).Position(off, c.enc)
}

// Range converts byte offsets of the document to a range.
func (c *Client) Range(uri string, start, end int) protocol.Range {
	return protocol.Range{Start: c.Pos(uri, start), End: c.Pos(uri, end)}
}

// Offset converts a position of the document to a byte offset.
func (c *Client) Offset(uri string, p protocol.Position) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	d := c.docs[uri]
	return document.New(uri, "", 0, d.text).Offset(p, c.enc)
}

// Apply applies a workspace edit to the client's documents as an editor
// does (all edits of a document against its text before any of them, a
// versioned edit refused on another version) and sends didChange.
func (c *Client) Apply(e protocol.WorkspaceEdit) error {
	type docEdits struct {
		version *int32
		edits   []protocol.TextEdit
	}
	byDoc := map[string]*docEdits{}
	for u, tes := range e.Changes {
		byDoc[string(u)] = &docEdits{edits: tes}
	}
	for _, dc := range e.DocumentChanges {
		tde, ok := dc.(*protocol.TextDocumentEdit)
		if !ok {
			return fmt.Errorf("lsptest: unsupported document change %T", dc)
		}
		de := &docEdits{version: tde.TextDocument.Version}
		for _, el := range tde.Edits {
			switch te := el.(type) {
			case *protocol.TextEdit:
				de.edits = append(de.edits, *te)
			case *protocol.AnnotatedTextEdit:
				if _, ok := e.ChangeAnnotations[te.AnnotationID]; !ok {
					return fmt.Errorf("lsptest: edit annotated %q, which the workspace edit does not define", te.AnnotationID)
				}
				de.edits = append(de.edits, te.TextEdit)
			default:
				return fmt.Errorf("lsptest: unsupported edit %T", el)
			}
		}
		byDoc[string(tde.TextDocument.URI)] = de
	}
	for u, de := range byDoc {
		c.mu.Lock()
		d := c.docs[u]
		if d == nil {
			c.mu.Unlock()
			return fmt.Errorf("lsptest: edit of %s, which is not open", u)
		}
		if de.version != nil && *de.version != d.version {
			c.mu.Unlock()
			return fmt.Errorf("lsptest: edit for version %d of %s, the buffer is at %d", *de.version, u, d.version)
		}
		snap := document.New(u, d.lang, d.version, d.text)
		type span struct {
			s, e int
			text string
		}
		var spans []span
		for _, te := range de.edits {
			s, e := snap.Offsets(te.Range, c.enc)
			spans = append(spans, span{s, e, te.NewText})
		}
		sort.SliceStable(spans, func(i, j int) bool { return spans[i].s > spans[j].s })
		text := d.text
		for i, sp := range spans {
			if i > 0 && sp.e > spans[i-1].s {
				c.mu.Unlock()
				return errors.New("lsptest: overlapping edits")
			}
			text = text[:sp.s] + sp.text + text[sp.e:]
		}
		d.text = text
		d.version++
		v := d.version
		c.mu.Unlock()
		if err := c.Notify("textDocument/didChange", map[string]any{
			"textDocument":   map[string]any{"uri": u, "version": v},
			"contentChanges": []any{map[string]any{"text": text}},
		}); err != nil {
			return err
		}
	}
	return nil
}

// EditsFor returns the text edits of e for the document uri, whether e
// carries them as changes or as documentChanges.
func EditsFor(e protocol.WorkspaceEdit, uri string) []protocol.TextEdit {
	var out []protocol.TextEdit
	for u, tes := range e.Changes {
		if string(u) == uri {
			out = append(out, tes...)
		}
	}
	for _, dc := range e.DocumentChanges {
		if tde, ok := dc.(*protocol.TextDocumentEdit); ok && string(tde.TextDocument.URI) == uri {
			for _, el := range tde.Edits {
				switch te := el.(type) {
				case *protocol.TextEdit:
					out = append(out, *te)
				case *protocol.AnnotatedTextEdit:
					out = append(out, te.TextEdit)
				}
			}
		}
	}
	return out
}

// NeedsConfirmation reports whether an edit of e carries a change
// annotation that needs confirmation: VS Code then shows its refactor
// preview and changes nothing until the user applies it.
func NeedsConfirmation(e protocol.WorkspaceEdit) bool {
	for _, a := range Annotations(e) {
		if a.NeedsConfirmation != nil && *a.NeedsConfirmation {
			return true
		}
	}
	return false
}

// Annotations returns the change annotations the edits of e refer to.
func Annotations(e protocol.WorkspaceEdit) []protocol.ChangeAnnotation {
	var out []protocol.ChangeAnnotation
	seen := map[protocol.ChangeAnnotationIdentifier]bool{}
	for _, dc := range e.DocumentChanges {
		tde, ok := dc.(*protocol.TextDocumentEdit)
		if !ok {
			continue
		}
		for _, el := range tde.Edits {
			if te, ok := el.(*protocol.AnnotatedTextEdit); ok && !seen[te.AnnotationID] {
				seen[te.AnnotationID] = true
				if a, ok := e.ChangeAnnotations[te.AnnotationID]; ok {
					out = append(out, a)
				}
			}
		}
	}
	return out
}

// DeclinePreviews makes the client answer workspace/applyEdit with
// applied: false, as VS Code does when the user discards the refactor
// preview, for edits that need confirmation.
func (c *Client) DeclinePreviews(decline bool) {
	c.mu.Lock()
	c.decline = decline
	c.mu.Unlock()
}

// RefuseEdits makes the client answer workspace/applyEdit with applied:
// false.
func (c *Client) RefuseEdits(refuse bool) {
	c.mu.Lock()
	c.refuse = refuse
	c.mu.Unlock()
}

// WriteRaw writes b to the server as is: malformed frames.
func (c *Client) WriteRaw(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_, err := c.rwc.Write(b)
	return err
}

// StrayErrors returns the error answers received that answer no request
// of the client's (a parse error has id null).
func (c *Client) StrayErrors() []RPCError {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.stray)
}

// Messages returns the window/showMessage notifications received.
func (c *Client) Messages() []protocol.ShowMessageParams {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.messages)
}

// Logs returns the window/logMessage notifications received.
func (c *Client) Logs() []protocol.LogMessageParams {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.logs)
}

// ProgressEvents returns the $/progress notifications received.
func (c *Client) ProgressEvents() []Progress {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.progress)
}

// ProgressTokens returns the tokens the server created.
func (c *Client) ProgressTokens() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.tokens)
}

// Diagnostics returns the diagnostics last published for uri, and
// whether any were.
func (c *Client) Diagnostics(uri string) (protocol.PublishDiagnosticsParams, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.diags[uri]
	return p, ok
}

// Registrations returns the capabilities the server registered
// (client/registerCapability).
func (c *Client) Registrations() []protocol.Registration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.regs)
}

// AppliedEdits returns the workspace/applyEdit requests received.
func (c *Client) AppliedEdits() []protocol.ApplyWorkspaceEditParams {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.applied)
}

// WaitFor waits until cond holds (checked after every message from the
// server) or ctx ends.
func (c *Client) WaitFor(ctx context.Context, what string, cond func() bool) error {
	for {
		c.mu.Lock()
		ch := c.changed
		c.mu.Unlock()
		if cond() {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		}
	}
}

// WaitMessage waits for a window/showMessage containing substr.
func (c *Client) WaitMessage(ctx context.Context, substr string) (protocol.ShowMessageParams, error) {
	var found protocol.ShowMessageParams
	err := c.WaitFor(ctx, "a message with "+strconv.Quote(substr), func() bool {
		for _, m := range c.Messages() {
			if strings.Contains(m.Message, substr) {
				found = m
				return true
			}
		}
		return false
	})
	return found, err
}
