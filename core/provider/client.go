package provider

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Client is one configured endpoint. It is safe for concurrent use.
type Client struct {
	cfg Config
	// hc carries every call (see transport.go): cfg's client, or the
	// shared one, with redirects kept on the endpoint's origin.
	hc *http.Client
	// auth is the Authorization header value, nil without a key.
	auth []string
	// URLs of the calls.
	chatURL, fimURL, embedURL, modelsURL string
}

// New checks cfg and returns a client for it. Errors name the endpoint and
// the field at fault.
func New(cfg Config) (*Client, error) {
	cfg, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = defaultHTTPClient()
	}
	base, err := url.Parse(cfg.BaseURL)
	if err != nil { // normalised: unreachable
		return nil, err
	}
	c := &Client{
		cfg:       cfg,
		hc:        guardRedirects(hc, base),
		chatURL:   cfg.BaseURL + "/chat/completions",
		fimURL:    cfg.BaseURL + "/completions",
		embedURL:  cfg.BaseURL + "/embeddings",
		modelsURL: cfg.BaseURL + "/models",
	}
	if cfg.Kind == KindMistral {
		c.fimURL = cfg.BaseURL + "/fim/completions"
	}
	if cfg.APIKey != "" {
		c.auth = []string{"Bearer " + cfg.APIKey}
	}
	return c, nil
}

// defaultHTTPClient is shared by every Client built without one, so that
// connections to an endpoint are pooled across calls. Its transport is
// http.DefaultTransport's (system CAs, HTTPS_PROXY/NO_PROXY) with a pool
// sized for a hub serving many concurrent calls to one endpoint, and no
// overall timeout: attempts carry their own. Its buffers hold a request of
// a few KB with its headers, and the answer's head and body, in one write
// and one read system call (the 4 KB defaults take two of each).
var defaultHTTPClient = sync.OnceValue(func() *http.Client {
	t, ok := http.DefaultTransport.(*http.Transport)
	if !ok { // wrapped, e.g. for tracing: keep it as it is
		return &http.Client{Transport: http.DefaultTransport}
	}
	t = t.Clone()
	t.MaxIdleConns = 256
	t.MaxIdleConnsPerHost = 64
	t.IdleConnTimeout = 90 * time.Second
	t.WriteBufferSize = 32 << 10
	t.ReadBufferSize = 16 << 10
	return &http.Client{Transport: t}
})

// Name returns the endpoint's configured name.
func (c *Client) Name() string { return c.cfg.Name }

// Kind returns the endpoint's wire dialect.
func (c *Client) Kind() Kind { return c.cfg.Kind }

// BaseURL returns the normalised base URL, e.g. http://127.0.0.1:11434/v1.
func (c *Client) BaseURL() string { return c.cfg.BaseURL }

// Sovereign reports whether the endpoint is marked sovereign.
func (c *Client) Sovereign() bool { return c.cfg.Sovereign }

// Models returns a copy of the configured models.
func (c *Client) Models() []string { return slices.Clone(c.cfg.Models) }

// Serves reports whether the endpoint serves model: it is listed, or no
// model is listed at all.
func (c *Client) Serves(model string) bool {
	return len(c.cfg.Models) == 0 || slices.Contains(c.cfg.Models, model)
}

// model picks the model of a request: the requested one, else the first
// configured.
func (c *Client) model(requested string) (string, *Error) {
	if requested != "" {
		return requested, nil
	}
	if len(c.cfg.Models) > 0 {
		return c.cfg.Models[0], nil
	}
	return "", c.invalidRequest("no model named and none configured")
}

// Ping lists the endpoint's models (GET {base}/models) once, without retry,
// for readiness checks.
func (c *Client) Ping(ctx context.Context) error {
	_, err := c.ListModels(ctx)
	return err
}

// ListModels returns the models the endpoint says it serves (GET
// {base}/models), asked once, without retry.
func (c *Client) ListModels(ctx context.Context) ([]string, error) {
	cl := &call{kind: callPing}
	if _, err := c.run(ctx, cl); err != nil {
		return nil, err
	}
	return cl.listed, nil
}

// ping performs one Ping attempt.
func (c *Client) ping(ctx context.Context) ([]string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.modelsURL, nil)
	if err != nil {
		return nil, err
	}
	res, err := c.send(req)
	if err != nil {
		return nil, err
	}
	var list modelList
	if err := readJSON(res, &list); err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(list.Data))
	for _, m := range list.Data {
		if m.ID != "" && !slices.Contains(ids, m.ID) {
			ids = append(ids, m.ID)
		}
	}
	return ids, nil
}

// Ready reports whether the endpoint answers and serves every configured
// model. An endpoint that answers but does not list its models (404 or 405
// on /models) cannot be checked: the result is a *ModelsNotListed, which
// says so and counts as ready (Passing).
func (c *Client) Ready(ctx context.Context) error {
	listed, err := c.ListModels(ctx)
	var e *Error
	if errors.As(err, &e) && (e.StatusCode == http.StatusNotFound || e.StatusCode == http.StatusMethodNotAllowed) {
		return &ModelsNotListed{Provider: c.cfg.Name, StatusCode: e.StatusCode}
	}
	if err != nil {
		return err
	}
	var missing []string
	for _, m := range c.cfg.Models {
		if !listedModel(listed, m) {
			missing = append(missing, m)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return &Error{Provider: c.cfg.Name, Reason: notServed(missing, listed), Err: ErrModelNotServed}
}

// ErrModelNotServed is the cause of a Ready failure: a configured model is
// not in the endpoint's list.
var ErrModelNotServed = errors.New("configured model not served")

// listedModel reports whether model is in listed; Ollama lists "name:latest"
// for a model it also answers as "name".
func listedModel(listed []string, model string) bool {
	return slices.Contains(listed, model) || (!strings.Contains(model, ":") && slices.Contains(listed, model+":latest"))
}

// notServed says which models are missing, and what is there instead.
func notServed(missing, listed []string) string {
	q := make([]string, len(missing))
	for i, m := range missing {
		q[i] = strconv.Quote(m)
	}
	var b strings.Builder
	if len(q) == 1 {
		b.WriteString("model " + q[0] + " is not served")
	} else {
		b.WriteString("models " + strings.Join(q, ", ") + " are not served")
	}
	const show = 10 // a server may list hundreds
	switch {
	case len(listed) == 0:
		b.WriteString(" (available: none)")
	case len(listed) > show:
		fmt.Fprintf(&b, " (available: %s, and %d more)", strings.Join(listed[:show], ", "), len(listed)-show)
	default:
		b.WriteString(" (available: " + strings.Join(listed, ", ") + ")")
	}
	return b.String()
}

// ModelsNotListed is Ready's answer for an endpoint that answers but does
// not list its models: it is ready as far as can be told.
type ModelsNotListed struct {
	Provider   string
	StatusCode int // what GET /models answered
}

func (e *ModelsNotListed) Error() string {
	return "provider " + e.Provider + ": ok, but it does not list its models (GET /models answers " + strconv.Itoa(e.StatusCode) + "), so the configured models are not checked; if it should, check the base URL"
}

// Passing tells readiness checks that this is a remark, not a failure.
func (e *ModelsNotListed) Passing() bool { return true }
