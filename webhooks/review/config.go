package review

import (
	"fmt"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"

	"timon.dev/timon/core/config"
)

// Config is the gitlab section of timon.yaml (a config.Section):
// merge-request review through GitLab webhooks (webhooks/gitlab,
// webhooks/review). Each field says what its zero value means; Check
// gives it that meaning. It is on when the API URL, the bot's token and
// at least one webhook secret are set; the route POST /webhooks/gitlab
// answers 404 otherwise.
type Config struct {
	URLEnv    string `yaml:"url_env"` // default TIMON_GITLAB_URL
	URLFile   string `yaml:"url_file"`
	TokenEnv  string `yaml:"token_env"` // default TIMON_GITLAB_TOKEN
	TokenFile string `yaml:"token_file"`

	Webhook Webhook `yaml:"webhook"`

	// Review holds the settings of every project; an entry of Groups,
	// then of Projects, refines them, then the project's .timon.yaml on
	// the merge request's target branch.
	Review Settings `yaml:"review"`

	// Groups and Projects give a group (and its subgroups) or a project
	// their own webhook secret and settings. The most specific entry
	// applies: the project's, else the group with the longest path.
	Groups   []Scope `yaml:"groups"`
	Projects []Scope `yaml:"projects"`

	// LinkAllowlist lists the hosts the model's review may link to or
	// show images from (a host also allows its subdomains); every other
	// link or image is removed. The GitLab host is always allowed.
	LinkAllowlist []string `yaml:"link_allowlist"`

	// PrincipalGroups are the groups of the principal of every review
	// request (policy rules, shared quotas); zero means [gitlab].
	PrincipalGroups []string `yaml:"principal_groups"`
	// Model asks for a model by name; zero means the policy's route.
	Model string `yaml:"model"`
	// ChunkTokens bounds the diff sent in one model call (about four
	// bytes a token); zero means 6000. MaxChunks bounds the calls of one
	// review; zero means 8. What does not fit is listed as skipped.
	ChunkTokens int `yaml:"chunk_tokens"`
	MaxChunks   int `yaml:"max_chunks"`
	// AnswerTokens bounds one answer of the model; zero means 2048.
	AnswerTokens int `yaml:"answer_tokens"`
	// DiffWait is how long a review waits for GitLab to compute the diff
	// of a push before trying later; zero means 30s.
	DiffWait config.Duration `yaml:"diff_wait"`

	// Resolved from the variables or files above ("" when not set).
	URL           string `yaml:"-"`
	Token         string `yaml:"-"`
	WebhookSecret string `yaml:"-"`
	SigningSecret string `yaml:"-"`
}

// Webhook holds the webhook's default secrets.
type Webhook struct {
	// SecretEnv / SecretFile hold the secret GitLab sends in
	// X-Gitlab-Token (default TIMON_GITLAB_WEBHOOK_SECRET). Setting it
	// switches the webhook on.
	SecretEnv  string `yaml:"secret_env"`
	SecretFile string `yaml:"secret_file"`
	// SigningSecretEnv / SigningSecretFile hold the Standard Webhooks
	// signing secret (whsec_…); when set, every delivery must carry a
	// valid webhook-signature (one without is refused).
	SigningSecretEnv  string `yaml:"signing_secret_env"`
	SigningSecretFile string `yaml:"signing_secret_file"`
}

// Scope is a group or a project with its own secret and settings.
type Scope struct {
	// Path is the group's full path (research/physics) or the project's
	// path with namespace (research/physics/solver).
	Path string `yaml:"path"`
	// SecretEnv / SecretFile hold this scope's webhook secret; zero keeps
	// the enclosing one.
	SecretEnv         string `yaml:"secret_env"`
	SecretFile        string `yaml:"secret_file"`
	SigningSecretEnv  string `yaml:"signing_secret_env"`
	SigningSecretFile string `yaml:"signing_secret_file"`

	Settings `yaml:",inline"`

	Secret        string `yaml:"-"`
	SigningSecret string `yaml:"-"`
}

