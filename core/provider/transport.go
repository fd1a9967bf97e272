package provider

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Every call goes through net/http (see docs/design/provider.md): bodies
// are replayable (GetBody), a redirect may not leave the configured origin,
// an answer of 400 or more is a *statusError, a JSON answer must say so in
// its Content-Type.

var (
	hdrJSON      = []string{"application/json"}
	hdrUserAgent = []string{"timon"}
)

// maxErrorBody bounds what is read of an error answer, to leave its
// connection to the next call.
const maxErrorBody = 1 << 20

// post sends body to url as JSON; see send.
func (c *Client) post(ctx context.Context, url string, body []byte) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
	if err != nil {
		return nil, err
	}
	// A NopCloser'd *bytes.Reader is known to net/http to be in memory: the
	// headers and the body then leave in one write (a body of another type
	// gets the headers flushed first, and a copy buffer).
	req.ContentLength = int64(len(body))
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	req.Header["Content-Type"] = hdrJSON
	return c.send(req)
}

// send sends req with the endpoint's headers and returns the answer when
// its status is below 400, else a *statusError.
func (c *Client) send(req *http.Request) (*http.Response, error) {
	h := req.Header
	h["Accept"] = hdrJSON
	h["User-Agent"] = hdrUserAgent
	if c.auth != nil {
		h["Authorization"] = c.auth
	}
	res, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	if res.StatusCode >= 400 {
		// The body is not kept: it may echo the prompt.
		_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, maxErrorBody))
		_ = res.Body.Close()
		return nil, &statusError{status: res.StatusCode, retryAfter: retryAfter(res.Header)}
	}
	return res, nil
}

// statusError is the cause of an answer of status 400 or more.
type statusError struct {
	status int
	// retryAfter is what the answer asked to wait, 0 when it did not say.
	retryAfter time.Duration
}

func (e *statusError) Error() string {
	return "upstream answered " + strconv.Itoa(e.status) + " " + http.StatusText(e.status)
}

// readJSON decodes the JSON answer res into v and closes its body. What
// follows the first JSON value is ignored.
func readJSON(res *http.Response, v any) error {
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); !isJSON(ct) {
		return errNotJSON{ct}
	}
	err := json.NewDecoder(res.Body).Decode(v)
	// Read to the end, normally nothing, so that the connection is reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, maxDrain))
	if err != nil {
		return fmt.Errorf("error parsing response json: %w", err)
	}
	return nil
}

// isJSON reports whether a Content-Type is JSON (as openai-go judged it).
func isJSON(contentType string) bool {
	switch contentType {
	case "application/json", "application/json; charset=utf-8":
		return true
	}
	mediaType, _, _ := mime.ParseMediaType(contentType)
	return strings.Contains(mediaType, "application/json") || strings.HasSuffix(mediaType, "+json")
}

// errRedirectOrigin refuses a redirect to another origin, which would
// carry the API key and the prompt elsewhere (openai-go refused it too).
var errRedirectOrigin = errors.New("redirect away from the endpoint's origin refused")

// guardRedirects returns a shallow copy of hc whose redirects must stay on
// base's origin; hc's own policy, if any, applies after that.
func guardRedirects(hc *http.Client, base *url.URL) *http.Client {
	guarded := *hc
	next := hc.CheckRedirect
	guarded.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if !sameOrigin(req.URL, base) {
			return errRedirectOrigin
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
	return &guarded
}

func sameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(a.Hostname(), b.Hostname()) &&
		effectivePort(a) == effectivePort(b)
}

func effectivePort(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if strings.EqualFold(u.Scheme, "https") {
		return "443"
	}
	return "80"
}

// sseReader splits a server-sent event stream into the data of its events,
// as openai-go's decoder did: "data" lines are joined with "\n" (and end
// with one), a blank line ends an event, other fields and comments are
// ignored, lines end with "\n" or "\r\n", and an event left unfinished at
// the end of the stream is dropped.
type sseReader struct {
	r          io.Reader
	buf        []byte
	start, end int
	err        error // of r: io.EOF at a clean end
	data       []byte
}

