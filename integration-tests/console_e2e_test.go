package integrationtests

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"timon.dev/timon/core/remote/credentials"
	"timon.dev/timon/webhooks/console/oidctest"
)

// The people of the identity provider the end-to-end test signs in with:
// a member of staff, an administrator, and someone whose provider sends
// no groups claim.
var e2ePeople = []oidctest.User{
	{Subject: "u-ada", Username: "ada", Password: "ada-pw", Name: "Ada Lovelace", Email: "ada@lab-univ.fr", Groups: []string{"staff"}},
	{Subject: "u-root", Username: "root", Password: "root-pw", Name: "Root Admin", Email: "root@lab-univ.fr", Groups: []string{"timon-admins"}},
	{Subject: "u-nemo", Username: "nemo", Password: "nemo-pw", Name: "Nemo Nobody", Email: "nemo@lab-univ.fr"},
}

// e2eSignIn is the sign_in section: %s are the provider's issuer, the
// client id and the hub's own URL; the secret comes from the environment.
const e2eSignIn = `sign_in:
  issuer: %s
  client_id: %s
  client_secret_env: TIMON_TEST_OIDC_SECRET
  public_url: %s
  groups:
    staff: [staff]
    timon-admins: [admin]
  default_group: members
  admin_groups: [admin]
`

// What ada sends through the API: an e-mail address and a GitHub token,
// which the model must never see.
const (
	e2eMail   = "grace.hopper@inria.fr"
	e2eSecret = "ghp_R2dqZ8f9XkLmN3pQ7sT1vW4yB6cE0hJ5aF8g"
)

