package provider

import (
	"context"
	"errors"
	"fmt"
	"net/http"
)

// EmbedRequest asks for the vectors of texts.
type EmbedRequest struct {
	// Model is the model to use; "" means the endpoint's first model.
	Model string
	// Input holds the texts, at least one.
	Input []string
	// Dimensions asks for vectors of that size ("dimensions" on
	// OpenAI-compatible servers, "output_dimension" on Mistral); 0 leaves
	// the model's own.
	Dimensions int
}

// Embedding is an answered EmbedRequest.
type Embedding struct {
	// Vectors holds one vector per input, in the order of the inputs.
	Vectors [][]float64
	// Model is the model the server reports, else the one requested.
	Model string
	// Provider is the Name of the endpoint that answered.
	Provider string
	// Usage counts the input tokens (CompletionTokens is 0).
	Usage Usage
}

// Embed asks for embeddings (POST {base}/embeddings on Mistral and
// OpenAI-compatible servers alike), retrying like Chat. An endpoint that
// does not serve embeddings, or not for this model, answers 404: the
// *Error then has StatusCode 404 and Model set.
func (c *Client) Embed(ctx context.Context, req EmbedRequest) (*Embedding, error) {
	body, model, e := c.embedBody(&req)
	if e != nil {
		return nil, e
	}
	cl := &call{kind: callEmbed, url: c.embedURL, body: body, model: model, inputs: len(req.Input)}
	if _, err := c.run(ctx, cl); err != nil {
		var pe *Error
		if errors.As(err, &pe) && pe.StatusCode == http.StatusNotFound {
			pe.Reason = fmt.Sprintf("no embeddings for model %q (404): the endpoint does not serve embeddings, or not for this model", model)
		}
		return nil, err
	}
	emb := cl.embedding
	emb.Provider = c.cfg.Name
	if emb.Model == "" {
		emb.Model = model
	}
	return emb, nil
}

// embedBody encodes an embeddings request.
func (c *Client) embedBody(req *EmbedRequest) (body []byte, model string, e *Error) {
	model, e = c.model(req.Model)
	if e != nil {
		return nil, "", e
	}
	if len(req.Input) == 0 {
		return nil, "", c.invalidRequest("no input to embed")
	}
	if req.Dimensions < 0 {
		return nil, "", c.invalidRequest("dimensions is negative")
	}
	w := textsRequest{Model: model, Input: req.Input}
	if c.cfg.Kind == KindMistral {
		w.OutputDimension = req.Dimensions
	} else {
		w.Dimensions = req.Dimensions
	}
	return encodeJSON(&w), model, nil
}

// embedAnswer is an embeddings answer.
type embedAnswer struct {
	Data []struct {
		Index     int       `json:"index"`
		Embedding []float64 `json:"embedding"`
	} `json:"data"`
	Model string `json:"model"`
	Usage usage  `json:"usage"`
}

// errEmbedShape is the cause of an embeddings answer that does not hold
// one vector per input.
var errEmbedShape = errors.New("embeddings answer does not hold one vector per input")

// postJSON posts cl's body and decodes the JSON answer into v.
func (c *Client) postJSON(ctx context.Context, cl *call, v any) error {
	res, err := c.post(ctx, cl.url, cl.body)
	if err != nil {
		return err
	}
	return readJSON(res, v)
}

// embed performs one attempt of Embed.
func (c *Client) embed(ctx context.Context, cl *call) error {
	var a embedAnswer
	if err := c.postJSON(ctx, cl, &a); err != nil {
		return err
	}
	if len(a.Data) != cl.inputs {
		return fmt.Errorf("%w: %d vectors for %d inputs", errEmbedShape, len(a.Data), cl.inputs)
	}
	vectors := make([][]float64, cl.inputs)
	for _, d := range a.Data {
		if d.Index < 0 || d.Index >= cl.inputs || vectors[d.Index] != nil || len(d.Embedding) == 0 {
			return fmt.Errorf("%w: bad or repeated index %d", errEmbedShape, d.Index)
		}
		vectors[d.Index] = d.Embedding
	}
	used := a.Usage.PromptTokens
	if used == 0 {
		used = a.Usage.TotalTokens
	}
	cl.embedding = &Embedding{Vectors: vectors, Model: a.Model, Usage: Usage{PromptTokens: used}}
	return nil
}
