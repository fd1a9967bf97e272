package mattermost_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mattermost/mattermost/server/public/model"

	"timon.dev/timon/bots/chat"
	"timon.dev/timon/bots/mattermost/mattermosttest"
	"timon.dev/timon/core/audit"
)

const fixtures = "testdata/fixtures"

// fixtureRequest is the recorded slash command request: its form body and
// headers, verbatim.
func fixtureRequest(t *testing.T, url string) *http.Request {
	t.Helper()
	body, err := os.ReadFile(filepath.Join(fixtures, "slash_command.form.txt"))
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(strings.TrimSpace(string(body))))
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(fixtures, "slash_command.headers"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // the request line
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || strings.EqualFold(k, "Host") || strings.EqualFold(k, "Content-Length") {
			continue
		}
		req.Header.Set(k, strings.TrimSpace(v))
	}
	return req
}

func do(t *testing.T, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	_, _ = bufio.NewReader(resp.Body).WriteTo(&b)
	return resp, []byte(b.String())
}

func TestSlashCommandFromTheRecordedRequest(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{commandToken: fixtureTok, noRun: true})
	srv := httptest.NewServer(r.bot.Handler())
	defer srv.Close()

	resp, body := do(t, fixtureRequest(t, srv.URL+"/mattermost/command"))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	var cr model.CommandResponse
	if err := json.Unmarshal(body, &cr); err != nil {
		t.Fatal(err)
	}
	if cr.ResponseType != model.CommandResponseTypeEphemeral || cr.Text != "Working on it…" {
		t.Fatalf("acknowledgement %+v", cr)
	}
	// The bot is in town-square: the answer is a post there, by the bot.
	r.wait(t, "the answer", func() bool { return answered(r.mm.PostsBy(r.botID, townID)) })
	r.settle(t)
	posts := r.mm.PostsBy(r.botID, townID)
	if len(posts) != 1 || posts[0].RootId != "" || !strings.HasPrefix(posts[0].Message, "echo: toronto week") {
		t.Fatalf("bot posts %+v", posts)
	}
	if len(r.mm.Ephemerals()) != 0 {
		t.Fatalf("ephemerals %+v", r.mm.Ephemerals())
	}
	es, err := audit.List(context.Background(), r.store, audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 || es[0].UserID != "mattermost:"+alanID || es[0].Integration != "mattermost" {
		t.Fatalf("journal %+v", es)
	}

	// Mattermost does not retry a command, but the same trigger id twice
	// is one command.
	resp, _ = do(t, fixtureRequest(t, srv.URL+"/mattermost/command"))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	r.settle(t)
	if n := r.llm.Count(); n != 1 {
		t.Fatalf("the model was asked %d times, want 1", n)
	}
}

func TestSlashCommandTokenIsChecked(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{commandToken: fixtureTok, noRun: true})
	srv := httptest.NewServer(r.bot.Handler())
	defer srv.Close()
	url := srv.URL + "/mattermost/command"

	body, err := os.ReadFile(filepath.Join(fixtures, "slash_command.form.txt"))
	if err != nil {
		t.Fatal(err)
	}
	form := strings.TrimSpace(string(body))
	// Without the header, the form's token counts.
	formOnly := func(form string) *http.Request {
		req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(form))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return req
	}
	wrongHeader := fixtureRequest(t, url)
	wrongHeader.Header.Set("Authorization", "Token qzgakf1nx3yt9dr4n8585ihbxz")
	wrongForm := formOnly(strings.Replace(form, "token="+fixtureTok, "token=nope", 1))
	noToken := formOnly(strings.Replace(form, "token="+fixtureTok, "", 1))

	for name, req := range map[string]*http.Request{"wrong header": wrongHeader, "wrong form token": wrongForm, "no token": noToken} {
		if resp, b := do(t, req); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: status %d (%s), want 401", name, resp.StatusCode, b)
		}
	}
	get, _ := http.NewRequest(http.MethodGet, url, nil)
	if resp, _ := do(t, get); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: status %d, want 405", resp.StatusCode)
	}
	r.settle(t)
	if n := len(r.mm.Hits()); n != 0 {
		t.Fatalf("refused requests made %d calls to Mattermost: %+v", n, r.mm.Hits())
	}
	if n := r.llm.Count(); n != 0 || len(r.mm.Posts("")) != 0 {
		t.Fatalf("refused requests were processed: %d model calls, posts %+v", n, r.mm.Posts(""))
	}

	// Good form token without the header is accepted.
	if resp, b := do(t, formOnly(form)); resp.StatusCode != http.StatusOK {
		t.Fatalf("form token: status %d (%s)", resp.StatusCode, b)
	}
	r.wait(t, "the answer", func() bool { return answered(r.mm.PostsBy(r.botID, townID)) })
}

func TestSlashCommandEndpointIsOffWithoutAToken(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{noRun: true})
	srv := httptest.NewServer(r.bot.Handler())
	defer srv.Close()
	for _, tok := range []string{fixtureTok, ""} {
		req := fixtureRequest(t, srv.URL+"/mattermost/command")
		if tok == "" {
			req.Header.Del("Authorization")
		}
		if resp, _ := do(t, req); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("status %d, want 404", resp.StatusCode)
		}
	}
	if n := len(r.mm.Hits()); n != 0 {
		t.Fatalf("%d calls to Mattermost", n)
	}
}

// TestPrivateSlashRepliesGoThroughTheResponseURL: where the bot cannot
// post (a channel it is not in) or may not answer publicly (channel
// policy), the answer goes to the requester alone, through the command's
// response URL.
func TestPrivateSlashRepliesGoThroughTheResponseURL(t *testing.T) {
	t.Parallel()
	private := false
	r := newRig(t, rigOptions{commandToken: fixtureTok, noRun: true, cfg: chat.Config{
		Channels: []chat.ChannelPolicy{{Match: []string{"mattermost:" + mattermosttest.TeamID + "/#town-square"}, Public: &private}},
	}})
	srv := httptest.NewServer(r.bot.Handler())
	defer srv.Close()
	lab := r.mm.AddChannel(&model.Channel{Name: "lab", Type: model.ChannelTypePrivate}, r.alan.Id)
	ctx := context.Background()
	for i, ch := range []string{lab.Id, townID} {
		res, err := r.mm.SlashCommand(ctx, srv.URL, fixtureTok, mattermosttest.Command{UserID: r.alan.Id, ChannelID: ch, Text: "ask what is a qubit?"})
		if err != nil {
			t.Fatal(err)
		}
		if res.Status != http.StatusOK || res.Response.ResponseType != model.CommandResponseTypeEphemeral {
			t.Fatalf("status %d, answer %s", res.Status, res.Body)
		}
		r.wait(t, "the private answer", func() bool {
			n := 0
			for _, e := range r.mm.Ephemerals() {
				if finished(e.Message) {
					n++
				}
			}
			return n == i+1
		})
		r.settle(t)
		e := r.mm.Ephemerals()[i]
		if e.Via != "response_url" || e.UserID != r.alan.Id || e.ChannelID != ch || !strings.HasPrefix(e.Message, "echo: what is a qubit?") {
			t.Fatalf("ephemeral %+v", e)
		}
	}
	if posts := r.mm.PostsBy(r.botID, ""); len(posts) != 0 {
		t.Fatalf("the bot posted publicly: %+v", posts)
	}
}
