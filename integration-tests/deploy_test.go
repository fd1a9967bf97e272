package integrationtests

// The deployment artefacts (Dockerfile, deploy/, docs/operations.md), checked
// as far as this machine allows without Docker: the example configurations
// check and behave as documented, the compose file, nginx configuration,
// systemd unit and Grafana dashboard are consistent with the binary and with
// each other, every `timon …` command line of the operations guide parses,
// and — where PostgreSQL and nginx are installed — two replicas on the
// compose configuration really serve behind the nginx configuration.

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"timon.dev/timon/bots/mattermost"
	"timon.dev/timon/bots/slack"
	"timon.dev/timon/core/config"
	"timon.dev/timon/core/provider/fakellm"
	"timon.dev/timon/core/store/storetest"
	"timon.dev/timon/webhooks/review"
)

const (
	deployPolicy    = "../deploy/policy/institution.example.yaml"
	deployCompose   = "../deploy/compose/docker-compose.yml"
	deployComposeTY = "../deploy/compose/timon.yaml"
	deployNginx     = "../deploy/compose/nginx.conf"
	deployUnit      = "../deploy/systemd/timon.service"
	deployDashboard = "../deploy/grafana/timon-dashboard.json"
	deployDocs      = "../docs/operations.md"
)

// deployMetrics are the metrics timon exports (issue #8), with their type.
var deployMetrics = map[string]string{
	"timon_requests_total":                    "counter",
	"timon_request_duration_seconds":          "histogram",
	"timon_provider_request_duration_seconds": "histogram",
	"timon_provider_errors_total":             "counter",
	"timon_tokens_total":                      "counter",
	"timon_redactions_total":                  "counter",
	"timon_quota_refusals_total":              "counter",
	"timon_jobs_pending":                      "gauge",
	"timon_jobs_oldest_age_seconds":           "gauge",
	"timon_journal_lag_seconds":               "gauge",
	"timon_http_requests_total":               "counter",
}

// deployPolicyEnv is what the institutional example needs to check, as its
// header comment says.
func deployPolicyEnv() map[string]string {
	key := make([]byte, 32)
	rand.Read(key)
	return map[string]string{
		"TIMON_POSTGRES_DSN":      "postgres://timon@db.invalid/timon",
		"TIMON_ONPREM_API_KEY":    "onprem-test-key",
		"MISTRAL_API_KEY":         "mistral-test-key",
		"TIMON_AUDIT_CONTENT_KEY": hex.EncodeToString(key),
	}
}

// runTimonEnv runs the binary with extra environment variables.
func runTimonEnv(t *testing.T, env map[string]string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), "TIMON_DATA_DIR="+t.TempDir(), "TIMON_PROVIDER_URL=")
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	return runCmd(t, cmd)
}

func deployRead(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestDeployConfigsCheck: the institutional example and the compose
// configuration pass `timon config check` with the environment their
// comments name, and the institutional one fails without it, naming each
// variable (so the comment is the whole list).
func TestDeployConfigsCheck(t *testing.T) {
	env := deployPolicyEnv()
	out, errOut, code := runTimonEnv(t, env, "config", "check", "--config", deployPolicy)
	if code != 0 || !strings.Contains(out, "ok (3 provider(s), 12 rule(s), store postgres)") {
		t.Fatalf("institution.example.yaml: exit %d\n%s%s", code, out, errOut)
	}
	header := deployRead(t, deployPolicy)
	header = header[:strings.Index(header, "\nserver:")]
	_, errOut, code = runTimonEnv(t, nil, "config", "check", "--config", deployPolicy)
	if code != 1 {
		t.Fatalf("without its environment the check passed: exit %d", code)
	}
	for name := range env {
		if !strings.Contains(errOut, "environment variable "+name+" is not set") {
			t.Errorf("the check without %s does not name it:\n%s", name, errOut)
		}
		if !strings.Contains(header, name+"=") {
			t.Errorf("the header comment of institution.example.yaml does not say to set %s", name)
		}
	}
	if n := strings.Count(errOut, "is not set"); n != len(env) {
		t.Errorf("the file needs %d variables, its header names %d:\n%s", n, len(env), errOut)
	}

	out, errOut, code = runTimonEnv(t, map[string]string{"TIMON_POSTGRES_DSN": "postgres://x@db.invalid/timon"},
		"config", "check", "--config", deployComposeTY)
	if code != 0 || !strings.Contains(out, "store postgres") {
		t.Fatalf("compose timon.yaml: exit %d\n%s%s", code, out, errOut)
	}
}

// deployPolicyHub starts timon serve on the institutional example, made
// local: SQLite instead of PostgreSQL, each provider's URL pointing at its
// own fake, the signing key in a temporary directory. Nothing else of the
// policy changes.
func deployPolicyHub(t *testing.T) (h *hub, onprem, vllm, cloud *fakellm.Server) {
	t.Helper()
	for k, v := range deployPolicyEnv() {
		t.Setenv(k, v)
	}
	onprem, vllm, cloud = newFake(t), newFake(t), newFake(t)
	// The key made as the guide says, with openssl, where it is installed;
	// else timon creates it at start.
	key := filepath.Join(t.TempDir(), "audit-signing.key")
	if _, err := exec.LookPath("openssl"); err == nil {
		if b, err := exec.Command("openssl", "genpkey", "-algorithm", "ed25519", "-out", key).CombinedOutput(); err != nil {
			t.Fatalf("openssl genpkey: %v %s", err, b)
		}
	}
	cfg := deployRead(t, deployPolicy)
	for old, repl := range map[string]string{
		"driver: postgres": "driver: sqlite",
		"base_url: https://llm.institution.example/v1":           "base_url: " + onprem.URL(),
		"base_url: http://gpu01.lab.institution.example:8000/v1": "base_url: " + vllm.URL(),
		"base_url: https://api.mistral.ai/v1":                    "base_url: " + cloud.URL(),
		"signing_key_file: /etc/timon/keys/audit-signing.key":    "signing_key_file: " + key,
	} {
		if strings.Count(cfg, old) != 1 {
			t.Fatalf("institution.example.yaml no longer has %q once: update this test", old)
		}
		cfg = strings.Replace(cfg, old, repl, 1)
	}
	return startHubWith(t, onprem, cfg), onprem, vllm, cloud
}

// TestDeployInstitutionPolicyBehaves: the institutional example does what
// its comments say.
func TestDeployInstitutionPolicyBehaves(t *testing.T) {
	h, onprem, vllm, cloud := deployPolicyHub(t)
	researcher := h.token("rita", "researchers", "staff")
	staff := h.token("sam", "staff")
	student := h.token("stu", "students")
	hr := h.token("hugo", "hr")
	lab := h.token("lea", "ai-lab")
	nobody := h.token("nina", "visitors")

	type call struct {
		name   string
		tok    string
		body   map[string]any
		status int
		want   string // in the error message, or "" for 200
		to     *fakellm.Server
	}
	ask := func(extra map[string]any) map[string]any {
		b := map[string]any{"task": "summarize", "input": "Les résultats préliminaires de la campagne de mesures."}
		for k, v := range extra {
			b[k] = v
		}
		return b
	}
	calls := []call{
		{"internal data stays on the institution's machines", researcher, ask(nil), 200, "", onprem},
		{"public data may go to the cloud model when named", researcher, ask(map[string]any{"classification": "public", "model": "mistral-large-latest"}), 200, "", cloud},
		{"public data without the cloud model stays home", researcher, ask(map[string]any{"classification": "public"}), 200, "", onprem},
		{"internal data never goes to the cloud model", researcher, ask(map[string]any{"model": "mistral-large-latest"}), 403, "mistral-large-latest", nil},
		{"staff may not name the cloud model even for public data", staff, ask(map[string]any{"classification": "public", "model": "mistral-large-latest"}), 403, "mistral-large-latest", nil},
		{"personal data never goes to the cloud", researcher, ask(map[string]any{"classification": "public", "model": "mistral-large-latest", "input": "Écrire à marie.curie@cnrs.fr"}), 422, "email", nil},
		{"secret data goes nowhere", researcher, ask(map[string]any{"classification": "secret"}), 403, "never leaves", nil},
		{"credential files are never sent", staff, map[string]any{"task": "explain", "input": "DB_PASSWORD=x", "origin": map[string]string{"path": "svc/.env"}}, 403, "credential", nil},
		{"students may chat", student, ask(nil), 200, "", onprem},
		{"students may not review", student, map[string]any{"task": "review", "input": "diff --git a/x b/x"}, 403, "for staff", nil},
		{"HR may chat", hr, ask(nil), 200, "", onprem},
		{"the AI lab's content is kept, encrypted", lab, ask(nil), 200, "", onprem},
		{"a group no rule names is denied", nobody, ask(nil), 403, "no rule allows", nil},
	}
	for _, c := range calls {
		before := map[*fakellm.Server]int{onprem: onprem.Count(), vllm: vllm.Count(), cloud: cloud.Count()}
		status, out, _ := h.post("/v1/assist", c.tok, c.body)
		if status != c.status {
			t.Errorf("%s: status %d, want %d: %v", c.name, status, c.status, out)
			continue
		}
		if c.want != "" && !strings.Contains(fmt.Sprint(out["message"]), c.want) {
			t.Errorf("%s: message %q does not say %q", c.name, out["message"], c.want)
		}
		for f, n := range before {
			got := f.Count() - n
			if f == c.to && got != 1 || f != c.to && got != 0 {
				t.Errorf("%s: a provider got %d requests (onprem %v, lab-vllm %v, cloud %v)", c.name, got, f == onprem, f == vllm, f == cloud)
			}
		}
	}

	// Confidential (HR) data goes to onprem only: when onprem fails, staff
	// requests fail over to the lab's vLLM, HR's do not.
	onprem.Handle(func(fakellm.Request) fakellm.Reply { return fakellm.Reply{Status: 500} })
	if status, out, _ := h.post("/v1/assist", staff, ask(nil)); status != 200 {
		t.Fatalf("internal data did not fail over to lab-vllm: %d %v", status, out)
	}
	n := vllm.Count()
	if status, out, _ := h.post("/v1/assist", hr, ask(nil)); status != 503 {
		t.Fatalf("HR with onprem down: %d %v, want 503", status, out)
	}
	if vllm.Count() != n {
		t.Fatal("confidential HR data reached lab-vllm")
	}
	onprem.Handle(nil)

	// The hub runs and has signed no checkpoint yet: accepted explicitly.
	out, errOut, code := h.timon("audit", "verify", "--allow-no-checkpoint")
	if code != 0 || !strings.Contains(out, fmt.Sprintf("OK: %d entries", len(calls)+2)) {
		t.Fatalf("audit verify: exit %d %s %s", code, out, errOut)
	}
	deployCheckBackups(t, h, len(calls)+2)
}

// deployCheckBackups checks the exported public key against openssl's, takes
// the SQLite backups of docs/operations.md from the running hub, and
// verifies each copy as the guide says.
func deployCheckBackups(t *testing.T, h *hub, entries int) {
	pub := filepath.Join(t.TempDir(), "audit.pub")
	out, errOut, code := h.timon("audit", "public-key")
	if code != 0 {
		t.Fatalf("audit public-key: %d %s", code, errOut)
	}
	os.WriteFile(pub, []byte(out), 0o600)
	if want, err := exec.Command("openssl", "pkey", "-in", deployKeyFile(t, h), "-pubout").Output(); err == nil && string(want) != out {
		t.Errorf("timon audit public-key and openssl pkey -pubout differ:\n%s\n%s", out, want)
	}
	if _, err := exec.LookPath("sqlite3"); err != nil {
		t.Log("sqlite3 is not installed: the SQLite backup commands of the guide are not exercised")
		return
	}
	db := filepath.Join(h.data, "timon.db")
	for _, sql := range []string{".backup '%s'", "VACUUM INTO '%s'"} {
		dir := t.TempDir()
		copyPath := filepath.Join(dir, "timon.db")
		if b, err := exec.Command("sqlite3", db, fmt.Sprintf(sql, copyPath)).CombinedOutput(); err != nil {
			t.Fatalf("sqlite3 %s: %v %s", sql, err, b)
		}
		cmd := exec.Command(binary, "audit", "verify", "--config", h.cfg, "--public-key", pub, "--allow-no-checkpoint")
		cmd.Env = append(os.Environ(), "TIMON_DATA_DIR="+dir)
		b, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(b), fmt.Sprintf("OK: %d entries", entries)) {
			t.Fatalf("verifying the backup taken with %q: %v\n%s", sql, err, b)
		}
	}
}

