package biblio_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"timon.dev/timon/core"
	"timon.dev/timon/core/biblio"
	"timon.dev/timon/core/biblio/bibliotest"
)

func newHAL(t *testing.T, h *bibliotest.HAL, timeout time.Duration) biblio.Source {
	t.Helper()
	src, err := biblio.New(biblio.Config{Name: "HAL", Kind: biblio.KindHAL, BaseURL: h.URL(), Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// TestHALRecords decodes HAL's real JSON: fields as arrays or strings,
// missing abstract and DOI, a year as a string.
func TestHALRecords(t *testing.T) {
	h := bibliotest.NewHAL()
	defer h.Close()
	recs, found, err := newHAL(t, h, 0).Search(context.Background(), "soil carbon: vineyards (Burgundy)", 5)
	if err != nil {
		t.Fatal(err)
	}
	want := []core.Record{
		{Source: "HAL", ID: "hal-01234567", Title: "Soil carbon sequestration in Burgundy vineyards",
			Authors: []string{"Jeanne Dupuis", "Marc Lefèvre", "Anne Martin", "Paul Henry"}, Year: 2019,
			DOI: "10.1016/j.geoderma.2019.05.012", URL: "https://hal.science/hal-01234567",
			Abstract: "We measure soil organic carbon in 40 vineyard plots."},
		{Source: "HAL", ID: "tel-02345678", Title: "Cover crops and soil organic matter: a thesis",
			Authors: []string{"Claire Rousseau"}, Year: 2021, URL: "https://theses.hal.science/tel-02345678"},
		{Source: "HAL", ID: "hal-03456789", Title: "Vineyard soils under {climate} change & erosion_risk: 50% loss?",
			Authors: []string{"Luc Bernard", "Sophie Moreau"}, Year: 2021, DOI: "10.5194/soil-7-1-2021",
			URL: "https://hal.science/hal-03456789", Abstract: "Erosion of vineyard soils under a changing climate."},
	}
	if found != 137 || !reflect.DeepEqual(recs, want) {
		t.Fatalf("found %d, records\n%+v\nwant\n%+v", found, recs, want)
	}
	q := h.Queries()
	if len(q) != 1 || q[0].Get("q") != `soil carbon\: vineyards \(Burgundy\)` || q[0].Get("wt") != "json" || q[0].Get("rows") != "5" ||
		q[0].Get("fl") != "halId_s,title_s,authFullName_s,abstract_s,doiId_s,publicationDateY_i,uri_s" {
		t.Fatalf("HAL received %v", q)
	}
}

func TestHALFailures(t *testing.T) {
	h := bibliotest.NewHAL()
	defer h.Close()
	src := newHAL(t, h, 200*time.Millisecond)
	var be *biblio.Error
	h.Answer(http.StatusServiceUnavailable, "<html>down</html>")
	if _, _, err := src.Search(context.Background(), "x", 3); !errors.As(err, &be) || be.Reason != "HTTP 503" || be.Timeout {
		t.Fatalf("503: %v", err)
	}
	h.Answer(http.StatusOK, `{"error":{"msg":"undefined field","code":400}}`)
	if _, _, err := src.Search(context.Background(), "x", 3); !errors.As(err, &be) || !strings.Contains(be.Reason, "refused") {
		t.Fatalf("Solr error: %v", err)
	}
	h.Hang()
	if _, _, err := src.Search(context.Background(), "secret words", 3); !errors.As(err, &be) || !be.Timeout || strings.Contains(err.Error(), "secret") {
		t.Fatalf("hang: %v", err)
	}
}

func TestVerify(t *testing.T) {
	recs := []core.Record{
		{Title: "A", Authors: []string{"Jeanne Dupuis", "Marc Lefèvre"}, Year: 2019, DOI: "10.1016/j.geoderma.2019.05.012", URL: "https://hal.science/hal-01234567"},
		{Title: "B", Authors: []string{"Claire Rousseau"}, Year: 2021, URL: "https://theses.hal.science/tel-02345678"},
		{Title: "C", Authors: []string{"Luc Bernard"}, Year: 2021},
	}
	cases := []struct {
		in, want string
		removed  int
	}{
		{"Carbon rises [1], [2, 3].", "Carbon rises [1], [2, 3].", 0},
		{"Carbon rises [7].", "Carbon rises.", 1},
		{"Carbon rises [1, 7] and falls [4-5].", "Carbon rises [1] and falls.", 2},
		{"See 10.1016/J.GEODERMA.2019.05.012 and 10.9999/fake.123.", "See 10.1016/J.GEODERMA.2019.05.012 and.", 1},
		{"See https://doi.org/10.9999/fake.123, or https://hal.science/hal-01234567.", "See, or https://hal.science/hal-01234567.", 1},
		{"Read [this](https://evil.example/x) and [that](https://theses.hal.science/tel-02345678/).", "Read this and [that](https://theses.hal.science/tel-02345678/).", 1},
		{"Dupuis et al. (2019) and Dupont et al. (2019) agree.", "Dupuis et al. (2019) and agree.", 1},
		{"As shown (Rousseau, 2021), not (Rousseau, 2020) nor (Lefevre et al., 2019).", "As shown (Rousseau, 2021), not nor (Lefevre et al., 2019).", 1},
		{"Bernard et Moreau (2021) say so; Smith et al., 2018 too.", "Bernard et Moreau (2021) say so; too.", 1},
	}
	for _, c := range cases {
		got, n := biblio.Verify(c.in, recs)
		if got != c.want || n != c.removed {
			t.Errorf("Verify(%q) = %q, %d; want %q, %d", c.in, got, n, c.want, c.removed)
		}
	}
}

func TestBibTeX(t *testing.T) {
	recs := []core.Record{
		{Source: "HAL", ID: "hal-03456789", Title: "Vineyard soils under {climate} change & erosion_risk: 50% loss? #1 $x$ ~ ^ \\ <b>",
			Authors: []string{"Luc Bernard", "Sophie Moreau"}, Year: 2021, DOI: "10.5194/soil-7-1-2021", URL: "https://hal.science/hal-03456789"},
		{Source: "HAL", ID: "hal-1", Title: "Le sol et l'été", Authors: []string{"Éloïse Châtelet"}, Year: 2020},
		{Source: "HAL", ID: "hal-2", Title: "Le sol encore", Authors: []string{"Éloïse Châtelet"}, Year: 2020},
	}
	got := biblio.BibTeX(recs)
	want := `@misc{bernard2021vineyard,
  author = {Luc Bernard and Sophie Moreau},
  title  = {{Vineyard soils under \{climate\} change \& erosion\_risk: 50\% loss? \#1 \$x\$ \textasciitilde{} \textasciicircum{} \textbackslash{} \textless{}b\textgreater{}}},
  year   = {2021},
  doi    = {10.5194/soil-7-1-2021},
  url    = {https://hal.science/hal-03456789},
  note   = {HAL: hal-03456789},
}

@misc{chatelet2020sol,
  author = {Éloïse Châtelet},
  title  = {{Le sol et l'été}},
  year   = {2020},
  note   = {HAL: hal-1},
}

@misc{chatelet2020sola,
  author = {Éloïse Châtelet},
  title  = {{Le sol encore}},
  year   = {2020},
  note   = {HAL: hal-2},
}
`
	if got != want {
		t.Fatalf("BibTeX:\n%s\nwant\n%s", got, want)
	}
}

// TestOpenAlexRecords decodes OpenAlex's works search: DOI as a URL,
// abstract as an inverted index, authors under authorships.
func TestOpenAlexRecords(t *testing.T) {
	var got url.Values
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/works" {
			http.NotFound(w, r)
			return
		}
		got = r.URL.Query()
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"meta":{"count":2,"db_response_time_ms":12,"page":1,"per_page":2},"results":[
 {"id":"https://openalex.org/W2741809807","doi":"https://doi.org/10.7717/peerj.4375","title":"The state of OA","display_name":"The state of OA",
  "publication_year":2018,"authorships":[{"author_position":"first","author":{"id":"https://openalex.org/A1","display_name":"Heather Piwowar"}},{"author":{"display_name":"Jason Priem"}}],
  "abstract_inverted_index":{"Despite":[0],"growing":[1],"interest":[2],"in":[3]}},
 {"id":"https://openalex.org/W2","doi":null,"title":null,"display_name":"Untitled in title","publication_year":2020,"authorships":[],"abstract_inverted_index":null}
]}`))
	}))
	defer ts.Close()
	src, err := biblio.New(biblio.Config{Name: "OpenAlex", Kind: biblio.KindOpenAlex, BaseURL: ts.URL, Mailto: "bib@lab.fr"})
	if err != nil {
		t.Fatal(err)
	}
	recs, found, err := src.Search(context.Background(), "open access: state", 2)
	if err != nil {
		t.Fatal(err)
	}
	want := []core.Record{
		{Source: "OpenAlex", ID: "https://openalex.org/W2741809807", Title: "The state of OA", Authors: []string{"Heather Piwowar", "Jason Priem"},
			Year: 2018, DOI: "10.7717/peerj.4375", URL: "https://openalex.org/W2741809807", Abstract: "Despite growing interest in"},
		{Source: "OpenAlex", ID: "https://openalex.org/W2", Title: "Untitled in title", Year: 2020, URL: "https://openalex.org/W2"},
	}
	if found != 2 || !reflect.DeepEqual(recs, want) {
		t.Fatalf("found %d, records\n%+v", found, recs)
	}
	if got.Get("search") != "open access: state" || got.Get("per-page") != "2" || got.Get("mailto") != "bib@lab.fr" {
		t.Fatalf("OpenAlex received %v", got)
	}
}
