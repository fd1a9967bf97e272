package server

import (
	"errors"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"timon.dev/timon/core"
	"timon.dev/timon/core/remote"
	"timon.dev/timon/core/store"
)

const principalKey = "timon.principal"

// authenticate turns a personal bearer token into the request's Principal.
// Its errors take the shape of the route (writeRouteError): OpenAI's on the
// OpenAI-compatible routes.
func (s *Server) authenticate(c *gin.Context) {
	h := c.GetHeader("Authorization")
	scheme, secret, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(secret) == "" {
		writeRouteError(c, core.Errorf(core.KindUnauthenticated, "missing bearer token: send Authorization: Bearer <token> (create one with timon token create)"))
		return
	}
	tok, err := s.o.Store.LookupToken(c.Request.Context(), strings.TrimSpace(secret))
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeRouteError(c, core.Errorf(core.KindUnauthenticated, "unknown token"))
		return
	case err != nil:
		s.log.Error("token lookup failed", "err", err)
		writeRouteError(c, core.Errorf(core.KindInternal, "the token store is unavailable"))
		return
	}
	now := time.Now()
	if !tok.Active(now) {
		if !tok.RevokedAt.IsZero() {
			writeRouteError(c, core.Errorf(core.KindUnauthenticated, "token %s was revoked", tok.ID))
		} else {
			writeRouteError(c, core.Errorf(core.KindUnauthenticated, "token %s has expired", tok.ID))
		}
		return
	}
	if err := s.o.Store.TouchToken(c.Request.Context(), tok, now); err != nil {
		s.log.Warn("recording token use", "token", tok.ID, "err", err)
	}
	integ := core.IntegrationAPI
	if v := core.Integration(c.GetHeader(remote.IntegrationHeader)); v == core.IntegrationLSP {
		integ = v
	}
	c.Set(principalKey, core.Principal{UserID: tok.UserID, Groups: tok.Groups, Integration: integ})
	c.Next()
}

func principal(c *gin.Context) core.Principal {
	p, _ := c.Get(principalKey)
	return p.(core.Principal)
}

func (s *Server) requireAdmin(c *gin.Context) {
	if !principal(c).InGroup(s.o.AdminGroup) {
		writeError(c, core.Errorf(core.KindDenied, "admin routes need a token of group %s", s.o.AdminGroup))
		return
	}
	c.Next()
}
