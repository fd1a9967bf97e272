package provider

import (
	"context"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/packages/param"
)

// FIMRequest is one fill-in-the-middle completion: the model writes what
// goes between Prompt (the code before the cursor) and Suffix (after it).
type FIMRequest struct {
	// Model is the model to use; "" means the endpoint's first model.
	Model, Prompt, Suffix string
	// MaxTokens bounds the answer; 0 leaves it to the server.
	MaxTokens int
	// Temperature is sent when set, 0 included.
	Temperature *float64
	Stop        []string
}

// mistralFIM is the body of Mistral's POST {base}/fim/completions.
type mistralFIM struct {
	Model       string   `json:"model"`
	Prompt      string   `json:"prompt"`
	Suffix      string   `json:"suffix,omitempty"`
	MaxTokens   int      `json:"max_tokens,omitempty"`
	Temperature *float64 `json:"temperature,omitempty"`
	Stop        []string `json:"stop,omitempty"`
}

// FIM asks for a fill-in-the-middle completion: POST {base}/fim/completions
// on Mistral, whose answer is shaped like a chat completion, or POST
// {base}/completions with "suffix" on OpenAI-compatible servers. It retries
// like Chat.
func (c *Client) FIM(ctx context.Context, req FIMRequest) (*Result, error) {
	model, e := c.model(req.Model)
	if e != nil {
		return nil, e
	}
	if req.MaxTokens < 0 {
		return nil, c.invalidRequest("max tokens is negative")
	}
	if c.cfg.Kind == KindMistral {
		body := mistralFIM{
			Model: model, Prompt: req.Prompt, Suffix: req.Suffix,
			MaxTokens: req.MaxTokens, Temperature: req.Temperature, Stop: req.Stop,
		}
		return c.run(ctx, callOptions{}, func(ctx context.Context, _ func()) (*Result, error) {
			var cc openai.ChatCompletion
			if err := c.raw.Post(ctx, "fim/completions", body, &cc); err != nil {
				return nil, err
			}
			if len(cc.Choices) == 0 {
				return nil, ErrEmptyAnswer
			}
			ch := cc.Choices[0]
			return c.result(cc.Model, model, ch.Message.Content, ch.FinishReason, cc.Usage), nil
		})
	}

	p := openai.CompletionNewParams{
		Model:  openai.CompletionNewParamsModel(model),
		Prompt: openai.CompletionNewParamsPromptUnion{OfString: param.NewOpt(req.Prompt)},
	}
	if req.Suffix != "" {
		p.Suffix = param.NewOpt(req.Suffix)
	}
	if req.MaxTokens > 0 {
		p.MaxTokens = param.NewOpt(int64(req.MaxTokens))
	}
	if req.Temperature != nil {
		p.Temperature = param.NewOpt(*req.Temperature)
	}
	if len(req.Stop) > 0 {
		p.Stop.OfStringArray = req.Stop
	}
	return c.run(ctx, callOptions{}, func(ctx context.Context, _ func()) (*Result, error) {
		cmp, err := c.completions.New(ctx, p)
		if err != nil {
			return nil, err
		}
		if len(cmp.Choices) == 0 {
			return nil, ErrEmptyAnswer
		}
		ch := cmp.Choices[0]
		return c.result(cmp.Model, model, ch.Text, string(ch.FinishReason), cmp.Usage), nil
	})
}
