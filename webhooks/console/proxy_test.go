package console_test

import (
	"net/http/httptest"
	"strings"
	"testing"

	"timon.dev/timon/core/config"
	"timon.dev/timon/webhooks/console"
)

// TestClientAddr: behind trusted proxies, a request comes from the nearest
// address of X-Forwarded-For that is not a proxy; a client that is not a
// trusted proxy cannot choose its address with the header.
func TestClientAddr(t *testing.T) {
	cfg := &console.Config{Issuer: "https://idp.example.org", ClientID: "timon", ClientSecretFile: "/dev/null",
		PublicURL: "https://timon.example.org", DefaultGroup: "staff",
		TrustedProxies: []string{"10.0.0.0/8", "127.0.0.1", "::ffff:192.0.2.7"}}
	var ch config.Check
	cfg.Check(&ch)
	for _, c := range []struct {
		peer, xff, want string
	}{
		{"198.51.100.9:4000", "", "198.51.100.9"},
		{"198.51.100.9:4000", "203.0.113.5", "198.51.100.9"},               // not a proxy: the header is the client's
		{"127.0.0.1:4000", "203.0.113.5", "203.0.113.5"},                   // through the local proxy
		{"10.1.2.3:4000", "1.1.1.1, 203.0.113.5, 10.9.9.9", "203.0.113.5"}, // two proxies; 1.1.1.1 is what the client wrote
		{"10.1.2.3:4000", "", "10.1.2.3"},                                  // a proxy asking for itself
		{"10.1.2.3:4000", "10.0.0.1, 10.0.0.2", "10.0.0.1"},                // proxies all the way down
		{"10.1.2.3:4000", "203.0.113.5, bogus", "10.1.2.3"},                // a malformed hop stops the walk
		{"[::ffff:192.0.2.7]:4000", "203.0.113.6", "203.0.113.6"},          // mapped addresses compare unmapped
		{"[2001:db8::1]:4000", "203.0.113.5", "2001:db8::1"},
	} {
		r := httptest.NewRequest("POST", "/auth/device", strings.NewReader("{}"))
		r.RemoteAddr = c.peer
		if c.xff != "" {
			r.Header.Set("X-Forwarded-For", c.xff)
		}
		if got := cfg.ClientAddr(r).String(); got != c.want {
			t.Errorf("peer %s, X-Forwarded-For %q: %s, want %s", c.peer, c.xff, got, c.want)
		}
	}
	bad := &console.Config{Issuer: "https://idp.example.org", ClientID: "timon", ClientSecretFile: "/dev/null",
		PublicURL: "https://timon.example.org", TrustedProxies: []string{"10.0.0.0/33", "proxy.lab"}}
	ch = config.Check{}
	bad.Check(&ch)
	if got := strings.Join(ch.Problems(), "\n"); !strings.Contains(got, "trusted_proxies[0]: expected an IP address or a CIDR prefix") ||
		!strings.Contains(got, "trusted_proxies[1]") {
		t.Fatalf("bad proxies:\n%s", got)
	}
}
