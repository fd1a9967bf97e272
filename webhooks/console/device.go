package console

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"time"

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

func decodeJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<10))
	if err := dec.Decode(v); err != nil {
		writeJSONError(w, http.StatusBadRequest, "invalid", "expected a JSON object: "+err.Error())
		return false
	}
	return true
}

func (c *Console) deviceStart(w http.ResponseWriter, r *http.Request) {
	var req deviceStartRequest
	if !decodeJSON(w, r, &req) {
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