// deployKeyFile is the journal signing key of the hub's configuration.
func deployKeyFile(t *testing.T, h *hub) string {
	t.Helper()
	cfg, err := config.Load(h.cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Journal.SigningKeyFile
}

// deployYAML parses a YAML file into generic maps.
func deployYAML(t *testing.T, p string) map[string]any {
	t.Helper()
	var v map[string]any
	if err := yaml.Unmarshal([]byte(deployRead(t, p)), &v); err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	return v
}

func deployMap(t *testing.T, v any, where string) map[string]any {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("%s: expected a mapping, got %T", where, v)
	}
	return m
}

func deployStrings(v any) []string {
	var out []string
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			out = append(out, fmt.Sprint(e))
		}
	case string:
		out = strings.Fields(x)
	}
	return out
}

// deployDrain is the drain timeout of a configuration file.
func deployDrain(t *testing.T, p string, env map[string]string) time.Duration {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	cfg, err := config.Load(p)
	if err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	return time.Duration(cfg.Server.DrainTimeout)
}

// TestDeployComposeFile: the compose file parses, runs two replicas of
// one image on one PostgreSQL with one signing key behind nginx, and gives
// them time to drain.
func TestDeployComposeFile(t *testing.T) {
	doc := deployYAML(t, deployCompose)
	services := deployMap(t, doc["services"], "services")
	for _, s := range []string{"postgres", "timon-1", "timon-2", "nginx"} {
		if services[s] == nil {
			t.Fatalf("docker-compose.yml has no service %s", s)
		}
	}
	drain := deployDrain(t, deployComposeTY, map[string]string{"TIMON_POSTGRES_DSN": "postgres://x@db.invalid/timon"})
	cfg, _ := config.Load(deployComposeTY)
	port := cfg.Server.Addr[strings.LastIndex(cfg.Server.Addr, ":")+1:]
	var replicas []map[string]any
	for _, name := range []string{"timon-1", "timon-2"} {
		s := deployMap(t, services[name], name)
		replicas = append(replicas, s)
		if got := deployStrings(s["command"]); !slices.Equal(got, []string{"serve", "--config", "/etc/timon/timon.yaml"}) {
			t.Errorf("%s command %v", name, got)
		}
		env := deployMap(t, s["environment"], name+".environment")
		if dsn := fmt.Sprint(env[cfg.Store.DSNEnv]); !strings.Contains(dsn, "@postgres:5432/") {
			t.Errorf("%s: %s (named by timon.yaml's store.dsn_env) does not point at the postgres service: %q", name, cfg.Store.DSNEnv, dsn)
		}
		vols := deployStrings(s["volumes"])
		if !slices.Contains(vols, "./timon.yaml:/etc/timon/timon.yaml:ro") {
			t.Errorf("%s does not mount timon.yaml read-only: %v", name, vols)
		}
		if !slices.ContainsFunc(vols, func(v string) bool { return strings.HasSuffix(v, ":"+cfg.DataDir) && !strings.HasPrefix(v, ".") }) {
			t.Errorf("%s: no named volume on the data directory %s (the shared signing key): %v", name, cfg.DataDir, vols)
		}
		grace, err := time.ParseDuration(fmt.Sprint(s["stop_grace_period"]))
		if err != nil || grace <= 2*drain {
			t.Errorf("%s: stop_grace_period %v must exceed twice server.drain_timeout (%s): HTTP drain, then the job queue", name, s["stop_grace_period"], drain)
		}
		hc := deployStrings(deployMap(t, s["healthcheck"], name+".healthcheck")["test"])
		if !slices.Contains(hc, "/usr/local/bin/timon-healthcheck") || !slices.Contains(hc, "http://127.0.0.1:"+port+"/healthz") {
			t.Errorf("%s healthcheck %v does not probe /healthz on port %s", name, hc, port)
		}
		if fmt.Sprint(s["read_only"]) != "true" || !slices.Contains(deployStrings(s["cap_drop"]), "ALL") {
			t.Errorf("%s is not read-only without capabilities", name)
		}
		deployCheckArgs(t, name+" command", deployStrings(s["command"]))
	}
	if fmt.Sprint(replicas[0]["image"]) != fmt.Sprint(replicas[1]["image"]) ||
		fmt.Sprint(replicas[0]["volumes"]) != fmt.Sprint(replicas[1]["volumes"]) {
		t.Error("the two replicas differ in image or volumes")
	}
	dep := deployMap(t, replicas[1]["depends_on"], "timon-2.depends_on")
	if fmt.Sprint(deployMap(t, dep["timon-1"], "timon-2.depends_on.timon-1")["condition"]) != "service_healthy" {
		t.Error("timon-2 must wait for timon-1 to be healthy (migrations and the signing key)")
	}
	pg := deployMap(t, services["postgres"], "postgres")
	if !strings.Contains(fmt.Sprint(pg["healthcheck"]), "pg_isready") {
		t.Error("postgres has no pg_isready health check")
	}
	nginx := deployMap(t, services["nginx"], "nginx")
	if !slices.Contains(deployStrings(nginx["volumes"]), "./nginx.conf:/etc/nginx/nginx.conf:ro") {
		t.Errorf("nginx does not mount nginx.conf: %v", nginx["volumes"])
	}
	if p := deployMap(t, services["prometheus"], "prometheus"); !slices.Contains(deployStrings(p["profiles"]), "monitoring") {
		t.Error("prometheus should be in the monitoring profile")
	}
	prom := deployYAML(t, "../deploy/compose/prometheus.yml")
	if s := fmt.Sprint(prom["scrape_configs"]); !strings.Contains(s, "timon-1:"+port) || !strings.Contains(s, "timon-2:"+port) {
		t.Errorf("prometheus.yml does not scrape both replicas: %s", s)
	}
	for _, f := range []string{"../deploy/compose/.env.example", deployNginx} {
		if _, err := os.Stat(f); err != nil {
			t.Error(err)
		}
	}

	// nginx.conf: an upstream of exactly the two replicas, streaming
	// endpoints unbuffered with long reads, /metrics not published.
	conf := deployNginxParse(t, deployRead(t, deployNginx))
	httpb := conf.block(t, "http")
	var ups []string
	for _, d := range httpb.block(t, "upstream").all("server") {
		ups = append(ups, d.args[0])
	}
	if !slices.Equal(ups, []string{"timon-1:" + port, "timon-2:" + port}) {
		t.Errorf("nginx upstream %v, want the two replicas on port %s", ups, port)
	}
	srv := httpb.block(t, "server")
	var sse, metrics *deployNginxDirective
	for _, loc := range srv.all("location") {
		switch {
		case strings.Contains(strings.Join(loc.args, " "), "assist|chat/completions"):
			sse = loc
		case strings.Join(loc.args, " ") == "= /metrics":
			metrics = loc
		}
	}
	if sse == nil || sse.value("proxy_buffering") != "off" || sse.value("proxy_pass") != "http://timon" {
		t.Fatalf("no unbuffered location for /v1/assist and /v1/chat/completions")
	}
	if d, err := time.ParseDuration(sse.value("proxy_read_timeout")); err != nil || d < 5*time.Minute {
		t.Errorf("streaming read timeout %q: want at least 5m", sse.value("proxy_read_timeout"))
	}
	re := regexp.MustCompile(strings.TrimPrefix(strings.Join(sse.args, " "), "~ "))
	if !re.MatchString("/v1/assist") || !re.MatchString("/v1/chat/completions") || re.MatchString("/v1/models") {
		t.Errorf("the streaming location %v does not match exactly the streaming endpoints", sse.args)
	}
	if metrics == nil || metrics.value("proxy_pass") != "" {
		t.Error("nginx publishes /metrics")
	}
	if srv.value("proxy_next_upstream") != "error timeout" {
		t.Errorf("proxy_next_upstream %q: a POST that reached a replica must never be sent again", srv.value("proxy_next_upstream"))
	}
}

