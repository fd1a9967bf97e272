package server

import (
	"errors"
	"net/http"

	"timon.dev/timon/core"
	"timon.dev/timon/core/store"
)

// revokeSelf revokes the very token that authenticated the request
// (DELETE /v1/tokens/self): what timon logout and the editors' sign-out
// do, so that a forgotten token does not stay valid on the hub. Any
// token may revoke itself, whatever its scope; a second call is 401, the
// token being revoked.
func (s *Server) revokeSelf(w http.ResponseWriter, r *http.Request) {
	tok := presentedToken(r)
	err := s.o.Store.RevokeToken(r.Context(), tok.ID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		// Deleted between the lookup and now: it is no more valid.
		writeError(w, r, core.Errorf(core.KindUnauthenticated, "unknown token"))
		return
	case err != nil:
		s.log.Error("revoking a token", "token", tok.ID, "err", err)
		writeError(w, r, core.Errorf(core.KindInternal, "the token could not be revoked"))
		return
	}
	s.log.Info("token revoked by its holder", "user", tok.UserID, "token", tok.ID)
	w.WriteHeader(http.StatusNoContent)
}
