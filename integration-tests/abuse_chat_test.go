package integrationtests

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mattermost/mattermost/server/public/model"

	"timon.dev/timon/bots/mattermost/mattermosttest"
	"timon.dev/timon/bots/slack/slacktest"
	"timon.dev/timon/core/provider/fakellm"
	"timon.dev/timon/core/store/storetest"
)

// deliverSlack posts a signed Events API callback to the hub.
func deliverSlack(t *testing.T, h *hub, body []byte) {
	t.Helper()
	resp, err := slacktest.Deliver(http.DefaultClient, h.url+"/slack/events", "application/json", body, slackSecret, 0)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("slack event: status %d", resp.StatusCode)
	}
}

// TestAbuseChatChannelNameGrantsStayInTheirTeam: groups granted to a
// channel by name (here the group interns, which a policy rule denies
// reviews) are granted in that channel of that team only: a channel of
// the same name in another Mattermost team or another Slack workspace gets
// nothing. A bare #name is refused by the configuration check.
func TestAbuseChatChannelNameGrantsStayInTheirTeam(t *testing.T) {
	t.Parallel()
	fake := newFake(t)
	p := newChatPlatforms(t)
	const foreignTeam = "q1w2e3r4t5y6u7i8o9p0a1s2d3"
	home := p.mm.AddChannel(&model.Channel{Name: "lab-private", DisplayName: "Lab", Type: model.ChannelTypePrivate}, p.alan.Id, p.mm.Bot().Id)
	foreign := p.mm.AddChannel(&model.Channel{Name: "lab-private", DisplayName: "Lab", Type: model.ChannelTypePrivate, TeamId: foreignTeam}, p.alan.Id, p.mm.Bot().Id)
	section := p.chatSection() + fmt.Sprintf("  groups:\n    channels: {%q: [interns], %q: [interns]}\n",
		"mattermost:"+mattermosttest.TeamID+"/#lab-private", "slack:"+slacktest.Team+"/#lab")
	h := p.startHub(t, fake, fmt.Sprintf(hubConfig, fake.URL())+section)
	ctx := ctxT(t)
	if err := p.mm.Wait(ctx, func() bool { return p.mm.Connected(p.mm.Bot().Id) }); err != nil {
		t.Fatal("the Mattermost bot did not connect")
	}
	answer := func(root string) string {
		t.Helper()
		var text string
		if err := p.mm.Wait(ctx, func() bool {
			r := p.mm.Replies(root, p.mm.Bot().Id)
			if len(r) == 1 && strings.Contains(r[0].Message, "req_") {
				text = r[0].Message
				return true
			}
			return false
		}); err != nil {
			t.Fatalf("no Mattermost answer: %+v", p.mm.Replies(root, ""))
		}
		return text
	}
	mine, err := p.mm.Post(p.alan.Id, home.Id, "", "@"+p.mm.Bot().Username+" review +x := 1")
	if err != nil {
		t.Fatal(err)
	}
	if a := answer(mine.Id); !strings.Contains(a, "interns-no-review") {
		t.Fatalf("the granted channel's review was not denied to interns: %q", a)
	}
	theirs, err := p.mm.Post(p.alan.Id, foreign.Id, "", "@"+p.mm.Bot().Username+" review +x := 1")
	if err != nil {
		t.Fatal(err)
	}
	if a := answer(theirs.Id); strings.Contains(a, "interns-no-review") || !strings.HasPrefix(a, "echo:") {
		t.Fatalf("a foreign team's #lab-private got the group: %q", a)
	}

	// Slack: the same event from another workspace, in a channel of the
	// same name.
	p.slack.AddChannel("C999OTHER", "lab", "public", p.ada, slacktest.BotUserID)
	for _, c := range []struct{ id, channel, team string }{{"EvHome", "C123ABC456", slacktest.Team}, {"EvAbroad", "C999OTHER", "T999FOREIGN"}} {
		root := p.slack.AddMessage(c.channel, "", p.ada, "<@"+slacktest.BotUserID+"> review +y := 2")
		body := slacktest.AppMention(c.id, c.channel, p.ada, "review +y := 2", root, "")
		deliverSlack(t, h, bytes.ReplaceAll(body, []byte(slacktest.Team), []byte(c.team)))
		var text string
		if err := p.slack.Wait(ctx, func() bool {
			r := p.slack.Replies(c.channel, root)
			if len(r) == 1 && strings.Contains(r[0].Text, "req_") {
				text = r[0].Text
				return true
			}
			return false
		}); err != nil {
			t.Fatalf("%s: no Slack answer: %+v", c.id, p.slack.BotMessages())
		}
		if denied := strings.Contains(text, "interns-no-review"); denied != (c.team == slacktest.Team) {
			t.Fatalf("%s (team %s): denied=%v: %q", c.id, c.team, denied, text)
		}
	}

	// A bare #name is refused, with the form to use.
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte(fmt.Sprintf(hubConfig, fake.URL())+"chat:\n  groups:\n    channels: {\"#lab-private\": [lab]}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary, "config", "check", "--config", bad)
	cmd.Env = append(append(os.Environ(), p.env...), "TIMON_DATA_DIR="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "slack:<workspace id>/#lab-private or mattermost:<team id>/#lab-private") {
		t.Fatalf("config check of a bare #name: %v\n%s", err, out)
	}
}

// killConfig lets a killed hub's jobs be rescued soon after a restart.
const killConfig = "jobs:\n  workers: 2\n  job_timeout: 3s\n  rescue_after: 4s\n"

// TestAbuseChatAnswerPostedOnceAcrossKill9: the platform accepts the
// bot's post, and the hub is killed (SIGKILL) before it learns the post's
// id, so before it records it. After a restart the job runs again: it
// finds the post by its marks (Slack message metadata, Mattermost post
// props) and edits it into the answer instead of posting a second one.
func TestAbuseChatAnswerPostedOnceAcrossKill9(t *testing.T) {
	t.Parallel()
	fake := newFake(t)
	fake.Handle(func(r fakellm.Request) fakellm.Reply { return fakellm.Reply{Text: "the considered answer"} })
	p := newChatPlatforms(t)
	h := p.startHub(t, fake, fmt.Sprintf(hubConfig, fake.URL())+p.chatSection()+killConfig)
	ctx := ctxT(t)
	kill := func(h *hub) {
		h.cmd.Process.Kill()
		<-h.waited
	}

	// Slack.
	release := p.slack.HoldPosts()
	root := p.slack.AddMessage("C123ABC456", "", p.ada, "<@"+slacktest.BotUserID+"> ask once only")
	deliverSlack(t, h, slacktest.AppMention("EvKillPost", "C123ABC456", p.ada, "ask once only", root, ""))
	if err := p.slack.Wait(ctx, func() bool { return len(p.slack.Replies("C123ABC456", root)) > 0 }); err != nil {
		t.Fatal("the hub posted nothing")
	}
	kill(h) // the post is accepted, its answer held: its ts is not recorded
	release()
	if fake.Count() != 0 {
		t.Fatalf("the model was asked before the placeholder's post returned")
	}

	// Mattermost, on the next hub, killed the same way.
	h = launchHub(t, fake, h.cfg, h.data)
	if err := p.mm.Wait(ctx, func() bool { return p.mm.Connected(p.mm.Bot().Id) }); err != nil {
		t.Fatal("the Mattermost bot did not connect")
	}
	release = p.mm.HoldPosts()
	post, err := p.mm.Post(p.alan.Id, p.town.Id, "", "@"+p.mm.Bot().Username+" ask once only")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.mm.Wait(ctx, func() bool { return len(p.mm.Replies(post.Id, p.mm.Bot().Id)) > 0 }); err != nil {
		t.Fatal("the hub posted nothing on Mattermost")
	}
	kill(h)
	release()

	launchHub(t, fake, h.cfg, h.data)
	if err := p.slack.Wait(ctx, func() bool {
		r := p.slack.Replies("C123ABC456", root)
		return len(r) > 0 && strings.Contains(r[len(r)-1].Text, "req_")
	}); err != nil {
		t.Fatalf("no Slack answer after the restart: %+v", p.slack.Replies("C123ABC456", root))
	}
	if err := p.mm.Wait(ctx, func() bool {
		r := p.mm.Replies(post.Id, p.mm.Bot().Id)
		return len(r) > 0 && strings.Contains(r[len(r)-1].Message, "req_")
	}); err != nil {
		t.Fatalf("no Mattermost answer after the restart: %+v", p.mm.Replies(post.Id, ""))
	}
	// Both answers are final: the jobs are done, nothing more comes.
	if r := p.slack.Replies("C123ABC456", root); len(r) != 1 || !strings.HasPrefix(r[0].Text, "the considered answer") {
		t.Errorf("Slack thread has %d bot messages, want 1: %+v", len(r), r)
	}
	if r := p.mm.Replies(post.Id, p.mm.Bot().Id); len(r) != 1 || !strings.HasPrefix(r[0].Message, "the considered answer") {
		t.Errorf("Mattermost thread has %d bot posts, want 1: %+v", len(r), r)
	}
}

// Secrets people send the bot: what must never be at rest in clear.
const (
	atRestMarker   = "MARKER-q7v2k9x4"
	atRestIBAN     = "FR7630006000011234567890189"
	atRestPassword = "Tr0ub4dor-3xq"
)

var atRestText = "ask " + atRestMarker + ": my IBAN is " + atRestIBAN + " and my password=" + atRestPassword

// askBothPlatforms sends atRestText to the bot on Slack and Mattermost
// and waits for both answers.
func askBothPlatforms(t *testing.T, h *hub, p *chatPlatforms) {
	t.Helper()
	ctx := ctxT(t)
	root := p.slack.AddMessage("C123ABC456", "", p.ada, "<@"+slacktest.BotUserID+"> "+atRestText)
	deliverSlack(t, h, slacktest.AppMention("EvAtRest", "C123ABC456", p.ada, atRestText, root, ""))
	if err := p.mm.Wait(ctx, func() bool { return p.mm.Connected(p.mm.Bot().Id) }); err != nil {
		t.Fatal("the Mattermost bot did not connect")
	}
	post, err := p.mm.Post(p.alan.Id, p.town.Id, "", "@"+p.mm.Bot().Username+" "+atRestText)
	if err != nil {
		t.Fatal(err)
	}
	// And a Mattermost slash command, whose text only the hub ever holds.
	res, err := p.mm.SlashCommand(ctx, h.url+"/mattermost/command", mmCommandToken,
		mattermosttest.Command{UserID: p.alan.Id, ChannelID: p.town.Id, Text: atRestText})
	if err != nil || res.Status != http.StatusOK {
		t.Fatalf("slash command: %v %+v", err, res)
	}
	if err := p.slack.Wait(ctx, func() bool {
		r := p.slack.Replies("C123ABC456", root)
		return len(r) == 1 && strings.Contains(r[0].Text, "req_")
	}); err != nil {
		t.Fatalf("no Slack answer: %+v", p.slack.BotMessages())
	}
	if err := p.mm.Wait(ctx, func() bool {
		r := p.mm.Replies(post.Id, p.mm.Bot().Id)
		if len(r) != 1 || !strings.Contains(r[0].Message, "req_") {
			return false
		}
		n := 0
		for _, q := range p.mm.PostsBy(p.mm.Bot().Id, p.town.Id) {
			if strings.Contains(q.Message, "req_") {
				n++
			}
		}
		return n == 2
	}); err != nil {
		t.Fatalf("no Mattermost answers: %+v", p.mm.PostsBy(p.mm.Bot().Id, ""))
	}
	// The answers carry the text back (restored after redaction): the
	// marker did go through the hub.
	if r := p.slack.Replies("C123ABC456", root); !strings.Contains(r[0].Text, atRestMarker) {
		t.Fatalf("the Slack answer does not echo the marker: %q", r[0].Text)
	}
}

// TestAbuseChatQueuedTextNotAtRestSQLite: after answered chat events
// carrying a marker, an IBAN and a password, no file of the data
// directory (the SQLite database, its -wal and -shm) holds any of them.
func TestAbuseChatQueuedTextNotAtRestSQLite(t *testing.T) {
	t.Parallel()
	fake := newFake(t)
	p := newChatPlatforms(t)
	h := p.startHub(t, fake, fmt.Sprintf(hubConfig, fake.URL())+p.chatSection())
	askBothPlatforms(t, h, p)
	if err := waitJobsDone(h); err != nil {
		t.Fatal(err)
	}
	files, n := grepDataDir(t, h.data)
	if n == 0 {
		t.Fatal("no database file in the data directory")
	}
	if len(files) > 0 {
		t.Fatalf("in clear at rest: %v", files)
	}
	// After a clean stop (checkpoint of the WAL into the database) too.
	h.cmd.Process.Signal(os.Interrupt)
	<-h.waited
	if files, _ := grepDataDir(t, h.data); len(files) > 0 {
		t.Fatalf("in clear at rest after the stop: %v", files)
	}
}

// waitJobsDone waits until the hub's metrics show no pending job.
func waitJobsDone(h *hub) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(h.url + "/metrics")
		if err == nil {
			var b bytes.Buffer
			b.ReadFrom(resp.Body)
			resp.Body.Close()
			// A failing scrape (the queue unreadable) proves nothing.
			pending := resp.StatusCode != http.StatusOK
			for _, line := range strings.Split(b.String(), "\n") {
				if strings.HasPrefix(line, "timon_jobs_pending") && !strings.HasSuffix(line, " 0") {
					pending = true
				}
			}
			if !pending {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("jobs still pending")
}

// grepDataDir lists the files of dir holding a secret, and counts the
// database files it read.
func grepDataDir(t *testing.T, dir string) (found []string, dbs int) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if strings.Contains(path, ".db") {
			dbs++
		}
		for _, s := range []string{atRestMarker, atRestIBAN, atRestPassword} {
			if bytes.Contains(b, []byte(s)) {
				found = append(found, filepath.Base(path)+": "+s)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found, dbs
}

// TestAbuseChatQueuedTextNotAtRestPostgres: the same on PostgreSQL, every
// row of every table of the hub's schema read as text.
func TestAbuseChatQueuedTextNotAtRestPostgres(t *testing.T) {
	t.Parallel()
	dsn := storetest.PostgresDSN(t)
	fake := newFake(t)
	p := newChatPlatforms(t)
	cfg := strings.Replace(fmt.Sprintf(hubConfig, fake.URL()), "server:\n", "store:\n  driver: postgres\n  dsn_env: TIMON_TEST_PG_DSN\nserver:\n", 1)
	h := p.startHub(t, fake, cfg+p.chatSection(), "TIMON_TEST_PG_DSN="+dsn)
	askBothPlatforms(t, h, p)
	if err := waitJobsDone(h); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	var scanned int
	for table, texts := range pgRowsAsText(t, dsn) {
		seen[table] = true
		for _, row := range texts {
			scanned++
			for _, s := range []string{atRestMarker, atRestIBAN, atRestPassword} {
				if strings.Contains(row, s) {
					t.Errorf("table %s holds %q in clear: %.300s", table, s, row)
				}
			}
		}
	}
	if !seen["river_job"] || !seen["chat_events"] || scanned == 0 {
		t.Fatalf("tables %v, %d rows: the hub's schema was not found", seen, scanned)
	}
}
