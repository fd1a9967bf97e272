// Package server is timon serve's HTTP front door, on net/http's ServeMux: health and
// readiness, personal-token authentication, the native /v1/assist API, the
// governed OpenAI-compatible routes (chat, completions, embeddings, models),
// the admin routes, the OpenAPI document of them all, and the mount points
// where cmd attaches the chat bots' and GitLab's handlers. Handlers are
// thin: they authenticate, decode, call core.Assistant and encode; errors
// leave as JSON {code, message}, and on the OpenAI-compatible routes in
// OpenAI's {"error": {message, type, param, code}} beside it.
package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"timon.dev/timon/core"
	"timon.dev/timon/core/audit"
	"timon.dev/timon/core/metrics"
	"timon.dev/timon/core/remote"
	"timon.dev/timon/core/store"
)

// Check is one readiness check (the store, a provider, the journal). An
// error with a method Passing() bool that returns true is a remark, not a
// failure: the check passes and /readyz shows the remark (a provider that
// does not list its models, so they cannot be checked).
type Check struct {
	Name string
	Func func(ctx context.Context) error
	// AnyOf groups interchangeable checks: the hub is ready when at least
	// one check of the group passes (providers fail over to each other).
	// "" means this check must pass.
	AnyOf string
}

// Mount attaches a handler from another front end (bots, GitLab webhooks).
type Mount struct {
	// Path is a path as ServeMux patterns write it ({name} for a segment).
	Method, Path string
	Handler      http.Handler
	// MaxBodyBytes bounds this route's request bodies; zero means the
	// server's MaxBodyBytes.
	MaxBodyBytes int64
}

// Options configures the server.
type Options struct {
	Assistant core.Assistant
	Store     *store.Store // tokens, and the journal for /admin
	// Journal journals an administrator's reading of a request's content
	// (GET /admin/audit/{request_id}) and opens that content; nil answers
	// that route with an error.
	Journal *audit.Journal
	// Suggestions counts the completion suggestions editors showed and
	// users accepted (POST /v1/telemetry/completions, /admin/usage); nil
	// answers that route 404 and leaves them out of /admin/usage.
	Suggestions *audit.Suggestions
	// Ready lists the readiness checks of /readyz.
	Ready []Check
	// MaxBodyBytes bounds request bodies (a Mount may set its own); zero
	// means 1 MiB.
	MaxBodyBytes int64
	// BodyTimeout bounds the time a request's body takes to arrive once
	// its headers are in; zero means 30s. The body is read whole before
	// the handler runs, and the deadline is lifted once it is in: a
	// streamed answer is never cut by it.
	BodyTimeout time.Duration
	// AdminGroup may use /admin; zero means admin.
	AdminGroup string
	Mounts     []Mount
	// Off maps the paths of front ends that are switched off to what
	// switches them on: a request there answers 404 saying so.
	Off map[string]string
	// Models lists the model names /v1/models shows.
	Models []string
	Logger *slog.Logger
}

// Server is the HTTP handler of timon serve.
type Server struct {
	o   Options
	mux *http.ServeMux
	log *slog.Logger

	// routes lists the registered routes in their order, methods lists
	// their methods in the order each first appears (the order of an
	// Allow header).
	routes  []route
	methods []string

	// limits holds the body bounds of the routes with their own, by
	// "METHOD /path".
	limits map[string]int64

	readyMu   sync.Mutex
	readyAt   time.Time
	readyBody readiness
	// failing holds, by check name, whether the check failed when last run.
	failing map[string]bool
}

// route is one registered route: a method and a ServeMux path pattern
// ({name} for a segment).
type route struct {
	method, path string
}

func (r route) String() string { return r.method + " " + r.path }

