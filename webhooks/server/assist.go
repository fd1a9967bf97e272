package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"

	"timon.dev/timon/core"
	"timon.dev/timon/core/remote"
)

func (s *Server) assist(w http.ResponseWriter, r *http.Request) {
	var body remote.AssistRequest
	if err := decodeBody(r.Body, &body); err != nil {
		writeError(w, r, err)
		return
	}
	req := body.Request(principal(r))
	if !body.Stream {
		resp, err := s.o.Assistant.Do(r.Context(), req)
		if err != nil {
			writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, resp)
		return
	}
	// Errors found before the first byte of the answer still get their
	// HTTP status; later ones arrive as an error event.
	sse := newSSE(w, r)
	resp, err := s.o.Assistant.Stream(r.Context(), req, func(d string) error {
		return sse.event(remote.EventDelta, remote.Delta{Text: d})
	})
	if err != nil {
		if !sse.started {
			writeError(w, r, err)
			return
		}
		sse.event(remote.EventError, bodyOf(core.AsError(err, "internal error")))
		return
	}
	sse.event(remote.EventDone, resp)
}

// sse writes server-sent events, starting the response on the first one.
type sse struct {
	w       http.ResponseWriter
	r       *http.Request
	started bool
}

func newSSE(w http.ResponseWriter, r *http.Request) *sse { return &sse{w: w, r: r} }

func (s *sse) start() {
	if s.started {
		return
	}
	s.started = true
	h := s.w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	s.w.WriteHeader(http.StatusOK)
}

func (s *sse) event(name string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	s.start()
	if name != "" {
		io.WriteString(s.w, "event: "+name+"\n")
	}
	io.WriteString(s.w, "data: ")
	s.w.Write(data)
	if _, err := io.WriteString(s.w, "\n\n"); err != nil {
		return err
	}
	s.flush()
	return s.r.Context().Err()
}

func (s *sse) raw(line string) error {
	s.start()
	if _, err := io.WriteString(s.w, line); err != nil {
		return err
	}
	s.flush()
	return s.r.Context().Err()
}

// flush sends the events written so far; a writer that cannot flush
// sends them when the handler returns.
func (s *sse) flush() { _ = http.NewResponseController(s.w).Flush() }

// decodeBody decodes a native route's JSON body into v: one JSON value,
// no field that v does not have, and errors that name the JSON field and
// the JSON types involved, never Go's.
func decodeBody(r io.Reader, v any) error {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return core.Errorf(core.KindInvalid, "unexpected data after the JSON body")
	}
	return nil
}

// jsonError says what is wrong with a JSON body in the terms of JSON: the
// field's path, the type expected and the type found.
func jsonError(err error) *core.Error {
	var (
		te *json.UnmarshalTypeError
		se *json.SyntaxError
	)
	switch {
	case errors.As(err, &te):
		where := "the body"
		if te.Field != "" {
			where = fmt.Sprintf("field %q", te.Field)
		}
		got, detail, _ := strings.Cut(te.Value, " ")
		if detail != "" && got == "number" {
			got = "the number " + detail
		} else {
			got = article(got)
		}
		return core.Errorf(core.KindInvalid, "%s: expected %s, got %s", where, jsonType(te.Type), got)
	case errors.As(err, &se):
		return core.Errorf(core.KindInvalid, "malformed JSON body: %s (at byte %d)", strings.TrimPrefix(se.Error(), "json: "), se.Offset)
	case errors.Is(err, io.EOF):
		return core.Errorf(core.KindInvalid, "empty body: expected a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return core.Errorf(core.KindInvalid, "malformed JSON body: it ends before the JSON value does")
	}
	// encoding/json has no type for an unknown field: its message is the
	// only way to tell.
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return core.Errorf(core.KindInvalid, "unknown field %s", name)
	}
	return core.Errorf(core.KindInvalid, "malformed JSON body: %s", strings.TrimPrefix(err.Error(), "json: "))
}

// jsonType names the JSON type that decodes into t.
func jsonType(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 && t.Kind() == reflect.Slice && t.Name() == "" {
			return "a base64 string"
		}
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "another JSON value"
}

// article puts "a" or "an" before a JSON type's name (an array, an object).
func article(s string) string {
	if s != "" && strings.ContainsRune("aeiou", rune(s[0])) {
		return "an " + s
	}
	return "a " + s
}
