package provider_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"timon.dev/timon/core/provider"
	"timon.dev/timon/core/provider/fakellm"
)

func TestEmbed(t *testing.T) {
	for _, tc := range []struct {
		kind provider.Kind
		dims string
	}{{provider.KindMistral, `"output_dimension":4`}, {provider.KindOpenAI, `"dimensions":4`}} {
		t.Run(string(tc.kind), func(t *testing.T) {
			fake := startFake(t)
			c := newClient(t, provider.Config{Kind: tc.kind, BaseURL: fake.URL(), Models: []string{"mistral-embed"}})
			emb, err := c.Embed(testContext(t), provider.EmbedRequest{Input: []string{"one", "two"}, Dimensions: 4})
			if err != nil {
				t.Fatal(err)
			}
			if emb.Model != "mistral-embed" || emb.Provider != "test" || emb.Usage.PromptTokens == 0 || len(emb.Vectors) != 2 {
				t.Fatalf("Embedding = %+v", emb)
			}
			for i, in := range []string{"one", "two"} {
				if !slices.Equal(emb.Vectors[i], fakellm.Vector(in, 4)) {
					t.Errorf("vector %d = %v", i, emb.Vectors[i])
				}
			}
			r := fake.Requests()[0]
			if r.Path != "/v1/embeddings" || !slices.Equal(r.Inputs, []string{"one", "two"}) || !strings.Contains(string(r.Body), tc.dims) {
				t.Errorf("request %s: %s", r.Path, r.Body)
			}
		})
	}
}

func TestEmbedNotServed(t *testing.T) {
	fake := startFake(t)
	fake.NoEmbeddings(true)
	c := newClient(t, provider.Config{BaseURL: fake.URL(), Models: []string{"chat-only"}})
	_, err := c.Embed(testContext(t), provider.EmbedRequest{Input: []string{"x"}})
	e := asError(t, err)
	if e.StatusCode != http.StatusNotFound || e.Model != "chat-only" || !e.Retryable || !strings.Contains(e.Reason, "does not serve embeddings") {
		t.Fatalf("error = %+v", e)
	}
	if fake.Count() != 1 {
		t.Fatalf("a 404 was retried: %d calls", fake.Count())
	}
}
