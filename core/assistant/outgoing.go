package assistant

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"time"

	"timon.dev/timon/core"
	"timon.dev/timon/core/redact"
)

// notSent lists the string fields of core.Request (paths of Go field names,
// slice elements without an index) that never reach a model and that the
// engine reads as controls: who asks, validated enums, ids, the requested
// model (which policy replaces by a configured one). Every other string
// field, present or added later, is redacted before anything leaves: a
// prompt may use it (Origin.Path in explain and review prompts, schemas,
// names…), and redacting a field that is not sent costs little, while
// forgetting one that is sent leaks it.
var notSent = map[string]bool{
	"ID":             true,
	"Principal":      true,
	"Task":           true,
	"Format":         true,
	"Classification": true,
	"Model":          true,
	"ConversationID": true,
	"Messages.Role":  true,
}

// outgoing redacts a copy of a request: every string reachable from it
// (nested structs, slices, maps, pointers, interfaces; json.RawMessage is
// decoded and its keys and string values redacted) except the notSent
// fields, all with one vault, under ctx and a deadline.
type outgoing struct {
	ctx      context.Context
	red      *redact.Redactor
	vault    *redact.Vault
	deadline time.Time // zero: none
	found    []redact.Finding
}

var rawMessageType = reflect.TypeFor[json.RawMessage]()

// text redacts one string.
func (o *outgoing) text(s string) (string, error) {
	if s == "" {
		return s, nil
	}
	out, f, err := o.red.RedactContext(o.ctx, o.vault, s)
	if err != nil {
		return "", err
	}
	o.found = append(o.found, f...)
	// The monotonic clock, not only the context's timer: a budget spent
	// is spent even if the timer has not fired yet.
	if !o.deadline.IsZero() && time.Now().After(o.deadline) {
		return "", fmt.Errorf("redact: %w", context.DeadlineExceeded)
	}
	return out, nil
}

// value returns a redacted deep copy of v; path names the field (for
// notSent).
func (o *outgoing) value(v reflect.Value, path string) (reflect.Value, error) {
	if notSent[path] {
		return v, nil
	}
	t := v.Type()
	switch v.Kind() {
	case reflect.String:
		s, err := o.text(v.String())
		if err != nil {
			return v, err
		}
		return reflect.ValueOf(s).Convert(t), nil
	case reflect.Struct:
		out := reflect.New(t).Elem()
		out.Set(v)
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			p := f.Name
			if path != "" {
				p = path + "." + f.Name
			}
			nv, err := o.value(v.Field(i), p)
			if err != nil {
				return v, err
			}
			out.Field(i).Set(nv)
		}
		return out, nil
	case reflect.Slice, reflect.Array:
		var out reflect.Value
		if t.Kind() == reflect.Array {
			out = reflect.New(t).Elem()
		} else {
			if v.IsNil() {
				return v, nil
			}
			if t.Elem().Kind() == reflect.Uint8 {
				if t == rawMessageType {
					b, err := o.json(v.Bytes())
					if err != nil {
						return v, err
					}
					return reflect.ValueOf(b).Convert(t), nil
				}
				s, err := o.text(string(v.Bytes()))
				if err != nil {
					return v, err
				}
				return reflect.ValueOf([]byte(s)).Convert(t), nil
			}
			out = reflect.MakeSlice(t, v.Len(), v.Len())
		}
		for i := range v.Len() {
			nv, err := o.value(v.Index(i), path)
			if err != nil {
				return v, err
			}
			out.Index(i).Set(nv)
		}
		return out, nil
	case reflect.Map:
		if v.IsNil() {
			return v, nil
		}
		out := reflect.MakeMapWithSize(t, v.Len())
		for it := v.MapRange(); it.Next(); {
			k, err := o.value(it.Key(), path)
			if err != nil {
				return v, err
			}
			e, err := o.value(it.Value(), path)
			if err != nil {
				return v, err
			}
			out.SetMapIndex(k, e)
		}
		return out, nil
	case reflect.Pointer:
		if v.IsNil() {
			return v, nil
		}
		e, err := o.value(v.Elem(), path)
		if err != nil {
			return v, err
		}
		out := reflect.New(t.Elem())
		out.Elem().Set(e)
		return out, nil
	case reflect.Interface:
		if v.IsNil() {
			return v, nil
		}
		e, err := o.value(v.Elem(), path)
		if err != nil {
			return v, err
		}
		out := reflect.New(t).Elem()
		out.Set(e)
		return out, nil
	}
	return v, nil
}

