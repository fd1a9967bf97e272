// Package provider owns the institution's LLM endpoints as seen by timon: one
// [Client] per configured endpoint (the Mistral API or any OpenAI-compatible
// server such as vLLM, Ollama, llama.cpp server or TGI), speaking chat
// completions (plain, streamed and with structured output), fill-in-the-middle
// completions, embeddings and a readiness ping; and a [Classifier], an
// endpoint configured the same way that moderates text and conversations
// with one category vocabulary.
//
// Every call retries on its own endpoint (429, 5xx, connection errors, with
// backoff honouring Retry-After), bounds each attempt with a timeout, aborts
// the upstream request as soon as the caller's context ends, and reports every
// failure as an [*Error] whose Reason is fit to show to a person: it never
// contains the API key or prompt content. [Failover] moves a call along the
// ordered candidates of a route. The package never logs. The package fakellm
// next to it is a real HTTP server speaking the same wire, for tests and
// benchmarks; docs/design/provider.md explains how the wire is spoken.
package provider
