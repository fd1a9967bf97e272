package core

import "strings"

// SuggestionCount counts the completion suggestions an editor showed in
// one language and how many of them the user accepted: the acceptance
// signal by which people judge a completion model. It carries no content.
type SuggestionCount struct {
	Language string `json:"language"`
	Shown    int64  `json:"shown"`
	Accepted int64  `json:"accepted"`
}

// SuggestionLanguage is the label a language id (an LSP languageId such
// as "go" or "latex") is counted under: lower-cased, and "other" for what
// is not a plausible language id, so that the labels a client can create
// stay few and carry nothing but a language's name.
func SuggestionLanguage(id string) string {
	id = strings.ToLower(strings.TrimSpace(id))
	if id == "" || len(id) > 32 {
		return "other"
	}
	for _, r := range id {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_', r == '+', r == '#', r == '.':
		default:
			return "other"
		}
	}
	return id
}