// TestConsoleE2E runs timon serve with sign-in against a real OpenID
// provider and drives Debian's Chromium through it, as people would: ada
// signs in through the provider's form, creates a token for scripts on My
// timon and uses it with openai-go; her request is journaled as hers with
// its redactions; she cannot reach the admin pages nor pass a forged
// form; she approves `timon login` in the same browser, and the token the
// CLI stores is for the editors only. The administrator finds her tokens
// and revokes the script's, which the API then refuses; a person without
// a groups claim gets the default group only. On failure each browser's
// page is kept under testdata/artifacts (screenshot and HTML).
func TestConsoleE2E(t *testing.T) {
	chromium := requiredTool(t, "chromium", "apt-get install chromium", os.Getenv("CHROMIUM"), "chromium")
	fake := newFake(t)
	addr := freeAddr(t)
	hubURL := "http://" + addr
	idp := oidctest.Start(t, []string{hubURL + "/auth/callback"}, e2ePeople...)
	h := startHubEnvAt(t, fake, hubConfigWith(fake.URL(), fmt.Sprintf(e2eSignIn, idp.Issuer, idp.ClientID, hubURL)),
		addr, "TIMON_TEST_OIDC_SECRET="+idp.ClientSecret)
	if out, errOut, code := h.timon("config", "check"); code != 0 || !strings.Contains(out, "console: on") {
		t.Fatalf("config check: exit %d\n%s%s", code, out, errOut)
	}
	chrome := startChromium(t, chromium)
	admin := h.token("auditor", "admin") // reads the journal through /admin/audit

	ada := chrome.tab("ada")
	ada.signIn(hubURL, idp, "ada", "ada-pw")
	if groups := ada.text("#my-groups"); !sameGroups(groups, "members", "staff") {
		t.Fatalf("ada's groups on My timon: %q, want members and staff", groups)
	}
	if ada.count("#nav-admin") != 0 {
		t.Fatal("a non-admin is offered the admin console")
	}

	// A token for scripts, created on My timon; its secret is shown once.
	ada.do("filling in the token form",
		chromedp.SendKeys(chromedp.ID("token-name"), "e2e script"),
		chromedp.Click(chromedp.ID("scope-api")),
	)
	ada.submit("creating a token", chromedp.ID("create-token-submit"), http.StatusOK)
	secret := strings.TrimSpace(ada.value("#new-token-secret"))
	if !strings.HasPrefix(secret, "timon_") {
		t.Fatalf("the new token's secret is %q", secret)
	}
	scriptID := ada.tokenID("#token-list", 0, "e2e script")
	if scope := ada.cell(scriptID, 1); scope != "api" {
		t.Fatalf("the script's token is for %q, want api only", scope)
	}
	ada.navigate(hubURL+"/console/", http.StatusOK)
	if ada.count("#new-token-secret") != 0 {
		t.Fatal("the token's secret is shown again after a reload")
	}

	// The token with the official client; the model sees neither the
	// e-mail nor the secret.
	client := openai.NewClient(option.WithBaseURL(hubURL+"/v1"), option.WithAPIKey(secret), option.WithMaxRetries(0))
	before := len(modelRequests(fake))
	question := "Write to " + e2eMail + " that the key " + e2eSecret + " leaked"
	resp, err := client.Chat.Completions.New(ctxT(t), openai.ChatCompletionNewParams{
		Model:    "timon",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(question)},
	})
	if err != nil {
		t.Fatalf("chat through openai-go with the console's token: %v", err)
	}
	answer := resp.Choices[0].Message.Content
	// The fake model echoes; the placeholders it got back are restored.
	if resp.Object != "chat.completion" || answer != "echo: "+question || resp.ID == "" {
		t.Fatalf("chat answer %+v", resp)
	}
	sent := modelRequests(fake)[before:]
	if len(sent) != 1 {
		t.Fatalf("the model received %d requests", len(sent))
	}
	if body := string(sent[0].Body); strings.Contains(body, e2eMail) || strings.Contains(body, "ghp_R2dq") {
		t.Fatalf("the model received the planted values: %s", body)
	}
	checkMyRequests(t, ada, h, admin, resp.ID)

	// A non-admin never reaches the admin pages; a forged form is refused.
	for _, path := range []string{"/console/admin/", "/console/admin/tokens"} {
		ada.navigate(hubURL+path, http.StatusForbidden)
	}
	ada.navigate(hubURL+"/console/", http.StatusOK)
	ada.do("forging the token form",
		chromedp.SendKeys(chromedp.ID("token-name"), "forged"),
		chromedp.SetValue(chromedp.CSS(`#create-token input[name="csrf"]`), "forged-"+secret[len(secret)-8:]),
	)
	ada.submit("posting a forged form", chromedp.ID("create-token-submit"), http.StatusForbidden)
	ada.navigate(hubURL+"/console/", http.StatusOK)
	if strings.Contains(ada.text("#tokens"), "forged") {
		t.Fatal("a form with a forged CSRF token created a token")
	}

	// timon login, approved in ada's browser.
	cred := loginThroughBrowser(t, ada, hubURL)
	if code := getModels(t, hubURL, cred.Token, "lsp"); code != http.StatusOK {
		t.Fatalf("/v1/models with the stored token as the editor: %d", code)
	}
	if code := getModels(t, hubURL, cred.Token, ""); code != http.StatusForbidden {
		t.Fatalf("/v1/models with the editor's token on the API: %d, want 403", code)
	}
	ada.navigate(hubURL+"/console/", http.StatusOK)
	deviceID := ada.tokenID("#token-list", 0, "e2e laptop")
	if scope := ada.cell(deviceID, 1); scope != "lsp" {
		t.Fatalf("the editor's token is for %q, want lsp only", scope)
	}

	// The administrator finds ada's tokens and revokes the script's.
	root := chrome.tab("root")
	root.signIn(hubURL, idp, "root", "root-pw")
	root.submit("opening the admin console", chromedp.ID("nav-admin"), http.StatusOK)
	root.submit("opening the tokens' page", chromedp.ID("admin-tokens-link"), http.StatusOK)
	if id := root.tokenID("#admin-token-list", 1, "e2e script"); id != scriptID {
		t.Fatalf("the admin's tokens page shows ada's script token as %q, My timon as %q", id, scriptID)
	}
	if user := root.cell(scriptID, 0); user != "ada@lab-univ.fr" {
		t.Fatalf("the admin's tokens page gives ada's token to %q", user)
	}
	checkAdminJournal(t, root, hubURL, resp.ID)
	root.navigate(hubURL+"/console/admin/tokens", http.StatusOK)
	root.submit("revoking ada's token", chromedp.ID("admin-revoke-"+scriptID), http.StatusOK)
	if root.count("#admin-revoke-"+scriptID) != 0 {
		t.Fatal("the revoked token can still be revoked")
	}
	_, err = client.Chat.Completions.New(ctxT(t), openai.ChatCompletionNewParams{
		Model: "timon", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("still there?")},
	})
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a token revoked by the admin: %v, want 401", err)
	}
	if code := getModels(t, hubURL, cred.Token, "lsp"); code != http.StatusOK {
		t.Fatalf("revoking one token touched another: %d", code)
	}

	// No groups claim: the default group only.
	nemo := chrome.tab("nemo")
	nemo.signIn(hubURL, idp, "nemo", "nemo-pw")
	if groups := nemo.text("#my-groups"); !sameGroups(groups, "members") {
		t.Fatalf("groups of a person without a groups claim: %q, want members only", groups)
	}
	if strings.Contains(nemo.outerHTML(), resp.ID) || strings.Contains(nemo.outerHTML(), "e2e script") {
		t.Fatal("My timon shows another person's request or token")
	}
	nemo.navigate(hubURL+"/console/admin/", http.StatusForbidden)

	// Signing out ends the session: My timon asks to sign in again.
	ada.navigate(hubURL+"/console/", http.StatusOK)
	ada.submit("signing out", chromedp.ID("logout"), http.StatusOK)
	ada.navigate(hubURL+"/console/", http.StatusOK)
	if ada.count("#sign-in") != 1 || ada.count("#whoami") != 0 {
		t.Fatal("My timon still shown after signing out")
	}
}

