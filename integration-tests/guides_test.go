package integrationtests

// The set-up guides (docs/slack.md, docs/mattermost.md, docs/gitlab.md) and
// the Slack app manifests (deploy/slack), checked against the code they
// describe, without network:
//
//   - every Slack Web API method bots/slack calls has its scopes in both
//     manifests, the events the code answers are subscribed, and the
//     manifests ask for nothing more;
//   - every setting a guide names (in prose or in a YAML example) exists,
//     and every configuration example, laid over timon.example.yaml,
//     passes the configuration's own validation;
//   - every environment variable a guide names is one the configuration
//     reads or the example file names, and each platform's secrets are all
//     in its guide;
//   - every hub route a guide or manifest names is one timon serve mounts;
//   - the GitLab webhook triggers the guide asks for are those whose
//     deliveries the handler reads.

import (
	"fmt"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"timon.dev/timon/bots/chat"
	"timon.dev/timon/bots/mattermost"
	"timon.dev/timon/bots/slack"
	"timon.dev/timon/core/config"
	"timon.dev/timon/webhooks/review"
)

const (
	guideSlack      = "../docs/slack.md"
	guideMattermost = "../docs/mattermost.md"
	guideGitLab     = "../docs/gitlab.md"
	guideHubHost    = "timon.example.org" // the hub's address in the guides and manifests
)

var (
	guideDocs      = []string{guideSlack, guideMattermost, guideGitLab}
	guideManifests = map[string]bool{ // path → Socket Mode
		"../deploy/slack/manifest.yaml":      true,
		"../deploy/slack/manifest-http.yaml": false,
	}
)

// guideSlackGoMethods maps the slack-go client methods bots/slack calls
// (a.api.X or a.api.XContext) to the Web API method each one posts to. A
// call the table does not know fails the test: add it, with its scopes in
// guideSlackScopes, the manifests and docs/slack.md.
var guideSlackGoMethods = map[string]string{
	"PostMessage":            "chat.postMessage",
	"PostEphemeral":          "chat.postEphemeral",
	"UpdateMessage":          "chat.update",
	"GetConversationReplies": "conversations.replies",
	"GetConversationHistory": "conversations.history",
	"GetUsersInConversation": "conversations.members",
	"GetConversationInfo":    "conversations.info",
	"GetUserInfo":            "users.info",
	"AuthTest":               "auth.test",

	"SetAssistantThreadsStatus":           "assistant.threads.setStatus",
	"SetAssistantThreadsTitle":            "assistant.threads.setTitle",
	"SetAssistantThreadsSuggestedPrompts": "assistant.threads.setSuggestedPrompts",
	"StartStream":                         "chat.startStream",
	"AppendStream":                        "chat.appendStream",
	"StopStream":                          "chat.stopStream",
}

// guideSlackScopes are the bot scopes each Web API method needs in the
// conversations the bot works in: public and private channels, direct
// messages and group direct messages (Slack's method reference).
var guideSlackScopes = map[string][]string{
	"chat.postMessage":      {"chat:write"},
	"chat.postEphemeral":    {"chat:write"},
	"chat.update":           {"chat:write"},
	"conversations.replies": {"channels:history", "groups:history", "im:history", "mpim:history"},
	"conversations.history": {"channels:history", "groups:history", "im:history", "mpim:history"},
	"conversations.members": {"channels:read", "groups:read", "im:read", "mpim:read"},
	"conversations.info":    {"channels:read", "groups:read", "im:read", "mpim:read"},
	"users.info":            {"users:read"},
	"auth.test":             nil,

	"assistant.threads.setStatus":           {"chat:write"},
	"assistant.threads.setTitle":            {"assistant:write"},
	"assistant.threads.setSuggestedPrompts": {"assistant:write"},
	"chat.startStream":                      {"chat:write"},
	"chat.appendStream":                     {"chat:write"},
	"chat.stopStream":                       {"chat:write"},
}

// guideSlackAppMethods are the Web API methods called with the app-level
// token (Socket Mode, inside slack-go's socketmode client), with the
// token's scope.
var guideSlackAppMethods = map[string]string{
	"apps.connections.open": "connections:write",
}

// guideSlackEvents maps the slackevents types bots/slack answers to the
// bot event to subscribe to and the scope it needs.
var guideSlackEvents = map[string]struct{ event, scope string }{
	"AppMentionEvent": {"app_mention", "app_mentions:read"},
	"MessageEvent":    {"message.im", "im:history"}, // direct messages only: checked below

	"AssistantThreadStartedEvent":        {"assistant_thread_started", "assistant:write"},
	"AssistantThreadContextChangedEvent": {"assistant_thread_context_changed", "assistant:write"},
}

