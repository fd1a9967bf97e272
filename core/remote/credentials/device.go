package credentials

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// The ends of a sign-in that did not give a token.
var (
	// ErrDenied: the person denied the sign-in in the browser.
	ErrDenied = errors.New("the sign-in was denied in the browser")
	// ErrExpired: the code expired (or was already used) before anyone
	// approved it.
	ErrExpired = errors.New("the code expired before the sign-in was approved")
	// ErrNotConfigured: the hub does not offer sign-in (no OpenID Connect).
	ErrNotConfigured = errors.New("sign-in is not configured on this hub")
)

// Device runs the device sign-in flow of DEVICE.md against a hub: Start
// asks for a code, the person approves it in a browser, Wait polls until
// the hub hands the token out.
type Device struct {
	// Hub is the hub's URL.
	Hub string
	// Client is "timon-cli" or "vscode"; Name suggests the token's name
	// ("timon lsp on HOST").
	Client, Name string
	// HTTP is the client for the hub; nil uses one that honours system CAs
	// and HTTPS_PROXY.
	HTTP *http.Client
	// Second is the unit of the hub's intervals and expiry, a second when
	// zero (tests shorten it).
	Second time.Duration
}

// Authorization is the hub's answer to Start.
type Authorization struct {
	DeviceCode              string `json:"device_code"`
	UserCode                string `json:"user_code"`
	VerificationURI         string `json:"verification_uri"`
	VerificationURIComplete string `json:"verification_uri_complete"`
	ExpiresIn               int    `json:"expires_in"`
	Interval                int    `json:"interval"`
}

// URL is the page to open: the one with the code filled in when the hub
// gives it.
func (a *Authorization) URL() string {
	if a.VerificationURIComplete != "" {
		return a.VerificationURIComplete
	}
	return a.VerificationURI
}

// maxBody bounds what is read of a hub's answer.
const maxBody = 1 << 20

func (d *Device) unit() time.Duration {
	if d.Second > 0 {
		return d.Second
	}
	return time.Second
}

func (d *Device) http() *http.Client {
	if d.HTTP != nil {
		return d.HTTP
	}
	return &http.Client{Transport: http.DefaultTransport}
}

// Start asks the hub for a device code and the code the person confirms
// in the browser.
func (d *Device) Start(ctx context.Context) (*Authorization, error) {
	hub, err := NormalizeHub(d.Hub)
	if err != nil {
		return nil, err
	}
	status, body, err := d.post(ctx, hub+"/auth/device", map[string]string{"client": d.Client, "name": d.Name})
	if err != nil {
		return nil, fmt.Errorf("starting sign-in at %s: %w", hub, err)
	}
	if status == http.StatusNotFound {
		msg := errorMessage(body)
		if msg == "" {
			msg = "no /auth/device: is it a timon hub, and a recent one?"
		}
		return nil, fmt.Errorf("%w (%s): %s", ErrNotConfigured, hub, msg)
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("starting sign-in at %s: the hub answered %d %s", hub, status, errorMessage(body))
	}
	var a Authorization
	if err := json.Unmarshal(body, &a); err != nil {
		return nil, fmt.Errorf("starting sign-in at %s: unexpected answer: %w", hub, err)
	}
	if a.DeviceCode == "" || !isUserCode(a.UserCode) || !isWebURL(a.VerificationURI) ||
		(a.VerificationURIComplete != "" && !isWebURL(a.VerificationURIComplete)) {
		return nil, fmt.Errorf("starting sign-in at %s: the answer lacks a device code, a user code (such as WDJB-MJHT) or an http(s) verification URL", hub)
	}
	return &a, nil
}

