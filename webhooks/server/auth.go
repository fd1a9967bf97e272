package server

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"timon.dev/timon/core"
	"timon.dev/timon/core/remote"
	"timon.dev/timon/core/store"
)

// principalKey is the request context's key of the Principal.
type principalKey struct{}

// tokenKey is the request context's key of the *store.Token that
// authenticated the request.
type tokenKey struct{}

// authenticate turns a personal bearer token into the request's Principal.
// Its errors take the shape of the route (writeRouteError): OpenAI's on the
// OpenAI-compatible routes.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return s.bearer(true, next)
}

// authenticateSelf is authenticate for the routes that act on the
// presenting token only (revoking it): the token must be known, active
// and unrevoked, but its scope is not checked, since giving up a token
// grants nothing whatever the integration it was made for.
func (s *Server) authenticateSelf(next http.Handler) http.Handler {
	return s.bearer(false, next)
}

// bearer is authenticate, checking the token's scope when scoped.
func (s *Server) bearer(scoped bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Get("Authorization")
		scheme, secret, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(secret) == "" {
			writeRouteError(w, r, core.Errorf(core.KindUnauthenticated, "missing bearer token: send Authorization: Bearer <token> (create one with timon token create)"))
			return
		}
		tok, err := s.o.Store.LookupToken(r.Context(), strings.TrimSpace(secret))
		switch {
		case errors.Is(err, store.ErrNotFound):
			writeRouteError(w, r, core.Errorf(core.KindUnauthenticated, "unknown token"))
			return
		case err != nil:
			s.log.Error("token lookup failed", "err", err)
			writeRouteError(w, r, core.Errorf(core.KindInternal, "the token store is unavailable"))
			return
		}
		// What the token may be used for is decided by the token: a
		// request claims the editor's integration only to get its policy,
		// and a token scoped to other integrations is refused.
		integ := core.IntegrationAPI
		if v := core.Integration(r.Header.Get(remote.IntegrationHeader)); v == core.IntegrationLSP {
			integ = v
		}
		now := time.Now()
		err = tok.Usable(now, string(integ))
		if !scoped && errors.Is(err, store.ErrTokenScope) {
			err = nil // Usable checks revocation and expiry first: the token is active
		}
		if err != nil {
			switch {
			case errors.Is(err, store.ErrTokenScope):
				writeRouteError(w, r, core.Errorf(core.KindDenied, "%v", err))
			case errors.Is(err, store.ErrTokenRevoked):
				writeRouteError(w, r, core.Errorf(core.KindUnauthenticated, "token %s was revoked", tok.ID))
			default:
				writeRouteError(w, r, core.Errorf(core.KindUnauthenticated, "token %s has expired", tok.ID))
			}
			return
		}
		if err := s.o.Store.TouchToken(r.Context(), tok, now); err != nil {
			s.log.Warn("recording token use", "token", tok.ID, "err", err)
		}
		p := core.Principal{UserID: tok.UserID, Groups: tok.Groups, Integration: integ}
		ctx := context.WithValue(context.WithValue(r.Context(), principalKey{}, p), tokenKey{}, tok)
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// principal is the Principal authenticate put in r's context.
func principal(r *http.Request) core.Principal {
	return r.Context().Value(principalKey{}).(core.Principal)
}

// presentedToken is the token that authenticated r (authenticate put it in
// r's context).
func presentedToken(r *http.Request) *store.Token {
	return r.Context().Value(tokenKey{}).(*store.Token)
}

func (s *Server) requireAdmin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !principal(r).InGroup(s.o.AdminGroup) {
			writeError(w, r, core.Errorf(core.KindDenied, "admin routes need a token of group %s", s.o.AdminGroup))
			return
		}
		next.ServeHTTP(w, r)
	})
}