// checkMyRequests looks for the request on ada's My timon: a row with
// the request id, the integration (api) and the redactions by type
// (email, github-pat). It checks the journal first: the request is hers,
// with those redactions.
// Then My timon's requests section must list it with its integration and
// redaction types, and never the secret.
func checkMyRequests(t *testing.T, b *tab, h *hub, admin, requestID string) {
	t.Helper()
	e := auditEntry(t, h, admin, requestID)
	if e["user_id"] != "ada@lab-univ.fr" || e["integration"] != "api" || e["task"] != "chat" ||
		redactionCount(e, "email") != 1 || redactionCount(e, "github-pat") != 1 {
		t.Fatalf("journal entry of ada's request: %v", e)
	}
	b.navigate(h.url+"/console/", http.StatusOK)
	html := b.outerHTML()
	if b.count(`main section#requests`) != 1 {
		t.Fatal("My timon has no requests section")
	}
	if !strings.Contains(html, requestID) {
		t.Fatalf("My timon does not list request %s", requestID)
	}
	row := b.textOf(fmt.Sprintf(`[...document.querySelectorAll("#requests tr")].filter(e => e.textContent.includes(%q)).map(e => e.textContent).join("\n")`, requestID))
	for _, want := range []string{"api", "email", "github-pat"} {
		if !strings.Contains(row, want) {
			t.Errorf("My timon's row of request %s lacks %q: %q", requestID, want, row)
		}
	}
	if strings.Contains(html, e2eSecret) {
		t.Error("My timon shows the secret the model never saw")
	}
}

