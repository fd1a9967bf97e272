package console

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"timon.dev/timon/core/identity"
)

// Cookie names: with the __Host- prefix whenever cookies are Secure, so
// that no subdomain can set or shadow them.
func (c *Console) sessionCookie() string {
	if c.secure {
		return "__Host-timon_session"
	}
	return "timon_session"
}

func (c *Console) loginCookie() string {
	if c.secure {
		return "__Host-timon_login"
	}
	return "timon_login"
}

func (c *Console) setCookie(w http.ResponseWriter, name, value string, maxAge time.Duration) {
	ck := &http.Cookie{Name: name, Value: value, Path: "/", HttpOnly: true, Secure: c.secure, SameSite: http.SameSiteLaxMode}
	if maxAge > 0 {
		ck.MaxAge = int(maxAge / time.Second)
	} else {
		ck.MaxAge = -1
	}
	http.SetCookie(w, ck)
}

// SafeReturn returns target if it is a path on this hub, and /console/
// otherwise: no scheme, no host, no protocol-relative //, no backslash
// (that browsers read as a slash), no control character.
func SafeReturn(target string) string {
	const home = "/console/"
	if target == "" || len(target) > 2048 || !strings.HasPrefix(target, "/") || strings.HasPrefix(target, "//") ||
		strings.ContainsAny(target, "\\") {
		return home
	}
	for _, r := range target {
		if r < 0x20 || r == 0x7f {
			return home
		}
	}
	u, err := url.Parse(target)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || !strings.HasPrefix(u.Path, "/") || strings.HasPrefix(u.Path, "//") {
		return home
	}
	return target
}

type sessionKey struct{}

type signedIn struct {
	ses    *identity.Session
	person *identity.Person
}

func current(r *http.Request) signedIn {
	s, _ := r.Context().Value(sessionKey{}).(signedIn)
	return s
}

// withSession lets through a signed-in person only: a page asked for
// without a session redirects to the sign-in page (coming back here
// after), a form posted without one is refused, and every form must carry
// the session's CSRF token.
func (c *Console) withSession(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var secret string
		if ck, err := r.Cookie(c.sessionCookie()); err == nil {
			secret = ck.Value
		}
		ses, p, err := c.id.Authenticate(r.Context(), secret)
		if err != nil {
			if secret != "" {
				c.setCookie(w, c.sessionCookie(), "", 0)
			}
			if !errors.Is(err, identity.ErrNoSession) && !errors.Is(err, identity.ErrSessionEnded) &&
				!errors.Is(err, identity.ErrSessionExpired) && !errors.Is(err, identity.ErrSessionIdle) {
				c.log.Error("reading a session", "err", err)
				c.problem(w, r, http.StatusInternalServerError, nil, "error.internal")
				return
			}
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				http.Redirect(w, r, "/console/signin?return="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			c.problem(w, r, http.StatusUnauthorized, nil, "error.signed_out")
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
			if err := r.ParseForm(); err != nil || !ses.CheckCSRF(r.PostForm.Get("csrf")) {
				c.problem(w, r, http.StatusForbidden, nil, "error.csrf")
				return
			}
		}
		next(w, r.WithContext(context.WithValue(r.Context(), sessionKey{}, signedIn{ses, p})))
	}
}

// withAdmin is withSession for administrators only: 403 for others.
func (c *Console) withAdmin(next http.HandlerFunc) http.HandlerFunc {
	return c.withSession(func(w http.ResponseWriter, r *http.Request) {
		if !current(r).person.Admin {
			c.problem(w, r, http.StatusForbidden, c.signedView(r), "error.not_admin")
			return
		}
		next(w, r)
	})
}

func (c *Console) signedView(r *http.Request) *view {
	s := current(r)
	if s.ses == nil {
		return &view{}
	}
	return &view{Person: s.person, CSRF: s.ses.CSRFToken()}
}

func (c *Console) signInPage(w http.ResponseWriter, r *http.Request) {
	ret := SafeReturn(r.URL.Query().Get("return"))
	if ck, err := r.Cookie(c.sessionCookie()); err == nil {
		if _, _, err := c.id.Authenticate(r.Context(), ck.Value); err == nil {
			http.Redirect(w, r, ret, http.StatusSeeOther)
			return
		}
	}
	c.render(w, r, http.StatusOK, "signin", "signin.title", &view{Data: map[string]any{
		"LoginURL":  "/auth/login?return=" + url.QueryEscape(ret),
		"SignedOut": r.URL.Query().Has("signed_out"),
	}})
}

// login starts the authorization code flow: a sealed attempt (nonce, PKCE
// verifier, return path) under a random state, the state also in a cookie
// so that the callback comes back to the browser that started it.
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	p, err := c.oidcProvider(r.Context())
	if err != nil {
		c.log.Warn("the identity provider does not answer", "issuer", c.cfg.Issuer, "err", err)
		c.problem(w, r, http.StatusBadGateway, nil, "error.idp_down")
		return
	}
	verifier := oauth2.GenerateVerifier()
	nonce := rand.Text()
	state, err := c.id.StartLogin(r.Context(), identity.Login{Nonce: nonce, Verifier: verifier, ReturnTo: SafeReturn(r.URL.Query().Get("return"))})
	if err != nil {
		c.log.Error("starting a sign-in", "err", err)
		c.problem(w, r, http.StatusInternalServerError, nil, "error.internal")
		return
	}
	c.setCookie(w, c.loginCookie(), state, identity.DefaultLoginLifetime)
	http.Redirect(w, r, c.oauth(p).AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)), http.StatusFound)
}

