package retryafter_test

import (
	"net/http"
	"testing"
	"time"

	"timon.dev/timon/core/retryafter"
)

func TestParse(t *testing.T) {
	future := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	past := time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat)
	for _, tc := range []struct {
		header     map[string]string
		min, max   time.Duration
		wantReadOK bool
	}{
		{nil, 0, 0, false},
		{map[string]string{"Retry-After": "3"}, 3 * time.Second, 3 * time.Second, true},
		{map[string]string{"Retry-After": " 1.5 "}, 1500 * time.Millisecond, 1500 * time.Millisecond, true},
		{map[string]string{"Retry-After": "0"}, 0, 0, true},
		{map[string]string{"Retry-After": "-2"}, 0, 0, false},
		{map[string]string{"Retry-After": "soon"}, 0, 0, false},
		{map[string]string{"Retry-After": "99999999"}, 24 * time.Hour, 24 * time.Hour, true},
		{map[string]string{"Retry-After": future}, 80 * time.Second, 90 * time.Second, true},
		{map[string]string{"Retry-After": past}, 0, 0, true},
		{map[string]string{"Retry-After-Ms": "250", "Retry-After": "9"}, 250 * time.Millisecond, 250 * time.Millisecond, true},
		{map[string]string{"Retry-After-Ms": "x", "Retry-After": "9"}, 9 * time.Second, 9 * time.Second, true},
	} {
		h := http.Header{}
		for k, v := range tc.header {
			h.Set(k, v)
		}
		d, ok := retryafter.Parse(h)
		if ok != tc.wantReadOK || d < tc.min || d > tc.max {
			t.Errorf("%v: got %v %v, want %v..%v %v", tc.header, d, ok, tc.min, tc.max, tc.wantReadOK)
		}
	}
}