func guideIsSlackEvent(s string) bool {
	for _, e := range guideSlackEvents {
		if e.event == s {
			return true
		}
	}
	return false
}

// guideSlackFeatures are scopes that follow from what the code does with
// an answer rather than from a method: the pattern in bots/slack, and the
// scope it needs.
var guideSlackFeatures = []struct{ pattern, scope, why string }{
	{`\.Profile\.Email\b`, "users:read.email", "users.info gives the e-mail only with users:read.email"},
	{`IncludeAllMetadata:\s*true`, "metadata.message:read", "the replies' message metadata is read back"},
	{`slack\.SlashCommand\b`, "commands", "the slash command"},
}

// guideForeignNames are names the guides give that belong to the
// platforms, not to timon's configuration: the file they are checked
// against (where the code relies on them), or "" when they are the
// platform's own settings.
var guideForeignNames = map[string]string{
	"create_post_ephemeral": "../bots/mattermost/post.go", // Mattermost's permission for ephemeral posts
	"team_id":               "../bots/slack/http.go",      // Slack's workspace id, in auth.test and slash commands
	"read_api":              "",                           // GitLab's read-only token scope
	"slash_command":         "../cmd/timon/chat.go",       // a field of the start-up log
}

// guideGitLabTriggers maps the X-Gitlab-Event values the handler reads to
// the webhook trigger to tick in GitLab.
var guideGitLabTriggers = map[string]string{
	"Merge Request Hook": "Merge request events",
	"Note Hook":          "Comments",
}

func guideRead(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// guideSources reads the non-test Go files of a folder.
func guideSources(t *testing.T, dir string) map[string]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no Go sources in %s (%v)", dir, err)
	}
	out := map[string]string{}
	for _, f := range files {
		if !strings.HasSuffix(f, "_test.go") {
			out[f] = guideRead(t, f)
		}
	}
	return out
}

// guideMarkdown splits a guide into its prose (fenced blocks removed) and
// its fenced blocks with their language.
func guideMarkdown(s string) (prose string, blocks []struct{ lang, body string }) {
	var p, b strings.Builder
	lang, in := "", false
	for line := range strings.Lines(s) {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "```") {
			if in {
				blocks = append(blocks, struct{ lang, body string }{lang, b.String()})
				b.Reset()
			} else {
				lang = strings.TrimPrefix(trimmed, "```")
			}
			in = !in
			continue
		}
		if in {
			b.WriteString(line)
		} else {
			p.WriteString(line)
		}
	}
	return p.String(), blocks
}

var guideCodeSpan = regexp.MustCompile("`([^`\n]+)`")

// guideSpans lists the inline code spans of a guide's prose.
func guideSpans(prose string) []string {
	var out []string
	for _, m := range guideCodeSpan.FindAllStringSubmatch(prose, -1) {
		out = append(out, strings.TrimSpace(m[1]))
	}
	return out
}

// guideManifest is the part of Slack's app manifest schema the manifests
// use; decoding with known fields only catches a misspelt key.
type guideManifest struct {
	DisplayInformation struct {
		Name            string `yaml:"name"`
		Description     string `yaml:"description"`
		BackgroundColor string `yaml:"background_color"`
	} `yaml:"display_information"`
	Features struct {
		AppHome struct {
			HomeTabEnabled             bool `yaml:"home_tab_enabled"`
			MessagesTabEnabled         bool `yaml:"messages_tab_enabled"`
			MessagesTabReadOnlyEnabled bool `yaml:"messages_tab_read_only_enabled"`
		} `yaml:"app_home"`
		BotUser struct {
			DisplayName  string `yaml:"display_name"`
			AlwaysOnline bool   `yaml:"always_online"`
		} `yaml:"bot_user"`
		AssistantView struct {
			AssistantDescription string `yaml:"assistant_description"`
		} `yaml:"assistant_view"`
		SlashCommands []struct {
			Command      string `yaml:"command"`
			URL          string `yaml:"url"`
			Description  string `yaml:"description"`
			UsageHint    string `yaml:"usage_hint"`
			ShouldEscape bool   `yaml:"should_escape"`
		} `yaml:"slash_commands"`
	} `yaml:"features"`
	OAuthConfig struct {
		Scopes struct {
			Bot  []string `yaml:"bot"`
			User []string `yaml:"user"`
		} `yaml:"scopes"`
	} `yaml:"oauth_config"`
	Settings struct {
		EventSubscriptions struct {
			RequestURL string   `yaml:"request_url"`
			BotEvents  []string `yaml:"bot_events"`
		} `yaml:"event_subscriptions"`
		Interactivity struct {
			IsEnabled  bool   `yaml:"is_enabled"`
			RequestURL string `yaml:"request_url"`
		} `yaml:"interactivity"`
		OrgDeployEnabled     bool `yaml:"org_deploy_enabled"`
		SocketModeEnabled    bool `yaml:"socket_mode_enabled"`
		TokenRotationEnabled bool `yaml:"token_rotation_enabled"`
	} `yaml:"settings"`
}