// Settings are the review settings of a project. Unset fields keep
// the enclosing scope's value.
type Settings struct {
	// Events lists what triggers work: open, reopen, ready (draft to
	// ready), push (new commits), and the commands review, describe,
	// explain, improve, ask. Zero means all.
	Events []string `yaml:"events"`
	// Profile is the review's focus: default, security, thorough or
	// light (only likely bugs). Zero means default.
	Profile string `yaml:"profile"`
	// Include, when set, limits the review to paths matching one of its
	// globs; Exclude skips paths matching one of its globs (** matches
	// any number of folders). Excludes add up across scopes.
	Include []string `yaml:"include"`
	Exclude []string `yaml:"exclude"`
	// Instructions are added to the model's instructions.
	Instructions string `yaml:"instructions"`
	// Language of the review (English, French…); zero means English.
	Language string `yaml:"language"`
	// MaxInlineComments bounds the inline discussions of one review; the
	// rest goes to the summary note. Zero means 10 (0 is written as
	// summary_only: true).
	MaxInlineComments int `yaml:"max_inline_comments"`
	// SummaryOnly posts no inline discussion.
	SummaryOnly *bool `yaml:"summary_only"`
	// MinConfidence drops findings the model is less sure of (0 to 1);
	// zero means 0.5.
	MinConfidence float64 `yaml:"min_confidence"`
	// ReviewDrafts reviews draft merge requests too; zero means no.
	ReviewDrafts *bool `yaml:"review_drafts"`

	// Suppress lists kinds of finding (see Categories) never raised in
	// the project. Suppressions add up across scopes.
	Suppress []string `yaml:"suppress"`
	// Allow lists kinds of finding that learning never suppresses, even
	// when dismissed often: how a learned suppression is reversed. It does
	// not lift a kind listed in Suppress.
	Allow []string `yaml:"allow"`
	// SuppressAfter is how many dismissals of a kind in a project
	// suppress it there; zero means 3, -1 never.
	SuppressAfter int `yaml:"suppress_after"`
	// SkipBotAuthors leaves merge requests opened by bots (GitLab's user
	// "bot" field) without automatic review; zero means yes. A /timon
	// command is still answered.
	SkipBotAuthors *bool `yaml:"skip_bot_authors"`
	// SkipAuthors lists usernames whose merge requests get no automatic
	// review (renovate, dependabot…); they add up across scopes.
	SkipAuthors []string `yaml:"skip_authors"`

	// AlsoInclude, when set, limits the review further: a path must
	// match one of Include (when set) and one of AlsoInclude. It is how a
	// repository's .timon.yaml narrows the institution's includes (see
	// NarrowedBy); it cannot be written in a file.
	AlsoInclude []string `yaml:"-"`
}

// GitLab review events.
var Events = []string{"open", "reopen", "ready", "push", "review", "describe", "explain", "improve", "ask"}

// GitLab review profiles.
var Profiles = []string{"default", "security", "thorough", "light"}

// Enabled reports whether the webhook is on.
func (g *Config) Enabled() bool {
	if g.URL == "" || g.Token == "" {
		return false
	}
	if g.WebhookSecret != "" {
		return true
	}
	for _, s := range append(slices.Clip(g.Groups), g.Projects...) {
		if s.Secret != "" {
			return true
		}
	}
	return false
}