// TestDeploySystemdUnit: the unit is hardened, keeps its state where
// TIMON_DATA_DIR says, reads secrets from a file, and waits for the drain.
func TestDeploySystemdUnit(t *testing.T) {
	src := deployRead(t, deployUnit)
	unit := deployUnitParse(t, src)
	svc := unit["Service"]
	one := func(k string) string {
		if len(svc[k]) != 1 {
			t.Errorf("[Service] %s: %v, want one value", k, svc[k])
			return ""
		}
		return svc[k][0]
	}
	for k, want := range map[string]string{
		"ProtectSystem": "strict", "StateDirectory": "timon", "Restart": "on-failure", "KillSignal": "SIGTERM",
		"User": "timon", "NoNewPrivileges": "yes", "ProtectHome": "yes", "PrivateTmp": "yes", "CapabilityBoundingSet": "",
	} {
		if got := one(k); got != want {
			t.Errorf("[Service] %s=%q, want %q", k, got, want)
		}
	}
	if !slices.Contains(svc["Environment"], "TIMON_DATA_DIR=/var/lib/timon") {
		t.Errorf("TIMON_DATA_DIR is not the state directory: %v", svc["Environment"])
	}
	if ef := one("EnvironmentFile"); !strings.HasSuffix(ef, "/etc/timon/timon.env") {
		t.Errorf("EnvironmentFile=%q", ef)
	}
	stop, err := time.ParseDuration(one("TimeoutStopSec"))
	if err != nil {
		t.Fatalf("TimeoutStopSec: %v", err)
	}
	// Drain timeouts this unit may run with: the default, and those of the
	// example configurations.
	drains := map[string]time.Duration{"default": deployDrain(t, "../timon.example.yaml", nil)}
	drains["institution"] = deployDrain(t, deployPolicy, deployPolicyEnv())
	for name, d := range drains {
		if stop <= 2*d {
			t.Errorf("TimeoutStopSec=%s must exceed twice the %s drain timeout (%s): HTTP drain, then the job queue", stop, name, d)
		}
	}
	exec0 := strings.Fields(one("ExecStart"))
	if exec0[0] != "/usr/local/bin/timon" {
		t.Errorf("ExecStart runs %s", exec0[0])
	}
	deployCheckArgs(t, "ExecStart", exec0[1:])

	// systemd's own check, with the binary where the unit expects it.
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Log("systemd-analyze is not installed: the unit is not checked by systemd")
		return
	}
	tmp := filepath.Join(t.TempDir(), "timon.service")
	os.WriteFile(tmp, []byte(strings.ReplaceAll(src, "/usr/local/bin/timon", binary)), 0o644)
	b, err := exec.Command("systemd-analyze", "verify", tmp).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(b))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, b)
	}
}

// TestDeployDockerfile: what can be checked of the image without Docker.
func TestDeployDockerfile(t *testing.T) {
	src := deployRead(t, "../Dockerfile")
	var froms []string
	var final []string // instructions of the last stage
	for _, line := range strings.Split(strings.ReplaceAll(src, "\\\n", " "), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "FROM ") {
			froms = append(froms, line)
			final = nil
		}
		final = append(final, line)
	}
	if len(froms) != 2 || !strings.Contains(froms[0], "golang:") || !strings.Contains(froms[1], "distroless/static") {
		t.Fatalf("want a golang build stage and a distroless/static final stage: %v", froms)
	}
	if !strings.Contains(src, "CGO_ENABLED=0") || !strings.Contains(src, "./cmd/timon") || !strings.Contains(src, "./deploy/docker/healthcheck") {
		t.Error("the build stage must build ./cmd/timon and the health probe with CGO_ENABLED=0")
	}
	find := func(instr string) string {
		for _, l := range final {
			if strings.HasPrefix(l, instr+" ") {
				return strings.TrimPrefix(l, instr+" ")
			}
		}
		return ""
	}
	if u := find("USER"); u == "" || strings.HasPrefix(u, "0") || strings.HasPrefix(u, "root") {
		t.Errorf("final stage USER %q: want a non-root user", u)
	}
	if hc := find("HEALTHCHECK"); !strings.Contains(hc, "timon-healthcheck") || !strings.Contains(hc, "/healthz") {
		t.Errorf("HEALTHCHECK %q", hc)
	}
	if find("STOPSIGNAL") != "SIGTERM" || find("ENV") != "TIMON_DATA_DIR=/var/lib/timon" {
		t.Error("final stage: want STOPSIGNAL SIGTERM and ENV TIMON_DATA_DIR=/var/lib/timon")
	}
	var cmd []string
	if err := json.Unmarshal([]byte(find("CMD")), &cmd); err != nil {
		t.Fatalf("CMD: %v", err)
	}
	deployCheckArgs(t, "Dockerfile CMD", cmd)
	if !slices.Contains(cmd, "0.0.0.0:"+find("EXPOSE")) {
		t.Errorf("CMD %v does not listen on the EXPOSEd port %s", cmd, find("EXPOSE"))
	}

	// .dockerignore: see TestDeployBuildContext.
}

// TestDeployDockerImage builds the image and inspects it, where a Docker
// daemon runs (not on the project's machines: it skips there).
func TestDeployDockerImage(t *testing.T) {
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("docker is not installed: the image is not built here")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if b, err := exec.CommandContext(ctx, "docker", "info").CombinedOutput(); err != nil {
		t.Skipf("no Docker daemon here (%v: %s): the image is not built", err, deployLastLine(string(b)))
	}
	tag := "timon-deploy-test:" + strconv.FormatInt(time.Now().UnixNano(), 36)
	build := exec.Command("docker", "build", "-t", tag, "--build-arg", "VERSION=deploy-test", "..")
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("docker build: %v\n%s", err, b)
	}
	t.Cleanup(func() { exec.Command("docker", "image", "rm", "-f", tag).Run() })
	b, err := exec.Command("docker", "image", "inspect", "--format", "{{json .Config}}", tag).Output()
	if err != nil {
		t.Fatal(err)
	}
	var ic struct {
		User        string
		Healthcheck struct{ Test []string }
	}
	json.Unmarshal(b, &ic)
	if ic.User == "" || ic.User == "root" || strings.HasPrefix(ic.User, "0") || !slices.Contains(ic.Healthcheck.Test, "/usr/local/bin/timon-healthcheck") {
		t.Errorf("image config: %s", b)
	}
	if b, err := exec.Command("docker", "run", "--rm", tag, "version").CombinedOutput(); err != nil || !strings.Contains(string(b), "timon deploy-test") {
		t.Errorf("docker run version: %v %s", err, b)
	}
}

func deployLastLine(s string) string {
	s = strings.TrimSpace(s)
	return s[strings.LastIndexByte(s, '\n')+1:]
}

