package console

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"
	"golang.org/x/time/rate"

	"timon.dev/timon/core"
	"timon.dev/timon/core/identity"
)

// The device sign-in of the editors (timon login, VS Code), after RFC
// 8628: the JSON endpoints the device calls, and the page where the
// person approves it.

type deviceStartRequest struct {
	Client string `json:"client"`
	Name   string `json:"name"`
}

type deviceStartResponse struct {
	DeviceCode              string `json:"device_code"`
	UserCode                string `json:"user_code"`
	VerificationURI         string `json:"verification_uri"`
	VerificationURIComplete string `json:"verification_uri_complete"`
	ExpiresIn               int    `json:"expires_in"`
	Interval                int    `json:"interval"`
}

type deviceTokenRequest struct {
	DeviceCode string `json:"device_code"`
}

type deviceTokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresAt   string `json:"expires_at,omitempty"`
	User        string `json:"user"`
}

// Bounds on the unauthenticated device endpoints: each start writes a
// row, so starts are limited per client address and the undecided
// authorizations of the whole hub are capped; polls only read, and get a
// looser limit per address. Addresses are the connection's (a proxy in
// front makes them its own): the hub has no notion of a trusted proxy.
const (
	deviceStartsPerMinute = 10
	deviceStartBurst      = 10
	devicePollsPerSecond  = 2
	devicePollBurst       = 20
	maxPendingDevices     = 10_000
	limitedAddresses      = 10_000           // limiters kept, least recently used dropped
	limiterTTL            = 10 * time.Minute // a full bucket is back well before
)

// addressLimiter is a token bucket per client address, in bounded memory.
// It is per process: with several replicas, each lets its share through.
type addressLimiter struct {
	limit rate.Limit
	burst int
	mu    sync.Mutex // makes the lookup and the insertion of a limiter one step
	lims  *expirable.LRU[string, *rate.Limiter]
}

func newAddressLimiter(limit rate.Limit, burst int) *addressLimiter {
	return &addressLimiter{limit: limit, burst: burst, lims: expirable.NewLRU[string, *rate.Limiter](limitedAddresses, nil, limiterTTL)}
}

// allow takes a token for r's address, or says how long until one is
// there.
func (l *addressLimiter) allow(r *http.Request, from netip.Addr) (bool, time.Duration) {
	key := clientKey(from)
	l.mu.Lock()
	lim, ok := l.lims.Get(key)
	if !ok {
		lim = rate.NewLimiter(l.limit, l.burst)
		l.lims.Add(key, lim)
	}
	l.mu.Unlock()
	now := time.Now()
	res := lim.ReserveN(now, 1)
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return false, d
	}
	return true, 0
}

// clientKey is the key of an address: the IPv4 address, or the /64 of an
// IPv6 one (what a single host is commonly given).
func clientKey(a netip.Addr) string {
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// tooMany answers 429 in the hub's error shape, with Retry-After.
func tooMany(w http.ResponseWriter, after time.Duration, msg string) {
	w.Header().Set("Retry-After", strconv.Itoa(max(1, int((after+time.Second-1)/time.Second))))
	writeJSONError(w, http.StatusTooManyRequests, string(core.KindQuota), msg)
}

func decodeJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<10))
	if err := dec.Decode(v); err != nil {
		writeJSONError(w, http.StatusBadRequest, "invalid", "expected a JSON object: "+err.Error())
		return false
	}
	return true
}

func (c *Console) deviceStart(w http.ResponseWriter, r *http.Request) {
	if ok, after := c.deviceStarts.allow(r, c.cfg.ClientAddr(r)); !ok {
		tooMany(w, after, "too many sign-in attempts from this address: try again in a minute")
		return
	}
	var req deviceStartRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	n, err := c.id.PendingDevices(r.Context(), c.pendingCap)
	if err != nil {
		c.log.Error("counting pending device sign-ins", "err", err)
		writeJSONError(w, http.StatusInternalServerError, "internal", "the sign-in store is unavailable")
		return
	}
	if n >= c.pendingCap {
		c.log.Warn("device sign-in refused: too many waiting for approval", "pending", n)
		tooMany(w, time.Minute, "too many sign-ins are waiting for approval on this hub: try again in a few minutes")
		return
	}
	d, err := c.id.StartDevice(r.Context(), req.Client, req.Name)
	if errors.Is(err, identity.ErrUnknownClient) {
		writeJSONError(w, http.StatusBadRequest, "invalid", err.Error())
		return
	}
	if err != nil {
		c.log.Error("starting a device sign-in", "err", err)
		writeJSONError(w, http.StatusInternalServerError, "internal", "the sign-in store is unavailable")
		return
	}
	verify := c.cfg.PublicURL + "/console/device"
	writeJSON(w, http.StatusOK, deviceStartResponse{
		DeviceCode: d.DeviceCode, UserCode: d.UserCode,
		VerificationURI: verify, VerificationURIComplete: verify + "?code=" + url.QueryEscape(d.UserCode),
		ExpiresIn: int(d.ExpiresIn / time.Second), Interval: int(d.Interval / time.Second),
	})
}

