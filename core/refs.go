package core

import "context"

// Bibliographer searches the bibliographic sources an institution
// configured (its open archive, OpenAlex…), governed like every request:
// policy (task refs, and the source's sovereignty), quota, redaction of the
// query and a journal entry. The governed engine implements it; a front end
// asks for it with a type assertion on its Assistant, since not every
// Assistant does (the remote client does not).
type Bibliographer interface {
	// Sources names the configured sources, in the order they are
	// searched; none when no source is configured.
	Sources() []string
	// SearchRefs searches one source.
	SearchRefs(ctx context.Context, req *RefsRequest) (*RefsResponse, error)
}

// MaxRefsQueryBytes bounds the query of a RefsRequest.
const MaxRefsQueryBytes = 4 << 10

// MaxRefsRecords bounds the records a RefsRequest may ask for.
const MaxRefsRecords = 50

// RefsRequest asks one source for the records matching Query.
type RefsRequest struct {
	// ID is the journal request id; set by the engine when empty.
	ID        string
	Principal Principal
	// Source names the source to search (one of Sources()).
	Source string
	// Query is what the person asked; it is redacted before it leaves.
	Query string
	// Max is the number of records wanted; 0 means 10.
	Max int
	// Origin and Classification are matched by policy rules as for any
	// request.
	Origin         Origin
	Classification Classification
}

// Record is one bibliographic record, every field as its source gave it.
type Record struct {
	// Source is the name of the source the record came from.
	Source string `json:"source"`
	// ID is the record's id in its source (a HAL id, an OpenAlex work id).
	ID       string   `json:"id"`
	Title    string   `json:"title"`
	Authors  []string `json:"authors,omitempty"`
	Year     int      `json:"year,omitempty"`
	DOI      string   `json:"doi,omitempty"` // bare: 10.1234/abc
	URL      string   `json:"url,omitempty"` // the record's page in its source
	Abstract string   `json:"abstract,omitempty"`
}

// RefsResponse holds the records a source returned, in its order.
type RefsResponse struct {
	RequestID string
	Source    string
	Records   []Record
	// Found is the number of matching records the source reports (more
	// than len(Records) when it has more).
	Found      int
	Redactions map[string]int
	Rule       string
}