// guideSlackNeeds reads bots/slack and returns the Web API methods it
// calls, the scopes they and its features need (scope → why), and the
// bot events it answers.
func guideSlackNeeds(t *testing.T) (methods []string, scopes map[string]string, events []string) {
	t.Helper()
	src := guideSources(t, "../bots/slack")
	all := strings.Join(slices.Collect(maps.Values(src)), "\n")
	scopes = map[string]string{}

	calls := regexp.MustCompile(`\ba\.api\.([A-Z]\w*?)(?:Context)?\(`).FindAllStringSubmatch(all, -1)
	if len(calls) == 0 {
		t.Fatal("found no Web API call (a.api.…) in bots/slack: the extraction no longer fits the code")
	}
	for _, c := range calls {
		m, ok := guideSlackGoMethods[c[1]]
		if !ok {
			t.Errorf("bots/slack calls a.api.%s, which guideSlackGoMethods does not know: add its Web API method and scopes", c[1])
			continue
		}
		if !slices.Contains(methods, m) {
			methods = append(methods, m)
		}
		for _, s := range guideSlackScopes[m] {
			scopes[s] = m
		}
	}
	slices.Sort(methods)

	// The fake Slack serves the methods the bot uses: each must be one the
	// code calls, so that a method called through another path (not
	// a.api) is not missed.
	fake := guideRead(t, "../bots/slack/slacktest/slacktest.go")
	for _, m := range regexp.MustCompile(`Handle\("/([a-zA-Z]+\.[a-zA-Z.]+)"`).FindAllStringSubmatch(fake, -1) {
		if _, app := guideSlackAppMethods[m[1]]; app {
			continue
		}
		if _, known := guideSlackScopes[m[1]]; !known {
			t.Errorf("the fake Slack (bots/slack/slacktest) serves %s, which guideSlackScopes does not know", m[1])
		} else if !slices.Contains(methods, m[1]) {
			t.Errorf("the fake Slack (bots/slack/slacktest) serves %s but no a.api call of bots/slack was found for it", m[1])
		}
	}

	for _, f := range guideSlackFeatures {
		if regexp.MustCompile(f.pattern).MatchString(all) {
			scopes[f.scope] = f.why
		}
	}

	eventsSrc := src[filepath.Join("../bots/slack", "events.go")]
	for _, c := range regexp.MustCompile(`case \*slackevents\.(\w+):`).FindAllStringSubmatch(eventsSrc, -1) {
		e, ok := guideSlackEvents[c[1]]
		if !ok {
			t.Errorf("bots/slack answers slackevents.%s, which guideSlackEvents does not know: add its bot event and scope", c[1])
			continue
		}
		events = append(events, e.event)
		scopes[e.scope] = "the " + e.event + " event"
	}
	if len(events) == 0 {
		t.Fatal("found no event handled in bots/slack/events.go: the extraction no longer fits the code")
	}
	if !strings.Contains(eventsSrc, `in.ChannelType != "im"`) {
		t.Error(`bots/slack no longer answers message events in direct messages only: message.im may not be the right subscription`)
	}
	slices.Sort(events)
	return methods, scopes, events
}

