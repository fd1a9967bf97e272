package chat

import (
	"strings"
	"unicode"
)

// Commands.
const (
	cmdAsk       = "ask"
	cmdRewrite   = "rewrite"
	cmdTranslate = "translate"
	cmdSummarize = "summarize"
	cmdExplain   = "explain"
	cmdReview    = "review"
	cmdRefs      = "refs" // refs.go
	cmdUsage     = "usage"
	cmdPrivacy   = "privacy"
	cmdHelp      = "help"
)

// aliases maps what users type (English and French) to commands.
var aliases = map[string]string{
	"ask": cmdAsk, "question": cmdAsk, "demande": cmdAsk,
	"rewrite": cmdRewrite, "reformule": cmdRewrite, "réécris": cmdRewrite, "reecris": cmdRewrite, "réécrire": cmdRewrite,
	"translate": cmdTranslate, "traduis": cmdTranslate, "traduire": cmdTranslate, "traduction": cmdTranslate,
	"summarize": cmdSummarize, "summarise": cmdSummarize, "summary": cmdSummarize, "résume": cmdSummarize, "résumé": cmdSummarize,
	"explain": cmdExplain, "explique": cmdExplain, "expliquer": cmdExplain,
	"review": cmdReview, "relis": cmdReview, "relecture": cmdReview, "revue": cmdReview,
	"refs": cmdRefs, "biblio": cmdRefs, "bibliography": cmdRefs, "bibliographie": cmdRefs,
	"references": cmdRefs, "références": cmdRefs, "bibtex": cmdRefs,
	"usage": cmdUsage, "quota": cmdUsage, "conso": cmdUsage,
	"privacy": cmdPrivacy, "confidentialité": cmdPrivacy, "confidentialite": cmdPrivacy, "vie-privée": cmdPrivacy,
	"help": cmdHelp, "aide": cmdHelp, "?": cmdHelp,
}

// tones maps the tones rewrite knows (English and French) to the
// instruction given to the assistant. grammar and shorten are the engine's
// named instructions.
var tones = map[string]string{
	"formal": "Rewrite the text in a formal tone, keeping its meaning.", "formel": "Rewrite the text in a formal tone, keeping its meaning.",
	"informal": "Rewrite the text in an informal tone, keeping its meaning.", "informel": "Rewrite the text in an informal tone, keeping its meaning.",
	"friendly": "Rewrite the text in a friendly tone, keeping its meaning.", "amical": "Rewrite the text in a friendly tone, keeping its meaning.",
	"academic": "reformulate", "académique": "reformulate", "academique": "reformulate",
	"concise": "shorten", "concis": "shorten", "short": "shorten", "shorter": "shorten", "court": "shorten", "shorten": "shorten",
	"polite": "Rewrite the text in a polite, courteous tone, keeping its meaning.", "poli": "Rewrite the text in a polite, courteous tone, keeping its meaning.",
	"simple": "Rewrite the text in simple, plain words, keeping its meaning.", "simplifie": "Rewrite the text in simple, plain words, keeping its meaning.",
	"grammar": "grammar", "grammaire": "grammar",
}

// languages maps the targets translate knows to the engine's instructions.
var languages = map[string]string{
	"en": "translate-en", "english": "translate-en", "anglais": "translate-en",
	"fr": "translate-fr", "french": "translate-fr", "français": "translate-fr", "francais": "translate-fr",
}

// command is a parsed chat command.
type command struct {
	name string
	// known is false when the text named no command (then name is ask).
	known bool
	// model is the model asked for with model:NAME ("" for none).
	model string
	// option is the tone of rewrite or the language of translate (the
	// engine's instruction), "" for none.
	option string
	// text is the rest: the question, the text, the code, the diff.
	text string
}

// parse reads a command text: an optional command word (English or
// French), an optional model:NAME, an optional tone or language, then the
// text. A text that names no command is a question; an empty one asks for
// help.
func parse(text string) command {
	rest := strings.TrimSpace(text)
	if rest == "" {
		return command{name: cmdHelp, known: true}
	}
	c := command{name: cmdAsk}
	if w, after := firstWord(rest); w != "" {
		if name, ok := aliases[strings.ToLower(strings.TrimRight(w, ":,"))]; ok {
			c.name, c.known, rest = name, true, after
		}
	}
	// model:NAME (or --model NAME, --model=NAME) right after the command.
	if w, after := firstWord(rest); w != "" {
		lw := strings.ToLower(w)
		switch {
		case strings.HasPrefix(lw, "model:"):
			c.model, rest = w[len("model:"):], after
		case strings.HasPrefix(lw, "--model="):
			c.model, rest = w[len("--model="):], after
		case lw == "--model":
			c.model, rest = firstWord(after)
		}
	}
	switch c.name {
	case cmdRewrite:
		if w, after := firstWord(rest); w != "" {
			lw := strings.ToLower(strings.TrimRight(w, ":,"))
			if instr, ok := tones[lw]; ok {
				c.option, rest = instr, after
			} else if t, ok := strings.CutPrefix(lw, "tone:"); ok && t != "" {
				c.option, rest = "Rewrite the text in a "+t+" tone, keeping its meaning.", after
			}
		}
		if c.option == "" {
			c.option = "reformulate"
		}
	case cmdTranslate:
		if w, after := firstWord(rest); w != "" {
			if instr, ok := languages[strings.ToLower(strings.TrimRight(w, ":,"))]; ok {
				c.option, rest = instr, after
			}
		}
		if c.option == "" {
			c.option = "translate"
		}
	}
	c.text = strings.TrimSpace(rest)
	return c
}

// firstWord splits s after its first word (up to a space or a line break);
// the rest keeps its line breaks, which matter to code and diffs.
func firstWord(s string) (word, rest string) {
	s = strings.TrimLeftFunc(s, unicode.IsSpace)
	i := strings.IndexFunc(s, unicode.IsSpace)
	if i < 0 {
		return s, ""
	}
	return s[:i], strings.TrimLeft(s[i:], " \t")
}