// Merge returns s refined by o: o's set fields win, excludes add up.
func (s Settings) Merge(o Settings) Settings {
	if len(o.Events) > 0 {
		s.Events = o.Events
	}
	if o.Profile != "" {
		s.Profile = o.Profile
	}
	if len(o.Include) > 0 {
		s.Include = o.Include
	}
	s.Exclude = append(slices.Clip(s.Exclude), o.Exclude...)
	if o.Instructions != "" {
		if s.Instructions != "" {
			s.Instructions += "\n" + o.Instructions
		} else {
			s.Instructions = o.Instructions
		}
	}
	if o.Language != "" {
		s.Language = o.Language
	}
	if o.MaxInlineComments != 0 {
		s.MaxInlineComments = o.MaxInlineComments
	}
	if o.SummaryOnly != nil {
		s.SummaryOnly = o.SummaryOnly
	}
	if o.MinConfidence != 0 {
		s.MinConfidence = o.MinConfidence
	}
	if o.ReviewDrafts != nil {
		s.ReviewDrafts = o.ReviewDrafts
	}
	s.Suppress = append(slices.Clip(s.Suppress), o.Suppress...)
	s.Allow = append(slices.Clip(s.Allow), o.Allow...)
	if o.SuppressAfter != 0 {
		s.SuppressAfter = o.SuppressAfter
	}
	if o.SkipBotAuthors != nil {
		s.SkipBotAuthors = o.SkipBotAuthors
	}
	s.SkipAuthors = append(slices.Clip(s.SkipAuthors), o.SkipAuthors...)
	return s
}

// SuppressThreshold is the number of dismissals of a kind that suppress it
// in a project; 0 when learning never suppresses.
func (s Settings) SuppressThreshold() int {
	switch {
	case s.SuppressAfter == 0:
		return 3
	case s.SuppressAfter < 0:
		return 0
	}
	return s.SuppressAfter
}

// SkipBots reports whether merge requests authored by bots are left
// without automatic review.
func (s Settings) SkipBots() bool { return s.SkipBotAuthors == nil || *s.SkipBotAuthors }

// profileBreadth orders the review profiles from the narrowest (light:
// likely bugs only) to the widest (thorough: everything).
var profileBreadth = map[string]int{"light": 0, "security": 1, "default": 2, "": 2, "thorough": 3}

// NarrowedBy returns s refined by a repository's own settings (its
// .timon.yaml), which may only narrow what the institution configured:
// events are intersected, includes intersected, excludes added up, the
// profile only made narrower, the inline cap only lowered, the confidence
// threshold only raised, drafts reviewed only if both say so. Language
// and instructions are taken (instructions are added to the
// institution's). refused lists, for people, what the file asked beyond
// the institution's settings and did not get.
func (s Settings) NarrowedBy(o Settings) (out Settings, refused []string) {
	out = s
	if len(o.Events) > 0 {
		var both []string
		for _, e := range o.Events {
			if s.EventEnabled(e) {
				both = append(both, e)
			} else {
				refused = append(refused, "event "+e)
			}
		}
		if len(both) == 0 {
			both = []string{"none"} // nothing both allow
		}
		out.Events = both
	}
	if o.Profile != "" {
		if profileBreadth[o.Profile] <= profileBreadth[s.Profile] {
			out.Profile = o.Profile
		} else {
			refused = append(refused, "profile "+o.Profile)
		}
	}
	if len(o.Include) > 0 {
		if len(s.Include) == 0 && len(s.AlsoInclude) == 0 {
			out.Include = slices.Clone(o.Include)
		} else {
			// Both must match: the institution's list stays, the file's
			// narrows it further.
			out.AlsoInclude = slices.Clone(o.Include)
			if len(s.AlsoInclude) > 0 {
				refused = append(refused, "include (already narrowed)")
				out.AlsoInclude = s.AlsoInclude
			}
		}
	}
	out.Exclude = append(slices.Clip(s.Exclude), o.Exclude...)
	if o.Instructions != "" {
		if s.Instructions != "" {
			out.Instructions = s.Instructions + "\n" + o.Instructions
		} else {
			out.Instructions = o.Instructions
		}
	}
	if o.Language != "" {
		out.Language = o.Language
	}
	limit := s.Inline()
	if o.SummaryOnly != nil && *o.SummaryOnly {
		on := true
		out.SummaryOnly = &on
	} else if o.SummaryOnly != nil && limit == 0 {
		refused = append(refused, "summary_only: false")
	}
	if o.MaxInlineComments > 0 {
		if o.MaxInlineComments <= limit {
			out.MaxInlineComments = o.MaxInlineComments
		} else {
			refused = append(refused, fmt.Sprintf("max_inline_comments %d", o.MaxInlineComments))
		}
	}
	if o.MinConfidence != 0 {
		if o.MinConfidence >= s.Confidence() {
			out.MinConfidence = o.MinConfidence
		} else {
			refused = append(refused, fmt.Sprintf("min_confidence %g", o.MinConfidence))
		}
	}
	if o.ReviewDrafts != nil {
		switch {
		case !*o.ReviewDrafts:
			out.ReviewDrafts = o.ReviewDrafts
		case s.ReviewDrafts == nil || !*s.ReviewDrafts:
			refused = append(refused, "review_drafts: true")
		}
	}
	// What the project learned is its own: it may suppress kinds, allow
	// learned suppressions again and suppress sooner, not later.
	out.Suppress = append(slices.Clip(s.Suppress), o.Suppress...)
	out.Allow = append(slices.Clip(s.Allow), o.Allow...)
	if o.SuppressAfter != 0 {
		if base, mine := s.SuppressThreshold(), o.SuppressThreshold(); mine != 0 && (base == 0 || mine <= base) {
			out.SuppressAfter = o.SuppressAfter
		} else if mine != base {
			refused = append(refused, fmt.Sprintf("suppress_after %d", o.SuppressAfter))
		}
	}
	out.SkipAuthors = append(slices.Clip(s.SkipAuthors), o.SkipAuthors...)
	if o.SkipBotAuthors != nil {
		switch {
		case *o.SkipBotAuthors:
			out.SkipBotAuthors = o.SkipBotAuthors
		case s.SkipBots():
			refused = append(refused, "skip_bot_authors: false")
		}
	}
	return out, refused
}