func (c *Console) deviceToken(w http.ResponseWriter, r *http.Request) {
	if ok, after := c.devicePolls.allow(r, c.cfg.ClientAddr(r)); !ok {
		tooMany(w, after, "too many sign-in polls from this address: slow down")
		return
	}
	var req deviceTokenRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	g, err := c.id.PollDevice(r.Context(), req.DeviceCode)
	for _, e := range []error{identity.ErrAuthorizationPending, identity.ErrSlowDown, identity.ErrAccessDenied, identity.ErrExpiredToken} {
		if errors.Is(err, e) {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": e.Error()})
			return
		}
	}
	if err != nil {
		c.log.Error("polling a device sign-in", "err", err)
		writeJSONError(w, http.StatusInternalServerError, "internal", "the sign-in store is unavailable")
		return
	}
	resp := deviceTokenResponse{AccessToken: g.Token, TokenType: "Bearer", User: g.UserID}
	if !g.ExpiresAt.IsZero() {
		resp.ExpiresAt = g.ExpiresAt.UTC().Format(time.RFC3339)
	}
	c.log.Info("device sign-in collected", "user", g.UserID, "token", g.TokenID)
	writeJSON(w, http.StatusOK, resp)
}

type devicePage struct {
	Code   string
	Device *identity.Device
	Error  string
	Done   string // approved or denied
}

func (c *Console) devicePage(w http.ResponseWriter, r *http.Request) {
	v := c.signedView(r)
	v.Lang = language(w, r)
	d := &devicePage{Code: r.URL.Query().Get("code")}
	status := http.StatusOK
	if d.Code != "" {
		dev, err := c.id.Device(r.Context(), d.Code)
		switch {
		case err == nil && dev.Status == "pending":
			d.Device, d.Code = dev, dev.UserCode
		case err == nil:
			d.Error = c.cats[v.Lang].t("device.error_decided")
			status = http.StatusConflict
		case errors.Is(err, identity.ErrUnknownDevice):
			d.Error = c.cats[v.Lang].t("device.error_unknown")
			status = http.StatusNotFound
		default:
			c.log.Error("reading a device sign-in", "err", err)
			c.problem(w, r, http.StatusInternalServerError, v, "error.internal")
			return
		}
	}
	v.Data = d
	c.render(w, r, status, "device", "device.title", v)
}

func (c *Console) deviceDecide(w http.ResponseWriter, r *http.Request) {
	p := current(r).person
	v := c.signedView(r)
	v.Lang = language(w, r)
	code := r.PostForm.Get("code")
	d := &devicePage{Code: code}
	var err error
	switch r.PostForm.Get("action") {
	case "approve":
		err = c.id.ApproveDevice(r.Context(), code, p)
		d.Done = "approved"
	case "deny":
		err = c.id.DenyDevice(r.Context(), code, p)
		d.Done = "denied"
	default:
		c.problem(w, r, http.StatusBadRequest, v, "error.bad_form")
		return
	}
	status := http.StatusOK
	switch {
	case err == nil:
		c.log.Info("device sign-in decided", "user", p.ID, "decision", d.Done)
	case errors.Is(err, identity.ErrUnknownDevice):
		d.Done, d.Error, status = "", c.cats[v.Lang].t("device.error_unknown"), http.StatusNotFound
	case errors.Is(err, identity.ErrDeviceDecided):
		d.Done, d.Error, status = "", c.cats[v.Lang].t("device.error_decided"), http.StatusConflict
	default:
		c.log.Error("deciding a device sign-in", "err", err)
		c.problem(w, r, http.StatusInternalServerError, v, "error.internal")
		return
	}
	v.Data = d
	c.render(w, r, status, "device", "device.title", v)
}