// guideRoutes lists the routes timon serve mounts, "METHOD /path".
func guideRoutes(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, src := range guideSources(t, "../cmd/timon") {
		for _, m := range regexp.MustCompile(`Method:\s*http\.Method(\w+),\s*Path:\s*"(/[^"]*)"`).FindAllStringSubmatch(src, -1) {
			out = append(out, strings.ToUpper(m[1])+" "+m[2])
		}
	}
	for _, src := range guideSources(t, "../webhooks/server") {
		for _, m := range regexp.MustCompile(`\bs\.handle\("(GET|POST|PUT|DELETE|PATCH) (/[^"]*)"`).FindAllStringSubmatch(src, -1) {
			out = append(out, m[1]+" "+m[2])
		}
	}
	for _, want := range []string{"POST /slack/events", "POST /slack/commands", "POST /mattermost/command", "POST /webhooks/gitlab", "GET /readyz"} {
		if !slices.Contains(out, want) {
			t.Fatalf("the route extraction did not find %s (found %v): it no longer fits the code", want, out)
		}
	}
	return out
}

// guideHubPrefixes are the paths that name a route of the hub in a guide
// (other paths are the platforms' own, such as GitLab's /api/v4): the
// front ends' mounts and the server's own top-level routes, which
// guideRoutes reads (not the /v1 and /admin groups).
var guideHubPrefixes = []string{"/slack/", "/mattermost/", "/webhooks/", "/healthz", "/readyz", "/metrics"}

func guideIsHubPath(p string) bool {
	for _, pre := range guideHubPrefixes {
		if strings.HasPrefix(p, pre) {
			return true
		}
	}
	return false
}

// guideCheckRoute checks a route a guide names: "METHOD /path" or "/path".
func guideCheckRoute(t *testing.T, where, route string, mounted []string) {
	t.Helper()
	method, path, ok := strings.Cut(route, " ")
	if !ok {
		method, path = "", route
	}
	for _, m := range mounted {
		mm, mp, _ := strings.Cut(m, " ")
		if mp == path && (method == "" || method == mm) {
			return
		}
	}
	t.Errorf("%s names the route %q, which timon serve does not mount (mounted: %v)", where, route, mounted)
}

// guideSettingTags collects every yaml key of the configuration's types.
func guideSettingTags(t reflect.Type, into map[string]bool, seen map[reflect.Type]bool) {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map || t.Kind() == reflect.Array {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || seen[t] {
		return
	}
	seen[t] = true
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name != "" {
			into[name] = true
		}
		guideSettingTags(f.Type, into, seen)
	}
}

// guideFile is the whole file as timon serve reads it: core's settings,
// and the sections the front ends declare (cmd/timon's frontEndSections)
// in place of the parts core keeps as written.
type guideFile struct {
	Chat struct {
		Slack      slack.Config      `yaml:"slack"`
		Mattermost mattermost.Config `yaml:"mattermost"`

		chat.Config `yaml:",inline"`
	} `yaml:"chat"`
	GitLab review.Config `yaml:"gitlab"`

	config.Config `yaml:",inline"`
}

// guideSections are the front ends' sections of guideFile, for
// config.Parse.
func guideSections() []config.Section {
	return []config.Section{
		{At: "chat", Settings: &chat.Config{}},
		{At: "chat.slack", Settings: &slack.Config{}},
		{At: "chat.mattermost", Settings: &mattermost.Config{}},
		{At: "gitlab", Settings: &review.Config{}},
	}
}

// guideResolve reports whether a dotted setting path exists in t.
func guideResolve(t reflect.Type, path []string) bool {
	for len(path) > 0 {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Array {
			t = t.Elem()
		}
		switch t.Kind() {
		case reflect.Map:
			// The next segment is a key (a team id, a user…).
			t, path = t.Elem(), path[1:]
			continue
		case reflect.Struct:
		default:
			return false
		}
		next, ok := guideField(t, path[0])
		if !ok {
			return false
		}
		t, path = next, path[1:]
	}
	return true
}

// guideField finds the field of yaml key name in t, inline fields
// included.
func guideField(t reflect.Type, name string) (reflect.Type, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if tag == name {
			return f.Type, true
		}
		if tag == "" && strings.Contains(opts, "inline") {
			if ft, ok := guideField(f.Type, name); ok {
				return ft, true
			}
		}
	}
	return nil, false
}

// guideMerge lays src over dst: maps merge, everything else is replaced.
func guideMerge(dst, src map[string]any) {
	for k, v := range src {
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				guideMerge(dm, sm)
				continue
			}
		}
		dst[k] = v
	}
}

