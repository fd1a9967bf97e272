// Package bibliotest is a wire-level test double of HAL's search API: an
// HTTP server answering GET /search/ with HAL's JSON (response.numFound,
// response.docs[], fields that are strings or arrays of strings), that
// keeps the queries it received and can be told to fail.
package bibliotest

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
)

// Docs is a HAL answer of three records, as HAL writes them: multi-valued
// fields as arrays (title_s, authFullName_s) or, as some portals and
// older records give them, as strings; one record without abstract and
// DOI; a year as a string; a title with BibTeX's special characters.
const Docs = `{
  "responseHeader": {"status": 0, "QTime": 4, "params": {"wt": "json"}},
  "response": {"numFound": 137, "start": 0, "maxScore": 11.2, "numFoundExact": true, "docs": [
    {"halId_s": "hal-01234567", "uri_s": "https://hal.science/hal-01234567",
     "title_s": ["Soil carbon sequestration in Burgundy vineyards"],
     "authFullName_s": ["Jeanne Dupuis", "Marc Lefèvre", "Anne Martin", "Paul Henry"],
     "abstract_s": ["We measure soil organic carbon in 40 vineyard plots."],
     "doiId_s": "10.1016/j.geoderma.2019.05.012", "publicationDateY_i": 2019},
    {"halId_s": "tel-02345678", "uri_s": "https://theses.hal.science/tel-02345678",
     "title_s": "Cover crops and soil organic matter: a thesis",
     "authFullName_s": "Claire Rousseau", "publicationDateY_i": 2021},
    {"halId_s": ["hal-03456789"], "uri_s": ["https://hal.science/hal-03456789"],
     "title_s": ["Vineyard soils under {climate} change & erosion_risk: 50% loss?"],
     "authFullName_s": ["Luc Bernard", "Sophie Moreau"],
     "abstract_s": "Erosion of vineyard soils under a changing climate.",
     "doiId_s": ["10.5194/soil-7-1-2021"], "publicationDateY_i": "2021"}
  ]}
}`

// HAL is a running fake HAL.
type HAL struct {
	ts *httptest.Server

	mu      sync.Mutex
	body    string
	status  int
	queries []url.Values
	block   chan struct{}
}

// NewHAL starts a fake HAL answering Docs; Close it when done.
func NewHAL() *HAL {
	h := &HAL{body: Docs, status: http.StatusOK}
	h.ts = httptest.NewServer(http.HandlerFunc(h.serve))
	return h
}

// URL is the base URL to configure (the search is at URL()/search/).
func (h *HAL) URL() string { return h.ts.URL }

// Close stops the server; a source configured with it then finds nothing
// listening.
func (h *HAL) Close() {
	h.mu.Lock()
	if h.block != nil {
		close(h.block)
		h.block = nil
	}
	h.mu.Unlock()
	h.ts.Close()
}

// Answer sets the JSON answered and its status.
func (h *HAL) Answer(status int, body string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.status, h.body = status, body
}

// Hang makes the server answer nothing until the client goes away.
func (h *HAL) Hang() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.block == nil {
		h.block = make(chan struct{})
	}
}

// Queries returns the query parameters of every search received.
func (h *HAL) Queries() []url.Values {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]url.Values(nil), h.queries...)
}

func (h *HAL) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet || r.URL.Path != "/search/" {
		http.Error(w, `{"error":{"msg":"not found","code":404}}`, http.StatusNotFound)
		return
	}
	h.mu.Lock()
	h.queries = append(h.queries, r.URL.Query())
	status, body, block := h.status, h.body, h.block
	h.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-r.Context().Done():
		}
		return
	}
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.WriteHeader(status)
	w.Write([]byte(body))
}
