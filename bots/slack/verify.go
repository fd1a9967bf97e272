package slack

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ReplayWindow is how far a request's timestamp may be from now: older
// (or much newer) signed requests are refused, so that a captured request
// cannot be replayed later.
const ReplayWindow = 5 * time.Minute

// Errors of signature verification.
var (
	ErrMissingSignature = errors.New("the request carries no Slack signature or timestamp")
	ErrBadSignature     = errors.New("the Slack signature does not match")
	ErrStaleTimestamp   = errors.New("the Slack request timestamp is outside the five-minute window")
)

// Verify checks Slack's v0 signature of a request body: X-Slack-Signature
// must be "v0=" + hex(HMAC-SHA256(secret, "v0:" + X-Slack-Request-Timestamp
// + ":" + body)), compared in constant time, and the timestamp must be
// within ReplayWindow of now.
func Verify(secret []byte, h http.Header, body []byte, now time.Time) error {
	sig, ts := h.Get("X-Slack-Signature"), h.Get("X-Slack-Request-Timestamp")
	if len(secret) == 0 || sig == "" || ts == "" {
		return ErrMissingSignature
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return ErrMissingSignature
	}
	if d := now.Sub(time.Unix(sec, 0)); d > ReplayWindow || d < -ReplayWindow {
		return ErrStaleTimestamp
	}
	hexSig, ok := strings.CutPrefix(sig, "v0=")
	if !ok {
		return ErrBadSignature
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return ErrBadSignature
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("v0:" + ts + ":"))
	mac.Write(body)
	if !hmac.Equal(mac.Sum(nil), got) {
		return ErrBadSignature
	}
	return nil
}
