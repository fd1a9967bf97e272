// Package biblio holds the clients of bibliographic sources: outside
// services (HAL, the French open archive; OpenAlex) that receive a query and
// answer with records. A source is configured like a model provider (name,
// kind, base URL, timeout, sovereign or not) and is only ever called by the
// governed engine (core/assistant), which decides, redacts and journals.
//
// The package also checks what a model writes about the records it was
// given (Verify: every reference-like text that does not match a record is
// removed) and writes records as BibTeX (BibTeX). Every field of a record
// comes from the source's response, never from a model.
package biblio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"timon.dev/timon/core"
)

// Kinds of source.
const (
	KindHAL      = "hal"
	KindOpenAlex = "openalex"
)

// Default base URLs.
const (
	DefaultHALURL      = "https://api.archives-ouvertes.fr"
	DefaultOpenAlexURL = "https://api.openalex.org"
)

// DefaultTimeout bounds a search when Config.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// maxBody bounds a source's response.
const maxBody = 8 << 20

// Config describes one source.
type Config struct {
	Name    string
	Kind    string // hal or openalex
	BaseURL string // zero: the kind's public API
	// Timeout bounds one search; zero means DefaultTimeout.
	Timeout time.Duration
	// Sovereign marks a source run by the institution or trusted like
	// its own machines; a source that is not is only used where a policy
	// rule allows non-sovereign services for the request's
	// classification.
	Sovereign bool
	// Mailto is sent to OpenAlex (its "polite pool"); optional.
	Mailto string
	// HTTPClient is the client to use; zero means a new one.
	HTTPClient *http.Client
}

// Source is one bibliographic source.
type Source interface {
	Name() string
	Kind() string
	Sovereign() bool
	// Search returns at most rows records matching query, and the number
	// of matches the source reports. The error, if any, is an *Error.
	Search(ctx context.Context, query string, rows int) ([]core.Record, int, error)
}

// New builds the client of a source.
func New(c Config) (Source, error) {
	if c.Name == "" {
		return nil, errors.New("a bibliographic source needs a name")
	}
	if c.BaseURL == "" {
		switch c.Kind {
		case KindHAL:
			c.BaseURL = DefaultHALURL
		case KindOpenAlex:
			c.BaseURL = DefaultOpenAlexURL
		}
	}
	u, err := url.Parse(c.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return nil, fmt.Errorf("source %s: expected an http(s) base URL, got %q", c.Name, c.BaseURL)
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{}
	}
	b := base{cfg: c, url: strings.TrimRight(c.BaseURL, "/")}
	switch c.Kind {
	case KindHAL:
		return &hal{b}, nil
	case KindOpenAlex:
		return &openAlex{b}, nil
	}
	return nil, fmt.Errorf("source %s: unknown kind %q (expected hal or openalex)", c.Name, c.Kind)
}

// Error is a source that failed: down, too slow, or answering what cannot
// be read. Reason never holds the query.
type Error struct {
	Source  string
	Timeout bool
	Reason  string
}

func (e *Error) Error() string {
	if e.Timeout {
		return fmt.Sprintf("source %s timed out: %s", e.Source, e.Reason)
	}
	return fmt.Sprintf("source %s failed: %s", e.Source, e.Reason)
}

type base struct {
	cfg Config
	url string
}

func (b *base) Name() string    { return b.cfg.Name }
func (b *base) Sovereign() bool { return b.cfg.Sovereign }

// get fetches u and returns its body, within the source's timeout.
func (b *base) get(ctx context.Context, u string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, b.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, &Error{Source: b.cfg.Name, Reason: "bad request URL"}
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "timon (bibliographic search)")
	resp, err := b.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, b.transportError(ctx, err)
	}
	defer resp.Body.Close()
	body, err := readAll(resp, maxBody)
	if err != nil {
		return nil, b.transportError(ctx, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &Error{Source: b.cfg.Name, Reason: fmt.Sprintf("HTTP %d", resp.StatusCode)}
	}
	return body, nil
}

func (b *base) transportError(ctx context.Context, err error) error {
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return &Error{Source: b.cfg.Name, Timeout: true, Reason: fmt.Sprintf("no answer within %s", b.cfg.Timeout)}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	// The URL holds the query: say what failed without it.
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return &Error{Source: b.cfg.Name, Reason: err.Error()}
}

func readAll(resp *http.Response, limit int64) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("answer larger than %d bytes", limit)
	}
	return body, nil
}
