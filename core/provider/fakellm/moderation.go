package fakellm

import (
	"encoding/json"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"timon.dev/timon/core/provider"
)

// Moderation: POST /v1/moderations and /v1/chat/moderations answer one
// result per text or conversation, with a score per category; a category
// is flagged when its score is 0.5 or more. Unless SetModeration says
// otherwise, every category of the answer's shape scores 0, except those
// named by a marker "[flag:NAME]" in the text, which score 0.99. A
// conversation's text is its messages' contents, one per line.

// MistralModerationCategories are the categories of Mistral's shape.
var MistralModerationCategories = []string{
	"sexual", "hate_and_discrimination", "violence_and_threats", "dangerous_and_criminal_content",
	"selfharm", "health", "financial", "law", "pii", "jailbreaking",
}

// OpenAIModerationCategories are the categories of OpenAI's shape.
var OpenAIModerationCategories = []string{
	"harassment", "harassment/threatening", "hate", "hate/threatening", "illicit", "illicit/violent",
	"self-harm", "self-harm/instructions", "self-harm/intent", "sexual", "sexual/minors",
	"violence", "violence/graphic",
}

// FlaggedScore is the default score of a category named by a marker.
const FlaggedScore = 0.99

// SetModeration scripts moderation scores: f gets each text (a
// conversation's contents one per line) and returns scores by category
// name, in the answer's shape; categories it leaves out score 0. nil
// restores the default (markers "[flag:NAME]").
func (s *Server) SetModeration(f func(text string) map[string]float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.moderation = f
}

// OpenAIModeration makes /v1/moderations answer in OpenAI's shape whatever
// the model (off by default: Mistral's shape, except for models named
// omni-moderation-* or text-moderation-*).
func (s *Server) OpenAIModeration(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.openAIModeration = on
}

var flagMarker = regexp.MustCompile(`\[flag:([a-z0-9_/-]+)\]`)

// decodeInput reads the "input" member of req's route into req.
func decodeInput(rt route, raw json.RawMessage, req *Request) error {
	if len(raw) == 0 {
		return nil
	}
	if rt == routeChatModerations {
		var convs [][]wireMessage
		if err := json.Unmarshal(raw, &convs); err != nil {
			var one []wireMessage // one conversation, not in a list
			if json.Unmarshal(raw, &one) != nil {
				return err
			}
			convs = [][]wireMessage{one}
		}
		req.Conversations = make([][]provider.Message, len(convs))
		for i, conv := range convs {
			msgs := make([]provider.Message, len(conv))
			for j, m := range conv {
				msgs[j] = provider.Message{Role: m.Role, Content: string(m.Content)}
			}
			req.Conversations[i] = msgs
		}
		return nil
	}
	var l flexList
	if err := json.Unmarshal(raw, &l); err != nil {
		return err
	}
	req.Inputs = l
	return nil
}

type moderationResult struct {
	Flagged        *bool              `json:"flagged,omitempty"`
	Categories     map[string]bool    `json:"categories"`
	CategoryScores map[string]float64 `json:"category_scores"`
}

type moderationAnswer struct {
	ID      string             `json:"id"`
	Model   string             `json:"model"`
	Results []moderationResult `json:"results"`
	Usage   *struct {
		PromptTokens     int `json:"prompt_tokens"`
		TotalTokens      int `json:"total_tokens"`
		CompletionTokens int `json:"completion_tokens"`
	} `json:"usage,omitempty"`
}

// writeModeration answers a moderation request.
func (s *Server) writeModeration(w http.ResponseWriter, req *Request, reply *Reply) {
	model := reply.Model
	if model == "" {
		model = req.Model
	}
	s.mu.Lock()
	score, openAI := s.moderation, s.openAIModeration
	s.mu.Unlock()
	openAI = req.Path == "/v1/moderations" && (openAI || strings.HasPrefix(model, "omni-moderation") || strings.HasPrefix(model, "text-moderation"))
	names := MistralModerationCategories
	if openAI {
		names = OpenAIModerationCategories
	}
	texts := req.Inputs
	if req.Conversations != nil {
		texts = make([]string, len(req.Conversations))
		for i, conv := range req.Conversations {
			parts := make([]string, len(conv))
			for j, m := range conv {
				parts[j] = m.Content
			}
			texts[i] = strings.Join(parts, "\n")
		}
	}
	a := moderationAnswer{ID: "mod-fake-" + strconv.FormatInt(s.seq.Add(1), 10), Model: model, Results: make([]moderationResult, len(texts))}
	n := 0
	for i, text := range texts {
		n += tokens(len(text))
		scores := make(map[string]float64, len(names))
		for _, name := range names {
			scores[name] = 0
		}
		if score != nil {
			maps.Copy(scores, score(text))
		} else {
			for _, m := range flagMarker.FindAllStringSubmatch(text, -1) {
				scores[m[1]] = FlaggedScore
			}
		}
		r := moderationResult{Categories: make(map[string]bool, len(scores)), CategoryScores: scores}
		flagged := false
		for name, v := range scores {
			r.Categories[name] = v >= 0.5
			flagged = flagged || v >= 0.5
		}
		if openAI {
			r.Flagged = &flagged
		}
		a.Results[i] = r
	}
	if !openAI {
		a.Usage = &struct {
			PromptTokens     int `json:"prompt_tokens"`
			TotalTokens      int `json:"total_tokens"`
			CompletionTokens int `json:"completion_tokens"`
		}{n, n, 0}
	}
	b, _ := json.Marshal(a)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	if reply.CutAfter > 0 { // cut the answer in the middle
		_, _ = w.Write(b[:len(b)/2])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	}
	_, _ = w.Write(b)
}

// guardVerdict answers a guard model prompt as a guard model would, and
// reports false for any other prompt.
func guardVerdict(prompt string) (string, bool) {
	const begin, end = "<BEGIN UNSAFE CONTENT CATEGORIES>", "<END UNSAFE CONTENT CATEGORIES>"
	i, j := strings.Index(prompt, begin), strings.Index(prompt, end)
	if i < 0 || j < i {
		return "", false
	}
	codes := map[string]string{} // name → code
	for _, line := range strings.Split(prompt[i+len(begin):j], "\n") {
		code, rest, ok := strings.Cut(line, ": ")
		name, _, _ := strings.Cut(rest, ".")
		if ok && strings.HasPrefix(code, "S") {
			codes[name] = code
		}
	}
	var flagged []string
	for _, m := range flagMarker.FindAllStringSubmatch(prompt[j:], -1) {
		if code, ok := codes[m[1]]; ok && !slices.Contains(flagged, code) {
			flagged = append(flagged, code)
		}
	}
	if len(flagged) == 0 {
		return "safe", true
	}
	return "unsafe\n" + strings.Join(flagged, ","), true
}
