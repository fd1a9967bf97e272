package console

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"timon.dev/timon/core/config"
	"timon.dev/timon/core/identity"
)

// section is where the settings are written in timon.yaml.
const section = "sign_in"

// Config is the sign_in section of timon.yaml (a config.Section): the
// institution's OpenID Connect provider and how its groups become policy
// groups. The console, the people's sign-in and the editors' device
// sign-in are off unless issuer is set. Each field says what its zero
// value means; Check gives it that meaning.
type Config struct {
	// Issuer is the provider's issuer URL (its discovery document is at
	// Issuer/.well-known/openid-configuration). Zero: sign-in is off.
	Issuer string `yaml:"issuer"`
	// ClientID is timon's client at the provider (a confidential client
	// whose redirect URI is PublicURL/auth/callback).
	ClientID         string `yaml:"client_id"`
	ClientSecretEnv  string `yaml:"client_secret_env"` // zero: TIMON_OIDC_CLIENT_SECRET
	ClientSecretFile string `yaml:"client_secret_file"`
	// Scopes are asked for at sign-in; zero means openid, profile, email
	// (openid is always added).
	Scopes []string `yaml:"scopes"`
	// GroupsClaim is the claim carrying the person's groups; zero means
	// groups.
	GroupsClaim string `yaml:"groups_claim"`
	// UserClaim is the claim giving the person's user id in timon
	// (policy rules, quotas, the journal); zero means email. It is fixed at
	// the first sign-in.
	UserClaim string `yaml:"user_claim"`
	// Groups maps a value of the groups claim onto policy groups.
	Groups map[string][]string `yaml:"groups"`
	// DefaultGroup is the policy group of everyone signed in, and the only
	// one of a person whose groups claim is missing or maps to nothing.
	// Zero: such a person is refused.
	DefaultGroup string `yaml:"default_group"`
	// AdminGroups are the policy groups whose members reach the admin
	// console; zero means server.admin_group.
	AdminGroups []string `yaml:"admin_groups"`
	// PublicURL is the hub's external URL, as browsers and editors reach
	// it (https://timon.example.org). Cookies are Secure (with the
	// __Host- prefix) unless it is http on a loopback address, which
	// only tests use.
	PublicURL string `yaml:"public_url"`
	// SessionLifetime bounds a browser session; zero means 12h.
	SessionLifetime config.Duration `yaml:"session_lifetime"`
	// SessionIdle ends a session unused that long; zero means 2h.
	SessionIdle config.Duration `yaml:"session_idle"`
	// DeviceTokenLifetime is the lifetime of a token given to an editor
	// by timon login; zero means 90d.
	DeviceTokenLifetime config.Duration `yaml:"device_token_lifetime"`
	// TrustedProxies are the addresses or CIDR prefixes of the reverse
	// proxies in front of the hub (10.0.0.0/8, 127.0.0.1). A request from
	// one of them comes from the last address of X-Forwarded-For that is
	// not a trusted proxy: what device sign-in's per-address limit counts.
	// Zero: no proxy is trusted, and behind one every person shares its
	// address, and its limit.
	TrustedProxies []string `yaml:"trusted_proxies"`

	// ClientSecret is resolved from the variable or file above.
	ClientSecret string `yaml:"-"`
	// proxies are TrustedProxies, parsed by Check.
	proxies []netip.Prefix
}

// Enabled reports whether sign-in is configured.
func (s *Config) Enabled() bool { return s.Issuer != "" }