// guideEnv sets plausible values for every variable a configuration
// example may read, so that its secrets resolve and validate.
func guideEnv(t *testing.T, names []string) {
	for _, n := range names {
		v := "guide-test-" + strings.ToLower(n)
		switch {
		case strings.HasSuffix(n, "_URL"):
			v = "https://" + strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(n, "TIMON_"), "_URL")) + ".example.org"
		case n == "TIMON_SLACK_APP_TOKEN":
			v = "xapp-1-guide-test"
		case n == "TIMON_SLACK_BOT_TOKEN":
			v = "xoxb-guide-test"
		case strings.Contains(n, "SIGNING_SECRET") && strings.Contains(n, "GITLAB"):
			v = "whsec_Z3VpZGUtdGVzdC1zaWduaW5nLXNlY3JldC0xMjM0NTY="
		}
		t.Setenv(n, v)
	}
}

var guideEnvVar = regexp.MustCompile(`\bTIMON_[A-Z0-9_]+\b`)

// guideScopeLike matches a Slack OAuth scope (chat:write, users:read.email).
var guideScopeLike = regexp.MustCompile(`^(?:[a-z_]+\.)?[a-z_]+:(?:read|write|history)(?:\.[a-z]+)?$|^commands$`)

// TestGuidesSlackManifest checks both Slack app manifests against what
// bots/slack calls and answers, and the Slack guide against both.
func TestGuidesSlackManifest(t *testing.T) {
	methods, need, events := guideSlackNeeds(t)
	routes := guideRoutes(t)
	doc := guideRead(t, guideSlack)

	for path, socket := range guideManifests {
		raw := guideRead(t, path)
		var m guideManifest
		dec := yaml.NewDecoder(strings.NewReader(raw))
		dec.KnownFields(true)
		if err := dec.Decode(&m); err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		bot := m.OAuthConfig.Scopes.Bot
		for _, s := range slices.Sorted(maps.Keys(need)) {
			if !slices.Contains(bot, s) {
				t.Errorf("%s: oauth_config.scopes.bot lacks %s (needed for %s)", path, s, need[s])
			}
		}
		for _, s := range bot {
			if _, ok := need[s]; !ok {
				t.Errorf("%s: scope %s is not needed by bots/slack: remove it (least privilege)", path, s)
			}
		}
		if len(m.OAuthConfig.Scopes.User) > 0 {
			t.Errorf("%s: the bot needs no user scopes, got %v", path, m.OAuthConfig.Scopes.User)
		}
		got := slices.Sorted(slices.Values(m.Settings.EventSubscriptions.BotEvents))
		if !slices.Equal(got, events) {
			t.Errorf("%s: settings.event_subscriptions.bot_events = %v; bots/slack answers %v", path, got, events)
		}
		if slices.Contains(events, "message.im") && (!m.Features.AppHome.MessagesTabEnabled || m.Features.AppHome.MessagesTabReadOnlyEnabled) {
			t.Errorf("%s: people cannot write to the bot: features.app_home needs messages_tab_enabled: true, messages_tab_read_only_enabled: false", path)
		}
		if slices.Contains(events, "assistant_thread_started") && m.Features.AssistantView.AssistantDescription == "" {
			t.Errorf("%s: the bot answers in Slack's AI-app split view: features.assistant_view.assistant_description is required", path)
		}
		if m.Features.BotUser.DisplayName == "" || m.DisplayInformation.Name == "" {
			t.Errorf("%s: display_information.name and features.bot_user.display_name are required", path)
		}
		if len(m.Features.SlashCommands) != 1 || m.Features.SlashCommands[0].Command != "/timon" {
			t.Errorf("%s: expected one slash command, /timon, got %+v", path, m.Features.SlashCommands)
		} else if hint := m.Features.SlashCommands[0].UsageHint; hint != guideCommandHint() {
			t.Errorf("%s: the slash command's usage_hint %q is not the bot's commands %q", path, hint, guideCommandHint())
		}
		if m.Settings.TokenRotationEnabled {
			t.Errorf("%s: token_rotation_enabled must be false: timon does not refresh rotated bot tokens", path)
		}
		if m.Settings.Interactivity.IsEnabled {
			t.Errorf("%s: the bot posts nothing interactive; interactivity stays off", path)
		}
		if m.Settings.SocketModeEnabled != socket {
			t.Errorf("%s: socket_mode_enabled = %v, want %v", path, m.Settings.SocketModeEnabled, socket)
		}
		urls := map[string]string{"settings.event_subscriptions.request_url": m.Settings.EventSubscriptions.RequestURL}
		for i, c := range m.Features.SlashCommands {
			urls[fmt.Sprintf("features.slash_commands[%d].url", i)] = c.URL
		}
		wantPath := map[string]string{"settings.event_subscriptions.request_url": "/slack/events", "features.slash_commands[0].url": "/slack/commands"}
		for field, u := range urls {
			switch {
			case socket && u != "":
				t.Errorf("%s: %s is set, but in Socket Mode Slack sends everything over the socket", path, field)
			case !socket:
				p, err := url.Parse(u)
				if err != nil || p.Scheme != "https" || p.Host != guideHubHost {
					t.Errorf("%s: %s = %q, want https://%s/…", path, field, u, guideHubHost)
					continue
				}
				guideCheckRoute(t, path+" "+field, "POST "+p.Path, routes)
				if p.Path != wantPath[field] {
					t.Errorf("%s: %s goes to %s, want %s", path, field, p.Path, wantPath[field])
				}
			}
		}
		if !strings.Contains(doc, strings.TrimPrefix(path, "../")) {
			t.Errorf("docs/slack.md does not point to %s", path)
		}
	}

	// The guide explains every method, scope and event, and the app-level
	// token's scope when the code runs Socket Mode.
	prose, _ := guideMarkdown(doc)
	spans := guideSpans(prose)
	for _, m := range methods {
		if guideSlackScopes[m] != nil && !slices.Contains(spans, m) {
			t.Errorf("docs/slack.md does not name %s, which the bot calls", m)
		}
	}
	for s := range need {
		if !slices.Contains(spans, s) {
			t.Errorf("docs/slack.md does not explain the scope %s", s)
		}
	}
	for _, e := range events {
		if !slices.Contains(spans, e) {
			t.Errorf("docs/slack.md does not name the event %s", e)
		}
	}
	if strings.Contains(guideRead(t, "../bots/slack/socket.go"), "socketmode.New(") {
		for m, scope := range guideSlackAppMethods {
			if !slices.Contains(spans, scope) {
				t.Errorf("docs/slack.md does not say that the app-level token (Socket Mode: %s) needs %s", m, scope)
			}
		}
	}
	// Every scope-like name in the guide is one the manifests ask for (or
	// the app-level token's).
	for _, s := range spans {
		if guideScopeLike.MatchString(s) && !slices.Contains(slices.Collect(maps.Values(guideSlackAppMethods)), s) {
			if _, ok := need[s]; !ok {
				t.Errorf("docs/slack.md names the scope %s, which the bot does not need", s)
			}
		}
	}
}

