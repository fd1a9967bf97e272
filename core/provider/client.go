package provider

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

// Client is one configured endpoint. It is safe for concurrent use.
type Client struct {
	cfg Config
	// hc carries Chat, ChatStream and FIM (see transport.go): cfg's client,
	// or the shared one, with redirects kept on the endpoint's origin.
	hc *http.Client
	// auth is the Authorization header value, nil without a key.
	auth []string
	// URLs of the calls.
	chatURL, fimURL string
	// raw sends the model list request (Ping) through openai-go, with the
	// same base URL, key and HTTP client.
	raw openai.Client
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
	// The openai-go client is built from these options alone, not with
	// openai.NewClient, which would also read OPENAI_API_KEY, OPENAI_BASE_URL
	// and friends from the environment and could send an OpenAI key to a
	// local server.
	opts := []option.RequestOption{
		option.WithBaseURL(cfg.BaseURL + "/"),
		option.WithHTTPClient(hc),
		option.WithMaxRetries(0), // run retries, see retry.go
	}
	if cfg.APIKey != "" {
		opts = append(opts, option.WithAPIKey(cfg.APIKey))
	}
	c := &Client{
		cfg:     cfg,
		hc:      guardRedirects(hc, base),
		chatURL: cfg.BaseURL + "/chat/completions",
		fimURL:  cfg.BaseURL + "/completions",
		raw:     openai.Client{Options: opts},
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
	_, err := c.run(ctx, &call{kind: callPing})
	return err
}

// ping performs one Ping attempt.
func (c *Client) ping(ctx context.Context) error {
	var list struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	return c.raw.Get(ctx, "models", nil, &list)
}