// EventEnabled reports whether the settings enable event e.
func (s Settings) EventEnabled(e string) bool {
	return len(s.Events) == 0 || slices.Contains(s.Events, e)
}

// Inline is the number of inline discussions a review may open.
func (s Settings) Inline() int {
	if s.SummaryOnly != nil && *s.SummaryOnly {
		return 0
	}
	if s.MaxInlineComments <= 0 {
		return 10
	}
	return s.MaxInlineComments
}

// Confidence is the least confidence of a finding that is posted.
func (s Settings) Confidence() float64 {
	if s.MinConfidence <= 0 {
		return 0.5
	}
	return s.MinConfidence
}

// Project is the resolved configuration of one project.
type Project struct {
	Settings Settings
	// Secret and SigningSecret authenticate the project's deliveries.
	Secret, SigningSecret string
}

// ProjectFor resolves the settings and secrets of a project from its path
// with namespace: Review, refined by the longest matching group, then by
// the project's own entry.
func (g *Config) ProjectFor(projectPath string) Project {
	p := Project{Settings: g.Review, Secret: g.WebhookSecret, SigningSecret: g.SigningSecret}
	var best *Scope
	for i := range g.Groups {
		gr := &g.Groups[i]
		if strings.HasPrefix(projectPath, gr.Path+"/") && (best == nil || len(gr.Path) > len(best.Path)) {
			best = gr
		}
	}
	apply := func(s *Scope) {
		p.Settings = p.Settings.Merge(s.Settings)
		if s.Secret != "" {
			p.Secret = s.Secret
		}
		if s.SigningSecret != "" {
			p.SigningSecret = s.SigningSecret
		}
	}
	if best != nil {
		apply(best)
	}
	for i := range g.Projects {
		if g.Projects[i].Path == projectPath {
			apply(&g.Projects[i])
			break
		}
	}
	return p
}

