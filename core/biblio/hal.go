package biblio

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"timon.dev/timon/core"
)

// halFields are the fields asked of HAL's search API.
const halFields = "halId_s,title_s,authFullName_s,abstract_s,doiId_s,publicationDateY_i,uri_s"

// hal is HAL's search API (https://api.archives-ouvertes.fr/docs/search),
// Solr style: GET {base}/search/?q=…&wt=json&rows=N&fl=….
type hal struct{ base }

func (h *hal) Kind() string { return KindHAL }

func (h *hal) Search(ctx context.Context, query string, rows int) ([]core.Record, int, error) {
	v := url.Values{}
	v.Set("q", SolrEscape(query))
	v.Set("wt", "json")
	v.Set("rows", strconv.Itoa(rows))
	v.Set("fl", halFields)
	body, err := h.get(ctx, h.url+"/search/?"+v.Encode())
	if err != nil {
		return nil, 0, err
	}
	var r struct {
		Response *struct {
			NumFound int `json:"numFound"`
			Docs     []struct {
				HalID    flex    `json:"halId_s"`
				Title    flex    `json:"title_s"`
				Authors  flex    `json:"authFullName_s"`
				Abstract flex    `json:"abstract_s"`
				DOI      flex    `json:"doiId_s"`
				Year     flexInt `json:"publicationDateY_i"`
				URI      flex    `json:"uri_s"`
			} `json:"docs"`
		} `json:"response"`
		Error *struct {
			Msg string `json:"msg"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, 0, &Error{Source: h.cfg.Name, Reason: "the answer is not HAL's JSON: " + err.Error()}
	}
	if r.Response == nil {
		reason := "the answer has no response"
		if r.Error != nil && r.Error.Msg != "" {
			reason = "HAL refused the query"
		}
		return nil, 0, &Error{Source: h.cfg.Name, Reason: reason}
	}
	out := make([]core.Record, 0, len(r.Response.Docs))
	for _, d := range r.Response.Docs {
		rec := core.Record{Source: h.cfg.Name, ID: d.HalID.first(), Title: d.Title.first(), Authors: d.Authors.all(),
			Year: int(d.Year), DOI: NormalizeDOI(d.DOI.first()), URL: d.URI.first(), Abstract: d.Abstract.first()}
		if rec.Title == "" {
			continue // nothing to show
		}
		out = append(out, rec)
	}
	return out, r.Response.NumFound, nil
}

// SolrEscape escapes the characters of Solr's query syntax, so that what
// a person wrote is searched as words.
func SolrEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`+-&|!(){}[]^"~*?:\/`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// flex is a Solr field that may be a string or an array of strings.
type flex []string

func (f *flex) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		*f = nil
		return nil
	case len(b) > 0 && b[0] == '[':
		var raw []json.RawMessage
		if err := json.Unmarshal(b, &raw); err != nil {
			return err
		}
		out := make([]string, 0, len(raw))
		for _, r := range raw {
			var s flex
			if err := s.UnmarshalJSON(r); err != nil {
				return err
			}
			out = append(out, s...)
		}
		*f = out
		return nil
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flex{s}
		return nil
	}
	// A number or a boolean: kept as written.
	*f = flex{string(b)}
	return nil
}

func (f flex) first() string {
	for _, s := range f {
		if s = strings.TrimSpace(s); s != "" {
			return s
		}
	}
	return ""
}

func (f flex) all() []string {
	var out []string
	for _, s := range f {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// flexInt is a Solr integer field that may come as a number, a string or
// an array of either.
type flexInt int

func (n *flexInt) UnmarshalJSON(b []byte) error {
	var f flex
	if err := f.UnmarshalJSON(b); err != nil {
		return err
	}
	*n = 0
	if s := f.first(); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil {
			return fmt.Errorf("expected a year, got %q", s)
		}
		*n = flexInt(v)
	}
	return nil
}

// NormalizeDOI returns a DOI bare (10.1234/abc), without a resolver URL or
// a "doi:" prefix, or "" when s is not a DOI.
func NormalizeDOI(s string) string {
	s = strings.TrimSpace(s)
	for _, p := range []string{"https://doi.org/", "http://doi.org/", "https://dx.doi.org/", "http://dx.doi.org/", "doi:"} {
		if len(s) >= len(p) && strings.EqualFold(s[:len(p)], p) {
			s = s[len(p):]
			break
		}
	}
	if !strings.HasPrefix(s, "10.") || !strings.Contains(s, "/") || strings.ContainsAny(s, " \t\n") {
		return ""
	}
	return s
}