// guideCommandHint is the slash command's hint: the bot's commands.
func guideCommandHint() string { return strings.Join(chat.Commands, " | ") }

// TestGuidesMattermostCommand checks the slash command the Mattermost
// guide sets up against the handler: POST to the mounted route, the
// commands as its hint.
func TestGuidesMattermostCommand(t *testing.T) {
	doc := guideRead(t, guideMattermost)
	if !strings.Contains(doc, "`"+strings.ReplaceAll(guideCommandHint(), "|", `\|`)+"`") {
		t.Errorf("docs/mattermost.md does not give the autocomplete hint %q", guideCommandHint())
	}
	if !strings.Contains(doc, "| Request Method | **POST** |") || !strings.Contains(guideRead(t, "../bots/mattermost/command.go"), "r.Method != http.MethodPost") {
		t.Error("docs/mattermost.md must ask for Request Method POST, the only one the handler takes")
	}
	if !strings.Contains(doc, "| Request URL | `https://"+guideHubHost+"/mattermost/command` |") {
		t.Error("docs/mattermost.md does not give the slash command's Request URL")
	}
	// The token is read from the header Mattermost sends, or the form.
	if src := guideRead(t, "../bots/mattermost/command.go"); !strings.Contains(src, "model.HeaderAuth") || !strings.Contains(doc, "`Authorization: Token …`") {
		t.Error("docs/mattermost.md and bots/mattermost disagree on how the command token is sent")
	}
}