// TestDeployHealthcheckProbe: the image's probe exits 0 on a live hub and
// 1, saying why, on a failing or absent one.
func TestDeployHealthcheckProbe(t *testing.T) {
	probe := filepath.Join(t.TempDir(), "timon-healthcheck")
	if b, err := exec.Command("go", "build", "-o", probe, "../deploy/docker/healthcheck").CombinedOutput(); err != nil {
		t.Fatalf("building the probe: %v\n%s", err, b)
	}
	fake := newFake(t)
	h := startHub(t, fake, fake.URL())
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) }))
	defer down.Close()
	gone := "http://" + freeAddr(t) + "/healthz"
	for _, c := range []struct {
		url  string
		code int
		says string
	}{
		{h.url + "/healthz", 0, ""},
		{down.URL + "/healthz", 1, "503"},
		{gone, 1, "refused"},
	} {
		cmd := exec.Command(probe, "--url", c.url, "--timeout", "5s")
		b, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		if code != c.code || !strings.Contains(string(b), c.says) {
			t.Errorf("probe %s: exit %d %q, want %d saying %q", c.url, code, b, c.code, c.says)
		}
	}
	// TIMON_HEALTHCHECK_URL is the default URL.
	cmd := exec.Command(probe)
	cmd.Env = append(os.Environ(), "TIMON_HEALTHCHECK_URL="+h.url+"/healthz")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("probe with TIMON_HEALTHCHECK_URL: %v %s", err, b)
	}
}

// deployCheckMetric reports a name that is not one of timon's metrics (a
// histogram's _bucket, _sum and _count series included).
func deployCheckMetric(name string) error {
	if _, ok := deployMetrics[name]; ok {
		return nil
	}
	for _, suf := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suf); ok && deployMetrics[base] == "histogram" {
			return nil
		}
	}
	return fmt.Errorf("%q is not a timon metric", name)
}

// TestDeployDashboard: the dashboard parses, uses a Prometheus data source
// variable, and reads timon's metrics only — every one of them.
func TestDeployDashboard(t *testing.T) {
	var d struct {
		SchemaVersion int    `json:"schemaVersion"`
		UID           string `json:"uid"`
		Templating    struct {
			List []struct {
				Name, Type string
				Query      any
				Datasource map[string]string
			}
		}
		Panels []struct {
			ID         int
			Type       string
			Title      string
			Datasource map[string]string
			Targets    []struct {
				Expr       string
				RefID      string `json:"refId"`
				Datasource map[string]string
			}
		}
	}
	if err := json.Unmarshal([]byte(deployRead(t, deployDashboard)), &d); err != nil {
		t.Fatalf("timon-dashboard.json: %v", err)
	}
	if d.SchemaVersion < 39 || d.UID == "" {
		t.Errorf("schemaVersion %d uid %q: want 39 or later and a uid", d.SchemaVersion, d.UID)
	}
	const ds = "${datasource}"
	var exprs []string
	vars := false
	for _, v := range d.Templating.List {
		switch v.Type {
		case "datasource":
			vars = vars || v.Name == "datasource" && v.Query == "prometheus"
		case "query":
			if v.Datasource["uid"] != ds {
				t.Errorf("variable %s does not use the data source variable", v.Name)
			}
			q, _ := v.Query.(map[string]any)
			exprs = append(exprs, fmt.Sprint(q["query"]))
		}
	}
	if !vars {
		t.Error("no Prometheus data source variable named datasource")
	}
	ids := map[int]bool{}
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
		if p.Type == "row" {
			continue
		}
		if p.Datasource["uid"] != ds || len(p.Targets) == 0 {
			t.Errorf("panel %q: data source %v, %d targets", p.Title, p.Datasource, len(p.Targets))
		}
		for _, tg := range p.Targets {
			if tg.Datasource["uid"] != ds || tg.Expr == "" || tg.RefID == "" {
				t.Errorf("panel %q: a target without expression, refId or the data source variable", p.Title)
			}
			exprs = append(exprs, tg.Expr)
		}
	}
	used := map[string]bool{}
	for _, e := range exprs {
		names := deployPromMetrics(e)
		if len(names) == 0 {
			t.Errorf("no metric in %q", e)
		}
		for _, n := range names {
			if err := deployCheckMetric(n); err != nil {
				t.Errorf("%v (in %q)", err, e)
			}
			used[strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(n, "_bucket"), "_count"), "_sum")] = true
		}
	}
	for m := range deployMetrics {
		if !used[m] {
			t.Errorf("the dashboard shows nothing of %s", m)
		}
	}
}

// deployCommands are timon's commands, with their subcommands.
var deployCommands = map[string][]string{
	"serve": nil, "lsp": nil, "redact": nil, "version": nil, "help": nil,
	"audit":  {"verify", "export", "tail", "stats", "show", "public-key", "checkpoints", "retention", "rotate-key"},
	"token":  {"create", "list", "revoke"},
	"config": {"check"},
}

// deployCheckArgs checks one timon command line against the binary: the
// command and subcommand exist, every flag is one the binary defines and
// has its value, positional arguments are where the command takes them,
// and the binary's own parser accepts the flags (run with -h, so that
// nothing is done).
func deployCheckArgs(t *testing.T, where string, args []string) {
	t.Helper()
	if len(args) == 0 {
		t.Errorf("%s: timon without a command", where)
		return
	}
	subs, ok := deployCommands[args[0]]
	if !ok {
		t.Errorf("%s: unknown command %q", where, args[0])
		return
	}
	if args[0] == "version" || args[0] == "help" {
		if len(args) > 1 {
			t.Errorf("%s: %s takes no arguments: %v", where, args[0], args)
		}
		return
	}
	words := args[:1]
	if subs != nil {
		if len(args) < 2 || !slices.Contains(subs, args[1]) {
			t.Errorf("%s: timon %s needs one of %v: %v", where, args[0], subs, args)
			return
		}
		words = args[:2]
	}
	help := exec.Command(binary, append(slices.Clone(words), "-h")...)
	b, _ := help.CombinedOutput()
	if strings.Contains(string(b), "not built yet") {
		t.Logf("%s: timon %s is not built yet; its flags are not checked", where, strings.Join(words, " "))
		return
	}
	if !strings.Contains(string(b), "usage: timon "+strings.Join(words, " ")) {
		t.Errorf("%s: timon %s -h printed no usage:\n%s", where, strings.Join(words, " "), b)
		return
	}
	takesValue := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^  -(\S+)(?: (\S+))?(?:\t.*)?$`).FindAllStringSubmatch(string(b), -1) {
		takesValue[m[1]] = m[2] != ""
	}
	var flags, positional []string
	rest := args[len(words):]
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		if !strings.HasPrefix(a, "-") || a == "-" || len(positional) > 0 {
			positional = append(positional, a)
			continue
		}
		name, _, hasEq := strings.Cut(strings.TrimLeft(a, "-"), "=")
		v, known := takesValue[name]
		switch {
		case !known:
			t.Errorf("%s: timon %s has no flag %s", where, strings.Join(words, " "), a)
			return
		case v && !hasEq:
			if i+1 >= len(rest) {
				t.Errorf("%s: flag %s needs a value", where, a)
				return
			}
			flags = append(flags, a, rest[i+1])
			i++
		default:
			flags = append(flags, a)
		}
	}
	wantPos := 0
	if w := strings.Join(words, " "); w == "token revoke" || w == "audit show" {
		wantPos = 1
	}
	if len(positional) != wantPos {
		t.Errorf("%s: timon %s takes %d argument(s), got %v", where, strings.Join(words, " "), wantPos, positional)
	}
	cmd := exec.Command(binary, append(append(slices.Clone(words), flags...), "-h")...)
	b, _ = cmd.CombinedOutput()
	if !strings.Contains(string(b), "usage: timon ") || strings.Contains(string(b), "provided but not defined") || strings.Contains(string(b), "invalid") {
		t.Errorf("%s: timon rejects %v:\n%s", where, args, b)
	}
}

// TestDeployDocsCommands: every timon command line of the operations guide
// (shell blocks and inline code) parses; its YAML snippets parse; its
// PromQL reads timon's metrics; its links to sections resolve; it lists
// every metric.
func TestDeployDocsCommands(t *testing.T) {
	doc := deployRead(t, deployDocs)
	var shell, inline []string
	var yamls, promql []string
	anchors := map[string]bool{}
	lang, block := "", ""
	inFence := false
	for _, line := range strings.Split(doc, "\n") {
		if l, ok := strings.CutPrefix(line, "```"); ok {
			if !inFence {
				inFence, lang, block = true, strings.TrimSpace(l), ""
				continue
			}
			inFence = false
			switch lang {
			case "sh", "bash", "shell", "console", "":
				shell = append(shell, block)
			case "yaml":
				yamls = append(yamls, block)
			case "promql":
				promql = append(promql, block)
			}
			continue
		}
		if inFence {
			block += strings.TrimPrefix(line, "$ ") + "\n"
			continue
		}
		if h, ok := strings.CutPrefix(line, "#"); ok {
			h = strings.TrimLeft(h, "# ")
			slug := strings.Map(func(r rune) rune {
				switch {
				case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
					return r
				case r == ' ':
					return '-'
				}
				return -1
			}, strings.ToLower(h))
			anchors[slug] = true
		}
		for _, m := range regexp.MustCompile("`([^`]*timon[^`]*)`").FindAllStringSubmatch(line, -1) {
			inline = append(inline, m[1])
		}
	}
	if inFence {
		t.Fatal("operations.md: a code block is not closed")
	}
	checked := 0
	for _, text := range append(shell, inline...) {
		for _, words := range deployShellCommands(text) {
			calls, mistakes := deployTimonInvocations(words)
			for _, m := range mistakes {
				t.Errorf("operations.md: %q: timon followed by something that is not a command", m)
			}
			for _, c := range calls {
				deployCheckArgs(t, "operations.md: "+strings.Join(c, " "), c)
				checked++
			}
		}
	}
	if checked < 30 {
		t.Errorf("only %d timon command lines found in operations.md", checked)
	}
	for _, y := range yamls {
		var v any
		if err := yaml.Unmarshal([]byte(y), &v); err != nil {
			t.Errorf("operations.md: a YAML snippet does not parse: %v\n%s", err, y)
		}
	}
	for _, q := range promql {
		for _, line := range strings.Split(q, "\n") {
			if line = strings.TrimSpace(line); line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			for _, n := range deployPromMetrics(line) {
				if err := deployCheckMetric(n); err != nil {
					t.Errorf("operations.md alert: %v", err)
				}
			}
		}
	}
	for _, m := range regexp.MustCompile(`\]\(#([^)]+)\)`).FindAllStringSubmatch(doc, -1) {
		if !anchors[m[1]] {
			t.Errorf("operations.md links to #%s, which no heading has", m[1])
		}
	}
	for m := range deployMetrics {
		if !strings.Contains(doc, "`"+m+"`") {
			t.Errorf("operations.md does not document %s", m)
		}
	}
	// The files the guide names exist.
	for _, m := range regexp.MustCompile("`((?:deploy|docs)/[^` ]+|Dockerfile|\\.dockerignore)`").FindAllStringSubmatch(doc, -1) {
		if _, err := os.Stat(filepath.Join("..", m[1])); err != nil {
			t.Errorf("operations.md names %s: %v", m[1], err)
		}
	}
}