// New builds the routes.
func New(o Options) *Server {
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 1 << 20
	}
	if o.BodyTimeout <= 0 {
		o.BodyTimeout = 30 * time.Second
	}
	if o.AdminGroup == "" {
		o.AdminGroup = "admin"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{o: o, mux: http.NewServeMux(), log: o.Logger, limits: map[string]int64{}}
	for _, m := range o.Mounts {
		if m.MaxBodyBytes > 0 {
			s.limits[m.Method+" "+m.Path] = m.MaxBodyBytes
		}
	}
	// What no route matches: 404, or 405 when the path has routes of
	// other methods (unmatched).
	s.mux.HandleFunc("/", s.unmatched)

	s.handle("GET /healthz", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	}))
	s.handle("GET /readyz", http.HandlerFunc(s.readyz))
	// Metrics carry counts and latencies by integration, task, provider
	// and type, never who asked or what: Prometheus scrapes them without
	// a token.
	s.handle("GET /metrics", metrics.Handler())
	// The API's reference describes routes, never data: no token needed.
	s.handle("GET /openapi.json", http.HandlerFunc(serveOpenAPI))

	s.handle("POST /v1/assist", http.HandlerFunc(s.assist), s.authenticate)
	s.handle("POST /v1/chat/completions", http.HandlerFunc(s.chatCompletions), s.authenticate)
	s.handle("POST /v1/completions", http.HandlerFunc(s.completions), s.authenticate)
	s.handle("POST /v1/embeddings", http.HandlerFunc(s.embeddings), s.authenticate)
	s.handle("GET /v1/models", http.HandlerFunc(s.models), s.authenticate)
	s.handle("POST "+remote.SuggestionsPath, http.HandlerFunc(s.suggestionCounts), s.authenticate)
	s.handle("DELETE /v1/tokens/self", http.HandlerFunc(s.revokeSelf), s.authenticateSelf)

	s.adminRoutes(s.authenticate, s.requireAdmin)
	for _, m := range o.Mounts {
		s.handle(m.Method+" "+m.Path, m.Handler)
	}
	return s
}

// handle registers h for pattern ("METHOD /path") behind mw, outermost
// first, and behind what every answer goes through: the request count,
// the recovery from panics and the body's bounds (common).
func (s *Server) handle(pattern string, h http.Handler, mw ...func(http.Handler) http.Handler) {
	method, path, _ := strings.Cut(pattern, " ")
	for _, m := range slices.Backward(mw) {
		h = m(h)
	}
	h = s.common(h)
	s.routes = append(s.routes, route{method, path})
	if !slices.Contains(s.methods, method) {
		s.methods = append(s.methods, method)
	}
	s.mux.Handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// ServeMux serves HEAD with the GET route; a route answers its
		// own method only (HEAD /healthz is 405).
		if r.Method != method {
			s.unmatched(w, r)
			return
		}
		h.ServeHTTP(w, r)
	}))
}

// common wraps h in what every answer, a route's or an error's, goes
// through, outermost first.
func (s *Server) common(h http.Handler) http.Handler {
	return countRequests(s.recoverer(s.readBody(h)))
}

// ServeHTTP makes Server an http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// A path that is not clean ("//x", "/a/../x") matches no route, as
	// it is: ServeMux would redirect it to its clean form.
	if p := r.URL.EscapedPath(); r.Method == http.MethodConnect || !isClean(p) {
		s.unmatched(w, r)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// isClean reports whether p is a clean absolute path, its trailing slash
// aside.
func isClean(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	c := path.Clean(p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c == p
}

// unmatched answers a request that no route matches. A path that a
// route of the request's method has with or without a trailing slash is
// redirected there (301 for GET, 307 otherwise); a path that routes of
// other methods have is 405 with the Allow header; any other is 404,
// saying what switches the path on when it belongs to a front end that
// is off.
func (s *Server) unmatched(w http.ResponseWriter, r *http.Request) {
	r.Pattern = ""
	p := r.URL.Path
	if r.Method != http.MethodConnect && p != "/" && slices.Contains(s.methods, r.Method) {
		other := p + "/"
		if strings.HasSuffix(p, "/") {
			other = p[:len(p)-1]
		}
		if s.matches(r.Method, other) {
			redirectTrailingSlash(w, r)
			return
		}
	}
	var allowed []string
	for _, m := range s.methods {
		if m != r.Method && s.matches(m, p) {
			allowed = append(allowed, m)
		}
	}
	if len(allowed) > 0 {
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		s.common(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			writeErrorStatus(w, r, http.StatusMethodNotAllowed, core.Errorf(core.KindInvalid, "method %s is not allowed on %s", r.Method, r.URL.Path))
		})).ServeHTTP(w, r)
		return
	}
	s.common(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		msg := fmt.Sprintf("no route %s %s", r.Method, r.URL.Path)
		if why, ok := s.o.Off[r.URL.Path]; ok {
			msg += ": " + why
		}
		writeError(w, r, core.Errorf(core.KindNotFound, "%s", msg))
	})).ServeHTTP(w, r)
}

