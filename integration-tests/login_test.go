package integrationtests

import (
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.lsp.dev/protocol"

	"timon.dev/timon/core/provider/fakellm"
	"timon.dev/timon/core/remote/credentials"
	"timon.dev/timon/core/remote/credentials/devicetest"
	"timon.dev/timon/lsp/lsptest"
)

// userConfigEnv is the environment of a child whose user configuration
// directory (where timon login keeps credentials) is home's; no token in
// the environment.
func userConfigEnv(home string) []string {
	return []string{"HOME=" + home, "XDG_CONFIG_HOME=" + filepath.Join(home, ".config"), "TIMON_TOKEN="}
}

// TestLoginThenRemoteLSP: `timon login --hub` signs in through the device
// endpoints (a wire-level double in front of a real timon serve, until
// the hub serves them) and stores the token; `timon lsp --hub` started
// without any token then completes through the hub with it; `timon
// logout` has the hub revoke it (an editor's token, scoped to lsp) and
// forgets it, while ada's other tokens keep working.
func TestLoginThenRemoteLSP(t *testing.T) {
	fake := fakellm.New()
	t.Cleanup(fake.Close)
	h := startHub(t, fake, fake.URL())
	// What the console's device sign-in hands out: a token for editors.
	out, errOut, code := h.timon("token", "create", "--user", "ada", "--groups", "researchers", "--scope", "lsp")
	tok := strings.TrimSpace(out)
	if code != 0 || !strings.HasPrefix(tok, "timon_") {
		t.Fatalf("token create --scope lsp: exit %d\n%s%s", code, out, errOut)
	}
	target, err := url.Parse(h.url)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.FlushInterval = -1
	front := devicetest.New(devicetest.Options{Interval: 1, Unit: time.Second, Token: tok, User: "ada",
		ExpiresAt: time.Now().Add(90 * 24 * time.Hour), Answers: []string{devicetest.Pending, devicetest.Approve}, Next: proxy})
	t.Cleanup(front.Close)

	home := t.TempDir()
	cmd := exec.Command(binary, "login", "--hub", front.URL, "--no-browser")
	cmd.Env = append(os.Environ(), userConfigEnv(home)...)
	out, errOut, code = runCmd(t, cmd)
	if code != 0 || !strings.Contains(out, front.UserCode()) || !strings.Contains(out, "Signed in to "+front.URL+" as ada") {
		t.Fatalf("timon login: exit %d\n%s%s", code, out, errOut)
	}
	if strings.Contains(out+errOut, tok) {
		t.Fatal("timon login printed the token")
	}
	path := filepath.Join(home, ".config", "timon", "credentials.json")
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("credentials file: %v %v", fi, err)
	}

	p := startLSPProc(t, lsptest.Eglot19, userConfigEnv(home), "--hub", front.URL)
	u := p.file("add.go")
	p.c.Open(u, "go", lspAddGo+"\n}\n")
	var list protocol.CompletionList
	if err := p.c.Call(ctxT(t), "textDocument/completion", map[string]any{
		"textDocument": map[string]any{"uri": u}, "position": p.c.Pos(u, len(lspAddGo)), "context": map[string]any{"triggerKind": 1},
	}, &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 {
		t.Fatalf("completion through the hub with the stored token: %+v\n%s", list, p.logs.String())
	}
	p.shutdown(t)
	if strings.Contains(p.logs.String(), tok) {
		t.Fatal("timon lsp logged the token")
	}
	// The hub journaled the request as ada's, the token's owner.
	out, errOut, code = h.timon("audit", "export")
	if code != 0 || !strings.Contains(out, `"ada"`) || !strings.Contains(out, `"lsp"`) {
		t.Fatalf("journal: exit %d\n%s%s", code, out, errOut)
	}

	// timon logout: the hub revokes the token, the file forgets it.
	other := h.token("ada", "researchers")
	cmd = exec.Command(binary, "logout", "--hub", front.URL)
	cmd.Env = append(os.Environ(), userConfigEnv(home)...)
	out, errOut, code = runCmd(t, cmd)
	if code != 0 || !strings.Contains(out, "signed out: the token was revoked on "+front.URL+" and forgotten here") {
		t.Fatalf("timon logout: exit %d\n%s%s", code, out, errOut)
	}
	if c, ok, err := (&credentials.File{Path: path}).Get(front.URL); ok || err != nil {
		t.Fatalf("still stored after logout: %v %v", c, err)
	}
	if status := revokeSelf(t, h.url, tok); status != http.StatusUnauthorized {
		t.Fatalf("the signed-out token revoking itself again: %d, want 401", status)
	}
	if status, body, _ := h.post("/v1/assist", tok, map[string]any{"task": "explain", "input": "x := 1"}); status != http.StatusUnauthorized {
		t.Fatalf("the signed-out token still works: %d %v", status, body)
	}
	if status, body, _ := h.post("/v1/assist", other, map[string]any{"task": "explain", "input": "x := 1"}); status != http.StatusOK {
		t.Fatalf("ada's other token after logout: %d %v", status, body)
	}
}

// revokeSelf sends DELETE /v1/tokens/self with tok and returns the status.
func revokeSelf(t *testing.T, hub, tok string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodDelete, hub+"/v1/tokens/self", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestRemoteLSPStoredTokenExpired: a stored token past its expiry stops
// timon lsp with what to do, and an explicit token still wins over it.
func TestRemoteLSPStoredTokenExpired(t *testing.T) {
	home := t.TempDir()
	hub := "https://timon.example.org"
	f := &credentials.File{Path: filepath.Join(home, ".config", "timon", "credentials.json")}
	if err := f.Put(credentials.Credential{Hub: hub, Token: "timon_old", ExpiresAt: time.Now().Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, kv := range userConfigEnv(home) {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	_, errOut, code := runTimonEnv(t, env, "lsp", "--hub", hub)
	if code != 1 || !strings.Contains(errOut, "expired on") || !strings.Contains(errOut, "run timon login --hub "+hub+" again") {
		t.Fatalf("expired stored token: exit %d\n%s", code, errOut)
	}
	cfg := filepath.Join(home, "lsp.yaml")
	os.WriteFile(cfg, []byte("lsp:\n  hub_url: "+hub+"\n"), 0o600)
	env["TIMON_TOKEN"] = "timon_explicit"
	out, errOut, code := runTimonEnv(t, env, "config", "check", "--config", cfg)
	if code != 0 || !strings.Contains(out, "ok (timon lsp in remote mode") {
		t.Fatalf("explicit token over an expired stored one: exit %d\n%s%s", code, out, errOut)
	}
}

// TestLoginHelp: timon login and logout answer --help with their flags,
// and the top-level usage lists them.
func TestLoginHelp(t *testing.T) {
	for cmd, flags := range map[string][]string{"login": {"-hub", "-config", "-name", "-no-browser"}, "logout": {"-hub", "-config"}} {
		out, errOut, code := runTimon(t, "", cmd, "--help")
		if code != 0 || !strings.Contains(out, "usage: timon "+cmd+" --hub URL") {
			t.Fatalf("%s --help: exit %d\n%s%s", cmd, code, out, errOut)
		}
		for _, f := range flags {
			if name := "\n  " + f; !strings.Contains(out, name+" ") && !strings.Contains(out, name+"\n") {
				t.Errorf("%s --help does not describe %s:\n%s", cmd, f, out)
			}
		}
	}
	out, _, _ := runTimon(t, "", "help")
	for _, sub := range []string{"timon login --hub URL", "timon logout --hub URL"} {
		if !strings.Contains(out, sub) {
			t.Errorf("the usage does not list %s", sub)
		}
	}
}