// maxSSELine is openai-go's limit on one line.
const maxSSELine = 32 << 20

func (s *sseReader) reset(r io.Reader) {
	s.r, s.start, s.end, s.err, s.data = r, 0, 0, nil, s.data[:0]
	if s.buf == nil {
		s.buf = make([]byte, 8<<10)
	}
}

// next returns the data of the next event, valid until the next call, or
// false at the end of the stream; then Err tells why.
func (s *sseReader) next() ([]byte, bool) {
	s.data = s.data[:0]
	for {
		line, ok := s.line()
		if !ok {
			return nil, false
		}
		if len(line) == 0 {
			if len(s.data) == 0 {
				continue
			}
			return s.data, true
		}
		name, value, _ := bytes.Cut(line, []byte(":"))
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
		if string(name) == "data" {
			s.data = append(s.data, value...)
			s.data = append(s.data, '\n')
		}
	}
}

// Err returns the error that ended the stream, nil at a clean end.
func (s *sseReader) Err() error {
	if s.err == io.EOF {
		return nil
	}
	return s.err
}

// line returns the next line without its end, as bufio.ScanLines does.
func (s *sseReader) line() ([]byte, bool) {
	for {
		if i := bytes.IndexByte(s.buf[s.start:s.end], '\n'); i >= 0 {
			line := s.buf[s.start : s.start+i]
			s.start += i + 1
			return dropCR(line), true
		}
		if s.err != nil {
			if s.start < s.end { // last line, unterminated
				line := s.buf[s.start:s.end]
				s.start = s.end
				return dropCR(line), true
			}
			return nil, false
		}
		if s.start > 0 {
			s.end = copy(s.buf, s.buf[s.start:s.end])
			s.start = 0
		}
		if s.end == len(s.buf) {
			if len(s.buf) >= maxSSELine {
				s.err = bufio.ErrTooLong
				return nil, false
			}
			grown := make([]byte, 2*len(s.buf))
			copy(grown, s.buf[:s.end])
			s.buf = grown
		}
		n, err := s.r.Read(s.buf[s.end:])
		s.end += n
		if err != nil {
			s.err = err
		}
	}
}

func dropCR(b []byte) []byte {
	if len(b) > 0 && b[len(b)-1] == '\r' {
		return b[:len(b)-1]
	}
	return b
}

// streamState is the reusable memory of one stream.
type streamState struct {
	sse  sseReader
	text []byte
}

var streamPool = sync.Pool{New: func() any { return new(streamState) }}

func getStreamState(r io.Reader) *streamState {
	st := streamPool.Get().(*streamState)
	st.sse.reset(r)
	st.text = st.text[:0]
	return st
}

func putStreamState(st *streamState) {
	st.sse.r = nil
	if cap(st.sse.buf) > 1<<20 || cap(st.text) > 1<<20 || cap(st.sse.data) > 1<<20 {
		return
	}
	streamPool.Put(st)
}

// Draining what follows [DONE] (see streamState.drain) or a plain answer's
// JSON (readJSON).
const (
	drainWait = 20 * time.Millisecond
	maxDrain  = 64 << 10
)

// errDrainCut is the cause given to an attempt whose server did not end the
// body soon after [DONE].
var errDrainCut = errors.New("body not ended after [DONE]")

// drain reads what follows a stream's [DONE], normally only the end of the
// chunked body, so that net/http puts the connection back in the pool:
// closing a body before its end closes the connection, and the next call
// dials again (a TCP and maybe a TLS handshake) whenever that end arrives
// after [DONE] was read. A server that keeps sending, or does not end the
// body within drainWait, gets its connection closed by cancel, as before.
func (st *streamState) drain(body io.Reader, cancel context.CancelCauseFunc) {
	t := time.AfterFunc(drainWait, func() { cancel(errDrainCut) })
	defer t.Stop()
	for n := 0; n < maxDrain; {
		m, err := body.Read(st.sse.buf)
		n += m
		if err != nil {
			return
		}
	}
}
