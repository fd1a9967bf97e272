// Package retryafter reads how long a server asks its clients to wait
// before they try again: Retry-After-Ms (OpenAI-compatible servers), then
// Retry-After, in seconds or as an HTTP date (RFC 9110, 10.2.3).
package retryafter

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxWait bounds what a server may ask for.
const maxWait = 24 * time.Hour

// Parse returns the wait h asks for, and whether it asks for one it can
// read; a date in the past is a wait of 0.
func Parse(h http.Header) (time.Duration, bool) {
	if v := strings.TrimSpace(h.Get("Retry-After-Ms")); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms >= 0 {
			return min(time.Duration(ms*float64(time.Millisecond)), maxWait), true
		}
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil {
		if s < 0 {
			return 0, false
		}
		return min(time.Duration(s*float64(time.Second)), maxWait), true
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(time.Until(t), 0), maxWait), true
	}
	return 0, false
}