// matches reports whether a route of method has path p ({name} matching
// any segment but an empty one).
func (s *Server) matches(method, p string) bool {
	for _, rt := range s.routes {
		if rt.method == method && pathMatches(rt.path, p) {
			return true
		}
	}
	return false
}

func pathMatches(pattern, p string) bool {
	want, got := strings.Split(pattern, "/"), strings.Split(p, "/")
	if len(want) != len(got) {
		return false
	}
	for i, seg := range want {
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
			if got[i] == "" {
				return false
			}
		} else if seg != got[i] {
			return false
		}
	}
	return true
}

// redirectTrailingSlash redirects to r's path with its trailing slash
// removed, or one added; X-Forwarded-Prefix, reduced to letters, digits,
// hyphens and single slashes, goes before it.
func redirectTrailingSlash(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	if prefix := path.Clean(r.Header.Get("X-Forwarded-Prefix")); prefix != "." {
		prefix = strings.Map(func(c rune) rune {
			if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '/' || c == '-' {
				return c
			}
			return -1
		}, prefix)
		for strings.Contains(prefix, "//") {
			prefix = strings.ReplaceAll(prefix, "//", "/")
		}
		p = prefix + "/" + r.URL.Path
	}
	r.URL.Path = p + "/"
	if n := len(p); n > 1 && p[n-1] == '/' {
		r.URL.Path = p[:n-1]
	}
	code := http.StatusMovedPermanently
	if r.Method != http.MethodGet {
		code = http.StatusTemporaryRedirect
	}
	http.Redirect(w, r, r.URL.String(), code)
}

// fullPath is the path pattern of r's route, "" when none matched.
func fullPath(r *http.Request) string {
	_, p, _ := strings.Cut(r.Pattern, " ")
	return p
}

// routeLabel names r's route in the metrics: its path with :name for a
// segment, or unmatched.
var routeLabel = strings.NewReplacer("{", ":", "}", "")

// countRequests counts HTTP requests by route pattern (not path: ids stay
// out of labels) and status.
func countRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rw := track(w)
		next.ServeHTTP(rw, r)
		rw.writeHeaderNow()
		route := routeLabel.Replace(fullPath(r))
		if route == "" {
			route = "unmatched"
		}
		metrics.HTTPRequests.WithLabelValues(route, strconv.Itoa(rw.status)).Inc()
	})
}

// responseWriter holds back the status until the body's first byte (or
// a flush, or the end of the handler), so that headers set after
// WriteHeader still go out, and remembers it for the metrics.
type responseWriter struct {
	http.ResponseWriter
	status  int
	written bool
}

// track returns w as a *responseWriter, wrapping it if it is not one.
func track(w http.ResponseWriter) *responseWriter {
	if rw, ok := w.(*responseWriter); ok {
		return rw
	}
	return &responseWriter{ResponseWriter: w, status: http.StatusOK}
}

// WriteHeader sets the status; once the answer has started it is ignored.
func (w *responseWriter) WriteHeader(code int) {
	if code > 0 && !w.written {
		w.status = code
	}
}

func (w *responseWriter) writeHeaderNow() {
	if !w.written {
		w.written = true
		w.ResponseWriter.WriteHeader(w.status)
	}
}

func (w *responseWriter) Write(b []byte) (int, error) {
	w.writeHeaderNow()
	return w.ResponseWriter.Write(b)
}

// Flush sends the status, headers and what is written so far.
func (w *responseWriter) Flush() {
	w.writeHeaderNow()
	// A writer that cannot flush sends it all when the handler returns.
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap gives http.ResponseController the connection's writer.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rw := track(w)
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("panic in HTTP handler", "path", r.URL.Path, "panic", v)
				if !rw.written {
					writeError(rw, r, core.Errorf(core.KindInternal, "internal error"))
				}
			}
		}()
		next.ServeHTTP(rw, r)
	})
}

