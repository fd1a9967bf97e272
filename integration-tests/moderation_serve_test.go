package integrationtests

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"timon.dev/timon/core"
	"timon.dev/timon/core/provider/fakellm"
)

// moderationServeConfig adds a classifier on fakellm and one rule that
// moderates every request: categories of the question and of the answer
// each lead to one decision.
const moderationServeConfig = `moderation:
  classifiers:
    - {name: guardrail, kind: mistral, base_url: %s, sovereign: true, timeout: 5s}
policy:
  routes:
    default: [mistral-small-latest]
    complete: [codestral-latest]
  rules:
    - name: moderated
      effect: allow
      moderation:
        input: {violence_and_threats: block, health: warn, financial: log}
        output: {selfharm: block, law: warn}
`

// The model's scripted answers: a question naming one of these keys gets
// its answer; any other gets modPlainAnswer (never an echo, which would
// carry the question's markers into the answer).
const (
	modPlainAnswer = "The answer is forty-two. Nothing more to say."
	// modBlockedAnswer is checked sentence by sentence; only its last
	// sentence is flagged.
	modBlockedTail   = "Third, never repeat this [flag:selfharm]."
	modBlockedAnswer = "First, the weather is mild today. Second, the sea is calm tonight. " + modBlockedTail
	modWarnedAnswer  = "Sign the contract as it stands [flag:law]."
)

// The secret and personal datum the default profile masks: the classifier
// must never see them.
const (
	modSecret = "AKIAZ3MSJV4WWNKWW5FI"
	modMail   = "ada.lovelace@lab-univ.fr"
)

// modAnswer is what a client received, on any route, streamed or not.
type modAnswer struct {
	status    int
	raw       string // the body as received
	text      string // the answer's text, the deltas put together
	notices   []string
	requestID string
	// An error's: timon's code (native routes, and beside OpenAI's shape
	// when not streamed), OpenAI's error.code, the message, the provider.
	code, oaCode, message, provider string
	moderation                      *core.ModerationFlag // what moderation refused
	finish                          string               // OpenAI: the last finish_reason
	done                            bool                 // native: a done event; OpenAI: data: [DONE]
	errorEvent                      bool                 // the error came as an event of a started stream
}

// modWire is every JSON shape the answer may take: the native answer, its
// events and errors; OpenAI's objects, chunks and errors.
type modWire struct {
	Text      string   `json:"text"`
	Notices   []string `json:"notices"`
	RequestID string   `json:"request_id"`
	Code      string   `json:"code"`
	Message   string   `json:"message"`
	Provider  string   `json:"provider"`
	ID        string   `json:"id"`
	// Moderation is beside the code, in timon's shape.
	Moderation *core.ModerationFlag `json:"moderation"`
	Choices    []struct {
		Message      *struct{ Content string } `json:"message"`
		Delta        *struct{ Content string } `json:"delta"`
		FinishReason *string                   `json:"finish_reason"`
	} `json:"choices"`
	Error *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// add reads one JSON value of the answer into a.
func (a *modAnswer) add(t *testing.T, data string) {
	t.Helper()
	var w modWire
	if err := json.Unmarshal([]byte(data), &w); err != nil {
		t.Fatalf("not JSON: %q", data)
	}
	a.text += w.Text
	a.notices = append(a.notices, w.Notices...)
	for _, id := range []string{w.RequestID, w.ID} {
		if id != "" {
			a.requestID = id
		}
	}
	if w.Code != "" {
		a.code, a.message, a.provider, a.moderation = w.Code, w.Message, w.Provider, w.Moderation
	}
	if w.Error != nil {
		a.oaCode, a.message = w.Error.Code, w.Error.Message
	}
	for _, c := range w.Choices {
		switch {
		case c.Message != nil:
			a.text += c.Message.Content
		case c.Delta != nil:
			a.text += c.Delta.Content
		}
		if c.FinishReason != nil {
			a.finish = *c.FinishReason
		}
	}
}

// ask sends a chat question on the native route (openAI false) or OpenAI's
// chat completions, streamed or not, and reads what comes back.
func (h *hub) ask(t *testing.T, tok string, openAI, stream bool, question string) modAnswer {
	t.Helper()
	msgs := []map[string]string{{"role": "user", "content": question}}
	path, body := "/v1/assist", map[string]any{"task": "chat", "messages": msgs, "stream": stream}
	if openAI {
		path, body = "/v1/chat/completions", map[string]any{"model": "timon", "messages": msgs, "stream": stream}
	}
	data, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, h.url+path, bytes.NewReader(data))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the answer of %s: %v", path, err)
	}
	a := modAnswer{status: resp.StatusCode, raw: string(raw)}
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		a.add(t, a.raw)
		return a
	}
	if !stream {
		t.Fatalf("%s answered a stream to a request without stream", path)
	}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	event := ""
	for sc.Scan() {
		line := sc.Text()
		if e, ok := strings.CutPrefix(line, "event: "); ok {
			event = e
			continue
		}
		d, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			continue
		}
		if a.done || a.errorEvent {
			t.Fatalf("%s: an event after the last one: %q\n%s", path, d, raw)
		}
		switch {
		case d == "[DONE]":
			a.done = true
		case openAI:
			a.add(t, d)
			a.errorEvent = a.oaCode != ""
		case event == "done":
			// The whole answer again: it must be what the deltas made.
			var whole modAnswer
			whole.add(t, d)
			if whole.text != a.text {
				t.Fatalf("the deltas make %q, the done event says %q", a.text, whole.text)
			}
			a.notices, a.requestID, a.done = whole.notices, whole.requestID, true
		default:
			a.add(t, d)
			a.errorEvent = event == "error"
		}
	}
	return a
}

