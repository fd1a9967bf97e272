package review

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"
)

// Severities, most serious first.
var Severities = []string{"critical", "major", "minor", "info"}

// Categories are the kinds of finding the model labels its findings with
// (a closed set): what a dismissal is counted by, and what a project may
// suppress. A finding without one is of kind "other"; a flagged secret is
// of kind "secret", never suppressed in a project.
var Categories = []string{"bug", "security", "error-handling", "concurrency", "performance", "resource-leak",
	"maintainability", "style", "tests", "documentation", "other"}

// KindSecret is the kind of a flagged secret.
const KindSecret = "secret"

// SchemaName names the review's answer format for the model.
const SchemaName = "merge_request_review"

// Schema is the JSON Schema of the model's answer: sent as response_format
// and used to validate what comes back. It keeps to the subset that
// Mistral, vLLM, Ollama and OpenAI's strict mode all accept: every property
// required, optional ones nullable, no additional properties.
var Schema = json.RawMessage(`{
  "type": "object",
  "properties": {
    "summary": {"type": "string", "maxLength": 4000},
    "findings": {
      "type": "array",
      "maxItems": 50,
      "items": {
        "type": "object",
        "properties": {
          "file": {"type": "string", "maxLength": 1000},
          "line": {"type": "string", "maxLength": 2000},
          "severity": {"type": "string", "enum": ["critical", "major", "minor", "info"]},
          "confidence": {"type": "number", "minimum": 0, "maximum": 1},
          "message": {"type": "string", "maxLength": 2000},
          "suggestion": {"type": ["string", "null"], "maxLength": 4000},
          "category": {"type": ["string", "null"], "enum": ["bug", "security", "error-handling", "concurrency", "performance", "resource-leak", "maintainability", "style", "tests", "documentation", "other", null]}
        },
        "required": ["file", "line", "severity", "confidence", "message", "suggestion", "category"],
        "additionalProperties": false
      }
    }
  },
  "required": ["summary", "findings"],
  "additionalProperties": false
}`)

// Answer is the model's validated answer.
type Answer struct {
	Summary  string    `json:"summary"`
	Findings []Finding `json:"findings"`
}

// Finding is one remark of the model: the file, the line it quotes, how
// serious and how sure, the remark, and an optional replacement for the
// quoted line, and its category (one of Categories, "" when the model gave
// none).
type Finding struct {
	File       string  `json:"file"`
	Line       string  `json:"line"`
	Severity   string  `json:"severity"`
	Confidence float64 `json:"confidence"`
	Message    string  `json:"message"`
	Suggestion *string `json:"suggestion"`
	Category   string  `json:"category,omitempty"`
}

// Kind is the finding's kind: its category, "other" when it has none.
func (f *Finding) Kind() string {
	if f.Category == "" {
		return "other"
	}
	return f.Category
}

// ParseAnswer validates a model's text against Schema and decodes it. A
// JSON object wrapped in a Markdown code fence is accepted (servers without
// structured output); anything else that does not validate is an error
// saying what is wrong, to be sent back to the model once.
func ParseAnswer(text string) (*Answer, error) {
	raw := []byte(strings.TrimSpace(text))
	if len(raw) > 0 && raw[0] != '{' {
		i, j := bytes.IndexByte(raw, '{'), bytes.LastIndexByte(raw, '}')
		if i < 0 || j < i {
			return nil, fmt.Errorf("the answer is not a JSON object")
		}
		raw = raw[i : j+1]
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("the answer is not valid JSON: %v", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("the answer has text after the JSON object")
	}
	if err := validate(schema(), v, "$"); err != nil {
		return nil, err
	}
	var a Answer
	if err := json.Unmarshal(raw, &a); err != nil {
		return nil, fmt.Errorf("the answer does not decode: %v", err)
	}
	return &a, nil
}

// schemaNode is the subset of JSON Schema Schema uses.
type schemaNode struct {
	Type                 any                    `json:"type"`
	Properties           map[string]*schemaNode `json:"properties"`
	Required             []string               `json:"required"`
	AdditionalProperties *bool                  `json:"additionalProperties"`
	Items                *schemaNode            `json:"items"`
	Enum                 []any                  `json:"enum"`
	Minimum              *float64               `json:"minimum"`
	Maximum              *float64               `json:"maximum"`
	MaxLength            *int                   `json:"maxLength"`
	MaxItems             *int                   `json:"maxItems"`
}

var parsedSchema = mustParseSchema()

func mustParseSchema() *schemaNode {
	var n schemaNode
	if err := json.Unmarshal(Schema, &n); err != nil {
		panic("review: Schema is not valid: " + err.Error())
	}
	return &n
}

func schema() *schemaNode { return parsedSchema }

func (n *schemaNode) types() []string {
	switch t := n.Type.(type) {
	case string:
		return []string{t}
	case []any:
		var out []string
		for _, x := range t {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func jsonType(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case json.Number:
		if _, err := x.Int64(); err == nil {
			return "integer"
		}
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return "unknown"
}

// validate checks v against n; at is the JSON path for messages.
func validate(n *schemaNode, v any, at string) error {
	t := jsonType(v)
	if ts := n.types(); len(ts) > 0 && !slices.Contains(ts, t) && !(t == "integer" && slices.Contains(ts, "number")) {
		return fmt.Errorf("%s: expected %s, got %s", at, strings.Join(ts, " or "), t)
	}
	if len(n.Enum) > 0 && !slices.Contains(n.Enum, v) {
		return fmt.Errorf("%s: %v is not one of %v", at, v, n.Enum)
	}
	switch x := v.(type) {
	case string:
		if n.MaxLength != nil && utf8.RuneCountInString(x) > *n.MaxLength {
			return fmt.Errorf("%s: longer than %d characters", at, *n.MaxLength)
		}
	case json.Number:
		f, err := x.Float64()
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("%s: not a finite number", at)
		}
		if n.Minimum != nil && f < *n.Minimum {
			return fmt.Errorf("%s: %v is below the minimum %v", at, f, *n.Minimum)
		}
		if n.Maximum != nil && f > *n.Maximum {
			return fmt.Errorf("%s: %v is above the maximum %v", at, f, *n.Maximum)
		}
	case []any:
		if n.MaxItems != nil && len(x) > *n.MaxItems {
			return fmt.Errorf("%s: more than %d items", at, *n.MaxItems)
		}
		if n.Items != nil {
			for i, e := range x {
				if err := validate(n.Items, e, fmt.Sprintf("%s[%d]", at, i)); err != nil {
					return err
				}
			}
		}
	case map[string]any:
		for _, r := range n.Required {
			if _, ok := x[r]; !ok {
				// An optional (nullable) property may be left out.
				if p := n.Properties[r]; p != nil && slices.Contains(p.types(), "null") {
					continue
				}
				return fmt.Errorf("%s: missing required property %q", at, r)
			}
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p := n.Properties[k]
			if p == nil {
				if n.AdditionalProperties != nil && !*n.AdditionalProperties {
					return fmt.Errorf("%s: unexpected property %q", at, k)
				}
				continue
			}
			if err := validate(p, x[k], at+"."+k); err != nil {
				return err
			}
		}
	}
	return nil
}
