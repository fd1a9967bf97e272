// Package provider owns the institution's LLM endpoints as seen by timon: one
// [Client] per configured endpoint (the Mistral API or any OpenAI-compatible
// server such as vLLM, Ollama, llama.cpp server or TGI), speaking chat
// completions (plain, streamed and with structured output), fill-in-the-middle
// completions, embeddings and a readiness ping. A [Classifier] is an
// endpoint configured the same way that moderates text and conversations
// (Mistral's moderation API, an OpenAI-compatible /moderations, or a guard
// model behind the chat wire), with one category vocabulary; see
// moderation.go.
//
// Every call retries on its own endpoint (429, 5xx, connection errors, with
// backoff honouring Retry-After), bounds each attempt with a timeout, aborts
// the upstream request as soon as the caller's context ends, and reports every
// failure as an [*Error] whose Reason is fit to show to a person: it never
// contains the API key or prompt content. [Failover] moves a call along the
// ordered candidates of a route.
//
// The package never logs. Chat, ChatStream and FIM, the hot calls, speak the
// wire through net/http with hand-written JSON encoding and decoding (see
// transport.go and wire.go for why and what it costs otherwise); Ping goes
// through github.com/openai/openai-go/v3. The package fakellm next to it is
// a real HTTP server speaking the same wire, for tests and benchmarks.
package provider
