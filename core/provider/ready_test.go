package provider_test

import (
	"errors"
	"strings"
	"testing"

	"timon.dev/timon/core/provider"
)

func TestReadyNamesTheModelThatIsNotServed(t *testing.T) {
	fake := startFake(t)
	fake.SetModels("llama3:latest", "qwen2:7b")
	c := newClient(t, provider.Config{Name: "ollama", BaseURL: fake.URL(), Models: []string{"mistral:7b", "llama3"}})
	err := c.Ready(testContext(t))
	e := asError(t, err)
	if !errors.Is(err, provider.ErrModelNotServed) {
		t.Fatalf("cause %v, want ErrModelNotServed", e.Err)
	}
	// llama3 is served as llama3:latest; only mistral:7b is missing.
	want := `provider ollama: model "mistral:7b" is not served (available: llama3:latest, qwen2:7b)`
	if err.Error() != want {
		t.Fatalf("error %q, want %q", err, want)
	}

	fake.SetModels() // nothing pulled yet
	if err := c.Ready(testContext(t)); err == nil || !strings.Contains(err.Error(), `models "mistral:7b", "llama3" are not served (available: none)`) {
		t.Fatalf("empty list: %v", err)
	}

	fake.SetModels("mistral:7b", "llama3:latest")
	if err := c.Ready(testContext(t)); err != nil {
		t.Fatalf("every model served: %v", err)
	}
}

func TestReadyWithoutAModelListPassesAndSaysSo(t *testing.T) {
	fake := startFake(t)
	fake.HideModels(true)
	c := newClient(t, provider.Config{Name: "tgi", BaseURL: fake.URL()})
	err := c.Ready(testContext(t))
	var nl *provider.ModelsNotListed
	if !errors.As(err, &nl) || !nl.Passing() || !strings.Contains(err.Error(), "does not list its models") {
		t.Fatalf("error %v, want a passing ModelsNotListed", err)
	}

	down := newClient(t, provider.Config{Name: "down", BaseURL: closedURL(t)})
	if err := down.Ready(testContext(t)); errors.As(err, &nl) || err == nil {
		t.Fatalf("an endpoint that does not answer passed: %v", err)
	}
}

func TestModelNotServedIsNamedInTheCallError(t *testing.T) {
	fake := startFake(t)
	fake.SetModels("other")
	fake.ServeListedOnly(true)
	c := newClient(t, provider.Config{Name: "ollama", BaseURL: fake.URL(), Models: []string{"mistral:7b"}})
	_, err := c.Chat(testContext(t), provider.ChatRequest{Messages: []provider.Message{{Role: "user", Content: "hi"}}})
	e := asError(t, err)
	// Not retried on this endpoint; the next one may serve the model.
	if n := fake.Count(); n != 1 {
		t.Fatalf("%d requests for a model not served, want 1", n)
	}
	if e.StatusCode != 404 || e.Model != "mistral:7b" || !strings.Contains(e.Reason, `model "mistral:7b" is not served`) || !e.Retryable {
		t.Fatalf("error %+v", e)
	}
}
