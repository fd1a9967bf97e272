package complete

import (
	"strings"
	"unicode/utf8"
)

// charsPerToken is the estimate used to turn token budgets into text.
const charsPerToken = 4

// Window returns the text before and after offset that fits the budgets
// (in tokens): the prefix starts at a line start and the suffix ends at a
// line end whenever the budget cuts a text with lines.
func Window(text string, offset, prefixTokens, suffixTokens int) (prefix, suffix string) {
	offset = max(0, min(offset, len(text)))
	prefix, suffix = text[:offset], text[offset:]
	if n := prefixTokens * charsPerToken; len(prefix) > n {
		cut := len(prefix) - n
		if i := strings.IndexByte(prefix[cut:], '\n'); i >= 0 && i < len(prefix)-cut-1 {
			cut += i + 1
		}
		for cut < len(prefix) && !utf8.RuneStart(prefix[cut]) {
			cut++
		}
		prefix = prefix[cut:]
	}
	if n := suffixTokens * charsPerToken; len(suffix) > n {
		cut := n
		if i := strings.LastIndexByte(suffix[:cut], '\n'); i > 0 {
			cut = i + 1
		}
		for cut > 0 && !utf8.RuneStart(suffix[cut]) {
			cut--
		}
		suffix = suffix[:cut]
	}
	return prefix, suffix
}

// around returns what Clean needs at offset.
func around(text string, offset int, lang string) Around {
	ls := strings.LastIndexByte(text[:offset], '\n') + 1
	after := text[offset:]
	if len(after) > 8192 {
		after = after[:8192]
	}
	return Around{LinePrefix: text[ls:offset], After: after, Language: lang}
}
