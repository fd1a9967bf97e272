package integrationtests

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// runCmd runs cmd and returns its standard output, standard error and
// exit code; failing to start it fails the test.
func runCmd(t *testing.T, cmd *exec.Cmd) (stdout, stderr string, code int) {
	t.Helper()
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	if err := cmd.Run(); err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatal(err)
		}
		code = ee.ExitCode()
	}
	return o.String(), e.String(), code
}

func runTimon(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Env = append(os.Environ(), "TIMON_DATA_DIR="+t.TempDir(), "TIMON_PROVIDER_URL=")
	return runCmd(t, cmd)
}

func TestConfigCheck(t *testing.T) {
	out, errOut, code := runTimon(t, "", "config", "check", "--config", "../timon.example.yaml")
	if code != 0 || !strings.Contains(out, "ok") {
		t.Fatalf("example config: %d %s %s", code, out, errOut)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("providers:\n  - name: a\n    base_url: nowhere\n    models: [m]\npolicy:\n  rules:\n    - {name: r, effect: perhaps}\n"), 0o600)
	_, errOut, code = runTimon(t, "", "config", "check", "--config", bad)
	if code != 1 || !strings.Contains(errOut, "bad.yaml:3: providers[0].base_url: expected an http(s) URL") ||
		!strings.Contains(errOut, "bad.yaml:7: policy.rules[0].effect: expected allow or deny") {
		t.Fatalf("bad config: exit %d\n%s", code, errOut)
	}
	// A bad configuration never starts a half-working server.
	_, errOut, code = runTimon(t, "", "serve", "--config", bad, "--addr", freeAddr(t))
	if code != 1 || !strings.Contains(errOut, "invalid configuration") {
		t.Fatalf("serve with a bad config: exit %d\n%s", code, errOut)
	}
}

func TestSubcommandsNotBuiltSaySo(t *testing.T) {
	// timon lsp is built: a flag mistake is a usage error, and remote mode
	// without a token says where to put one.
	_, errOut, code := runTimon(t, "", "lsp", "--frobnicate")
	if code != 2 || !strings.Contains(errOut, "flag provided but not defined") {
		t.Fatalf("lsp with a bad flag: %d %s", code, errOut)
	}
	_, errOut, code = runTimon(t, "", "lsp", "--hub", "http://127.0.0.1:9")
	if code != 1 || !strings.Contains(errOut, "TIMON_TOKEN") {
		t.Fatalf("lsp without a token: %d %s", code, errOut)
	}
	_, _, code = runTimon(t, "", "frobnicate")
	if code != 2 {
		t.Fatalf("unknown command: exit %d", code)
	}
	out, _, code := runTimon(t, "", "version")
	if code != 0 || !strings.HasPrefix(out, "timon ") {
		t.Fatalf("version: %d %q", code, out)
	}
}

func TestRedactCommand(t *testing.T) {
	in := "mail ada@lab-univ.fr, db postgres://u:hunter2hunter2@db:5432/x\n"
	out, errOut, code := runTimon(t, in, "redact")
	if code != 0 || strings.Contains(out, "ada@lab-univ.fr") || strings.Contains(out, "hunter2hunter2") || !strings.Contains(out, "[[") {
		t.Fatalf("text: %d %q %s", code, out, errOut)
	}
	out, errOut, code = runTimon(t, in, "redact", "--format", "json")
	if code != 0 {
		t.Fatalf("json: %d %s", code, errOut)
	}
	var res struct {
		Findings []struct {
			Type       string
			Start, End int
		}
		Redacted string
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Findings) < 2 {
		t.Fatalf("findings: %+v", res.Findings)
	}
	for _, f := range res.Findings {
		if f.Start < 0 || f.End > len(in) || f.Start >= f.End {
			t.Fatalf("bad offsets %+v", f)
		}
		if f.Type == "email" && in[f.Start:f.End] != "ada@lab-univ.fr" {
			t.Fatalf("email offsets point at %q", in[f.Start:f.End])
		}
	}
	_, _, code = runTimon(t, in, "redact", "--format", "xml")
	if code != 2 {
		t.Fatalf("bad format: exit %d", code)
	}
}
