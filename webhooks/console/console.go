package console

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	// html/template without method calls: the standard one makes the
	// linker keep every exported method of the binary (8 MB).
	"github.com/DataDog/datadog-agent/pkg/template/html"
	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
	"golang.org/x/time/rate"

	"timon.dev/timon/core/identity"
	"timon.dev/timon/core/store"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// ContentSecurityPolicy is sent with every response of the console.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'"

// Options are what a Console is built from.
type Options struct {
	// Config are the checked sign_in settings; Config.Enabled must hold.
	Config *Config
	// Identity keeps people, sessions and device authorizations.
	Identity *identity.Service
	// Store holds the personal tokens.
	Store *store.Store
	// Mine are the sections of "My timon" after the tokens (usage,
	// recent requests), in order; Admin the pages of the admin console.
	Mine, Admin []Section
	// HTTPClient talks to the identity provider; nil means
	// http.DefaultClient.
	HTTPClient *http.Client
	// Logger; nil means slog.Default.
	Logger *slog.Logger
}

// Console serves the console's pages and the sign-in endpoints. It keeps
// no state of its own but the rate limits of the device endpoints: any
// number of replicas can serve the same people.
type Console struct {
	o      Options
	cfg    *Config
	id     *identity.Service
	st     *store.Store
	log    *slog.Logger
	mux    *http.ServeMux
	cats   map[string]catalogue
	pages  map[string]*template.Template
	secure bool
	client *http.Client

	mu       sync.Mutex
	provider *oidc.Provider // discovered on first need, then kept

	deviceStarts, devicePolls *addressLimiter
	pendingCap                int // undecided device authorizations beyond which starts are refused
}

// New builds the console. The identity provider is discovered at the
// first sign-in, so that a provider down at start does not stop the hub.
func New(o Options) (*Console, error) {
	if o.Config == nil || !o.Config.Enabled() {
		return nil, errors.New("the console needs sign_in.issuer")
	}
	if o.Identity == nil || o.Store == nil {
		return nil, errors.New("the console needs the identity service and the store")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.HTTPClient == nil {
		o.HTTPClient = http.DefaultClient
	}
	c := &Console{o: o, cfg: o.Config, id: o.Identity, st: o.Store, log: o.Logger.With("component", "console"),
		secure: o.Config.SecureCookies(), client: o.HTTPClient,
		deviceStarts: newAddressLimiter(rate.Limit(deviceStartsPerMinute)/60, deviceStartBurst),
		devicePolls:  newAddressLimiter(devicePollsPerSecond, devicePollBurst),
		pendingCap:   maxPendingDevices}
	var err error
	if c.cats, err = loadCatalogues(); err != nil {
		return nil, err
	}
	if c.pages, err = parsePages(); err != nil {
		return nil, err
	}
	c.routes()
	return c, nil
}

func (c *Console) routes() {
	m := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	m.Handle("GET /console/static/", http.StripPrefix("/console/static/", staticHandler(static)))
	m.HandleFunc("GET /console/signin", c.signInPage)
	m.HandleFunc("GET /auth/login", c.login)
	m.HandleFunc("GET /auth/callback", c.callback)
	m.HandleFunc("POST /auth/logout", c.withSession(c.logout))
	m.HandleFunc("POST /auth/device", c.deviceStart)
	m.HandleFunc("POST /auth/device/token", c.deviceToken)
	m.HandleFunc("GET /console/{$}", c.withSession(c.minePage))
	m.HandleFunc("POST /console/tokens", c.withSession(c.createToken))
	m.HandleFunc("POST /console/tokens/{id}/revoke", c.withSession(c.revokeToken))
	m.HandleFunc("GET /console/device", c.withSession(c.devicePage))
	m.HandleFunc("POST /console/device", c.withSession(c.deviceDecide))
	m.HandleFunc("GET /console/admin/{$}", c.withAdmin(c.adminPage))
	m.HandleFunc("GET /console/admin/tokens", c.withAdmin(c.adminTokens))
	m.HandleFunc("POST /console/admin/tokens/{id}/revoke", c.withAdmin(c.adminRevoke))
	m.HandleFunc("GET /console/admin/{section}", c.withAdmin(c.adminSection))
	m.HandleFunc("/console/admin/", c.withAdmin(c.notFound))
	m.HandleFunc("/console/", c.notFound)
	m.HandleFunc("/auth/", c.notFound)
	m.Handle("GET /console", http.RedirectHandler("/console/", http.StatusMovedPermanently))
	c.mux = m
}

// ServeHTTP serves the paths under /console/ and /auth/.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	if !strings.HasPrefix(r.URL.Path, "/console/static/") {
		h.Set("Cache-Control", "no-store")
	}
	c.mux.ServeHTTP(w, r)
}