// checkAdminJournal looks for the request in the admin console's journal.
// The admin home must link to the journal page, which finds it with
// ?request_id=.
func checkAdminJournal(t *testing.T, b *tab, hubURL, requestID string) {
	t.Helper()
	b.navigate(hubURL+"/console/admin/", http.StatusOK)
	links := strings.Fields(b.textOf(`[...document.querySelectorAll("#admin-pages a")].map(a => a.getAttribute("href")).join(" ")`))
	var journal string
	for _, l := range links {
		if strings.Contains(l, "journal") || strings.Contains(l, "audit") {
			journal = l
		}
	}
	if journal == "" {
		t.Fatalf("the admin console has no journal page (pages: %v)", links)
	}
	b.navigate(hubURL+journal+"?request_id="+requestID, http.StatusOK)
	rows := b.count(fmt.Sprintf(`#journal-list tr[data-request-id=%q]`, requestID))
	if rows == 0 || !strings.Contains(b.outerHTML(), requestID) {
		t.Fatalf("the admin's journal (%s) does not show request %s", journal, requestID)
	}
	if strings.Contains(b.outerHTML(), e2eSecret) {
		t.Error("the admin's journal shows the secret the model never saw")
	}
}

// loginThroughBrowser runs timon login --hub with its own configuration
// directory, approves the code it prints in b's browser, and returns the
// credential it stored (checked 0600).
func loginThroughBrowser(t *testing.T, b *tab, hubURL string) credentials.Credential {
	t.Helper()
	home := t.TempDir()
	cmd := exec.Command(binary, "login", "--hub", hubURL, "--no-browser", "--name", "e2e laptop")
	cmd.Env = append(os.Environ(), userConfigEnv(home)...)
	out := &promptWriter{ready: make(chan struct{})}
	errOut := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var waitErr error
	exited := make(chan struct{})
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		select {
		case <-exited:
		default:
			cmd.Process.Kill()
			<-exited
		}
	})
	select {
	case <-out.ready:
	case <-exited:
		t.Fatalf("timon login ended before asking for approval: %v\n%s%s", waitErr, out.String(), errOut.String())
	case <-time.After(20 * time.Second):
		t.Fatalf("timon login printed no code:\n%s%s", out.String(), errOut.String())
	}
	// To sign in to HUB, open / LINK / and check that the page shows the code / CODE
	var lines []string
	for l := range strings.Lines(out.String()) {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) < 5 {
		t.Fatalf("timon login's prompt:\n%s", out.String())
	}
	link, code := lines[1], lines[3]
	if !strings.HasPrefix(link, hubURL+"/console/device") {
		t.Fatalf("timon login's link %q is not the hub's device page:\n%s", link, out.String())
	}
	b.navigate(link, http.StatusOK)
	if shown := b.text("#device-user-code"); shown != code {
		t.Fatalf("the device page shows the code %q, timon login printed %q", shown, code)
	}
	if name := b.text("#device-name"); name != "e2e laptop" {
		t.Fatalf("the device page names the token %q", name)
	}
	b.submit("approving the sign-in", chromedp.ID("approve"), http.StatusOK)
	b.text("#device-done")
	select {
	case <-exited:
		if waitErr != nil {
			t.Fatalf("timon login after approval: %v\n%s%s", waitErr, out.String(), errOut.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("timon login did not finish after the approval:\n%s%s", out.String(), errOut.String())
	}
	if !strings.Contains(out.String(), "Signed in to "+hubURL+" as ada@lab-univ.fr") {
		t.Fatalf("timon login's output:\n%s", out.String())
	}
	path := filepath.Join(home, ".config", "timon", "credentials.json")
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("credentials file: %v %v", fi, err)
	}
	f := &credentials.File{Path: path}
	cred, ok, err := f.Get(hubURL)
	if err != nil || !ok || !strings.HasPrefix(cred.Token, "timon_") {
		t.Fatalf("stored credential for %s: %v %v", hubURL, ok, err)
	}
	if strings.Contains(out.String()+errOut.String(), cred.Token) {
		t.Fatal("timon login printed the token")
	}
	return cred
}

// promptWriter keeps what timon login prints, and closes ready once it
// waits for the approval.
type promptWriter struct {
	syncBuffer
	once  sync.Once
	ready chan struct{}
}

func (w *promptWriter) Write(p []byte) (int, error) {
	n, err := w.syncBuffer.Write(p)
	if strings.Contains(w.String(), "Waiting for your approval") {
		w.once.Do(func() { close(w.ready) })
	}
	return n, err
}

