package provider_test

import (
	"strings"
	"testing"
	"time"

	"timon.dev/timon/core/provider"
)

func TestConfigValidation(t *testing.T) {
	cases := []struct {
		name string
		cfg  provider.Config
		want string // in the error
	}{
		{"no name", provider.Config{BaseURL: "http://h/v1"}, "name is required"},
		{"bad name", provider.Config{Name: "my endpoint", BaseURL: "http://h/v1"}, `"my endpoint": name may only`},
		{"bad kind", provider.Config{Name: "p", Kind: "anthropic", BaseURL: "http://h/v1"}, `provider p: unknown kind "anthropic"`},
		{"no URL", provider.Config{Name: "p"}, "provider p: base URL: is required"},
		{"bad scheme", provider.Config{Name: "p", BaseURL: "ftp://h/v1"}, "scheme must be http or https"},
		{"no scheme", provider.Config{Name: "p", BaseURL: "127.0.0.1:11434"}, "base URL"},
		{"no host", provider.Config{Name: "p", BaseURL: "http:///v1"}, "has no host"},
		{"credentials", provider.Config{Name: "p", BaseURL: "https://user:s3cret@h/v1"}, "must not carry credentials"},
		{"query", provider.Config{Name: "p", BaseURL: "https://h/v1?key=x"}, "query"},
		{"empty model", provider.Config{Name: "p", BaseURL: "http://h/v1", Models: []string{"m", " "}}, "models[1] is empty"},
		{"twice", provider.Config{Name: "p", BaseURL: "http://h/v1", Models: []string{"m", "m"}}, `model "m" is listed twice`},
		{"negative timeout", provider.Config{Name: "p", BaseURL: "http://h/v1", Timeout: -time.Second}, "timeout must not be negative"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := provider.New(tc.cfg)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error %q leaks the password", err)
			}
		})
	}
}

func TestBaseURLNormalisation(t *testing.T) {
	cases := map[string]string{
		"http://127.0.0.1:11434":       "http://127.0.0.1:11434/v1",
		"http://127.0.0.1:11434/":      "http://127.0.0.1:11434/v1",
		"https://api.mistral.ai/v1":    "https://api.mistral.ai/v1",
		"https://api.mistral.ai/v1/":   "https://api.mistral.ai/v1",
		"http://vllm.lab:8000/v1//":    "http://vllm.lab:8000/v1",
		"https://llm.example.org/api/": "https://llm.example.org/api",
		" http://h:8080 ":              "http://h:8080/v1",
	}
	for in, want := range cases {
		c, err := provider.New(provider.Config{Name: "p", BaseURL: in})
		if err != nil {
			t.Errorf("%q: %v", in, err)
			continue
		}
		if got := c.BaseURL(); got != want {
			t.Errorf("%q normalised to %q, want %q", in, got, want)
		}
	}
}

func TestConfigAccessors(t *testing.T) {
	models := []string{"mistral-small-latest", "codestral-latest"}
	c, err := provider.New(provider.Config{Name: "lab", BaseURL: "http://h/v1", Models: models, Sovereign: true})
	if err != nil {
		t.Fatal(err)
	}
	models[0] = "changed"
	if c.Name() != "lab" || !c.Sovereign() || c.Kind() != provider.KindOpenAI {
		t.Errorf("Name, Sovereign, Kind = %q, %v, %q", c.Name(), c.Sovereign(), c.Kind())
	}
	if got := c.Models(); len(got) != 2 || got[0] != "mistral-small-latest" {
		t.Errorf("Models = %q (the config's slice must be copied)", got)
	}
	if !c.Serves("codestral-latest") || c.Serves("gpt-4o") {
		t.Error("Serves is wrong")
	}
}
