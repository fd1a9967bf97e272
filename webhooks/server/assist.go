package server

import (
	"encoding/json"
	"net/http"

	"github.com/gin-gonic/gin"

	"timon.dev/timon/core"
	"timon.dev/timon/core/remote"
)

func (s *Server) assist(c *gin.Context) {
	var body remote.AssistRequest
	dec := json.NewDecoder(c.Request.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		writeError(c, decodeError(err))
		return
	}
	req := body.Request(principal(c))
	if !body.Stream {
		resp, err := s.o.Assistant.Do(c.Request.Context(), req)
		if err != nil {
			writeError(c, err)
			return
		}
		c.JSON(http.StatusOK, resp)
		return
	}
	// Errors found before the first byte of the answer still get their
	// HTTP status; later ones arrive as an error event.
	sse := newSSE(c)
	resp, err := s.o.Assistant.Stream(c.Request.Context(), req, func(d string) error {
		return sse.event(remote.EventDelta, remote.Delta{Text: d})
	})
	if err != nil {
		if !sse.started {
			writeError(c, err)
			return
		}
		sse.event(remote.EventError, bodyOf(core.AsError(err, "internal error")))
		return
	}
	sse.event(remote.EventDone, resp)
}

// sse writes server-sent events, starting the response on the first one.
type sse struct {
	c       *gin.Context
	started bool
}

func newSSE(c *gin.Context) *sse { return &sse{c: c} }

func (s *sse) start() {
	if s.started {
		return
	}
	s.started = true
	h := s.c.Writer.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	s.c.Status(http.StatusOK)
}

func (s *sse) event(name string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	s.start()
	w := s.c.Writer
	if name != "" {
		w.WriteString("event: " + name + "\n")
	}
	w.WriteString("data: ")
	w.Write(data)
	if _, err := w.WriteString("\n\n"); err != nil {
		return err
	}
	w.Flush()
	return s.c.Request.Context().Err()
}

func (s *sse) raw(line string) error {
	s.start()
	if _, err := s.c.Writer.WriteString(line); err != nil {
		return err
	}
	s.c.Writer.Flush()
	return s.c.Request.Context().Err()
}