// modRoutes are the four ways of asking.
var modRoutes = []struct {
	name           string
	openAI, stream bool
}{
	{"native/whole", false, false},
	{"native/stream", false, true},
	{"openai/whole", true, false},
	{"openai/stream", true, true},
}

// modFake is fakellm scripted for these tests: the model's answers by key,
// and a classifier that can be made to fail.
func modFake(t *testing.T) (*fakellm.Server, *atomic.Bool) {
	fake := newFake(t)
	down := &atomic.Bool{}
	fake.Handle(func(r fakellm.Request) fakellm.Reply {
		if strings.HasSuffix(r.Path, "/moderations") {
			if down.Load() {
				return fakellm.Reply{Status: http.StatusServiceUnavailable}
			}
			return fakellm.Reply{}
		}
		switch q := r.LastUser(); {
		case strings.Contains(q, "ANSWER_BLOCKED"):
			return fakellm.Reply{Text: modBlockedAnswer, ChunkSize: 6}
		case strings.Contains(q, "ANSWER_WARNED"):
			return fakellm.Reply{Text: modWarnedAnswer}
		}
		return fakellm.Reply{Text: modPlainAnswer}
	})
	return fake, down
}

// sentTo returns the bodies of the requests fakellm received on paths
// ending in suffix, from the index from on.
func sentTo(f *fakellm.Server, from int, suffix string) []string {
	var out []string
	for _, r := range f.Requests()[from:] {
		if strings.HasSuffix(r.Path, suffix) {
			out = append(out, string(r.Body))
		}
	}
	return out
}

// journaledModeration waits for the journal entry of request id and
// returns its moderation record and outcome, as /admin/audit shows them.
func journaledModeration(t *testing.T, h *hub, admin, id string) (moderation, outcome string) {
	t.Helper()
	if !strings.HasPrefix(id, "req_") {
		t.Fatalf("no request id to look up in the journal: %q", id)
	}
	var entry map[string]any
	waitFor(t, 5*time.Second, "the journal entry of "+id, func() bool {
		status, body := adminGet(t, h, admin, "/admin/audit/"+id)
		entries, _ := body["entries"].([]any)
		if status != http.StatusOK || len(entries) == 0 {
			return false
		}
		entry, _ = entries[0].(map[string]any)
		return entry != nil
	})
	m, _ := entry["moderation"].(string)
	o, _ := entry["outcome"].(string)
	return m, o
}

