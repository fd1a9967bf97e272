package server

import (
	"net/http"
	"time"

	"timon.dev/timon/core"
	"timon.dev/timon/core/remote"
)

// maxSuggestionLanguages bounds the languages of one report.
const maxSuggestionLanguages = 64

// suggestionCounts receives POST /v1/telemetry/completions from timon lsp
// in remote mode: the counts of completion suggestions shown and accepted
// since its last report, by language, never their content. They are added
// to the token's user and integration, on today's date, and to /metrics.
func (s *Server) suggestionCounts(w http.ResponseWriter, r *http.Request) {
	if s.o.Suggestions == nil {
		writeError(w, r, core.Errorf(core.KindNotFound, "this hub does not count suggestions"))
		return
	}
	var body remote.SuggestionsRequest
	if err := decodeBody(r.Body, &body); err != nil {
		writeError(w, r, err)
		return
	}
	if len(body.Counts) > maxSuggestionLanguages {
		writeError(w, r, core.Errorf(core.KindInvalid, "counts: expected at most %d languages", maxSuggestionLanguages))
		return
	}
	if err := s.o.Suggestions.Add(r.Context(), principal(r), time.Now(), body.Counts); err != nil {
		if core.ErrorKind(err) != core.KindInvalid {
			s.log.Error("recording suggestion counts", "err", err)
			err = core.Errorf(core.KindInternal, "the counts could not be recorded")
		}
		writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