// getModels calls /v1/models with the token, as the integration given
// ("" for the API), and returns the status.
func getModels(t *testing.T, hubURL, token, integration string) int {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctxT(t), http.MethodGet, hubURL+"/v1/models", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	if integration != "" {
		req.Header.Set("X-Timon-Integration", integration)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// sameGroups reports whether a comma-separated list holds exactly want.
func sameGroups(list string, want ...string) bool {
	var got []string
	for g := range strings.SplitSeq(list, ",") {
		if g = strings.TrimSpace(g); g != "" {
			got = append(got, g)
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	return slices.Equal(got, want)
}

// chrome is a headless Chromium for the test.
type chrome struct {
	t       *testing.T
	browser context.Context
}

// startChromium starts the browser; it stops when the test ends.
func startChromium(t *testing.T, path string) *chrome {
	t.Helper()
	os.RemoveAll(artifactsDir(t)) // a previous run's
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 1024),
		chromedp.Flag("no-proxy-server", true),
	)
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	browser, cancel := chromedp.NewContext(alloc)
	t.Cleanup(cancel)
	if err := chromedp.Do(browser); err != nil {
		t.Fatalf("starting %s: %v", path, err)
	}
	return &chrome{t: t, browser: browser}
}

// tab is one person's browser window: a browser context of its own
// (cookies are not shared with the other people's).
type tab struct {
	t    *testing.T
	name string
	ctx  context.Context
}

// tab opens a window for a person; if the test fails, its last page is
// kept (screenshot and HTML) under the artifacts' directory.
func (c *chrome) tab(name string) *tab {
	c.t.Helper()
	ctx, cancel := chromedp.NewContext(c.browser, chromedp.WithNewBrowserContext())
	c.t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		c.t.Fatalf("opening %s's window: %v", name, err)
	}
	b := &tab{t: c.t, name: name, ctx: ctx}
	c.t.Cleanup(b.keepOnFailure)
	return b
}

// artifactsDir is where failed browser tests keep their pages:
// $TIMON_TEST_ARTIFACTS, or testdata/artifacts (ignored by git).
func artifactsDir(t *testing.T) string {
	d := os.Getenv("TIMON_TEST_ARTIFACTS")
	if d == "" {
		d = filepath.Join("testdata", "artifacts")
	}
	return filepath.Join(d, strings.ReplaceAll(t.Name(), "/", "_"))
}

func (b *tab) keepOnFailure() {
	if !b.t.Failed() {
		return
	}
	dir, err := filepath.Abs(artifactsDir(b.t))
	if err == nil {
		err = os.MkdirAll(dir, 0o755)
	}
	if err != nil {
		b.t.Logf("keeping %s's page: %v", b.name, err)
		return
	}
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	if png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err != nil {
		b.t.Logf("screenshot of %s's page: %v", b.name, err)
	} else if p := filepath.Join(dir, b.name+".png"); os.WriteFile(p, png, 0o644) == nil {
		b.t.Logf("%s's page (%s): screenshot %s", b.name, loc, p)
	}
	if html, err := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html"))); err != nil {
		b.t.Logf("HTML of %s's page: %v", b.name, err)
	} else if p := filepath.Join(dir, b.name+".html"); os.WriteFile(p, []byte(html), 0o644) == nil {
		b.t.Logf("%s's page (%s): HTML %s", b.name, loc, p)
	}
}

// run runs an action with a deadline, failing the test on error.
func run[T any](b *tab, what string, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.t.Fatalf("%s (%s): %v", what, b.name, err)
	}
	return v
}

func (b *tab) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	run(b, what, chromedp.Steps(steps...))
}

// navigate loads a page and checks the status of its document.
func (b *tab) navigate(url string, status int) {
	b.t.Helper()
	resp := run(b, "loading "+url, chromedp.NavigateResponse(url))
	if int(resp.Status) != status {
		b.t.Fatalf("%s (%s): %d, want %d", url, b.name, resp.Status, status)
	}
}

