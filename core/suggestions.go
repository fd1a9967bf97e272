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
// as "go" or "latex") is counted under: lower-cased, and "other" for an id
// outside suggestionLanguages. The labels of /metrics and the rows of the
// counters are then bounded whatever editors send: a client inventing a
// new id at each report would otherwise grow both without end.
func SuggestionLanguage(id string) string {
	id = strings.ToLower(strings.TrimSpace(id))
	if _, ok := suggestionLanguages[id]; !ok {
		return "other"
	}
	return id
}

// suggestionLanguages are the language ids counted under their own name:
// those of the LSP specification, and the file types Neovim and Emacs
// send for common languages of research code and writing.
var suggestionLanguages = func() map[string]struct{} {
	m := map[string]struct{}{}
	for _, id := range strings.Fields(`
		abap bat bibtex clojure coffeescript c cpp csharp css d diff dart dockerfile elixir erlang
		fsharp git-commit git-rebase go groovy handlebars haml html ini java javascript
		javascriptreact json jsonc latex less lua makefile markdown objective-c objective-cpp
		ocaml pascal perl perl6 php plaintext powershell jade pug python r razor ruby rust scss
		sass scala shaderlab shellscript slim sql stylus svelte swift typescript typescriptreact
		tex text vb vue xml xsl yaml
		ada asciidoc awk bash cmake coq csv cuda elm emacs-lisp fish fortran gnuplot graphql
		haskell hcl julia kotlin lean lisp matlab maple mathematica nim nix octave org prolog
		proto quarto racket rmd rst scheme sh stan tcl terraform toml typst verilog vhdl vim
		wolfram zig zsh`) {
		m[id] = struct{}{}
	}
	return m
}()
