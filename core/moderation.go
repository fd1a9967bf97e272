package core

import "strings"

// Where moderation found something: what was sent, the answer, or the
// untrusted material a request carries (Request.Untrusted).
const (
	ModerationInput     = "input"
	ModerationOutput    = "output"
	ModerationUntrusted = "untrusted"
)

// ModerationFlag is what refused a request by moderation, as the person who
// asked may see it: the category flagged, empty when no classifier
// answered, and where it was found. Never content.
type ModerationFlag struct {
	Category  string `json:"category,omitempty"`
	Direction string `json:"direction"`
}

// setAsideNotice is the notice of untrusted material set aside.
const setAsideNotice = "part of the context was set aside by moderation (category "

// SetAsideNotice is the notice of a response whose untrusted material of
// category was set aside.
func SetAsideNotice(category string) string { return setAsideNotice + category + ")" }

// SetAsideCategory returns the category of a SetAsideNotice, and whether
// notice is one.
func SetAsideCategory(notice string) (string, bool) {
	rest, ok := strings.CutPrefix(notice, setAsideNotice)
	if !ok || !strings.HasSuffix(rest, ")") {
		return "", false
	}
	return strings.TrimSuffix(rest, ")"), true
}
