package gitlab

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// tokenMatches compares a delivered X-Gitlab-Token with a secret in
// constant time (hashing first, so that lengths leak nothing either).
func tokenMatches(got, want string) bool {
	if want == "" {
		return false
	}
	a := sha256.Sum256([]byte(got))
	b := sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// anyTokenMatches compares got with every secret, in constant time each,
// without stopping at the first match.
func anyTokenMatches(got string, secrets []string) bool {
	ok := 0
	for _, s := range secrets {
		if tokenMatches(got, s) {
			ok = 1
		}
	}
	return ok == 1
}

// signatureTolerance bounds the age of a signed delivery (replay window).
const signatureTolerance = 5 * time.Minute

// Standard Webhooks headers.
const (
	headerWebhookID        = "Webhook-Id"
	headerWebhookTimestamp = "Webhook-Timestamp"
	headerWebhookSignature = "Webhook-Signature"
)

// verifySignature checks a Standard Webhooks signature
// (https://www.standardwebhooks.com): webhook-signature holds one or more
// space-separated "v1,<base64 HMAC-SHA256>" over "id.timestamp.body" with
// the secret (whsec_ followed by base64, or raw bytes). The timestamp must
// be within five minutes of now.
func verifySignature(h http.Header, body []byte, secret string, now time.Time) error {
	id, ts, sigs := h.Get(headerWebhookID), h.Get(headerWebhookTimestamp), h.Get(headerWebhookSignature)
	if id == "" || ts == "" || sigs == "" {
		return errors.New("webhook-id, webhook-timestamp and webhook-signature go together")
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errors.New("webhook-timestamp is not a Unix time")
	}
	if d := now.Sub(time.Unix(sec, 0)); d > signatureTolerance || d < -signatureTolerance {
		return errors.New("webhook-timestamp is too far from now")
	}
	key := signingKey(secret)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write([]byte(ts))
	mac.Write([]byte{'.'})
	mac.Write(body)
	want := mac.Sum(nil)
	ok := 0
	for _, s := range strings.Fields(sigs) {
		v, sig, found := strings.Cut(s, ",")
		if !found || v != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(sig)
		if err != nil {
			continue
		}
		if hmac.Equal(got, want) {
			ok = 1
		}
	}
	if ok == 0 {
		return errors.New("no valid v1 webhook-signature")
	}
	return nil
}

// checkSignature requires a valid signature when a signing secret is set:
// a delivery without one is refused, not let through.
func checkSignature(h http.Header, body []byte, secret string, now time.Time) error {
	if secret == "" {
		return nil
	}
	if h.Get(headerWebhookSignature) == "" {
		return errors.New("a signing secret is set and the delivery is not signed")
	}
	return verifySignature(h, body, secret, now)
}

// signingKey decodes a Standard Webhooks secret.
func signingKey(secret string) []byte {
	if b64, ok := strings.CutPrefix(secret, "whsec_"); ok {
		if k, err := base64.StdEncoding.DecodeString(b64); err == nil {
			return k
		}
	}
	return []byte(secret)
}

// Sign computes a Standard Webhooks v1 signature header value; tests and
// benchmarks use it to sign deliveries.
func Sign(secret, id string, ts time.Time, body []byte) string {
	mac := hmac.New(sha256.New, signingKey(secret))
	mac.Write([]byte(id + "." + strconv.FormatInt(ts.Unix(), 10) + "."))
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}