// deployReplica starts timon serve with a configuration file and data
// directory of the caller's (replicas share both).
func deployReplica(t *testing.T, cfgPath, data string, env ...string) *hub {
	t.Helper()
	addr := freeAddr(t)
	h := &hub{t: t, url: "http://" + addr, cfg: cfgPath, data: data, logs: &syncBuffer{}, waited: make(chan struct{})}
	h.cmd = exec.Command(binary, "serve", "--config", cfgPath, "--addr", addr)
	h.cmd.Env = append(append(os.Environ(), "TIMON_DATA_DIR="+data), env...)
	h.cmd.Stdout, h.cmd.Stderr = h.logs, h.logs
	if err := h.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { h.cmd.Wait(); close(h.waited) }()
	t.Cleanup(func() {
		h.cmd.Process.Signal(os.Interrupt)
		select {
		case <-h.waited:
		case <-time.After(15 * time.Second):
			h.cmd.Process.Kill()
		}
		if t.Failed() {
			t.Logf("replica %s logs:\n%s", addr, h.logs.String())
		}
	})
	deployWaitHealthy(t, h.url+"/healthz", h.waited, h.logs)
	return h
}

func deployWaitHealthy(t *testing.T, url string, exited chan struct{}, logs *syncBuffer) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		select {
		case <-exited:
			t.Fatalf("%s: the process exited:\n%s", url, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not come up:\n%s", url, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestDeployNginxFrontsTwoReplicas runs what docker-compose.yml runs,
// without Docker: two timon serve replicas on deploy/compose/timon.yaml and
// one PostgreSQL, sharing the data directory (the signing key), behind
// nginx on deploy/compose/nginx.conf with the service names replaced by
// loopback addresses. Streams come through unbuffered, and a client going
// away aborts the model's request; requests are spread over both replicas;
// /metrics is not published; the access log holds neither tokens nor query
// strings; the journal verifies.
func TestDeployNginxFrontsTwoReplicas(t *testing.T) {
	nginx := requiredTool(t, "nginx", "apt-get install nginx-light", "nginx")
	t.Setenv("TIMON_POSTGRES_DSN", storetest.PostgresDSN(t))
	fake := newFake(t)
	data := t.TempDir()
	cfgPath, _ := filepath.Abs(deployComposeTY)
	r1 := deployReplica(t, cfgPath, data, "TIMON_PROVIDER_URL="+fake.URL())
	r2 := deployReplica(t, cfgPath, data, "TIMON_PROVIDER_URL="+fake.URL())

	conf := deployRead(t, deployNginx)
	front := freeAddr(t)
	for old, repl := range map[string]string{
		"server timon-1:8080": "server " + strings.TrimPrefix(r1.url, "http://"),
		"server timon-2:8080": "server " + strings.TrimPrefix(r2.url, "http://"),
		"listen 80;":          "listen " + front + ";",
		"user nginx;":         "", // the image's user; here nginx runs as the test's
	} {
		if strings.Count(conf, old) != 1 {
			t.Fatalf("nginx.conf no longer has %q once: update this test", old)
		}
		conf = strings.Replace(conf, old, repl, 1)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o644)
	if b, err := exec.Command(nginx, "-t", "-p", dir, "-c", filepath.Join(dir, "nginx.conf"), "-g", "pid "+dir+"/nginx.pid; error_log stderr;").CombinedOutput(); err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, b)
	}
	access := &syncBuffer{}
	ng := exec.Command(nginx, "-p", dir, "-c", filepath.Join(dir, "nginx.conf"), "-g", "daemon off; pid "+dir+"/nginx.pid; error_log stderr;")
	ng.Stdout, ng.Stderr = access, access
	if err := ng.Start(); err != nil {
		t.Fatal(err)
	}
	ngDone := make(chan struct{})
	go func() { ng.Wait(); close(ngDone) }()
	t.Cleanup(func() {
		ng.Process.Signal(os.Interrupt)
		select {
		case <-ngDone:
		case <-time.After(10 * time.Second):
			ng.Process.Kill()
		}
		if t.Failed() {
			t.Logf("nginx:\n%s", access.String())
		}
	})
	base := "http://" + front
	deployWaitHealthy(t, base+"/healthz", ngDone, access)

	tok := r1.token("alice", "admins")
	lb := &hub{t: t, url: base}
	for i := range 4 {
		status, out, _ := lb.post("/v1/assist", tok, map[string]any{"task": "summarize", "input": fmt.Sprintf("question %d", i)})
		if status != 200 || !strings.Contains(fmt.Sprint(out["text"]), "question") {
			t.Fatalf("through nginx: %d %v", status, out)
		}
	}
	for i, r := range []*hub{r1, r2} {
		if !strings.Contains(r.logs.String(), `"msg":"request"`) {
			t.Errorf("replica %d served none of the requests nginx passed on", i+1)
		}
	}

	// A stream whose second chunk comes a minute after the first: the first
	// must reach the client now.
	fake.Enqueue(fakellm.Reply{Text: strings.Repeat("Une réponse qui arrive par morceaux. ", 8), ChunkSize: 150, ChunkDelay: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/assist",
		strings.NewReader(`{"task":"summarize","input":"stream please","stream":true}`))
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("stream through nginx: %v", err)
	}
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("stream through nginx: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	sc := bufio.NewScanner(resp.Body)
	gotDelta := false
	for !gotDelta && sc.Scan() {
		gotDelta = sc.Text() == "event: delta"
	}
	if !gotDelta {
		t.Fatalf("no delta came through nginx before the answer ended (buffered?): %v", sc.Err())
	}
	resp.Body.Close()
	cancel()
	wctx, wcancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer wcancel()
	if err := fake.WaitCancelled(wctx, 1); err != nil {
		t.Fatalf("the client went away but the model's request went on: %v", err)
	}

	// Not published through nginx; each replica serves it itself.
	for p, want := range map[string]int{"/metrics": 404, "/healthz": 200} {
		resp, err := http.Get(base + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s through nginx: %d, want %d", p, resp.StatusCode, want)
		}
	}
	req, _ = http.NewRequest(http.MethodGet, base+"/admin/audit?user=query-string-value", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("/admin/audit through nginx: %d", resp.StatusCode)
		}
	}
	// nginx writes the access log line after the answer: wait for it.
	logs := access.String()
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(logs, `"path":"/admin/audit"`) && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		logs = access.String()
	}
	if !strings.Contains(logs, `"path":"/admin/audit"`) || strings.Contains(logs, "query-string-value") || strings.Contains(logs, tok) {
		t.Errorf("nginx access log: want paths, no query strings, no tokens:\n%s", logs)
	}

	out, errOut, code := r2.timon("audit", "verify", "--allow-no-checkpoint")
	if code != 0 || !strings.Contains(out, "OK: ") {
		t.Fatalf("audit verify after both replicas wrote: %d %s %s", code, out, errOut)
	}
}