// TestModerationServe: each moderation decision through timon serve, on
// /v1/assist and OpenAI's chat completions, whole and streamed, against a
// classifier on fakellm: what the client gets, what the model and the
// classifier received, the journal entry, the metrics.
func TestModerationServe(t *testing.T) {
	fake, down := modFake(t)
	h := startHubWith(t, fake, hubConfigWith(fake.URL(), fmt.Sprintf(moderationServeConfig, fake.URL())))
	tok := h.token("mod-asker", "physics")
	admin := h.token("root", "admin")

	// checkError: a refusal with its status, in the route's shape: before a
	// stream starts, the HTTP status and a JSON body; the codes of timon
	// and of OpenAI.
	checkError := func(t *testing.T, a modAnswer, openAI bool, status int, code, oaCode string, in ...string) {
		t.Helper()
		if a.errorEvent {
			t.Fatalf("an error event after the stream started, want status %d before it:\n%s", status, a.raw)
		}
		if a.status != status || a.code != code || (openAI && a.oaCode != oaCode) {
			t.Fatalf("got %d code %q (OpenAI %q), want %d %q (%q):\n%s", a.status, a.code, a.oaCode, status, code, oaCode, a.raw)
		}
		for _, s := range in {
			if !strings.Contains(a.message, s) {
				t.Fatalf("the message %q does not name %q", a.message, s)
			}
		}
		// What moderation refused, for programs: the category the message
		// names (none when the classifier is down).
		if m := a.moderation; m == nil || m.Direction == "" || (m.Category != "" && !strings.Contains(a.message, "category "+m.Category)) {
			t.Fatalf("moderation %+v beside %q", m, a.message)
		}
	}
	// checkAnswered: an answer, whole, with these notices.
	checkAnswered := func(t *testing.T, a modAnswer, stream bool, text string, notices ...string) {
		t.Helper()
		if a.status != http.StatusOK || a.text != text || (stream && !a.done) || a.errorEvent {
			t.Fatalf("got %d %q (done %v), want 200 %q:\n%s", a.status, a.text, a.done, text, a.raw)
		}
		if !slices.Equal(a.notices, notices) {
			t.Fatalf("notices %q, want %q:\n%s", a.notices, notices, a.raw)
		}
		if len(notices) == 0 && strings.Contains(a.raw, `"notices"`) {
			t.Fatalf("an empty notices member is sent:\n%s", a.raw)
		}
	}
	// Each route's answers, by case, for the journal and metrics checks.
	ids := map[string][]string{}

	for _, rt := range modRoutes {
		t.Run(rt.name, func(t *testing.T) {
			t.Run("input block", func(t *testing.T) {
				from := len(fake.Requests())
				a := h.ask(t, tok, rt.openAI, rt.stream, "How do I threaten my neighbour? [flag:violence_and_threats]")
				checkError(t, a, rt.openAI, http.StatusUnprocessableEntity, "blocked", "content_blocked",
					"refused by moderation", "violence_and_threats", "(input)")
				if sent := sentTo(fake, from, "/chat/completions"); len(sent) != 0 {
					t.Fatalf("the model was asked %d times after moderation blocked the question", len(sent))
				}
				if len(sentTo(fake, from, "/chat/moderations")) != 1 {
					t.Fatal("the classifier was not asked")
				}
				ids["in:violence_and_threats=block"] = append(ids["in:violence_and_threats=block"], a.requestID)
			})
			t.Run("input warn", func(t *testing.T) {
				a := h.ask(t, tok, rt.openAI, rt.stream, "[flag:health] Is a daily headache worrying?")
				checkAnswered(t, a, rt.stream, modPlainAnswer, "moderation: category health flagged (input)")
				ids["in:health=warn"] = append(ids["in:health=warn"], a.requestID)
			})
			t.Run("input log", func(t *testing.T) {
				a := h.ask(t, tok, rt.openAI, rt.stream, "[flag:financial] Should I buy shares?")
				checkAnswered(t, a, rt.stream, modPlainAnswer)
				ids["in:financial=log"] = append(ids["in:financial=log"], a.requestID)
			})
			t.Run("output warn", func(t *testing.T) {
				a := h.ask(t, tok, rt.openAI, rt.stream, "ANSWER_WARNED: may I sign?")
				checkAnswered(t, a, rt.stream, modWarnedAnswer, "moderation: category law flagged (output)")
				ids["out:law=warn"] = append(ids["out:law=warn"], a.requestID)
			})
			t.Run("output block", func(t *testing.T) {
				a := h.ask(t, tok, rt.openAI, rt.stream, "ANSWER_BLOCKED: tell me three things")
				ids["out:selfharm=block"] = append(ids["out:selfharm=block"], a.requestID)
				// The flagged sentence never reaches the client, in any form.
				if strings.Contains(a.text, "Third") || strings.Contains(a.raw, "selfharm]") {
					t.Fatalf("the blocked sentence reached the client:\n%s", a.raw)
				}
				if !rt.stream {
					checkError(t, a, rt.openAI, http.StatusUnprocessableEntity, "blocked", "content_blocked",
						"refused by moderation", "selfharm", "(output)")
					if a.text != "" {
						t.Fatalf("part of a refused answer was sent: %q", a.text)
					}
					return
				}
				// Streamed, the answer is checked as it grows: the sentences
				// before the flagged one pass and are sent, then the stream
				// ends with the refusal, never with a done.
				if a.status != http.StatusOK || a.text == "" || !strings.HasPrefix(modBlockedAnswer, a.text) || a.done || !a.errorEvent {
					t.Fatalf("got %d %q, done %v, error event %v:\n%s", a.status, a.text, a.done, a.errorEvent, a.raw)
				}
				if !strings.Contains(a.message, "refused by moderation: category selfharm (output)") {
					t.Fatalf("the error event says %q", a.message)
				}
				if rt.openAI {
					if a.finish != "content_filter" || a.oaCode != "content_blocked" {
						t.Fatalf("finish_reason %q, error code %q, want content_filter and content_blocked:\n%s", a.finish, a.oaCode, a.raw)
					}
				} else if a.code != "blocked" {
					t.Fatalf("the error event's code is %q, want blocked", a.code)
				}
			})
			t.Run("classifier down", func(t *testing.T) {
				down.Store(true)
				defer down.Store(false)
				from := len(fake.Requests())
				a := h.ask(t, tok, rt.openAI, rt.stream, "A harmless question about optics.")
				checkError(t, a, rt.openAI, http.StatusServiceUnavailable, "unavailable", "service_unavailable",
					"moderation is unavailable", "nothing was sent", "guardrail")
				if a.provider != "guardrail" {
					t.Fatalf("the error names provider %q, want the classifier guardrail:\n%s", a.provider, a.raw)
				}
				if sent := sentTo(fake, from, "/chat/completions"); len(sent) != 0 {
					t.Fatalf("the model was asked %d times while the classifier was down", len(sent))
				}
				ids["in:error=block"] = append(ids["in:error=block"], a.requestID)
			})
			t.Run("secrets never reach the classifier", func(t *testing.T) {
				from := len(fake.Requests())
				a := h.ask(t, tok, rt.openAI, rt.stream, "[flag:health] My key "+modSecret+" leaked, mail "+modMail+" is it bad for my health?")
				checkAnswered(t, a, rt.stream, modPlainAnswer, "moderation: category health flagged (input)")
				ids["in:health=warn"] = append(ids["in:health=warn"], a.requestID)
				classified := append(sentTo(fake, from, "/chat/moderations"), sentTo(fake, from, "/v1/moderations")...)
				if len(classified) < 2 { // the question, then the answer
					t.Fatalf("the classifier was asked %d times, want the question and the answer", len(classified))
				}
				for _, body := range classified {
					if strings.Contains(body, modSecret) || strings.Contains(body, modMail) {
						t.Fatalf("the classifier received a masked value: %s", body)
					}
				}
				if !strings.Contains(classified[0], "[flag:health]") {
					t.Fatalf("the classifier did not get the question: %s", classified[0])
				}
			})
		})
	}

	// The journal: each request's entry carries its outcome, categories and
	// decisions, never text.
	outcomes := map[string]string{"in:violence_and_threats=block": "blocked", "out:selfharm=block": "blocked",
		"in:error=block": "provider_error", "in:health=warn": "ok", "in:financial=log": "ok", "out:law=warn": "ok"}
	for _, record := range slices.Sorted(maps.Keys(ids)) {
		for _, id := range ids[record] {
			m, o := journaledModeration(t, h, admin, id)
			if m != record || o != outcomes[record] {
				t.Errorf("journal entry %s: moderation %q outcome %q, want %q %q", id, m, o, record, outcomes[record])
			}
		}
	}
	if out, errOut, code := h.timon("audit", "show", "--format", "json", ids["in:health=warn"][0]); code != 0 || !strings.Contains(out, `"in:health=warn"`) {
		t.Errorf("timon audit show: exit %d\n%s%s", code, out, errOut)
	}
	if out, errOut, code := h.timon("audit", "show", ids["in:health=warn"][0]); code != 0 || !strings.Contains(out, "\n  moderation in:health=warn\n") {
		t.Errorf("timon audit show (text): exit %d\n%s%s", code, out, errOut)
	}

	// Metrics: one count per request and finding, by direction, category
	// and decision; no other label.
	got := map[string]float64{}
	for line, v := range scrape(t, h) {
		labels, ok := strings.CutPrefix(line, "timon_moderation_total{")
		if !ok {
			continue
		}
		l := map[string]string{}
		for _, kv := range strings.Split(strings.TrimSuffix(labels, "}"), ",") {
			k, v, _ := strings.Cut(kv, "=")
			l[k] = strings.Trim(v, `"`)
		}
		if keys := slices.Sorted(maps.Keys(l)); !slices.Equal(keys, []string{"category", "decision", "direction"}) {
			t.Errorf("timon_moderation_total has labels %v: %s", keys, line)
		}
		if strings.Contains(line, "mod-asker") {
			t.Errorf("a metric names the user: %s", line)
		}
		got[l["direction"]+":"+l["category"]+"="+l["decision"]] = v
	}
	want := map[string]float64{}
	for record, list := range ids {
		want[record] = float64(len(list))
	}
	if !maps.Equal(got, want) {
		t.Errorf("timon_moderation_total: %v, want %v", got, want)
	}
}