// json redacts a JSON document (a response_format schema): it is decoded
// and written again in the same order with plain string escapes, so that
// values hidden behind \u escapes are seen, then the whole text is redacted
// — keys and string values alike, both reach the model, with the context a
// detector needs ("password": "…") — and must still be valid JSON. A
// finding that cannot be replaced inside a string (a card number written as
// a JSON number) refuses the request.
func (o *outgoing) json(raw []byte) ([]byte, error) {
	plain, err := plainJSON(raw)
	if err != nil {
		return nil, &core.Error{Kind: core.KindInvalid, Message: "response_format needs a valid JSON schema", Err: err}
	}
	s, err := o.text(string(plain))
	if err != nil {
		return nil, err
	}
	if !json.Valid([]byte(s)) {
		return nil, &core.Error{Kind: core.KindBlocked,
			Message: "the response_format schema contains a value that cannot be replaced by a placeholder inside its JSON, so nothing was sent"}
	}
	return []byte(s), nil
}

// plainJSON rewrites a JSON document token by token, keeping the order of
// object keys (which structured output follows) and escaping in strings
// only what JSON requires.
func plainJSON(raw []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	type frame struct {
		object bool
		n      int // tokens written in this container
	}
	var stack []frame
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			b.WriteByte(byte(d))
			stack = stack[:len(stack)-1]
			continue
		}
		if n := len(stack); n > 0 {
			f := &stack[n-1]
			switch {
			case f.n == 0:
			case f.object && f.n%2 == 1:
				b.WriteByte(':')
			default:
				b.WriteByte(',')
			}
			f.n++
		}
		switch t := tok.(type) {
		case json.Delim:
			b.WriteByte(byte(t))
			stack = append(stack, frame{object: t == '{'})
		case json.Number:
			b.WriteString(string(t))
		default: // string, bool, nil
			if err := enc.Encode(t); err != nil {
				return nil, err
			}
			b.Truncate(b.Len() - 1) // Encode's newline
		}
	}
	return b.Bytes(), nil
}

// redactRequest returns a copy of req whose every string that may leave
// went through the redactor (see notSent), and the counts of what was
// found, by type. Redaction runs under ctx and, when budget > 0, a time
// budget: exceeding it refuses the request.
func redactRequest(ctx context.Context, red *redact.Redactor, v *redact.Vault, req *core.Request, budget time.Duration) (*core.Request, map[string]int, error) {
	o := &outgoing{ctx: ctx, red: red, vault: v}
	if budget > 0 {
		var cancel context.CancelFunc
		o.deadline = time.Now().Add(budget)
		o.ctx, cancel = context.WithDeadline(ctx, o.deadline)
		defer cancel()
	}
	out, err := o.value(reflect.ValueOf(req).Elem(), "")
	counts := redact.Counts(o.found)
	if len(counts) == 0 {
		counts = nil
	}
	if err != nil {
		return nil, counts, redactionError(ctx, err, budget)
	}
	r := out.Interface().(core.Request)
	return &r, counts, nil
}

func redactionError(ctx context.Context, err error, budget time.Duration) error {
	var ce *core.Error
	var be *redact.BlockedError
	switch {
	case errors.As(err, &ce):
		return ce
	case errors.As(err, &be):
		return &core.Error{Kind: core.KindBlocked, Message: fmt.Sprintf("the request contains a %s, which policy does not allow to leave; nothing was sent", be.Type)}
	case ctx.Err() != nil:
		return &core.Error{Kind: core.KindCanceled, Message: "the request was canceled", Err: ctx.Err()}
	case errors.Is(err, context.DeadlineExceeded):
		return &core.Error{Kind: core.KindUnavailable, Err: core.ErrRedactionBudget,
			Message: fmt.Sprintf("redaction took longer than its budget of %s, so nothing was sent; try again with a shorter input", budget)}
	}
	return &core.Error{Kind: core.KindBlocked, Message: "redaction failed, so nothing was sent", Err: err}
}