// TestGuidesSettingsExist checks every setting, variable and route the
// guides name against the configuration and the code, and runs every
// configuration example through the configuration's validation.
func TestGuidesSettingsExist(t *testing.T) {
	cfgType := reflect.TypeFor[guideFile]()
	tags := map[string]bool{}
	guideSettingTags(cfgType, tags, map[reflect.Type]bool{})
	top := map[string]bool{}
	coreType := reflect.TypeFor[config.Config]()
	for i := range coreType.NumField() {
		if n, _, _ := strings.Cut(coreType.Field(i).Tag.Get("yaml"), ","); n != "" && n != "-" {
			top[n] = true
		}
	}
	manifestKeys := map[string]bool{}
	guideSettingTags(reflect.TypeFor[guideManifest](), manifestKeys, map[reflect.Type]bool{})
	routes := guideRoutes(t)

	example := guideRead(t, "../timon.example.yaml")
	var configSrc strings.Builder
	for _, glob := range append([]string{"../cmd/timon/*.go"}, deployConfigSources...) {
		files, _ := filepath.Glob(glob)
		for _, f := range files {
			if !strings.HasSuffix(f, "_test.go") {
				configSrc.WriteString(guideRead(t, f))
			}
		}
	}
	known := func(v string) bool {
		return strings.Contains(example, v) || strings.Contains(configSrc.String(), `"`+v+`"`)
	}

	dotted := regexp.MustCompile(`^[a-z_]+(\.[a-z_]+)+$`)
	underscored := regexp.MustCompile(`^[a-z]+(_[a-z]+)+$`)
	routeSpan := regexp.MustCompile(`^(?:(GET|POST|PUT|DELETE) )?(/[a-z0-9/_.-]*)$`)
	hubURL := regexp.MustCompile(`https://` + regexp.QuoteMeta(guideHubHost) + `(/[A-Za-z0-9/_.-]*)`)

	for _, p := range guideDocs {
		doc := guideRead(t, p)
		prose, blocks := guideMarkdown(doc)
		checked := 0
		for _, s := range guideSpans(prose) {
			if guideScopeLike.MatchString(s) || guideIsSlackEvent(s) {
				continue // a Slack scope or event: TestGuidesSlackManifest
			}
			// A setting: chat.slack.mode, gitlab.review.events,
			// match.channels (a policy rule's), maybe with a value.
			if key, _, _ := strings.Cut(s, ":"); dotted.MatchString(key) {
				if _, isMethod := guideSlackScopes[key]; isMethod {
					continue
				}
				path := strings.Split(key, ".")
				if path[0] == "match" {
					path = append([]string{"policy", "rules"}, path...)
				}
				if !top[path[0]] {
					continue // not a setting (a Slack method, a file name…)
				}
				checked++
				if !guideResolve(cfgType, path) {
					t.Errorf("%s names the setting %s, which the configuration does not have", p, key)
				}
				continue
			}
			// A bare key: review_drafts, summary_only…
			if key, _, _ := strings.Cut(s, ":"); underscored.MatchString(key) {
				if file, foreign := guideForeignNames[key]; foreign {
					if file != "" && !strings.Contains(guideRead(t, file), key) {
						t.Errorf("%s names %s, which %s no longer relies on", p, key, file)
					}
					continue
				}
				if !tags[key] && !manifestKeys[key] {
					t.Errorf("%s names %s, which is neither a setting nor a key of the Slack manifest", p, key)
				}
				continue
			}
			if m := routeSpan.FindStringSubmatch(s); m != nil && guideIsHubPath(m[2]) {
				guideCheckRoute(t, p, strings.TrimSpace(m[1]+" "+m[2]), routes)
			}
		}
		if checked == 0 {
			t.Errorf("%s names no setting in backquotes: the extraction no longer fits the guide", p)
		}
		for _, m := range hubURL.FindAllStringSubmatch(doc, -1) {
			if guideIsHubPath(m[1]) {
				guideCheckRoute(t, p, m[1], routes)
			}
		}

		// Variables.
		for _, v := range guideEnvVar.FindAllString(doc, -1) {
			if !known(v) {
				t.Errorf("%s names %s, which neither the configuration nor timon.example.yaml knows", p, v)
			}
		}

		// Configuration examples: laid over timon.example.yaml, they must
		// pass the configuration's own checks (known keys, channel names
		// scoped by platform and team, valid events…).
		for i, b := range blocks {
			if b.lang != "yaml" {
				continue
			}
			if strings.HasPrefix(b.body, "# .timon.yaml") {
				var s review.Settings
				dec := yaml.NewDecoder(strings.NewReader(b.body))
				dec.KnownFields(true)
				if err := dec.Decode(&s); err != nil {
					t.Errorf("%s: YAML block %d (.timon.yaml): %v", p, i, err)
				} else if probs := s.Validate(); len(probs) > 0 {
					t.Errorf("%s: YAML block %d (.timon.yaml): %v", p, i, probs)
				}
				continue
			}
			var frag map[string]any
			if err := yaml.Unmarshal([]byte(b.body), &frag); err != nil {
				t.Errorf("%s: YAML block %d: %v", p, i, err)
				continue
			}
			for k := range frag {
				if !top[k] {
					t.Errorf("%s: YAML block %d has the top-level key %s, which the configuration does not have", p, i, k)
				}
			}
			var base map[string]any
			if err := yaml.Unmarshal([]byte(example), &base); err != nil {
				t.Fatal(err)
			}
			guideMerge(base, frag)
			merged, err := yaml.Marshal(base)
			if err != nil {
				t.Fatal(err)
			}
			t.Run(filepath.Base(p)+"-block", func(t *testing.T) {
				guideEnv(t, guideEnvVar.FindAllString(b.body, -1))
				if _, err := config.Parse(p, merged, guideSections()...); err != nil {
					t.Errorf("%s: YAML block %d over timon.example.yaml does not check:\n%v\n---\n%s", p, i, err, b.body)
				}
			})
		}

		// Links between the files resolve.
		for _, m := range regexp.MustCompile(`\]\(([^)#:]+)\)`).FindAllStringSubmatch(doc, -1) {
			if _, err := os.Stat(filepath.Join(filepath.Dir(p), m[1])); err != nil {
				t.Errorf("%s links to %s, which does not exist", p, m[1])
			}
		}
	}

	// Each platform's secrets, as the configuration reads them by default,
	// are all in its guide.
	for guide, src := range map[string]string{guideSlack: "../bots/slack/config.go", guideMattermost: "../bots/mattermost/config.go", guideGitLab: "../webhooks/review/config.go"} {
		platform := map[string]string{guideSlack: "SLACK", guideMattermost: "MATTERMOST", guideGitLab: "GITLAB"}[guide]
		doc := guideRead(t, guide)
		vars := regexp.MustCompile(`"(TIMON_`+platform+`_[A-Z_]+)"`).FindAllStringSubmatch(guideRead(t, src), -1)
		if len(vars) == 0 {
			t.Errorf("no TIMON_%s_ default found in %s: the extraction no longer fits the code", platform, src)
		}
		for _, v := range vars {
			if !strings.Contains(doc, v[1]) {
				t.Errorf("%s does not say where %s comes from", guide, v[1])
			}
		}
	}

	// The README points to the guides and the manifests.
	readme := guideRead(t, "../README.md")
	for _, p := range append(slices.Clone(guideDocs), slices.Collect(maps.Keys(guideManifests))...) {
		if !strings.Contains(readme, strings.TrimPrefix(p, "../")) {
			t.Errorf("README.md does not point to %s", strings.TrimPrefix(p, "../"))
		}
	}
}

