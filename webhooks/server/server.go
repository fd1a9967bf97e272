// Package server is timon serve's HTTP front door (gin): health and
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
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"timon.dev/timon/core"
	"timon.dev/timon/core/audit"
	"timon.dev/timon/core/metrics"
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
	o      Options
	engine *gin.Engine
	log    *slog.Logger

	// limits holds the body bounds of the routes with their own, by
	// "METHOD /path".
	limits map[string]int64

	readyMu   sync.Mutex
	readyAt   time.Time
	readyBody readiness
	// failing holds, by check name, whether the check failed when last run.
	failing map[string]bool
}

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
	gin.SetMode(gin.ReleaseMode)
	s := &Server{o: o, engine: gin.New(), log: o.Logger, limits: map[string]int64{}}
	for _, m := range o.Mounts {
		if m.MaxBodyBytes > 0 {
			s.limits[m.Method+" "+m.Path] = m.MaxBodyBytes
		}
	}
	e := s.engine
	e.HandleMethodNotAllowed = true
	e.Use(countRequests, s.recoverer, s.readBody)
	e.NoRoute(func(c *gin.Context) {
		msg := fmt.Sprintf("no route %s %s", c.Request.Method, c.Request.URL.Path)
		if why, ok := o.Off[c.Request.URL.Path]; ok {
			msg += ": " + why
		}
		writeError(c, core.Errorf(core.KindNotFound, "%s", msg))
	})
	e.NoMethod(func(c *gin.Context) {
		writeErrorStatus(c, http.StatusMethodNotAllowed, core.Errorf(core.KindInvalid, "method %s is not allowed on %s", c.Request.Method, c.Request.URL.Path))
	})

	e.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	e.GET("/readyz", s.readyz)
	// Metrics carry counts and latencies by integration, task, provider
	// and type, never who asked or what: Prometheus scrapes them without
	// a token.
	e.GET("/metrics", gin.WrapH(metrics.Handler()))
	// The API's reference describes routes, never data: no token needed.
	e.GET("/openapi.json", serveOpenAPI)

	v1 := e.Group("/v1", s.authenticate)
	v1.POST("/assist", s.assist)
	v1.POST("/chat/completions", s.chatCompletions)
	v1.POST("/completions", s.completions)
	v1.POST("/embeddings", s.embeddings)
	v1.GET("/models", s.models)

	s.adminRoutes(e.Group("/admin", s.authenticate, s.requireAdmin))
	for _, m := range o.Mounts {
		e.Handle(m.Method, m.Path, gin.WrapH(m.Handler))
	}
	return s
}

// countRequests counts HTTP requests by route pattern (not path: ids stay
// out of labels) and status.
func countRequests(c *gin.Context) {
	c.Next()
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	metrics.HTTPRequests.WithLabelValues(route, strconv.Itoa(c.Writer.Status())).Inc()
}

// ServeHTTP makes Server an http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.engine.ServeHTTP(w, r) }

func (s *Server) recoverer(c *gin.Context) {
	defer func() {
		if r := recover(); r != nil {
			if r == http.ErrAbortHandler {
				panic(r)
			}
			s.log.Error("panic in HTTP handler", "path", c.Request.URL.Path, "panic", r)
			if !c.Writer.Written() {
				writeError(c, core.Errorf(core.KindInternal, "internal error"))
			}
			c.Abort()
		}
	}()
	c.Next()
}

// readBody reads the request's body whole, within the route's size bound
// and the body deadline, before the handler runs: a client trickling its
// body gets 408 and the connection is closed, one sending too much gets
// 413 naming the bound. The handler reads the body from memory.
func (s *Server) readBody(c *gin.Context) {
	r := c.Request
	limit, ok := s.limits[r.Method+" "+c.FullPath()]
	if !ok {
		limit = s.o.MaxBodyBytes
	}
	if r.ContentLength > limit {
		writeError(c, core.Errorf(core.KindTooLarge, "request body of %d bytes is over the limit of %s", r.ContentLength, sizeOf(limit)))
		return
	}
	if r.Body == nil || r.Body == http.NoBody {
		c.Next()
		return
	}
	rc := http.NewResponseController(c.Writer)
	if err := rc.SetReadDeadline(time.Now().Add(s.o.BodyTimeout)); err != nil {
		// No deadline can be set (not a net/http connection): fail
		// closed rather than wait forever.
		s.log.Error("setting the body read deadline", "err", err)
		writeError(c, core.Errorf(core.KindInternal, "internal error"))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, r.Body, limit))
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
			writeError(c, core.Errorf(core.KindTooLarge, "request body is over the limit of %s", sizeOf(limit)))
		case errors.As(err, &ne) && ne.Timeout():
			c.Header("Connection", "close")
			writeErrorStatus(c, http.StatusRequestTimeout, core.Errorf(core.KindTimeout, "the request body did not arrive within %s", s.o.BodyTimeout))
		default:
			c.Header("Connection", "close")
			writeError(c, core.Errorf(core.KindInvalid, "reading the request body failed"))
		}
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	c.Next()
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
func (s *Server) readyz(c *gin.Context) {
	s.readyMu.Lock()
	defer s.readyMu.Unlock()
	if time.Since(s.readyAt) > time.Second {
		ctx, cancel := context.WithTimeout(c.Request.Context(), 5*time.Second)
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
	c.JSON(status, s.readyBody)
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

func writeError(c *gin.Context, err error) {
	e := core.AsError(err, "internal error")
	writeErrorStatus(c, Status(e.Kind), e)
}

func writeErrorStatus(c *gin.Context, status int, e *core.Error) {
	if !e.RetryAt.IsZero() {
		secs := int(time.Until(e.RetryAt).Seconds()) + 1
		if secs < 1 {
			secs = 1
		}
		c.Header("Retry-After", strconv.Itoa(secs))
	}
	if isOpenAIRoute(c) {
		// Refused before the handler (size, body deadline, method):
		// still in the shape the route's clients read.
		_, typ, code := openAIKind(e)
		c.AbortWithStatusJSON(status, oaErrorBody{
			Error:     oaError{Message: e.Message, Type: typ, Code: code},
			errorBody: bodyOf(e),
		})
		return
	}
	c.AbortWithStatusJSON(status, bodyOf(e))
}

// decodeError turns a body decoding error into a clear client error.
func decodeError(err error) *core.Error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return core.Errorf(core.KindTooLarge, "request body is over the limit of %d bytes", mbe.Limit)
	}
	return jsonError(err)
}
