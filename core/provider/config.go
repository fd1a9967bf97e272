package provider

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Kind is the wire dialect of an endpoint.
type Kind string

const (
	// KindMistral is the Mistral API (api.mistral.ai or a self-hosted
	// deployment of it): FIM at {base}/fim/completions, usage in the last
	// stream chunk without asking.
	KindMistral Kind = "mistral"
	// KindOpenAI is any OpenAI-compatible server: vLLM, Ollama, llama.cpp
	// server, TGI. FIM goes to {base}/completions with a "suffix".
	KindOpenAI Kind = "openai"
)

// Defaults applied by [New] to zero fields of [Config].
const (
	DefaultTimeout    = 60 * time.Second
	DefaultMaxRetries = 2
)

// Config describes one endpoint. The zero value of every optional field
// works; each field says what zero means.
type Config struct {
	// Name identifies the endpoint in routes, errors and the journal, e.g.
	// "local-ollama". Required: letters, digits, '.', '_' and '-'. Uniqueness
	// across endpoints is the caller's concern.
	Name string
	// Kind is the wire dialect; "" means KindOpenAI.
	Kind Kind
	// BaseURL is the API root, e.g. https://api.mistral.ai/v1 or
	// http://127.0.0.1:11434/v1. It is normalised: a trailing slash is
	// removed and, when the URL has no path at all, "/v1" is appended.
	// Credentials in the URL are refused (use APIKey).
	BaseURL string
	// APIKey is sent as "Authorization: Bearer <key>"; "" sends no
	// Authorization header (Ollama, local vLLM). Never read from the
	// environment.
	APIKey string
	// Models lists the models this endpoint serves. Empty means the endpoint
	// accepts any model name (see [Client.Serves]). The first one is used
	// when a request names no model.
	Models []string
	// Timeout bounds each attempt; 0 means DefaultTimeout (60s). For a
	// plain call it bounds the whole exchange; for a stream it bounds the
	// wait for the first byte and then every silence between two chunks, so
	// that a long answer that keeps flowing is never cut.
	Timeout time.Duration
	// MaxRetries is how many times one call is retried on this endpoint
	// after a 429, a 5xx or a connection error; 0 means DefaultMaxRetries
	// (2), a negative value means no retry.
	MaxRetries int
	// Sovereign marks an endpoint run by or for the institution: data may go
	// there under the default policy.
	Sovereign bool
	// HTTPClient carries the requests; nil means a shared client whose
	// transport honours the system CAs and the HTTPS_PROXY/NO_PROXY
	// environment. Its Timeout, if any, should be 0: Timeout above is
	// applied per attempt instead.
	HTTPClient *http.Client
}

// validate checks cfg and returns a copy with defaults applied and the base
// URL normalised.
func (cfg Config) validate() (Config, error) {
	if cfg.Name == "" {
		return cfg, errors.New("provider: name is required")
	}
	if i := strings.IndexFunc(cfg.Name, func(r rune) bool { return !nameRune(r) }); i >= 0 {
		return cfg, fmt.Errorf("provider %q: name may only hold letters, digits, '.', '_' and '-'", cfg.Name)
	}
	fail := func(format string, args ...any) (Config, error) {
		return cfg, fmt.Errorf("provider %s: %s", cfg.Name, fmt.Sprintf(format, args...))
	}
	switch cfg.Kind {
	case "":
		cfg.Kind = KindOpenAI
	case KindOpenAI, KindMistral:
	default:
		return fail("unknown kind %q (want %q or %q)", cfg.Kind, KindMistral, KindOpenAI)
	}
	base, err := normaliseBaseURL(cfg.BaseURL)
	if err != nil {
		return fail("base URL: %v", err)
	}
	cfg.BaseURL = base
	seen := make(map[string]bool, len(cfg.Models))
	for i, m := range cfg.Models {
		if strings.TrimSpace(m) == "" {
			return fail("models[%d] is empty", i)
		}
		if seen[m] {
			return fail("model %q is listed twice", m)
		}
		seen[m] = true
	}
	cfg.Models = append([]string(nil), cfg.Models...)
	if cfg.Timeout < 0 {
		return fail("timeout must not be negative (0 means %s)", DefaultTimeout)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	switch {
	case cfg.MaxRetries == 0:
		cfg.MaxRetries = DefaultMaxRetries
	case cfg.MaxRetries < 0:
		cfg.MaxRetries = 0
	}
	if strings.ContainsAny(cfg.APIKey, "\r\n") {
		return fail("API key contains a line break")
	}
	return cfg, nil
}

func nameRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
		r == '.' || r == '_' || r == '-'
}

// normaliseBaseURL checks raw and returns it without a trailing slash, with
// "/v1" appended when it has no path.
func normaliseBaseURL(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", errors.New("is required, e.g. http://127.0.0.1:11434/v1")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", errors.New("is not a valid URL")
	}
	if u.User != nil {
		return "", errors.New("must not carry credentials; set the API key instead")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("%q: scheme must be http or https", raw)
	}
	if u.Host == "" {
		return "", fmt.Errorf("%q has no host", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("%s://%s%s: must not have a query or fragment", u.Scheme, u.Host, u.Path)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	if u.Path == "" {
		u.Path = "/v1"
	}
	return u.String(), nil
}