// deployComposeHub starts timon serve on deploy/compose/timon.yaml made
// local: SQLite instead of the shared PostgreSQL, the model at fake.
// Everything else — policy, quotas, redaction — is the compose file's.
func deployComposeHub(t *testing.T, fake *fakellm.Server) *hub {
	t.Helper()
	cfg := deployRead(t, deployComposeTY)
	for old, repl := range map[string]string{
		"driver: postgres":                               "driver: sqlite",
		"dsn_env: TIMON_POSTGRES_DSN":                    "",
		"base_url: http://host.docker.internal:11434/v1": "base_url: " + fake.URL(),
	} {
		if strings.Count(cfg, old) != 1 {
			t.Fatalf("compose timon.yaml no longer has %q once: update this test", old)
		}
		cfg = strings.Replace(cfg, old, repl, 1)
	}
	return startHubWith(t, fake, cfg)
}

// deployShellLines returns the shell text of a file: for the compose file
// its header comment ("#   command"), for the guide its shell blocks.
func deployShellLines(t *testing.T, p string) []string {
	t.Helper()
	var out []string
	src := deployRead(t, p)
	if strings.HasSuffix(p, ".md") {
		inFence, sh := false, false
		for _, l := range strings.Split(src, "\n") {
			if rest, ok := strings.CutPrefix(l, "```"); ok {
				inFence = !inFence
				sh = inFence && (rest == "sh" || rest == "bash" || rest == "")
				continue
			}
			if inFence && sh {
				out = append(out, l)
			}
		}
		return out
	}
	for _, l := range strings.Split(src, "\n") {
		if !strings.HasPrefix(l, "#") {
			break
		}
		if rest, ok := strings.CutPrefix(l, "#   "); ok {
			out = append(out, rest)
		}
	}
	return out
}

// TestDeployCurlExamples: the token and curl lines of the compose file's
// header and of the guide's Docker Compose section work as written, on
// the compose configuration: the token command prints the token alone
// (TOKEN=$(…) captures it), and curl, run by sh exactly as written but
// for the address, gets an answer. The example once sent task chat an
// input instead of messages, and got 400.
func TestDeployCurlExamples(t *testing.T) {
	requiredTool(t, "curl", "apt-get install curl", "curl")
	fake := newFake(t)
	h := deployComposeHub(t, fake)
	for _, file := range []string{deployCompose, deployDocs} {
		var tokenLine, curls []string
		for _, l := range deployShellLines(t, file) {
			l = strings.TrimSpace(l)
			switch {
			case strings.HasPrefix(l, "TOKEN=$(") && strings.HasSuffix(l, ")"):
				tokenLine = deployShellCommands(strings.TrimSuffix(strings.TrimPrefix(l, "TOKEN=$("), ")"))[0]
			case strings.HasPrefix(l, "curl ") && strings.Contains(l, "/v1/"):
				curls = append(curls, l)
			}
		}
		if tokenLine == nil || len(curls) == 0 {
			t.Fatalf("%s: no TOKEN=$(… timon token create …) line or no curl to /v1/: the example is gone", file)
		}
		calls, _ := deployTimonInvocations(tokenLine)
		if len(calls) != 1 || strings.Join(calls[0][:2], " ") != "token create" {
			t.Fatalf("%s: the TOKEN line does not run timon token create: %q", file, tokenLine)
		}
		deployCheckArgs(t, file+" token line", calls[0])
		var args []string // without --config: h.timon gives the hub's
		for i := 2; i < len(calls[0]); i++ {
			if calls[0][i] == "--config" {
				i++
				continue
			}
			args = append(args, calls[0][i])
		}
		out, errOut, code := h.timon(append([]string{"token", "create"}, args...)...)
		tok := strings.TrimSpace(out)
		if code != 0 || !strings.HasPrefix(tok, "timon_") || strings.ContainsAny(tok, " \n") {
			t.Fatalf("%s: the token line printed %q (exit %d, %s), not a token alone", file, out, code, errOut)
		}
		for _, c := range curls {
			if !strings.Contains(c, "http://127.0.0.1:8080/") {
				t.Errorf("%s: %q does not go to nginx's published address", file, c)
				continue
			}
			line := strings.Replace(c, "http://127.0.0.1:8080", h.url, 1) + ` -w '\n%{http_code}'`
			cmd := exec.Command("sh", "-c", line)
			cmd.Env = append(os.Environ(), "TOKEN="+tok)
			b, err := cmd.Output()
			body, status := string(b), ""
			if i := strings.LastIndexByte(body, '\n'); i >= 0 {
				body, status = body[:i], body[i+1:]
			}
			var resp map[string]any
			if err != nil || status != "200" || json.Unmarshal([]byte(body), &resp) != nil || resp["text"] == "" || resp["text"] == nil {
				t.Errorf("%s: %s\n→ %v %s: %s", file, c, err, status, body)
			}
		}
	}
	if n := len(modelRequests(fake)); n == 0 {
		t.Error("no example reached the model")
	}
}

// deployConfigSources is the configuration code: core/config, and the
// settings the front ends declare for their sections.
var deployConfigSources = []string{"../core/config/*.go", "../bots/slack/config.go", "../bots/mattermost/config.go", "../webhooks/review/config.go"}

// deployConfigEnvNames are the environment variables the configuration
// code reads by name (deployConfigSources, non-test files), except
// TIMON_TOKEN: the editor's personal token, read by timon lsp on the
// user's machine, never by the hub.
func deployConfigEnvNames(t *testing.T) []string {
	t.Helper()
	var files []string
	for _, g := range deployConfigSources {
		fs, _ := filepath.Glob(g)
		files = append(files, fs...)
	}
	seen := map[string]bool{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		for _, m := range regexp.MustCompile(`"(TIMON_[A-Z0-9_]+)"`).FindAllStringSubmatch(deployRead(t, f), -1) {
			seen[m[1]] = m[1] != "TIMON_TOKEN"
		}
	}
	var out []string
	for n, ok := range seen {
		if ok {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	if len(out) < 10 {
		t.Fatalf("only %d TIMON_ variables found in the configuration code: %v", len(out), out)
	}
	return out
}

// deployEnvNamed collects the values of every *_env key of a YAML tree.
func deployEnvNamed(v any, out map[string]bool) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if s, ok := e.(string); ok && strings.HasSuffix(k, "_env") && s != "" {
				out[s] = true
			}
			deployEnvNamed(e, out)
		}
	case []any:
		for _, e := range x {
			deployEnvNamed(e, out)
		}
	}
}

// deployContainerEnv is the environment compose gives a service, dotenv
// being the project's .env: its env_file files (".env" is dotenv), then
// its environment, interpolated from dotenv, on top.
func deployContainerEnv(t *testing.T, svc map[string]any, dotenv map[string]string) map[string]string {
	t.Helper()
	env := map[string]string{}
	var files []string
	switch f := svc["env_file"].(type) {
	case string:
		files = []string{f}
	case []any:
		for _, e := range f {
			if m, ok := e.(map[string]any); ok {
				files = append(files, fmt.Sprint(m["path"]))
			} else {
				files = append(files, fmt.Sprint(e))
			}
		}
	}
	for _, f := range files {
		if f != ".env" && f != "./.env" {
			t.Fatalf("env_file %q: this test knows only .env", f)
		}
		for k, v := range dotenv {
			env[k] = v
		}
	}
	switch e := svc["environment"].(type) {
	case map[string]any:
		for k, v := range e {
			s, err := deployInterpolate(fmt.Sprint(v), dotenv)
			if err != nil {
				t.Fatalf("environment %s: %v", k, err)
			}
			env[k] = s
		}
	case []any:
		for _, kv := range e {
			k, v, _ := strings.Cut(fmt.Sprint(kv), "=")
			s, err := deployInterpolate(v, dotenv)
			if err != nil {
				t.Fatalf("environment %s: %v", k, err)
			}
			env[k] = s
		}
	}
	return env
}

