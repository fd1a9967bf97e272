package server

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"timon.dev/timon/core"
)

// The OpenAI-compatible routes answer errors in OpenAI's shape,
// {"error": {"message", "type", "param", "code"}}, which the official
// clients read, with timon's own fields (code, message, request_id, rule,
// provider, retry_at) beside it for timon's tools; every other route keeps
// timon's {code, message}.

// openAIRoutes are the routes whose errors take OpenAI's shape.
var openAIRoutes = map[string]bool{
	"/v1/chat/completions": true,
	"/v1/completions":      true,
	"/v1/embeddings":       true,
	"/v1/models":           true,
}

// isOpenAIRoute reports whether r is on an OpenAI-compatible route (by its
// path too: a request for a method the route does not have matches none).
func isOpenAIRoute(r *http.Request) bool {
	return openAIRoutes[fullPath(r)] || openAIRoutes[r.URL.Path]
}

// writeRouteError writes err in the shape of r's route.
func writeRouteError(w http.ResponseWriter, r *http.Request, err error) {
	if isOpenAIRoute(r) {
		openAIError(w, r, err)
		return
	}
	writeError(w, r, err)
}

// oaError is the inner object of OpenAI's error shape.
type oaError struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    string  `json:"code"`
}

// oaErrorBody is an error answer of the OpenAI-compatible routes.
type oaErrorBody struct {
	Error oaError `json:"error"`
	errorBody
}

// paramError is a request refused because of one parameter.
type paramError struct {
	param, code, msg string
}

func (e *paramError) Error() string { return e.msg }

// unsupported refuses a parameter timon does not honour.
func unsupported(param, hint string) error {
	msg := "unsupported parameter: " + param
	if hint != "" {
		msg += " (" + hint + ")"
	}
	return &paramError{param: param, code: "unsupported_parameter", msg: msg}
}

// invalidParam refuses a parameter's value.
func invalidParam(param, format string, args ...any) error {
	return &paramError{param: param, code: "invalid_value", msg: core.Errorf(core.KindInvalid, format, args...).Message}
}

// modelNotFound marks a request naming a model no provider serves.
type modelNotFound struct{ err error }

func (e *modelNotFound) Error() string { return e.err.Error() }
func (e *modelNotFound) Unwrap() error { return e.err }

// openAIError writes err in OpenAI's shape.
func openAIError(w http.ResponseWriter, r *http.Request, err error) {
	var pe *paramError
	if errors.As(err, &pe) {
		param := pe.param
		writeJSON(w, http.StatusBadRequest, oaErrorBody{
			Error:     oaError{Message: pe.msg, Type: "invalid_request_error", Param: &param, Code: pe.code},
			errorBody: errorBody{Code: core.KindInvalid, Message: pe.msg},
		})
		return
	}
	e := core.AsError(err, "internal error")
	status, typ, code := openAIKind(e)
	var param *string
	if mnf := (*modelNotFound)(nil); errors.As(err, &mnf) {
		status, typ, code = http.StatusNotFound, "invalid_request_error", "model_not_found"
		p := "model"
		param = &p
	}
	if !e.RetryAt.IsZero() {
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int(time.Until(e.RetryAt).Seconds())+1)))
	}
	writeJSON(w, status, oaErrorBody{
		Error:     oaError{Message: e.Message, Type: typ, Param: param, Code: code},
		errorBody: bodyOf(e),
	})
}

// openAIStreamError is the event that ends a stream that failed after it
// started: openai-go and the npm client raise it as an error.
func openAIStreamError(err error) map[string]any {
	e := core.AsError(err, "internal error")
	_, typ, code := openAIKind(e)
	return map[string]any{"error": oaError{Message: e.Message, Type: typ, Code: code}, "request_id": e.RequestID}
}

// openAIKind maps an error to its HTTP status and OpenAI's type and code.
// The status is timon's (Status); type and code use OpenAI's words where
// one fits, timon's kind otherwise.
func openAIKind(e *core.Error) (status int, typ, code string) {
	status = Status(e.Kind)
	switch e.Kind {
	case core.KindInvalid:
		return status, "invalid_request_error", "invalid_request"
	case core.KindTooLarge:
		return status, "invalid_request_error", "request_too_large"
	case core.KindBlocked:
		return status, "invalid_request_error", "content_blocked"
	case core.KindNotFound:
		if strings.Contains(e.Message, "model") {
			return status, "invalid_request_error", "model_not_found"
		}
		return status, "invalid_request_error", "not_found"
	case core.KindUnauthenticated:
		return status, "authentication_error", "invalid_api_key"
	case core.KindDenied:
		return status, "permission_error", "permission_denied"
	case core.KindQuota:
		if e.RetryAt.IsZero() {
			// Never admitted as it stands: waiting does not help.
			return status, "insufficient_quota", "insufficient_quota"
		}
		return status, "rate_limit_error", "rate_limit_exceeded"
	case core.KindUnavailable:
		if errors.Is(e, core.ErrRedactionBudget) {
			return status, "server_error", "redaction_timeout"
		}
		return status, "server_error", "service_unavailable"
	case core.KindTimeout:
		return status, "server_error", "timeout"
	case core.KindOutputRejected:
		return status, "server_error", "output_rejected"
	case core.KindNotImplemented:
		return status, "server_error", "not_implemented"
	case core.KindCanceled:
		return status, "server_error", "canceled"
	}
	return status, "server_error", "internal_error"
}
