package integrationtests

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// editorBib and editorCite are the bibliography and the paper of the
// citation test: a key to complete from "jo", a known key to hover, an
// unknown key to warn about.
const (
	editorBib = `@string{crp = {Comptes rendus de l'Acad\'emie des sciences}}
@article{curie1898, author = {Curie, Pierre and Curie, Marie and B{\'e}mont, Gustave},
  title = {Sur une nouvelle substance fortement radio-active contenue dans la pechblende}, journal = crp, year = 1898}
@article{joliot1934, author = {Joliot, Fr{\'e}d{\'e}ric and Curie, Ir{\` + "`" + `e}ne},
  title = {Un nouveau type de radioactivit{\'e}}, journal = crp, year = 1934}
`
	editorCite = `\documentclass{article}
\addbibresource{refs.bib}
\begin{document}
Radium \cite{curie1898} and \cite{nosuch2020}.
Artificial radioactivity \cite{jo}.
\end{document}
`
)

// TestEditorNeovimCitations: in Neovim, a citation key is completed from
// the project's .bib through the omnifunc, a key is hovered, and an
// unknown key gets a warning; the model is never asked.
func TestEditorNeovimCitations(t *testing.T) {
	nvim := requiredTool(t, "Neovim", "apt-get install neovim", "nvim")
	p := newEditorProject(t, editorGo)
	editorWrite(t, filepath.Join(p.dir, "refs.bib"), editorBib)
	editorWrite(t, filepath.Join(p.dir, "cite.tex"), editorCite)
	plugin, _ := filepath.Abs("../lsp/editors/neovim")
	script, _ := filepath.Abs("testdata/editors/nvim_cite_test.lua")
	cmd := exec.Command(nvim, "--headless", "-i", "NONE", "-n", "-u", script)
	cmd.Dir = p.dir
	cmd.Env = p.env("TIMON_NVIM_PLUGIN=" + plugin)
	out := editorRun(t, 90*time.Second, cmd, filepath.Join(p.home, ".cache", "nvim", "lsp.log"))
	t.Logf("neovim:\n%s", out)

	want := strings.Replace(editorCite, `\cite{jo}`, `\cite{joliot1934}`, 1)
	if got := editorRead(t, filepath.Join(p.dir, "cite.tex")); got != want {
		t.Errorf("cite.tex after the completion:\n%s\nwant\n%s", got, want)
	}
	// Line 3 (0-based), the key's columns, a warning (severity 2).
	if !strings.Contains(out, `diagnostic: 3:34-44 severity 2 citation key "nosuch2020" is not in the bibliography`) {
		t.Errorf("no warning on the unknown key in:\n%s", out)
	}
	if !strings.Contains(out, "hover: ") || !strings.Contains(out, "Curie et al. (1898)") || !strings.Contains(out, "pechblende") {
		t.Errorf("no hover with the entry in:\n%s", out)
	}
	if !strings.Contains(out, "offered: joliot1934 | Joliot, Curie (1934)") {
		t.Errorf("the completion menu did not show the key with its authors and year:\n%s", out)
	}
	for _, r := range p.fake.Requests() {
		if !strings.HasSuffix(r.Path, "/models") {
			t.Errorf("the model was asked (%s): citations are local", r.Path)
		}
	}
}