// TestDeployComposeEnvironment: every variable the configuration reads,
// and every one the compose timon.yaml names, reaches both replicas from
// .env, and .env.example lists each. Filled in as .env.example shows, the
// replicas' configuration has Slack, Mattermost and GitLab on, with the
// values of .env. The systemd environment file lists them too.
func TestDeployComposeEnvironment(t *testing.T) {
	names := deployConfigEnvNames(t)
	named := map[string]bool{}
	deployEnvNamed(deployYAML(t, deployComposeTY), named)
	for n := range named {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	example := deployRead(t, "../deploy/compose/.env.example")
	set := deployDotenv(example, false)
	if set["POSTGRES_PASSWORD"] == "" {
		t.Error(".env.example does not set POSTGRES_PASSWORD, which compose requires")
	}
	dotenv := deployDotenv(example, true) // every line filled in
	services := deployMap(t, deployYAML(t, deployCompose)["services"], "services")
	var env map[string]string
	for _, name := range []string{"timon-1", "timon-2"} {
		env = deployContainerEnv(t, deployMap(t, services[name], name), dotenv)
		for _, n := range names {
			if env[n] == "" {
				t.Errorf("%s: %s does not reach the container from .env (or .env.example does not list it)", name, n)
			}
		}
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	s, m, g := &slack.Config{}, &mattermost.Config{}, &review.Config{}
	sections := func() []config.Section {
		return []config.Section{{At: "chat.slack", Settings: s}, {At: "chat.mattermost", Settings: m}, {At: "gitlab", Settings: g}}
	}
	if _, err := config.Load(deployComposeTY, sections()...); err != nil {
		t.Fatalf("compose timon.yaml with .env.example filled in: %v", err)
	}
	if !s.Enabled() || !s.SocketEnabled() || !s.HTTPEnabled() || s.BotToken != dotenv["TIMON_SLACK_BOT_TOKEN"] {
		t.Error("Slack is not on with its secrets from .env")
	}
	if !m.Enabled() || !m.CommandEnabled() || m.URL != dotenv["TIMON_MATTERMOST_URL"] {
		t.Error("Mattermost is not on with its secrets from .env")
	}
	if !g.Enabled() || g.Token != dotenv["TIMON_GITLAB_TOKEN"] {
		t.Error("GitLab reviews are not on with their secrets from .env")
	}
	// Commented out, as shipped: the integrations stay off.
	for k := range dotenv {
		if _, ok := set[k]; !ok {
			t.Setenv(k, "")
		}
	}
	s, m, g = &slack.Config{}, &mattermost.Config{}, &review.Config{}
	if _, err := config.Load(deployComposeTY, sections()...); err != nil || s.Enabled() || m.Enabled() || g.Enabled() {
		t.Errorf(".env.example as shipped: %v; want every integration off", err)
	}

	// systemd: EnvironmentFile= passes the whole file; it must list them.
	unitEnv := deployDotenv(deployRead(t, "../deploy/systemd/timon.env.example"), true)
	for _, n := range names {
		if _, ok := unitEnv[n]; !ok && n != "TIMON_DATA_DIR" { // set by the unit itself
			t.Errorf("deploy/systemd/timon.env.example does not list %s", n)
		}
	}
}

// deployPublished returns the host address and port of a compose ports
// entry, short ("[HOST:]PORT:TARGET[/proto]", "TARGET") or long syntax,
// interpolated with compose's defaults. An empty host is every interface.
func deployPublished(t *testing.T, v any) (host, port string) {
	t.Helper()
	if m, ok := v.(map[string]any); ok {
		h, _ := m["host_ip"].(string)
		return h, fmt.Sprint(m["published"])
	}
	s, err := deployInterpolate(fmt.Sprint(v), nil)
	if err != nil {
		t.Fatalf("ports %q: %v", v, err)
	}
	s, _, _ = strings.Cut(s, "/")
	if strings.HasPrefix(s, "[") { // [::1]:8080:80
		end := strings.Index(s, "]")
		host, s = s[1:end], strings.TrimPrefix(s[end+1:], ":")
	}
	parts := strings.Split(s, ":")
	switch len(parts) {
	case 1: // container port only: a random host port, every interface
		return "", "random"
	case 2:
		return host, parts[0]
	default:
		return parts[0], parts[1]
	}
}

// TestDeployComposePorts: nothing of the compose file is published on all
// interfaces (nginx speaks plain HTTP with bearer tokens on it); the TLS
// override publishes 443 only, with the certificate directory mounted.
func TestDeployComposePorts(t *testing.T) {
	services := deployMap(t, deployYAML(t, deployCompose)["services"], "services")
	published := 0
	for name, s := range services {
		ports, _ := deployMap(t, s, name)["ports"].([]any)
		for _, p := range ports {
			host, port := deployPublished(t, p)
			if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
				t.Errorf("%s publishes %v on all interfaces (host %q, port %s): bind it to 127.0.0.1", name, p, host, port)
			}
			published++
		}
	}
	if published == 0 {
		t.Fatal("no port published: nginx is unreachable")
	}
	tls := deployMap(t, deployYAML(t, "../deploy/compose/docker-compose.tls.yml")["services"], "tls services")
	if len(tls) != 1 || tls["nginx"] == nil {
		t.Fatalf("docker-compose.tls.yml should change nginx only: %v", tls)
	}
	ng := deployMap(t, tls["nginx"], "tls nginx")
	ports, _ := ng["ports"].([]any)
	if len(ports) == 0 {
		t.Error("docker-compose.tls.yml publishes nothing")
	}
	for _, p := range ports {
		if _, port := deployPublished(t, p); port != "443" {
			t.Errorf("docker-compose.tls.yml publishes %v: only 443 (TLS) may leave the machine", p)
		}
	}
	if !slices.Contains(deployStrings(ng["volumes"]), "./tls:/etc/nginx/tls:ro") {
		t.Errorf("docker-compose.tls.yml does not mount ./tls read-only: %v", ng["volumes"])
	}
}

// deployNginxTLS is nginx.conf with its TLS lines uncommented, as
// docker-compose.tls.yml says to do.
func deployNginxTLS(t *testing.T) string {
	t.Helper()
	var out []string
	in := false
	for _, l := range strings.Split(deployRead(t, deployNginx), "\n") {
		trimmed := strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(trimmed, "# TLS ("):
			in = true
		case in && strings.HasPrefix(trimmed, "# "):
			l = strings.Replace(l, "# ", "", 1)
		default:
			in = false
		}
		out = append(out, l)
	}
	conf := strings.Join(out, "\n")
	if !strings.Contains(conf, "\n        listen 443 ssl;") {
		t.Fatal("nginx.conf has no commented TLS lines after a '# TLS (' comment")
	}
	return conf
}

// TestDeployNginxTLS: nginx.conf with its TLS lines uncommented runs, with
// a certificate where docker-compose.tls.yml mounts it, and carries the
// compose example through TLS to a hub.
func TestDeployNginxTLS(t *testing.T) {
	nginx := requiredTool(t, "nginx", "apt-get install nginx-light", "nginx")
	fake := newFake(t)
	h := deployComposeHub(t, fake)
	dir := t.TempDir()
	certPEM, keyPEM := deploySelfSigned(t)
	os.WriteFile(filepath.Join(dir, "fullchain.pem"), certPEM, 0o600)
	os.WriteFile(filepath.Join(dir, "privkey.pem"), keyPEM, 0o600)
	plain, tlsAddr := freeAddr(t), freeAddr(t)
	conf := deployNginxTLS(t)
	hubAddr := strings.TrimPrefix(h.url, "http://")
	for old, repl := range map[string]string{
		"server timon-1:8080":          "server " + hubAddr,
		"server timon-2:8080":          "server " + hubAddr + " backup",
		"listen 80;":                   "listen " + plain + ";",
		"listen 443 ssl;":              "listen " + tlsAddr + " ssl;",
		"/etc/nginx/tls/fullchain.pem": filepath.Join(dir, "fullchain.pem"),
		"/etc/nginx/tls/privkey.pem":   filepath.Join(dir, "privkey.pem"),
		"user nginx;":                  "",
	} {
		if strings.Count(conf, old) != 1 {
			t.Fatalf("nginx.conf (TLS) no longer has %q once: update this test", old)
		}
		conf = strings.Replace(conf, old, repl, 1)
	}
	os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o644)
	logs := &syncBuffer{}
	ng := exec.Command(nginx, "-p", dir, "-c", filepath.Join(dir, "nginx.conf"), "-g", "daemon off; pid "+dir+"/nginx.pid; error_log stderr;")
	ng.Stdout, ng.Stderr = logs, logs
	if err := ng.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { ng.Wait(); close(done) }()
	t.Cleanup(func() {
		ng.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			ng.Process.Kill()
		}
		if t.Failed() {
			t.Logf("nginx:\n%s", logs.String())
		}
	})
	deployWaitHealthy(t, "http://"+plain+"/healthz", done, logs)

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "timon.test"}}}
	tok := h.token("alice", "admins")
	req, _ := http.NewRequest(http.MethodPost, "https://"+tlsAddr+"/v1/assist",
		strings.NewReader(`{"task":"chat","messages":[{"role":"user","content":"Bonjour"}]}`))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("through nginx with TLS: %v", err)
	}
	defer resp.Body.Close()
	var out map[string]any
	decodeJSON(t, resp, &out)
	if resp.StatusCode != 200 || out["text"] == nil || resp.TLS == nil {
		t.Fatalf("through nginx with TLS: %d %v", resp.StatusCode, out)
	}
	if !strings.HasPrefix(resp.Header.Get("Strict-Transport-Security"), "max-age=") {
		t.Errorf("no Strict-Transport-Security header: %v", resp.Header)
	}
	// TLS only: a client speaking plain HTTP to the TLS port is refused.
	if r, err := http.Get("http://" + tlsAddr + "/healthz"); err == nil {
		r.Body.Close()
		if r.StatusCode == 200 {
			t.Error("the TLS port answers plain HTTP")
		}
	}
}

// deploySelfSigned is a certificate for timon.test and its key, in PEM.
func deploySelfSigned(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "timon.test"}, DNSNames: []string{"timon.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb})
}

