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

// authenticate turns a personal bearer token into the request's Principal.
// Its errors take the shape of the route (writeRouteError): OpenAI's on the
// OpenAI-compatible routes.
func (s *Server) authenticate(next http.Handler) http.Handler {
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
		if err := tok.Usable(now, string(integ)); err != nil {
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
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	})
}

// principal is the Principal authenticate put in r's context.
func principal(r *http.Request) core.Principal {
	return r.Context().Value(principalKey{}).(core.Principal)
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
