package core

// LaTeXContext is what an editor knows of a LaTeX rewrite's document and
// project beyond the text itself: the writer's own macros and environments
// (so that their arguments are protected or rewritten according to their
// kind, not guessed) and, for a translation, the terminology to follow.
// Only a rewrite in the latex format uses it; the definitions never reach
// a model, the glossary terms found in the text do (redacted like the rest).
type LaTeXContext struct {
	Definitions []LaTeXDefinition `json:"definitions,omitempty"`
	Glossary    []GlossaryTerm    `json:"glossary,omitempty"`
}

// LaTeXDefinition is one macro or environment the writer defines.
type LaTeXDefinition struct {
	Name        string `json:"name"` // without the backslash
	Environment bool   `json:"environment,omitempty"`
	// Role is prose (arguments or body rewritten as prose), protected,
	// ref (a reference, citation or link) or math.
	Role     string `json:"role"`
	Args     int    `json:"args,omitempty"`     // arguments, the optional one included
	Optional bool   `json:"optional,omitempty"` // the first argument is optional
}

// GlossaryTerm is one entry of a translation glossary, oriented for the
// translation asked: Source, in the text, must come out as Target, or stay
// as it is with Keep.
type GlossaryTerm struct {
	Source string `json:"source"`
	Target string `json:"target,omitempty"`
	Keep   bool   `json:"keep,omitempty"`
}

// Bounds of a LaTeXContext.
const (
	MaxLaTeXDefinitions = 10000
	MaxGlossaryTerms    = 10000
	maxLaTeXName        = 128
	maxGlossaryTerm     = 256
)

func (c *LaTeXContext) validate() error {
	if c == nil {
		return nil
	}
	if len(c.Definitions) > MaxLaTeXDefinitions {
		return Errorf(KindInvalid, "latex lists %d definitions, more than the %d allowed", len(c.Definitions), MaxLaTeXDefinitions)
	}
	for i, d := range c.Definitions {
		if d.Name == "" || len(d.Name) > maxLaTeXName || d.Args < 0 || d.Args > 9 {
			return Errorf(KindInvalid, "latex definition %d: a name of 1 to %d bytes and 0 to 9 arguments are needed", i, maxLaTeXName)
		}
		switch d.Role {
		case "prose", "protected", "ref", "math":
		default:
			return Errorf(KindInvalid, "latex definition %d: unknown role %q (expected prose, protected, ref or math)", i, d.Role)
		}
	}
	if len(c.Glossary) > MaxGlossaryTerms {
		return Errorf(KindInvalid, "latex lists %d glossary terms, more than the %d allowed", len(c.Glossary), MaxGlossaryTerms)
	}
	for i, g := range c.Glossary {
		if g.Source == "" || len(g.Source) > maxGlossaryTerm || len(g.Target) > maxGlossaryTerm {
			return Errorf(KindInvalid, "latex glossary term %d: a source of 1 to %d bytes is needed", i, maxGlossaryTerm)
		}
	}
	return nil
}