// Secrets lists every configured webhook secret, for a delivery whose
// project cannot be read.
func (g *Config) Secrets() []string {
	var out []string
	if g.WebhookSecret != "" {
		out = append(out, g.WebhookSecret)
	}
	for _, s := range append(slices.Clip(g.Groups), g.Projects...) {
		if s.Secret != "" {
			out = append(out, s.Secret)
		}
	}
	return out
}

// Check gives the zero values their meaning (the defaults above),
// resolves the secrets and reports what is wrong, for config.Section
// gitlab.
func (g *Config) Check(c *config.Check) {
	if len(g.PrincipalGroups) == 0 {
		g.PrincipalGroups = []string{"gitlab"}
	}
	if g.ChunkTokens == 0 {
		g.ChunkTokens = 6000
	}
	if g.MaxChunks == 0 {
		g.MaxChunks = 8
	}
	if g.AnswerTokens == 0 {
		g.AnswerTokens = 2048
	}
	if g.DiffWait == 0 {
		g.DiffWait = config.Duration(30 * time.Second)
	}

	g.URL = c.SecretOr("", "TIMON_GITLAB_URL", &g.URLEnv, g.URLFile)
	g.Token = c.SecretOr("", "TIMON_GITLAB_TOKEN", &g.TokenEnv, g.TokenFile)
	g.WebhookSecret = c.SecretOr("webhook", "TIMON_GITLAB_WEBHOOK_SECRET", &g.Webhook.SecretEnv, g.Webhook.SecretFile)
	g.SigningSecret = c.Secret("webhook", g.Webhook.SigningSecretEnv, g.Webhook.SigningSecretFile)
	if g.URL != "" {
		if u, err := url.Parse(g.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			c.Add("", "the GitLab URL must be an http(s) URL such as https://gitlab.example.org, got %q", g.URL)
		}
		g.URL = strings.TrimRight(g.URL, "/")
	}
	g.Review.check(c, "review")
	for _, list := range []struct {
		name   string
		scopes []Scope
	}{{"groups", g.Groups}, {"projects", g.Projects}} {
		seen := map[string]bool{}
		for i := range list.scopes {
			s := &list.scopes[i]
			at := fmt.Sprintf("%s[%d]", list.name, i)
			s.Path = strings.Trim(strings.TrimSpace(s.Path), "/")
			if s.Path == "" {
				c.Add(at+".path", "a path is needed (group/subgroup or group/project)")
			} else if seen[s.Path] {
				c.Add(at+".path", "path %q is listed twice", s.Path)
			}
			seen[s.Path] = true
			s.Secret = c.Secret(at, s.SecretEnv, s.SecretFile)
			s.SigningSecret = c.Secret(at, s.SigningSecretEnv, s.SigningSecretFile)
			s.Settings.check(c, at)
		}
	}
	c.Hosts("link_allowlist", g.LinkAllowlist)
	if g.ChunkTokens < 500 {
		c.Add("chunk_tokens", "expected at least 500 tokens")
	}
	if g.MaxChunks < 1 {
		c.Add("max_chunks", "expected at least 1")
	}
	if g.AnswerTokens < 256 {
		c.Add("answer_tokens", "expected at least 256 tokens")
	} else if c.Config != nil && c.Config.Limits.MaxTokensCeiling > 0 && g.AnswerTokens > c.Config.Limits.MaxTokensCeiling {
		c.Add("answer_tokens", "%d is over limits.max_tokens_ceiling (%d)", g.AnswerTokens, c.Config.Limits.MaxTokensCeiling)
	}
	if g.DiffWait < 0 {
		c.Add("diff_wait", "expected a positive duration")
	}
	// A secret without the URL or the token is half-configured: see
	// Integration.
}