// Wait polls the hub every a.Interval seconds (5 when it does not say;
// 5 more after each slow_down) until the person approves or denies the
// sign-in, the code expires (ErrExpired), or ctx ends. Network failures
// and 5xx answers are retried until the code expires.
func (d *Device) Wait(ctx context.Context, a *Authorization) (Credential, error) {
	hub, err := NormalizeHub(d.Hub)
	if err != nil {
		return Credential{}, err
	}
	unit := d.unit()
	interval := time.Duration(a.Interval) * unit
	if interval <= 0 {
		interval = 5 * unit
	}
	expiresIn := time.Duration(a.ExpiresIn) * unit
	if expiresIn <= 0 {
		expiresIn = 600 * unit
	}
	deadline := time.NewTimer(expiresIn)
	defer deadline.Stop()
	var lastErr error
	expired := func() error {
		if lastErr != nil {
			return fmt.Errorf("%w (the hub could not be reached: %v)", ErrExpired, lastErr)
		}
		return ErrExpired
	}
	for {
		wait := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			wait.Stop()
			return Credential{}, ctx.Err()
		case <-deadline.C:
			wait.Stop()
			return Credential{}, expired()
		case <-wait.C:
		}
		status, body, err := d.post(ctx, hub+"/auth/device/token", map[string]string{"device_code": a.DeviceCode})
		switch {
		case ctx.Err() != nil:
			return Credential{}, ctx.Err()
		case err != nil:
			lastErr = err
			continue
		case status == http.StatusOK:
			var tok struct {
				AccessToken string `json:"access_token"`
				TokenType   string `json:"token_type"`
				ExpiresAt   string `json:"expires_at"`
				User        string `json:"user"`
			}
			if err := json.Unmarshal(body, &tok); err != nil {
				return Credential{}, fmt.Errorf("collecting the token: unexpected answer: %w", err)
			}
			if tok.AccessToken == "" || (tok.TokenType != "" && !strings.EqualFold(tok.TokenType, "bearer")) {
				return Credential{}, fmt.Errorf("collecting the token: the hub gave no bearer token (token_type %q)", printable(tok.TokenType))
			}
			c := Credential{Hub: hub, Token: tok.AccessToken, User: printable(tok.User)}
			if tok.ExpiresAt != "" {
				// The token is collected once: keep it even when its expiry
				// cannot be read (the hub will say when it has expired).
				c.ExpiresAt, _ = time.Parse(time.RFC3339, tok.ExpiresAt)
			}
			return c, nil
		case status == http.StatusBadRequest:
			switch code := errorCode(body); code {
			case "authorization_pending":
				lastErr = nil
			case "slow_down":
				lastErr = nil
				interval += 5 * unit
			case "access_denied":
				return Credential{}, ErrDenied
			case "expired_token":
				return Credential{}, ErrExpired
			default:
				return Credential{}, fmt.Errorf("collecting the token: the hub answered %q", printable(code))
			}
		case status >= 500 || status == http.StatusTooManyRequests:
			lastErr = fmt.Errorf("the hub answered %d", status)
		default:
			return Credential{}, fmt.Errorf("collecting the token: the hub answered %d %s", status, errorMessage(body))
		}
	}
}

// post sends body as JSON and returns the status and up to maxBody bytes
// of the answer.
func (d *Device) post(ctx context.Context, u string, body any) (int, []byte, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return 0, nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(b))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := d.http().Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return 0, nil, fmt.Errorf("reading the answer: %w", err)
	}
	return resp.StatusCode, data, nil
}

// errorBody is what the hub answers: OAuth's {"error":"slow_down"} from a
// poll, or the hub's usual {"code":…,"message":…}.
type errorBody struct {
	Error   string `json:"error"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// errorCode is the OAuth-style error of a poll, or the code of the hub's
// usual error body.
func errorCode(body []byte) string {
	var e errorBody
	json.Unmarshal(body, &e)
	if e.Error != "" {
		return e.Error
	}
	return e.Code
}

// errorMessage is the message of the hub's usual error body, or the
// OAuth-style code, printable.
func errorMessage(body []byte) string {
	var e errorBody
	json.Unmarshal(body, &e)
	if e.Message != "" {
		return printable(e.Message)
	}
	return printable(errorCode(body))
}

// printable keeps a hub's message from driving the terminal: no control
// characters, at most 200 runes.
func printable(s string) string {
	var b strings.Builder
	n := 0
	for _, r := range s {
		if n == 200 {
			b.WriteString("…")
			break
		}
		if unicode.IsControl(r) || r == utf8.RuneError {
			r = ' '
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}

// isUserCode accepts what a person can read and type: letters, digits
// and dashes, at most 20 (DEVICE.md: WDJB-MJHT).
func isUserCode(s string) bool {
	if s == "" || len(s) > 20 {
		return false
	}
	for _, r := range s {
		if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

func isWebURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}