// TestGuidesGitLabWebhook checks that the GitLab guide asks for the
// webhook triggers whose deliveries the handler reads, and names the
// events and profiles the settings accept.
func TestGuidesGitLabWebhook(t *testing.T) {
	doc := guideRead(t, guideGitLab)
	src := guideRead(t, "../webhooks/gitlab/event.go")
	hooks := regexp.MustCompile(`=\s*"([A-Za-z ]+ Hook)"`).FindAllStringSubmatch(src, -1)
	if len(hooks) == 0 {
		t.Fatal("found no X-Gitlab-Event value in webhooks/gitlab/event.go: the extraction no longer fits the code")
	}
	for _, h := range hooks {
		trigger, ok := guideGitLabTriggers[h[1]]
		if !ok {
			t.Errorf("the handler reads %q deliveries, which guideGitLabTriggers does not know: add the trigger to tick", h[1])
			continue
		}
		if !strings.Contains(doc, "**"+trigger+"**") {
			t.Errorf("docs/gitlab.md does not ask for the %q trigger (%s deliveries)", trigger, h[1])
		}
	}
	prose, _ := guideMarkdown(doc)
	spans := guideSpans(prose)
	for _, e := range review.Events {
		if !slices.Contains(spans, e) {
			t.Errorf("docs/gitlab.md does not name the event %s", e)
		}
	}
	for _, p := range review.Profiles {
		if !strings.Contains(doc, "`"+p+"`") {
			t.Errorf("docs/gitlab.md does not name the profile %s", p)
		}
	}
	// The access the guide asks for: the bot's token with scope api (it
	// posts notes), and Developer for people's commands, as the worker
	// checks.
	if !slices.Contains(spans, "api") || !strings.Contains(guideRead(t, "../webhooks/gitlab/service.go"), "DeveloperAccess = 30") {
		t.Error("docs/gitlab.md must give the token scope `api`, and the Developer rule for commands must still hold")
	}
}
