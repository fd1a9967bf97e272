package biblio

import (
	"context"
	"encoding/json"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"timon.dev/timon/core"
)

// openAlex is OpenAlex's works search (https://docs.openalex.org):
// GET {base}/works?search=…&per-page=N.
type openAlex struct{ base }

func (o *openAlex) Kind() string { return KindOpenAlex }

func (o *openAlex) Search(ctx context.Context, query string, rows int) ([]core.Record, int, error) {
	v := url.Values{}
	v.Set("search", query)
	v.Set("per-page", strconv.Itoa(rows))
	if o.cfg.Mailto != "" {
		v.Set("mailto", o.cfg.Mailto)
	}
	body, err := o.get(ctx, o.url+"/works?"+v.Encode())
	if err != nil {
		return nil, 0, err
	}
	var r struct {
		Meta struct {
			Count int `json:"count"`
		} `json:"meta"`
		Results []struct {
			ID          string `json:"id"`
			DOI         string `json:"doi"`
			Title       string `json:"title"`
			DisplayName string `json:"display_name"`
			Year        int    `json:"publication_year"`
			Authorships []struct {
				Author struct {
					DisplayName string `json:"display_name"`
				} `json:"author"`
			} `json:"authorships"`
			Abstract map[string][]int `json:"abstract_inverted_index"`
		} `json:"results"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, 0, &Error{Source: o.cfg.Name, Reason: "the answer is not OpenAlex's JSON: " + err.Error()}
	}
	out := make([]core.Record, 0, len(r.Results))
	for _, w := range r.Results {
		rec := core.Record{Source: o.cfg.Name, ID: w.ID, Title: strings.TrimSpace(w.Title), Year: w.Year,
			DOI: NormalizeDOI(w.DOI), URL: w.ID, Abstract: uninvert(w.Abstract)}
		if rec.Title == "" {
			rec.Title = strings.TrimSpace(w.DisplayName)
		}
		if rec.Title == "" {
			continue
		}
		for _, a := range w.Authorships {
			if n := strings.TrimSpace(a.Author.DisplayName); n != "" {
				rec.Authors = append(rec.Authors, n)
			}
		}
		out = append(out, rec)
	}
	return out, r.Meta.Count, nil
}

// uninvert rebuilds an abstract from OpenAlex's inverted index (word →
// positions).
func uninvert(idx map[string][]int) string {
	type wp struct {
		pos  int
		word string
	}
	var ws []wp
	for w, ps := range idx {
		for _, p := range ps {
			ws = append(ws, wp{p, w})
		}
	}
	if len(ws) > 20000 {
		return ""
	}
	sort.Slice(ws, func(i, j int) bool { return ws[i].pos < ws[j].pos })
	words := make([]string, len(ws))
	for i, w := range ws {
		words[i] = w.word
	}
	return strings.Join(words, " ")
}