// TestModerationServeOpenAIClient: openai-go, the official client, reads a
// warned answer, whole and streamed, of chat completions and completions,
// with timon's notices beside OpenAI's members; a refusal is its
// *openai.Error, and a stream refused after it started ends with
// finish_reason content_filter and the stream's error.
func TestModerationServeOpenAIClient(t *testing.T) {
	fake, _ := modFake(t)
	h := startHubWith(t, fake, hubConfigWith(fake.URL(), fmt.Sprintf(moderationServeConfig, fake.URL())))
	client := openai.NewClient(option.WithBaseURL(h.url+"/v1"), option.WithAPIKey(h.token("mod-sdk")), option.WithMaxRetries(0))
	ctx := ctxT(t)
	const notice = `["moderation: category law flagged (output)"]`
	params := openai.ChatCompletionNewParams{Model: "timon", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("ANSWER_WARNED: may I sign?")}}

	resp, err := client.Chat.Completions.New(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Choices[0].Message.Content != modWarnedAnswer || resp.JSON.ExtraFields["notices"].Raw() != notice {
		t.Fatalf("answer %q, notices %s", resp.Choices[0].Message.Content, resp.JSON.ExtraFields["notices"].Raw())
	}

	stream := client.Chat.Completions.NewStreaming(ctx, params)
	var text, notices, finish string
	for stream.Next() {
		ch := stream.Current()
		if n, ok := ch.JSON.ExtraFields["notices"]; ok {
			if len(ch.Choices) == 0 || ch.Choices[0].FinishReason == "" {
				t.Fatalf("notices on a chunk without finish_reason: %s", ch.RawJSON())
			}
			notices = n.Raw()
		}
		for _, c := range ch.Choices {
			text += c.Delta.Content
			finish += c.FinishReason
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if text != modWarnedAnswer || notices != notice || finish != "stop" {
		t.Fatalf("streamed %q, notices %s, finish_reason %q", text, notices, finish)
	}

	// A streamed answer refused after its first sentences: the client gets
	// them, the finish_reason content_filter, then the stream's error.
	stream = client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{Model: "timon",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("ANSWER_BLOCKED: three things")}})
	text, finish = "", ""
	for stream.Next() {
		for _, c := range stream.Current().Choices {
			text += c.Delta.Content
			finish += c.FinishReason
		}
	}
	if err := stream.Err(); err == nil || !strings.Contains(err.Error(), "refused by moderation: category selfharm (output)") {
		t.Fatalf("the refused stream ended with %v", err)
	}
	if text == "" || !strings.HasPrefix(modBlockedAnswer, text) || finish != "content_filter" {
		t.Fatalf("the refused stream gave %q, finish_reason %q", text, finish)
	}

	// Completions (task complete, what editors' autocompletion asks): the
	// notices of a warned question, whole and on the finishing chunk.
	const inputNotice = `["moderation: category health flagged (input)"]`
	cparams := openai.CompletionNewParams{Model: "timon", Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("# [flag:health] dose for a child\ndef dose(weight):")}}
	comp, err := client.Completions.New(ctx, cparams)
	if err != nil {
		t.Fatal(err)
	}
	if comp.Choices[0].Text != modPlainAnswer || comp.JSON.ExtraFields["notices"].Raw() != inputNotice {
		t.Fatalf("completion %q, notices %s", comp.Choices[0].Text, comp.JSON.ExtraFields["notices"].Raw())
	}
	cstream := client.Completions.NewStreaming(ctx, cparams)
	text, notices, finish = "", "", ""
	for cstream.Next() {
		ch := cstream.Current()
		if n, ok := ch.JSON.ExtraFields["notices"]; ok {
			if len(ch.Choices) == 0 || ch.Choices[0].FinishReason == "" {
				t.Fatalf("notices on a chunk without finish_reason: %s", ch.RawJSON())
			}
			notices = n.Raw()
		}
		for _, c := range ch.Choices {
			text += c.Text
			finish += string(c.FinishReason)
		}
	}
	if err := cstream.Err(); err != nil {
		t.Fatal(err)
	}
	if text != modPlainAnswer || notices != inputNotice || finish != "stop" {
		t.Fatalf("streamed completion %q, notices %s, finish_reason %q", text, notices, finish)
	}

	_, err = client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "timon",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("[flag:violence_and_threats] a threat")}})
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusUnprocessableEntity || apiErr.Code != "content_blocked" ||
		!strings.Contains(apiErr.Message, "violence_and_threats") {
		t.Fatalf("a blocked question: %v", err)
	}
}