// submit clicks what leads to another page (a form's button, a link) and
// checks the status of the page it ends on.
func (b *tab) submit(what string, sel chromedp.ID, status int) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(sel))
	if err != nil {
		b.t.Fatalf("%s (%s): %v", what, b.name, err)
	}
	if int(resp.Status) != status {
		b.t.Fatalf("%s (%s): %s answered %d, want %d", what, b.name, resp.URL, resp.Status, status)
	}
}

// text waits for the element and returns its text.
func (b *tab) text(css string) string {
	b.t.Helper()
	return strings.TrimSpace(run(b, "reading "+css, chromedp.TextContent(chromedp.CSS(css))))
}

func (b *tab) value(css string) string {
	b.t.Helper()
	return run(b, "reading "+css, chromedp.Value(chromedp.CSS(css)))
}

// count is the number of elements matching css on the page, now.
func (b *tab) count(css string) int {
	b.t.Helper()
	return run(b, "counting "+css, chromedp.Evaluate[int](fmt.Sprintf(`document.querySelectorAll(%q).length`, css)))
}

// textOf evaluates a JavaScript expression giving a string.
func (b *tab) textOf(expr string) string {
	b.t.Helper()
	return run(b, "reading the page", chromedp.Evaluate[string](expr))
}

// cell is the text of the cell col of the token's row.
func (b *tab) cell(tokenID string, col int) string {
	b.t.Helper()
	return strings.TrimSpace(b.textOf(fmt.Sprintf(`document.getElementById(%q).cells[%d].textContent`, "token-"+tokenID, col)))
}

func (b *tab) outerHTML() string {
	b.t.Helper()
	return run(b, "reading the page", chromedp.OuterHTML(chromedp.CSS("html")))
}

var tokenIDRe = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// tokenID is the id of the only row of the table whose cell col holds name.
func (b *tab) tokenID(table string, col int, name string) string {
	b.t.Helper()
	ids := b.textOf(fmt.Sprintf(`[...document.querySelectorAll(%q)].filter(r => r.cells[%d].textContent.trim() === %q).map(r => r.dataset.tokenId).join(" ")`,
		table+" tr[data-token-id]", col, name))
	if f := strings.Fields(ids); len(f) != 1 || !tokenIDRe.MatchString(f[0]) {
		b.t.Fatalf("rows of %s named %q: %q, want one", table, name, ids)
	}
	return ids
}

// signIn goes to My timon, is sent to the sign-in page, follows its
// button to the provider and fills in its form; it ends on My timon.
func (b *tab) signIn(hubURL string, idp *oidctest.Provider, user, password string) {
	b.t.Helper()
	b.navigate(hubURL+"/console/", http.StatusOK)
	if loc := run(b, "reading the location", chromedp.Location()); !strings.HasPrefix(loc, hubURL+"/console/signin") {
		b.t.Fatalf("My timon without a session led to %s, not the sign-in page", loc)
	}
	b.submit("going to the provider", chromedp.ID("sign-in"), http.StatusOK)
	if loc := run(b, "reading the location", chromedp.Location()); !strings.HasPrefix(loc, idp.Issuer) {
		b.t.Fatalf("the sign-in button led to %s, not the provider", loc)
	}
	b.do("filling in the provider's form",
		chromedp.SendKeys(chromedp.CSS(`input[name="username"]`), user),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), password),
	)
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if _, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(`button[type="submit"]`))); err != nil {
		b.t.Fatalf("signing in as %s: %v", user, err)
	}
	if loc := run(b, "reading the location", chromedp.Location()); loc != hubURL+"/console/" {
		b.t.Fatalf("signing in as %s ended on %s", user, loc)
	}
	if who := b.text("#whoami"); !strings.Contains(who, user+"@lab-univ.fr") {
		b.t.Fatalf("My timon after signing in as %s: %q", user, who)
	}
}