// Integration says whether merge-request review is on, off or only
// half-configured, and why (config.Integrated).
func (g *Config) Integration() config.Integration {
	url := config.Place("gitlab", "url", g.URLEnv, g.URLFile)
	tok := config.Place("gitlab", "token", g.TokenEnv, g.TokenFile)
	sec := config.Place("gitlab.webhook", "secret", g.Webhook.SecretEnv, g.Webhook.SecretFile)
	i := config.Integration{Name: "gitlab", Path: "gitlab"}
	var missing []string
	if g.URL == "" {
		missing = append(missing, "the GitLab URL, "+url)
	}
	if g.Token == "" {
		missing = append(missing, "the bot's token, "+tok)
	}
	if len(g.Secrets()) == 0 {
		missing = append(missing, "a webhook secret, "+sec+" (or one per group or project)")
	}
	switch {
	case len(missing) == 0:
		i.State, i.Why = config.StateOn, "merge-request review: POST /webhooks/gitlab, GitLab at "+g.URL
	case len(missing) == 3:
		i.State, i.Why = config.StateOff, "set "+strings.Join(missing, "; ")+" to switch it on"
	default:
		i.State, i.Why = config.StateHalf, "missing "+strings.Join(missing, "; ")
	}
	return i
}

// Validate checks settings read from elsewhere (a project's .timon.yaml);
// it returns the problems found, one a line.
func (s *Settings) Validate() []string {
	c := &config.Check{}
	s.check(c, "")
	return c.Problems()
}

// check reports the problems of settings written at the path at.
func (s *Settings) check(c *config.Check, at string) {
	join := func(field string) string { return config.JoinPath(at, field) }
	for i, e := range s.Events {
		if !slices.Contains(Events, e) {
			c.Add(fmt.Sprintf("%s[%d]", join("events"), i), "unknown event %q (expected one of %s)", e, strings.Join(Events, ", "))
		}
	}
	if s.Profile != "" && !slices.Contains(Profiles, s.Profile) {
		c.Add(join("profile"), "unknown profile %q (expected one of %s)", s.Profile, strings.Join(Profiles, ", "))
	}
	for _, list := range []struct {
		name  string
		globs []string
	}{{"include", s.Include}, {"exclude", s.Exclude}} {
		for i, g := range list.globs {
			if _, err := path.Match(strings.ReplaceAll(g, "**", "*"), ""); err != nil || strings.TrimSpace(g) == "" {
				c.Add(fmt.Sprintf("%s[%d]", join(list.name), i), "expected a path glob such as docs/** or *.min.js, got %q", g)
			}
		}
	}
	if s.MaxInlineComments < 0 || s.MaxInlineComments > 50 {
		c.Add(join("max_inline_comments"), "expected 1 to 50 (summary_only: true posts none)")
	}
	if s.MinConfidence < 0 || s.MinConfidence > 1 {
		c.Add(join("min_confidence"), "expected a number between 0 and 1")
	}
	if len(s.Instructions) > 4000 {
		c.Add(join("instructions"), "expected at most 4000 characters")
	}
	if len(s.Language) > 40 || strings.ContainsAny(s.Language, "\n<>") {
		c.Add(join("language"), "expected a language name such as English or French")
	}
	for _, list := range []struct {
		name  string
		kinds []string
	}{{"suppress", s.Suppress}, {"allow", s.Allow}} {
		for i, k := range list.kinds {
			if !slices.Contains(Categories, k) {
				c.Add(fmt.Sprintf("%s[%d]", join(list.name), i), "unknown kind of finding %q (expected one of %s)", k, strings.Join(Categories, ", "))
			}
		}
	}
	if s.SuppressAfter < -1 {
		c.Add(join("suppress_after"), "expected a number of dismissals (1 or more), or -1 never to suppress")
	}
	for i, u := range s.SkipAuthors {
		if strings.TrimSpace(u) == "" || strings.ContainsAny(u, " \n@") {
			c.Add(fmt.Sprintf("%s[%d]", join("skip_authors"), i), "expected a GitLab username without @, got %q", u)
		}
	}
}
