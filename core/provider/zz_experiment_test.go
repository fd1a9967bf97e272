package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"timon.dev/timon/core/provider/fakellm"
)

var xprompt = strings.Repeat("Summarise the attached lab notebook page. ", 4096/42+1)[:4096]

type xresp struct {
	Model   string `json:"model"`
	Choices []struct {
		Message struct {
			Content string `json:"content"`
		} `json:"message"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
	Usage struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
	} `json:"usage"`
}

func xsetup(b *testing.B) (*Client, []byte, func()) {
	fake := fakellm.New()
	fake.Record(false)
	c, err := New(Config{Name: "bench", BaseURL: fake.URL(), Models: []string{"fake-model"}})
	if err != nil {
		b.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"model": "fake-model", "messages": []map[string]string{{"role": "user", "content": xprompt}}})
	return c, body, fake.Close
}

func BenchmarkXOpenAIRaw(b *testing.B) {
	c, body, done := xsetup(b)
	defer done()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		var res *http.Response
		if err := c.raw.Post(ctx, "chat/completions", body, &res); err != nil {
			b.Fatal(err)
		}
		var r xresp
		data, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if err := json.Unmarshal(data, &r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkXNetHTTP(b *testing.B) {
	c, body, done := xsetup(b)
	defer done()
	ctx := context.Background()
	hc := defaultHTTPClient()
	url := c.cfg.BaseURL + "/chat/completions"
	b.ReportAllocs()
	for b.Loop() {
		req, _ := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json")
		res, err := hc.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		var r xresp
		data, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if err := json.Unmarshal(data, &r); err != nil {
			b.Fatal(err)
		}
	}
}
