package core

import "context"

// Embedder turns texts into vectors, governed like every request: policy
// (task embed), quota, redaction of the inputs and a journal entry. The
// governed engine implements it; a front end asks for it with a type
// assertion on its Assistant, since not every Assistant does (the remote
// client does not).
type Embedder interface {
	Embed(ctx context.Context, req *EmbedRequest) (*EmbedResponse, error)
}

// MaxEmbedInputs bounds the texts of one EmbedRequest (OpenAI's limit).
const MaxEmbedInputs = 2048

// EmbedRequest asks for the vectors of Inputs.
type EmbedRequest struct {
	// ID is the journal request id; set by the engine when empty.
	ID        string
	Principal Principal
	// Model is a model the caller asks for; "" lets the policy's route
	// for task embed choose. Policy decides.
	Model  string
	Inputs []string
	// Dimensions asks for shorter vectors, where the model can; 0 means
	// the model's own size.
	Dimensions int
	// Origin and Classification are matched by policy rules as for any
	// request.
	Origin         Origin
	Classification Classification
}

// EmbedResponse holds one vector per input, in the order of the inputs.
// The vectors are those of the redacted inputs: what the model received,
// since placeholders cannot be put back into a vector.
type EmbedResponse struct {
	RequestID  string
	Vectors    [][]float64
	Model      string
	Provider   string
	Usage      Usage
	Redactions map[string]int
	Rule       string
}