// callback finishes the sign-in: state against the cookie and the stored
// attempt (once), code exchanged with the PKCE verifier, ID token verified
// (issuer, audience, expiry, signature) and its nonce checked; then the
// person is provisioned and gets a brand-new session.
func (c *Console) callback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	state := q.Get("state")
	ck, err := r.Cookie(c.loginCookie())
	c.setCookie(w, c.loginCookie(), "", 0)
	if err != nil || state == "" || subtle.ConstantTimeCompare([]byte(ck.Value), []byte(state)) != 1 {
		c.problem(w, r, http.StatusBadRequest, nil, "error.login_state")
		return
	}
	l, err := c.id.FinishLogin(r.Context(), state)
	if err != nil {
		if !errors.Is(err, identity.ErrUnknownLogin) {
			c.log.Error("finishing a sign-in", "err", err)
		}
		c.problem(w, r, http.StatusBadRequest, nil, "error.login_state")
		return
	}
	if e := q.Get("error"); e != "" {
		c.problem(w, r, http.StatusForbidden, nil, "error.idp_refused", e)
		return
	}
	p, err := c.oidcProvider(r.Context())
	if err != nil {
		c.problem(w, r, http.StatusBadGateway, nil, "error.idp_down")
		return
	}
	ctx := oidc.ClientContext(r.Context(), c.client)
	oc := c.oauth(p)
	tok, err := oc.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(l.Verifier))
	if err != nil {
		c.log.Warn("exchanging the authorization code", "err", err)
		c.problem(w, r, http.StatusBadGateway, nil, "error.idp_exchange")
		return
	}
	rawID, _ := tok.Extra("id_token").(string)
	idt, err := p.Verifier(&oidc.Config{ClientID: c.cfg.ClientID}).Verify(ctx, rawID)
	if err != nil {
		c.log.Warn("verifying the ID token", "err", err)
		c.problem(w, r, http.StatusBadGateway, nil, "error.idp_exchange")
		return
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(l.Nonce)) != 1 {
		c.log.Warn("ID token with a wrong nonce")
		c.problem(w, r, http.StatusBadRequest, nil, "error.login_state")
		return
	}
	claims := map[string]any{}
	if err := idt.Claims(&claims); err != nil {
		c.problem(w, r, http.StatusBadGateway, nil, "error.idp_exchange")
		return
	}
	// Providers that keep groups or the e-mail out of the ID token give
	// them at the userinfo endpoint.
	if _, ok := claims[c.cfg.GroupsClaim]; !ok || claims[c.cfg.UserClaim] == nil {
		if ui, err := p.UserInfo(ctx, oauth2.StaticTokenSource(tok)); err == nil && ui.Subject == idt.Subject {
			extra := map[string]any{}
			if ui.Claims(&extra) == nil {
				for k, v := range extra {
					if _, ok := claims[k]; !ok {
						claims[k] = v
					}
				}
			}
		}
	}
	person, err := c.id.SignIn(r.Context(), identity.Claims{
		Issuer: idt.Issuer, Subject: idt.Subject,
		UserID: claimString(claims, c.cfg.UserClaim),
		Name:   firstNonEmpty(claimString(claims, "name"), claimString(claims, "preferred_username")),
		Email:  claimString(claims, "email"),
		Groups: claimStrings(claims, c.cfg.GroupsClaim),
	})
	switch {
	case errors.Is(err, identity.ErrNoGroup):
		c.problem(w, r, http.StatusForbidden, nil, "error.no_group")
		return
	case errors.Is(err, identity.ErrUserIDTaken):
		c.problem(w, r, http.StatusForbidden, nil, "error.user_taken")
		return
	case err != nil:
		c.log.Error("signing a person in", "err", err)
		c.problem(w, r, http.StatusForbidden, nil, "error.sign_in_failed")
		return
	}
	// A session this browser held before (or one planted in it) ends
	// here: the person gets a new id and secret.
	if old, err := r.Cookie(c.sessionCookie()); err == nil {
		if ses, _, err := c.id.Authenticate(r.Context(), old.Value); err == nil {
			c.id.EndSession(r.Context(), ses.ID)
		}
	}
	ses, err := c.id.StartSession(r.Context(), person.ID)
	if err != nil {
		c.log.Error("starting a session", "err", err)
		c.problem(w, r, http.StatusInternalServerError, nil, "error.internal")
		return
	}
	c.setCookie(w, c.sessionCookie(), ses.Secret(), time.Duration(c.cfg.SessionLifetime))
	c.log.Info("signed in", "user", person.ID, "session", ses.ID, "admin", person.Admin)
	http.Redirect(w, r, SafeReturn(l.ReturnTo), http.StatusSeeOther)
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	s := current(r)
	if err := c.id.EndSession(r.Context(), s.ses.ID); err != nil {
		c.log.Error("ending a session", "err", err)
		c.problem(w, r, http.StatusInternalServerError, nil, "error.internal")
		return
	}
	c.setCookie(w, c.sessionCookie(), "", 0)
	http.Redirect(w, r, "/console/signin?signed_out", http.StatusSeeOther)
}

func claimString(claims map[string]any, name string) string {
	switch v := claims[name].(type) {
	case string:
		return strings.TrimSpace(v)
	case float64:
		return fmt.Sprint(v)
	}
	return ""
}

// claimStrings reads a groups claim: a list of strings, or one string;
// nil when the claim is missing.
func claimStrings(claims map[string]any, name string) []string {
	v, ok := claims[name]
	if !ok || v == nil {
		return nil
	}
	out := []string{}
	switch v := v.(type) {
	case string:
		out = append(out, v)
	case []any:
		for _, e := range v {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
	}
	return out
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
