package fakellm_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"timon.dev/timon/core/provider/fakellm"
)

type modAnswer struct {
	Model   string `json:"model"`
	Results []struct {
		Flagged        *bool              `json:"flagged"`
		Categories     map[string]bool    `json:"categories"`
		CategoryScores map[string]float64 `json:"category_scores"`
	} `json:"results"`
	Usage *struct {
		PromptTokens int `json:"prompt_tokens"`
	} `json:"usage"`
}

func moderate(t *testing.T, s *fakellm.Server, path, body string) modAnswer {
	t.Helper()
	res, b := post(t, testContext(t), s.URL()+path, body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("%s: %d %s", path, res.StatusCode, b)
	}
	var a modAnswer
	if err := json.Unmarshal(b, &a); err != nil {
		t.Fatalf("%s: %v: %s", path, err, b)
	}
	return a
}

func TestModerationShapes(t *testing.T) {
	s := start(t)
	a := moderate(t, s, "/moderations", `{"model":"mistral-moderation-latest","input":["fine","[flag:pii] and [flag:law]"]}`)
	if a.Model != "mistral-moderation-latest" || len(a.Results) != 2 || a.Usage == nil || a.Usage.PromptTokens == 0 {
		t.Fatalf("Mistral answer = %+v", a)
	}
	r := a.Results[1]
	if r.Flagged != nil || !r.Categories["pii"] || !r.Categories["law"] || r.Categories["health"] || r.CategoryScores["pii"] != fakellm.FlaggedScore || len(r.CategoryScores) != len(fakellm.MistralModerationCategories) {
		t.Errorf("Mistral result = %+v", r)
	}

	a = moderate(t, s, "/moderations", `{"model":"omni-moderation-latest","input":"[flag:self-harm/intent]"}`)
	if len(a.Results) != 1 || a.Usage != nil {
		t.Fatalf("OpenAI answer = %+v", a)
	}
	r = a.Results[0]
	if r.Flagged == nil || !*r.Flagged || !r.Categories["self-harm/intent"] || len(r.CategoryScores) != len(fakellm.OpenAIModerationCategories) {
		t.Errorf("OpenAI result = %+v", r)
	}

	// One conversation, not in a list, is accepted too.
	a = moderate(t, s, "/chat/moderations", `{"model":"m","input":[{"role":"user","content":"[flag:jailbreaking]"}]}`)
	if len(a.Results) != 1 || !a.Results[0].Categories["jailbreaking"] {
		t.Errorf("conversation answer = %+v", a)
	}
	reqs := s.Requests()
	if got := reqs[len(reqs)-1].Conversations; len(got) != 1 || got[0][0].Content != "[flag:jailbreaking]" {
		t.Errorf("recorded conversations = %+v", got)
	}

	if res, _ := post(t, testContext(t), s.URL()+"/chat/moderations", `{"model":"m","input":{"no":1}}`); res.StatusCode != http.StatusBadRequest {
		t.Errorf("bad input: %d", res.StatusCode)
	}
}

func TestModerationScripted(t *testing.T) {
	s := start(t)
	s.OpenAIModeration(true)
	s.SetModeration(func(text string) map[string]float64 { return map[string]float64{"violence": float64(len(text)) / 10} })
	a := moderate(t, s, "/moderations", `{"model":"m","input":["abc","abcdef"]}`)
	if a.Results[0].Categories["violence"] || a.Results[0].CategoryScores["violence"] != 0.3 || !a.Results[1].Categories["violence"] {
		t.Errorf("answer = %+v", a)
	}
	s.Reset()
	s.Enqueue(fakellm.Reply{Status: http.StatusServiceUnavailable})
	if res, _ := post(t, testContext(t), s.URL()+"/moderations", `{"model":"m","input":"x"}`); res.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("scripted failure: %d", res.StatusCode)
	}
	if s.Count() != 1 {
		t.Errorf("Count = %d", s.Count())
	}
}