// Paths are the path prefixes the console serves.
func Paths() []string { return []string{"/console", "/console/", "/auth/"} }

// Wrap routes the console's paths to console and everything else to hub.
// With console nil (sign-in not configured), the device endpoints answer
// 404 in the hub's error shape saying so, and the rest goes to hub.
func Wrap(hub http.Handler, console http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if !(p == "/console" || strings.HasPrefix(p, "/console/") || strings.HasPrefix(p, "/auth/")) {
			hub.ServeHTTP(w, r)
			return
		}
		if console == nil {
			NotConfigured(w, r)
			return
		}
		console.ServeHTTP(w, r)
	})
}

// NotConfigured answers the console's paths when sign-in is off.
func NotConfigured(w http.ResponseWriter, _ *http.Request) {
	writeJSONError(w, http.StatusNotFound, "not_found", "sign-in is not configured on this hub")
}

func writeJSONError(w http.ResponseWriter, status int, kind, msg string) {
	writeJSON(w, status, map[string]string{"code": kind, "message": msg}) // the hub's error body
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func staticHandler(fsys fs.FS) http.Handler {
	fileServer := http.FileServerFS(fsys)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		fileServer.ServeHTTP(w, r)
	})
}

// oidcProvider discovers the identity provider, once it answers.
func (c *Console) oidcProvider(ctx context.Context) (*oidc.Provider, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.provider != nil {
		return c.provider, nil
	}
	ctx, cancel := context.WithTimeout(oidc.ClientContext(ctx, c.client), 10*time.Second)
	defer cancel()
	p, err := oidc.NewProvider(ctx, c.cfg.Issuer)
	if err != nil {
		return nil, err
	}
	c.provider = p
	return p, nil
}

func (c *Console) oauth(p *oidc.Provider) *oauth2.Config {
	return &oauth2.Config{
		ClientID: c.cfg.ClientID, ClientSecret: c.cfg.ClientSecret,
		Endpoint: p.Endpoint(), RedirectURL: c.cfg.PublicURL + "/auth/callback", Scopes: c.cfg.Scopes,
	}
}

// view is what every page template receives.
type view struct {
	L         catalogue
	Lang      string
	Other     string // the other language, for the switch
	Switch    string // the current page in the other language
	Title     string
	Person    *identity.Person
	CSRF      string
	PublicURL string
	Data      any
}

func parsePages() (map[string]*template.Template, error) {
	funcs := template.FuncMap{
		"t":    func(l catalogue, key string, args ...any) string { return l.t(key, args...) },
		"join": strings.Join,
		"date": func(t time.Time) string {
			if t.IsZero() {
				return "—"
			}
			return t.UTC().Format("2006-01-02 15:04 UTC")
		},
	}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	out := map[string]*template.Template{}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", n)
		if err != nil {
			return nil, err
		}
		out[base] = t
	}
	return out, nil
}

// render writes a page; on failure it logs and answers 500.
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, page, titleKey string, v *view) {
	if v == nil {
		v = &view{}
	}
	if v.Lang == "" {
		v.Lang = language(w, r)
	}
	v.L = c.cats[v.Lang]
	v.Other = "fr"
	if v.Lang == "fr" {
		v.Other = "en"
	}
	q := r.URL.Query()
	q.Set("lang", v.Other)
	v.Switch = r.URL.Path + "?" + q.Encode()
	if r.Method != http.MethodGet {
		v.Switch = "/console/?lang=" + v.Other
	}
	v.Title = v.L.t(titleKey)
	v.PublicURL = c.cfg.PublicURL
	var buf bytes.Buffer
	if err := c.pages[page].Execute(&buf, v); err != nil {
		c.log.Error("rendering a console page", "page", page, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// problem renders the error page with a message key (and its arguments).
func (c *Console) problem(w http.ResponseWriter, r *http.Request, status int, v *view, key string, args ...any) {
	if v == nil {
		v = &view{}
	}
	v.Lang = language(w, r)
	v.Data = c.cats[v.Lang].t(key, args...)
	c.render(w, r, status, "error", "error.title", v)
}

func (c *Console) notFound(w http.ResponseWriter, r *http.Request) {
	c.problem(w, r, http.StatusNotFound, nil, "error.not_found")
}
