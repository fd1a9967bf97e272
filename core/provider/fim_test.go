package provider_test

import (
	"testing"

	"timon.dev/timon/core/provider"
)

func TestFIM(t *testing.T) {
	cases := []struct {
		kind provider.Kind
		path string
	}{
		{provider.KindMistral, "/v1/fim/completions"},
		{provider.KindOpenAI, "/v1/completions"},
	}
	for _, tc := range cases {
		t.Run(string(tc.kind), func(t *testing.T) {
			fake := startFake(t)
			c := newClient(t, provider.Config{Kind: tc.kind, BaseURL: fake.URL(), APIKey: "k", Models: []string{"codestral-latest"}})
			zero := 0.0
			res, err := c.FIM(testContext(t), provider.FIMRequest{
				Prompt:      "package m\n\nfunc add(a, b int) int {",
				Suffix:      "\n\nfunc sub(a, b int) int { return a - b }\n",
				MaxTokens:   32,
				Temperature: &zero,
				Stop:        []string{"\nfunc "},
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.Text != "\n\treturn a + b\n}" || res.Model != "codestral-latest" || res.Provider != "test" || res.FinishReason != "stop" {
				t.Errorf("Result = %+v", res)
			}
			if res.Usage.PromptTokens == 0 || res.Usage.CompletionTokens == 0 {
				t.Errorf("Usage = %+v", res.Usage)
			}
			r := fake.Requests()[0]
			if r.Path != tc.path {
				t.Errorf("path = %q, want %q", r.Path, tc.path)
			}
			if r.Prompt != "package m\n\nfunc add(a, b int) int {" || r.Suffix != "\n\nfunc sub(a, b int) int { return a - b }\n" {
				t.Errorf("prompt, suffix = %q, %q", r.Prompt, r.Suffix)
			}
			if r.Model != "codestral-latest" || r.MaxTokens != 32 || r.Temperature == nil || len(r.Stop) != 1 {
				t.Errorf("model, max_tokens, temperature, stop = %q, %d, %v, %q", r.Model, r.MaxTokens, r.Temperature, r.Stop)
			}
			if r.Header.Get("Authorization") != "Bearer k" {
				t.Errorf("Authorization = %q", r.Header.Get("Authorization"))
			}

			res, err = c.FIM(testContext(t), provider.FIMRequest{Prompt: "x := ", Suffix: ""})
			if err != nil {
				t.Fatal(err)
			}
			if res.Text != "return nil" {
				t.Errorf("default completion = %q", res.Text)
			}
		})
	}
}