// readBody reads the request's body whole, within the route's size bound
// and the body deadline, before the handler runs: a client trickling its
// body gets 408 and the connection is closed, one sending too much gets
// 413 naming the bound. The handler reads the body from memory.
func (s *Server) readBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit, ok := s.limits[r.Method+" "+fullPath(r)]
		if !ok {
			limit = s.o.MaxBodyBytes
		}
		if r.ContentLength > limit {
			writeError(w, r, core.Errorf(core.KindTooLarge, "request body of %d bytes is over the limit of %s", r.ContentLength, sizeOf(limit)))
			return
		}
		if r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		rc := http.NewResponseController(w)
		if err := rc.SetReadDeadline(time.Now().Add(s.o.BodyTimeout)); err != nil {
			// No deadline can be set (not a net/http connection): fail
			// closed rather than wait forever.
			s.log.Error("setting the body read deadline", "err", err)
			writeError(w, r, core.Errorf(core.KindInternal, "internal error"))
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
		// The body is in (or failed): lift the deadline, else net/http's
		// background read would cancel a streamed answer when it passes.
		if derr := rc.SetReadDeadline(time.Time{}); derr != nil {
			s.log.Warn("lifting the body read deadline", "err", derr)
		}
		if err != nil {
			var mbe *http.MaxBytesError
			var ne net.Error
			switch {
			case errors.As(err, &mbe):
				writeError(w, r, core.Errorf(core.KindTooLarge, "request body is over the limit of %s", sizeOf(limit)))
			case errors.As(err, &ne) && ne.Timeout():
				w.Header().Set("Connection", "close")
				writeErrorStatus(w, r, http.StatusRequestTimeout, core.Errorf(core.KindTimeout, "the request body did not arrive within %s", s.o.BodyTimeout))
			default:
				w.Header().Set("Connection", "close")
				writeError(w, r, core.Errorf(core.KindInvalid, "reading the request body failed"))
			}
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		next.ServeHTTP(w, r)
	})
}

// sizeOf says n bytes the way a person reads it: 4 MiB, 64 KiB, 1000 bytes.
func sizeOf(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB (%d bytes)", n>>20, n)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB (%d bytes)", n>>10, n)
	}
	return fmt.Sprintf("%d bytes", n)
}

type readiness struct {
	Ready  bool              `json:"ready"`
	Checks map[string]string `json:"checks"`
}

// readyz runs the readiness checks, at most once a second whatever the
// number of probes, and says what is not ready.
func (s *Server) readyz(w http.ResponseWriter, req *http.Request) {
	s.readyMu.Lock()
	defer s.readyMu.Unlock()
	if time.Since(s.readyAt) > time.Second {
		ctx, cancel := context.WithTimeout(req.Context(), 5*time.Second)
		defer cancel()
		r := readiness{Ready: true, Checks: map[string]string{}}
		groupOK := map[string]bool{}
		failed := map[string]bool{}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, ch := range s.o.Ready {
			wg.Go(func() {
				err := ch.Func(ctx)
				mu.Lock()
				defer mu.Unlock()
				var remark interface{ Passing() bool }
				passing := err == nil || errors.As(err, &remark) && remark.Passing()
				if ch.AnyOf != "" {
					groupOK[ch.AnyOf] = groupOK[ch.AnyOf] || passing
				}
				switch {
				case err == nil:
					r.Checks[ch.Name] = "ok"
				default:
					if !passing && ch.AnyOf == "" {
						r.Ready = false
					}
					failed[ch.Name] = !passing
					r.Checks[ch.Name] = checkMessage(ch.Name, err)
				}
			})
		}
		wg.Wait()
		for _, ok := range groupOK {
			r.Ready = r.Ready && ok
		}
		s.logTransitions(r.Checks, failed)
		s.readyBody, s.readyAt = r, time.Now()
	}
	status := http.StatusOK
	if !s.readyBody.Ready {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, s.readyBody)
}

// checkMessage is a check's error as /readyz shows it, under the check's
// name: without the name again when the error starts with it ("provider X:
// …" under "provider X").
func checkMessage(name string, err error) string {
	return strings.TrimPrefix(err.Error(), name+": ")
}

