package integrationtests

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"timon.dev/timon/core/provider/fakellm"
)

// binary is the timon binary built once for the whole package.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "timon-it-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "timon")
	// Built as make build and make dist build it (static, -trimpath): the
	// tests run the binary that ships, and make dist's rules in
	// dist_test.go reuse its compiled packages.
	build := exec.Command("go", "build", "-trimpath", "-o", binary, "../cmd/timon")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building timon:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// hubConfig is the configuration the integration tests run the hub on;
// %s is the fake model server's URL.
const hubConfig = `
server:
  max_body_bytes: 65536
  log_level: debug
providers:
  - name: fake
    kind: mistral
    base_url: %s
    models: [mistral-small-latest, codestral-latest]
    timeout: 5s
    max_retries: 1
    sovereign: true
policy:
  routes:
    default: [mistral-small-latest]
    complete: [codestral-latest]
  rules:
    - name: interns-no-review
      effect: deny
      reason: "reviews are for staff"
      match: {groups: [interns], tasks: [review]}
    - name: strict-group
      effect: allow
      match: {groups: [strict]}
      redaction_profile: strict
    - name: everyone
      effect: allow
redaction:
  profiles:
    default:
      actions: {secret: mask, personal: mask, custom: mask}
      terms: [ORION]
    strict:
      actions: {secret: block, personal: mask}
quotas:
  user: {requests_per_minute: 1000, tokens_per_day: 10000000, concurrent: 32}
`

// hub is a running timon serve.
type hub struct {
	t      testing.TB
	url    string
	cfg    string
	data   string
	cmd    *exec.Cmd
	logs   *syncBuffer
	fake   *fakellm.Server
	env    []string // on top of the test process's environment
	waited chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startHub starts the binary on a free port with fake behind it.
func startHub(t testing.TB, fake *fakellm.Server, providerURL string) *hub {
	t.Helper()
	return startHubWith(t, fake, fmt.Sprintf(hubConfig, providerURL))
}

// startHubWith starts the binary with the given configuration.
func startHubWith(t testing.TB, fake *fakellm.Server, config string) *hub {
	t.Helper()
	return startHubEnv(t, fake, config)
}

// configEnv maps a configuration file to the variables (NAME=value) it
// is run with, on top of the test process's environment: its secrets and
// DSNs, given to the hub's process rather than set with t.Setenv, so that
// the tests using them can run in parallel. Every hub started on the
// configuration (a replica, a restart) and every CLI run on it gets them.
var configEnv sync.Map

// startHubEnv starts the binary with the given configuration and
// environment variables (NAME=value).
func startHubEnv(t testing.TB, fake *fakellm.Server, config string, env ...string) *hub {
	t.Helper()
	return startHubEnvAt(t, fake, config, "", env...)
}

// startHubEnvAt is startHubEnv listening on addr (host:port; "" for a free
// one), for a configuration that names the hub's own URL.
func startHubEnvAt(t testing.TB, fake *fakellm.Server, config, addr string, env ...string) *hub {
	t.Helper()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "timon.yaml")
	if err := os.WriteFile(cfgPath, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	configEnv.Store(cfgPath, env)
	t.Cleanup(func() { configEnv.Delete(cfgPath) })
	return launchHubAt(t, fake, cfgPath, filepath.Join(dir, "data"), addr)
}

// launchHub starts timon serve on a free port with the configuration file
// and data directory given: two replicas share a configuration (and a
// signing key, copied into their data directories).
func launchHub(t testing.TB, fake *fakellm.Server, cfgPath, dataDir string) *hub {
	t.Helper()
	return launchHubAt(t, fake, cfgPath, dataDir, "")
}

// launchHubAt is launchHub listening on addr ("" for a free one).
func launchHubAt(t testing.TB, fake *fakellm.Server, cfgPath, dataDir, addr string) *hub {
	t.Helper()
	h := &hub{t: t, cfg: cfgPath, data: dataDir, logs: &syncBuffer{}, fake: fake, waited: make(chan struct{})}
	if env, ok := configEnv.Load(cfgPath); ok {
		h.env = env.([]string)
	}
	if addr == "" {
		addr = freeAddr(t)
	}
	h.url = "http://" + addr
	h.cmd = exec.Command(binary, "serve", "--config", cfgPath, "--addr", addr)
	h.cmd.Env = append(append(os.Environ(), "TIMON_DATA_DIR="+h.data, "TIMON_PROVIDER_URL="), h.env...)
	h.cmd.Stdout, h.cmd.Stderr = h.logs, h.logs
	if err := h.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { h.cmd.Wait(); close(h.waited) }()
	t.Cleanup(func() {
		h.cmd.Process.Signal(os.Interrupt)
		select {
		case <-h.waited:
		case <-time.After(10 * time.Second):
			h.cmd.Process.Kill()
		}
		if t.Failed() {
			t.Logf("hub logs:\n%s", h.logs.String())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(h.url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return h
			}
		}
		select {
		case <-h.waited:
			t.Fatalf("timon serve exited at start:\n%s", h.logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("timon serve did not come up:\n%s", h.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// timon runs the CLI with the hub's configuration and data.
func (h *hub) timon(args ...string) (stdout, stderr string, code int) {
	h.t.Helper()
	// --config goes right after the (sub)command: flags end at the first
	// positional argument.
	n := 1
	switch args[0] {
	case "token", "audit", "config":
		n = 2
	}
	full := append(append(append([]string{}, args[:n]...), "--config", h.cfg), args[n:]...)
	cmd := exec.Command(binary, full...)
	cmd.Env = append(append(os.Environ(), "TIMON_DATA_DIR="+h.data, "TIMON_PROVIDER_URL="), h.env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	code = 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		h.t.Fatal(err)
	}
	return o.String(), e.String(), code
}

// token creates a personal token with the CLI, as an administrator would.
func (h *hub) token(user string, groups ...string) string {
	h.t.Helper()
	out, errOut, code := h.timon("token", "create", "--user", user, "--groups", strings.Join(groups, ","))
	if code != 0 {
		h.t.Fatalf("token create: exit %d: %s", code, errOut)
	}
	tok := strings.TrimSpace(out)
	if !strings.HasPrefix(tok, "timon_") {
		h.t.Fatalf("token create printed %q", out)
	}
	return tok
}

// post sends a JSON body and returns the status and decoded body.
func (h *hub) post(path, token string, body any) (int, map[string]any, http.Header) {
	h.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case string:
		r = strings.NewReader(b)
	default:
		data, _ := json.Marshal(b)
		r = bytes.NewReader(data)
	}
	req, _ := http.NewRequest(http.MethodPost, h.url+path, r)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(data, &out); err != nil {
		h.t.Fatalf("%s answered %d with non-JSON %q", path, resp.StatusCode, data)
	}
	return resp.StatusCode, out, resp.Header
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func decodeJSON(t testing.TB, resp *http.Response, v any) {
	t.Helper()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("decoding %s: %v", resp.Request.URL.Path, err)
	}
}
