package integrationtests

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestEditorEmacsLSPMode drives lsp-mode (Debian's elpa-lsp-mode 8.0.0
// on Emacs 28), set up as lsp/editors/README.md says: lsp-mode completes
// and applies a code action in real Emacs. The .go file has no go-mode
// (Emacs has none built in): it opens in prog-mode, as the guide tells a
// user without go-mode to do, and the completion must insert the item's
// edit, not its label. The code action goes through codeAction/resolve,
// which lsp-mode asks for and eglot does not.
func TestEditorEmacsLSPMode(t *testing.T) {
	emacs := requiredTool(t, "Emacs", "apt-get install emacs-nox elpa-lsp-mode", "emacs")
	p := newEditorProject(t, editorGo)
	if out, err := exec.Command(emacs, "--batch", "-q", "--eval", "(require 'lsp-mode)").CombinedOutput(); err != nil {
		requiredMissing(t, "Emacs has no lsp-mode (apt-get install elpa-lsp-mode): %v\n%s", err, out)
	}
	dir, _ := filepath.Abs("../lsp/editors/emacs")
	script, _ := filepath.Abs("testdata/editors/lsp-mode-test.el")

	// timon.el compiles cleanly with lsp-mode installed.
	elc := filepath.Join(t.TempDir(), "timon.elc")
	compile := exec.Command(emacs, "--batch", "-q", "-L", dir,
		"--eval", "(require 'lsp-mode)",
		"--eval", fmt.Sprintf("(setq byte-compile-error-on-warn t byte-compile-dest-file-function (lambda (_) %q))", elc),
		"--eval", fmt.Sprintf("(unless (byte-compile-file %q) (kill-emacs 1))", filepath.Join(dir, "timon.el")))
	compile.Env = p.env()
	if out, err := compile.CombinedOutput(); err != nil {
		t.Errorf("byte-compiling timon.el with lsp-mode: %v\n%s", err, out)
	}

	// The set-up the guide gives, as a user copies it.
	setup := filepath.Join(t.TempDir(), "setup.el")
	editorWrite(t, setup, lspModeSetup(t))

	cmd := exec.Command(emacs, "--batch", "-q", "-l", script)
	cmd.Dir = p.dir
	cmd.Env = p.env("TIMON_EMACS_DIR="+dir, "TIMON_TEST_SETUP="+setup)
	out := editorRun(t, 90*time.Second, cmd)
	t.Logf("emacs:\n%s", out)
	if !strings.Contains(out, editorAction) {
		t.Errorf("lsp-mode's code action menu did not list %q", editorAction)
	}
	p.check(t, editorGoDone)
}

// lspModeGuideMark introduces the section of lsp/editors/README.md whose
// elisp blocks make the lsp-mode set-up.
const lspModeGuideMark = "<!-- editors_lspmode_test.go loads the elisp blocks of this section -->"

// lspModeSetup returns the elisp blocks of the guide's lsp-mode section,
// from the mark to the next heading.
func lspModeSetup(t *testing.T) string {
	t.Helper()
	guide := editorRead(t, "../lsp/editors/README.md")
	i := strings.Index(guide, lspModeGuideMark)
	if i < 0 {
		t.Fatalf("lsp/editors/README.md lacks %q before its lsp-mode set-up", lspModeGuideMark)
	}
	section := guide[i:]
	if j := strings.Index(section, "\n#"); j >= 0 {
		section = section[:j]
	}
	var blocks []string
	for {
		start := strings.Index(section, "```elisp\n")
		if start < 0 {
			break
		}
		section = section[start+len("```elisp\n"):]
		end := strings.Index(section, "```")
		if end < 0 {
			t.Fatal("lsp/editors/README.md: an elisp block is not closed")
		}
		blocks = append(blocks, section[:end])
		section = section[end+3:]
	}
	if len(blocks) == 0 {
		t.Fatal("lsp/editors/README.md has no elisp block after its lsp-mode mark")
	}
	return strings.Join(blocks, "\n")
}