// logTransitions logs a check that failed after passing, and one that
// passes again after failing, once per change: an outage and its end each
// leave one line, whatever the number of probes.
func (s *Server) logTransitions(checks map[string]string, failed map[string]bool) {
	if s.failing == nil {
		s.failing = map[string]bool{}
	}
	for _, name := range slices.Sorted(maps.Keys(checks)) {
		switch was := s.failing[name]; {
		case failed[name] && !was:
			s.log.Warn(name+" is not ready", "reason", checks[name])
		case !failed[name] && was:
			s.log.Info(name + " is ready again")
		}
		s.failing[name] = failed[name]
	}
}

// errorBody is every error's JSON.
type errorBody struct {
	Code      core.Kind `json:"code"`
	Message   string    `json:"message"`
	Rule      string    `json:"rule,omitempty"`
	Provider  string    `json:"provider,omitempty"`
	RetryAt   time.Time `json:"retry_at,omitzero"`
	RequestID string    `json:"request_id,omitempty"`
	// Moderation says what moderation refused, or where its classifier
	// did not answer.
	Moderation *core.ModerationFlag `json:"moderation,omitempty"`
}

func bodyOf(e *core.Error) errorBody {
	return errorBody{Code: e.Kind, Message: e.Message, Rule: e.Rule, Provider: e.Provider, RetryAt: e.RetryAt, RequestID: e.RequestID,
		Moderation: e.Moderation}
}

// Status maps an error kind to its HTTP status.
func Status(k core.Kind) int {
	switch k {
	case core.KindInvalid:
		return http.StatusBadRequest
	case core.KindUnauthenticated:
		return http.StatusUnauthorized
	case core.KindDenied:
		return http.StatusForbidden
	case core.KindNotFound:
		return http.StatusNotFound
	case core.KindTooLarge:
		return http.StatusRequestEntityTooLarge
	case core.KindBlocked:
		return http.StatusUnprocessableEntity
	case core.KindQuota:
		return http.StatusTooManyRequests
	case core.KindCanceled:
		return 499
	case core.KindUnavailable:
		return http.StatusServiceUnavailable
	case core.KindTimeout:
		return http.StatusGatewayTimeout
	case core.KindOutputRejected:
		return http.StatusBadGateway
	case core.KindNotImplemented:
		return http.StatusNotImplemented
	}
	return http.StatusInternalServerError
}

func writeError(w http.ResponseWriter, r *http.Request, err error) {
	e := core.AsError(err, "internal error")
	writeErrorStatus(w, r, Status(e.Kind), e)
}

func writeErrorStatus(w http.ResponseWriter, r *http.Request, status int, e *core.Error) {
	if !e.RetryAt.IsZero() {
		secs := int(time.Until(e.RetryAt).Seconds()) + 1
		if secs < 1 {
			secs = 1
		}
		w.Header().Set("Retry-After", strconv.Itoa(secs))
	}
	if isOpenAIRoute(r) {
		// Refused before the handler (size, body deadline, method):
		// still in the shape the route's clients read.
		_, typ, code := openAIKind(e)
		writeJSON(w, status, oaErrorBody{
			Error:     oaError{Message: e.Message, Type: typ, Code: code},
			errorBody: bodyOf(e),
		})
		return
	}
	writeJSON(w, status, bodyOf(e))
}

// writeJSON answers v as JSON with status: compact, with <, > and &
// escaped, no newline after it. Content-Type is application/json unless
// the handler set one. A value that does not encode leaves the body empty.
func writeJSON(w http.ResponseWriter, status int, v any) {
	if len(w.Header()["Content-Type"]) == 0 {
		w.Header()["Content-Type"] = []string{"application/json; charset=utf-8"}
	}
	data, err := json.Marshal(v)
	w.WriteHeader(status)
	if err != nil {
		return
	}
	w.Write(data)
}

// decodeError turns a body decoding error into a clear client error.
func decodeError(err error) *core.Error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return core.Errorf(core.KindTooLarge, "request body is over the limit of %d bytes", mbe.Limit)
	}
	return jsonError(err)
}
