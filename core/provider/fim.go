package provider

import "context"

// FIMRequest is one fill-in-the-middle completion: the model writes what
// goes between Prompt (the code before the cursor) and Suffix (after it).
type FIMRequest struct {
	// Model is the model to use; "" means the endpoint's first model.
	Model, Prompt, Suffix string
	// MaxTokens bounds the answer; 0 leaves it to the server.
	MaxTokens int
	// Temperature and TopP are sent when set, 0 included.
	Temperature *float64
	TopP        *float64
	Stop        []string
}

// FIM asks for a fill-in-the-middle completion: POST {base}/fim/completions
// on Mistral, whose answer is shaped like a chat completion, or POST
// {base}/completions with "suffix" on OpenAI-compatible servers. It retries
// like Chat.
func (c *Client) FIM(ctx context.Context, req FIMRequest) (*Result, error) {
	body, model, e := c.fimBody(&req)
	if e != nil {
		return nil, e
	}
	kind := callLegacy
	if c.cfg.Kind == KindMistral {
		kind = callChat
	}
	return c.run(ctx, &call{kind: kind, url: c.fimURL, body: body, model: model})
}