// TestDeployBuildContext: the files `docker build ..` would send, computed
// from .dockerignore over the working tree, hold no node_modules (at any
// depth: a node_modules is assumed next to every package.json, installed
// or not), no history, no local data, keys or backups, and what the build
// needs.
func TestDeployBuildContext(t *testing.T) {
	ig := deployDockerignoreParse(t, deployRead(t, "../.dockerignore"))
	var context []string
	var size int64
	err := filepath.WalkDir("..", func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel("..", p)
		rel = filepath.ToSlash(rel)
		if rel == "." {
			return nil
		}
		if ig.excluded(rel) {
			if d.IsDir() && !ig.negates() {
				return filepath.SkipDir // as Docker does without exceptions
			}
			return nil
		}
		if d.Name() == "package.json" {
			// What npm install would add beside it.
			for _, f := range []string{"node_modules/.package-lock.json", "node_modules/typescript/lib/tsc.js", "node_modules/@types/node/index.d.ts"} {
				if q := path.Join(path.Dir(rel), f); !ig.excluded(q) {
					context = append(context, q)
				}
			}
		}
		if !d.IsDir() {
			context = append(context, rel)
			if info, err := d.Info(); err == nil {
				size += info.Size()
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("build context: %d files, %.1f MB", len(context), float64(size)/1e6)
	for _, p := range context {
		for _, bad := range []string{"node_modules", ".git", "backups", "pgdata", "tls"} {
			if slices.Contains(strings.Split(p, "/"), bad) {
				t.Errorf("%s is in the build context", p)
			}
		}
		if ext := path.Ext(p); ext == ".db" || ext == ".key" || ext == ".pem" || ext == ".dump" || path.Base(p) == ".env" {
			t.Errorf("%s is in the build context", p)
		}
	}
	for _, p := range []string{"go.mod", "go.sum", "embed.go", "timon.example.yaml", "cmd/timon/main.go", "deploy/docker/healthcheck/main.go"} {
		if !slices.Contains(context, p) {
			t.Errorf("%s, which the build needs, is not in the build context", p)
		}
	}
	for _, p := range []string{"lsp/editors/vscode/node_modules/x/index.js", "node_modules/x", ".git/config", "data/timon.db",
		"deploy/compose/.env", "deploy/compose/backups/timon-2026-01-01.dump", "deploy/compose/tls/privkey.pem", "bin/timon"} {
		if !ig.excluded(p) {
			t.Errorf(".dockerignore lets %s into the build context", p)
		}
	}
}

// TestDeployBackupScript: deploy/backup/timon-backup creates a missing
// backup directory (0700) and writes a copy that verifies; it stops,
// naming the directory and writing nothing, when the directory cannot be
// created or written; with TIMON_POSTGRES_DSN it dumps PostgreSQL.
func TestDeployBackupScript(t *testing.T) {
	script, _ := filepath.Abs("../deploy/backup/timon-backup")
	// The compose file's backup service runs this script on ./backups.
	bk := deployMap(t, deployMap(t, deployYAML(t, deployCompose)["services"], "services")["backup"], "backup service")
	vols := deployStrings(bk["volumes"])
	if !slices.Contains(vols, "../backup/timon-backup:/usr/local/bin/timon-backup:ro") || !slices.Contains(vols, "./backups:/backups") ||
		!slices.Contains(deployStrings(bk["entrypoint"]), "/usr/local/bin/timon-backup") || fmt.Sprint(deployStrings(bk["command"])) != "[/backups]" {
		t.Errorf("the compose backup service does not run deploy/backup/timon-backup on ./backups: %v", bk)
	}
	requiredTool(t, "sqlite3", "apt-get install sqlite3", "sqlite3")
	h := startHub(t, newFake(t), newFake(t).URL())
	tok := h.token("alice", "staff")
	if status, out, _ := h.post("/v1/assist", tok, map[string]any{"task": "summarize", "input": "un texte"}); status != 200 {
		t.Fatalf("assist: %d %v", status, out)
	}
	run := func(dir string, env ...string) (string, string, int) {
		cmd := exec.Command(script, dir)
		cmd.Env = append(append(os.Environ(), "TIMON_DATA_DIR="+h.data, "TIMON_POSTGRES_DSN="), env...)
		return runCmd(t, cmd)
	}

	// A fresh directory, two levels down: created, 0700.
	dir := filepath.Join(t.TempDir(), "backups", "timon")
	out, errOut, code := run(dir)
	if code != 0 {
		t.Fatalf("backup into a new directory: exit %d %s", code, errOut)
	}
	copyPath := strings.TrimSpace(out)
	if filepath.Dir(copyPath) != dir || !strings.HasSuffix(copyPath, ".db") {
		t.Fatalf("backup printed %q, want a .db file in %s", out, dir)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("backup directory: %v %v, want mode 0700", fi.Mode(), err)
	}
	if fi, err := os.Stat(copyPath); err != nil || fi.Mode().Perm()&0o077 != 0 {
		t.Errorf("backup file: %v, want readable by its owner only", err)
	}
	pub := filepath.Join(t.TempDir(), "audit.pub")
	pk, _, _ := h.timon("audit", "public-key")
	os.WriteFile(pub, []byte(pk), 0o600)
	check := filepath.Join(t.TempDir(), "restore-check")
	os.MkdirAll(check, 0o700)
	b, _ := os.ReadFile(copyPath)
	os.WriteFile(filepath.Join(check, "timon.db"), b, 0o600)
	cmd := exec.Command(binary, "audit", "verify", "--config", h.cfg, "--public-key", pub, "--allow-no-checkpoint")
	cmd.Env = append(os.Environ(), "TIMON_DATA_DIR="+check)
	if b, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(b), "OK: 1 entr") {
		t.Errorf("verifying the backup: %v\n%s", err, b)
	}

	// A directory that cannot be created: under a file.
	file := filepath.Join(t.TempDir(), "a-file")
	os.WriteFile(file, nil, 0o600)
	_, errOut, code = run(filepath.Join(file, "backups"))
	if code == 0 || !strings.Contains(errOut, "cannot create the backup directory "+filepath.Join(file, "backups")) {
		t.Errorf("backup under a file: exit %d %q", code, errOut)
	}

	// A directory that exists but is not writable by the user running the
	// script: as root, run it as nobody on a directory of root's.
	ro := filepath.Join(t.TempDir(), "read-only")
	os.MkdirAll(ro, 0o755)
	cmd = exec.Command(script, ro)
	if os.Geteuid() == 0 {
		if _, err := exec.LookPath("setpriv"); err != nil {
			t.Fatal("setpriv (util-linux) is needed to run the script as another user than root")
		}
		cmd = exec.Command("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", script, ro)
		for p := ro; p != os.TempDir() && p != "/"; p = filepath.Dir(p) {
			os.Chmod(p, 0o755) // reachable by nobody, writable by root only
		}
	} else {
		os.Chmod(ro, 0o500)
		t.Cleanup(func() { os.Chmod(ro, 0o700) })
	}
	cmd.Env = append(os.Environ(), "TIMON_DATA_DIR="+h.data, "TIMON_POSTGRES_DSN=")
	_, errOut, code = runCmd(t, cmd)
	if code == 0 || !strings.Contains(errOut, "the backup directory "+ro+" is not writable by user") {
		t.Errorf("backup into an unwritable directory: exit %d %q", code, errOut)
	}
	if entries, _ := os.ReadDir(ro); len(entries) != 0 {
		t.Errorf("the failed backup left %v", entries)
	}

	// PostgreSQL, where a server and pg_dump are here.
	if _, err := exec.LookPath("pg_dump"); err != nil {
		t.Log("pg_dump is not installed: the PostgreSQL backup is not run")
		return
	}
	t.Run("postgres", func(t *testing.T) {
		dsn := storetest.PostgresDSN(t)
		// The test schema as libpq (pg_dump) spells it: options, not
		// pgx's search_path parameter.
		base, schema, ok := strings.Cut(dsn, "search_path=")
		if !ok {
			t.Fatalf("storetest DSN without search_path: update this test")
		}
		// A hub on it first, so that there is something to dump.
		t.Setenv("TIMON_PG_DSN", dsn)
		pg := startHubWith(t, newFake(t), strings.Replace(fmt.Sprintf(hubConfig, newFake(t).URL()), "server:", "store: {driver: postgres, dsn_env: TIMON_PG_DSN}\nserver:", 1))
		pg.token("bob", "staff")
		dsn = base + "options=-csearch_path%3D" + schema
		out, errOut, code := run(filepath.Join(t.TempDir(), "pg"), "TIMON_POSTGRES_DSN="+dsn)
		if code != 0 || !strings.HasSuffix(strings.TrimSpace(out), ".dump") {
			t.Fatalf("pg backup: exit %d %q %s", code, out, errOut)
		}
		if strings.Contains(out+errOut, dsn) {
			t.Error("the script printed the DSN")
		}
		if b, err := exec.Command("pg_restore", "--list", strings.TrimSpace(out)).CombinedOutput(); err != nil || !strings.Contains(string(b), "TABLE "+schema) {
			t.Errorf("pg_restore --list: %v %s", err, b)
		}
	})
}
