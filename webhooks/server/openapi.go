package server

import (
	_ "embed"
	"net/http"
	"strconv"
)

// openAPI is the hub's HTTP reference, OpenAPI 3.1: every route, each
// task's fields, the event stream and the error shapes. openapi_test.go
// keeps it and the registered routes in agreement; docs/api.md is the
// readable companion checked against it.
//
//go:embed openapi.json
var openAPI []byte

// OpenAPI returns the OpenAPI 3.1 document served at GET /openapi.json.
func OpenAPI() []byte { return openAPI }

func serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	if len(h["Content-Type"]) == 0 {
		h["Content-Type"] = []string{"application/json"}
	}
	h.Set("Content-Length", strconv.Itoa(len(openAPI)))
	w.WriteHeader(http.StatusOK)
	w.Write(openAPI)
}