// SecureCookies reports whether cookies are marked Secure: always, except
// for an http public URL on a loopback address.
func (s *Config) SecureCookies() bool {
	u, err := url.Parse(s.PublicURL)
	return err != nil || u.Scheme != "http" || !loopback(u.Hostname())
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Mapping is the group mapping of the settings.
func (s *Config) Mapping() identity.Mapping {
	return identity.Mapping{Table: s.Groups, Default: s.DefaultGroup, Admin: s.AdminGroups}
}

// Check gives the zero values their meaning, resolves the client secret
// and reports what is wrong (config.Settings).
func (s *Config) Check(c *config.Check) {
	if len(s.Scopes) == 0 {
		s.Scopes = []string{"openid", "profile", "email"}
	} else if !slices.Contains(s.Scopes, "openid") {
		s.Scopes = append([]string{"openid"}, s.Scopes...)
	}
	if s.GroupsClaim == "" {
		s.GroupsClaim = "groups"
	}
	if s.UserClaim == "" {
		s.UserClaim = "email"
	}
	if s.SessionLifetime == 0 {
		s.SessionLifetime = config.Duration(identity.DefaultSessionLifetime)
	}
	if s.SessionIdle == 0 {
		s.SessionIdle = config.Duration(identity.DefaultIdleTimeout)
	}
	if s.DeviceTokenLifetime == 0 {
		s.DeviceTokenLifetime = config.Duration(identity.DefaultDeviceTokenLife)
	}
	if len(s.AdminGroups) == 0 && c.Config != nil && c.Config.Server.AdminGroup != "" {
		s.AdminGroups = []string{c.Config.Server.AdminGroup}
	}
	s.ClientSecret = c.SecretOr("", "TIMON_OIDC_CLIENT_SECRET", &s.ClientSecretEnv, s.ClientSecretFile)
	if !s.Enabled() {
		return
	}
	if u, err := url.Parse(s.Issuer); err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && loopback(u.Hostname()))) {
		c.Add("issuer", "expected the provider's https URL such as https://idp.example.org/realms/staff, got %q", s.Issuer)
	}
	if s.ClientID == "" {
		c.Add("client_id", "required when sign_in.issuer is set")
	}
	if s.ClientSecret == "" {
		c.Add("", "the client secret is not set: set %s", config.Place(section, "client_secret", s.ClientSecretEnv, s.ClientSecretFile))
	}
	u, err := url.Parse(s.PublicURL)
	switch {
	case s.PublicURL == "":
		c.Add("public_url", "required when sign_in.issuer is set: the hub's external URL, such as https://timon.example.org")
	case err != nil || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "":
		c.Add("public_url", "expected the hub's external URL without a path, such as https://timon.example.org, got %q", s.PublicURL)
	case u.Scheme == "http" && !loopback(u.Hostname()):
		c.Add("public_url", "must be https (sessions travel in cookies); plain http is only for loopback tests, got %q", s.PublicURL)
	case u.Scheme != "https" && u.Scheme != "http":
		c.Add("public_url", "expected an https URL, got %q", s.PublicURL)
	}
	s.PublicURL = strings.TrimSuffix(s.PublicURL, "/")
	s.proxies = s.proxies[:0]
	for i, v := range s.TrustedProxies {
		p, err := parsePrefix(v)
		if err != nil {
			c.Add(fmt.Sprintf("trusted_proxies[%d]", i), "expected an IP address or a CIDR prefix such as 10.0.0.0/8, got %q", v)
			continue
		}
		s.proxies = append(s.proxies, p)
	}
	if time.Duration(s.SessionLifetime) < 0 || time.Duration(s.SessionIdle) < 0 || time.Duration(s.DeviceTokenLifetime) < 0 {
		c.Add("", "durations must be positive")
	}
	for claim, groups := range s.Groups {
		for i, g := range groups {
			if strings.TrimSpace(g) == "" {
				c.Add(config.JoinPath("groups", claim), "entry %d: expected a policy group name", i)
			}
		}
	}
}

// Integration says whether sign-in is on (config.Integrated).
func (s *Config) Integration() config.Integration {
	i := config.Integration{Name: "console", Path: section}
	switch {
	case !s.Enabled():
		i.State, i.Why = config.StateOff, "set sign_in.issuer, client_id, the client secret ("+
			config.Place(section, "client_secret", s.ClientSecretEnv, s.ClientSecretFile)+") and public_url to switch on sign-in, the console and timon login"
	case s.DefaultGroup == "":
		i.State, i.Why = config.StateOn, "sign-in with "+s.Issuer+"; people whose groups map to nothing are refused (no sign_in.default_group)"
	default:
		i.State, i.Why = config.StateOn, "sign-in with "+s.Issuer+"; people whose groups map to nothing get "+s.DefaultGroup
	}
	return i
}

// parsePrefix reads an address (a prefix of its full length) or a prefix.
func parsePrefix(v string) (netip.Prefix, error) {
	if a, err := netip.ParseAddr(v); err == nil {
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(v)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(p.Addr().Unmap(), min(p.Bits(), p.Addr().Unmap().BitLen())).Masked(), nil
}

// ClientAddr is the address r comes from: its peer's, unless the peer is
// a trusted proxy; then the nearest address of X-Forwarded-For that is not
// one (a client writes what it likes in that header, but only the proxies
// we trust append to it). A malformed hop stops the walk at the proxy.
func (s *Config) ClientAddr(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	peer = peer.Unmap().WithZone("")
	if !s.trusted(peer) {
		return peer
	}
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(v, ",")...)
	}
	addr := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return addr
		}
		addr = a.Unmap().WithZone("")
		if !s.trusted(addr) {
			return addr
		}
	}
	return addr
}

func (s *Config) trusted(a netip.Addr) bool {
	return slices.ContainsFunc(s.proxies, func(p netip.Prefix) bool { return p.Contains(a) })
}
