package gitlab_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"timon.dev/timon/core/provider/fakellm"
	"timon.dev/timon/webhooks/gitlab"
	"timon.dev/timon/webhooks/gitlab/gitlabtest"
	"timon.dev/timon/webhooks/review"
)

// notesWith returns the bot's inline notes containing text.
func (r *rig) notesWith(iid int64, text string) []gitlabtest.Note {
	var out []gitlabtest.Note
	for _, n := range r.gl.InlineNotes(projectID, iid) {
		if n.Author.ID == bot.ID && strings.Contains(n.Body, text) {
			out = append(out, n)
		}
	}
	return out
}

// one returns the only bot inline note containing text.
func (r *rig) one(iid int64, text string) gitlabtest.Note {
	r.t.Helper()
	ns := r.notesWith(iid, text)
	if len(ns) != 1 {
		r.t.Fatalf("%d inline notes with %q, want 1", len(ns), text)
	}
	return ns[0]
}

// shifted is changed with one line more at the top of main.go: every
// finding of main.go moves one line down.
func shifted() map[string]string {
	return map[string]string{
		"main.go": "package main\n\n// Command main runs the solver.\n\nimport \"os\"\n\nfunc main() {\n\tf, err := os.Open(\"x\")\n\tif err != nil {\n\t\tpanic(err)\n\t}\n\t// TODO: flags\n\trun(f)\n}\n",
	}
}

func TestThumbsDownFromAMemberIsNotRaisedAgain(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	iid := r.openMR(changed, gitlabtest.MROptions{})
	r.mrEvent(iid, gitlabtest.HookOptions{Action: "open"})
	r.wait()
	panicNote := r.one(iid, "Do not panic")
	todoNote := r.one(iid, "This TODO")
	// A Developer's 👎 counts; a Reporter's does not, nor a 👍.
	r.gl.AwardEmoji(projectID, iid, panicNote.ID, alice, "thumbsdown")
	r.gl.AwardEmoji(projectID, iid, todoNote.ID, guest, "thumbsdown")
	r.gl.AwardEmoji(projectID, iid, todoNote.ID, alice, "thumbsup")

	// New commits move every line: the whole review again, on the new
	// lines.
	r.gl.Push(projectID, iid, "Document main", shifted())
	r.command(iid, alice, "/timon review")
	r.wait()

	if n := len(r.notesWith(iid, "Do not panic")); n != 1 {
		t.Errorf("the 👎'd finding was raised again: %d notes", n)
	}
	if n := len(r.notesWith(iid, "This TODO")); n != 2 {
		t.Errorf("the TODO finding (a Reporter's 👎) was not raised again: %d notes", n)
	}
	if n := r.gl.InvalidPositions(); n != 0 {
		t.Fatalf("GitLab refused %d positions", n)
	}
	if sum := r.summary(iid); !strings.Contains(sum, "1 finding dismissed earlier on this merge request") {
		t.Errorf("summary does not say what was left out:\n%s", sum)
	}
	// The dismissal is the merge request's: another one raises it.
	iid2 := r.openMR(changed, gitlabtest.MROptions{})
	r.mrEvent(iid2, gitlabtest.HookOptions{Action: "open"})
	r.wait()
	r.one(iid2, "Do not panic")
}

func TestResolvedWithoutChangeIsNotRaisedAgain(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	r.llm.Handle(gitlabtest.Reviewer([]gitlabtest.Rule{
		{Kind: '+', Needle: "panic(", Severity: "major", Message: "Do not panic on bad input; return an error.", Category: "error-handling"},
		{Kind: '+', Needle: "unsafeCall(", Severity: "major", Message: "unsafeCall trusts its input.", Category: "security"},
	}))
	iid := r.openMR(map[string]string{
		"main.go": "package main\n\nimport \"os\"\n\nfunc main() {\n\tf, err := os.Open(\"x\")\n\tif err != nil {\n\t\tpanic(err)\n\t}\n\tx := 1\n\ty := 2\n\tz := 3\n\tw := 4\n\tunsafeCall(f)\n\trun(f)\n}\n",
	}, gitlabtest.MROptions{})
	r.mrEvent(iid, gitlabtest.HookOptions{Action: "open"})
	r.wait()
	panicNote, unsafeNote := r.one(iid, "Do not panic"), r.one(iid, "unsafeCall trusts")
	if panicNote.Position.NewLine != 8 || unsafeNote.Position.NewLine != 14 {
		t.Fatalf("placed at %d and %d", panicNote.Position.NewLine, unsafeNote.Position.NewLine)
	}
	r.gl.Resolve(projectID, iid, panicNote.ID, true)
	r.gl.Resolve(projectID, iid, unsafeNote.ID, true)

	// The next commit changes the code next to unsafeCall (and adds a
	// line at the top, far from both): the panic line is as it was when
	// its discussion was resolved, the unsafeCall one is not.
	r.gl.Push(projectID, iid, "Pass the values", map[string]string{
		"main.go": "package main\n\n// Command main runs the solver.\nimport \"os\"\n\nfunc main() {\n\tf, err := os.Open(\"x\")\n\tif err != nil {\n\t\tpanic(err)\n\t}\n\tx := 1\n\ty := 2\n\tz := 3\n\tw := 4\n\tunsafeCall(f)\n\trun(f, x, y, z, w)\n}\n",
	})
	r.command(iid, alice, "/timon review")
	r.wait()
	if n := len(r.notesWith(iid, "Do not panic")); n != 1 {
		t.Errorf("a finding resolved without a change was raised again: %d notes", n)
	}
	again := r.notesWith(iid, "unsafeCall trusts")
	if len(again) != 2 {
		t.Fatalf("a finding resolved with a change next to it, still there, was not raised again: %d notes", len(again))
	}
	if again[1].Position.NewLine != 15 || again[1].Position.HeadSHA != r.gl.Head(projectID, iid) {
		t.Errorf("raised again at %+v", *again[1].Position)
	}
	if sum := r.summary(iid); !strings.Contains(sum, "1 finding dismissed earlier") {
		t.Errorf("summary:\n%s", sum)
	}
}

func TestRepeatedDismissalsSuppressTheKindUntilAllowed(t *testing.T) {
	t.Parallel()
	t.Run("sqlite", func(t *testing.T) { repeatedDismissals(t, false) })
	t.Run("postgres", func(t *testing.T) { repeatedDismissals(t, true) })
}

func repeatedDismissals(t *testing.T, postgres bool) {
	r := newRig(t, rigOptions{postgres: postgres})
	three := map[string]string{
		"a.go": "package main\n\nfunc a() {\n\tpanic(\"a\")\n}\n",
		"b.go": "package main\n\nfunc b() {\n\tpanic(\"b\")\n}\n",
		"c.go": "package main\n\nfunc c() {\n\tpanic(\"c\")\n}\n",
	}
	iid := r.openMR(three, gitlabtest.MROptions{})
	r.mrEvent(iid, gitlabtest.HookOptions{Action: "open"})
	r.wait()
	notes := r.notesWith(iid, "Do not panic")
	if len(notes) != 3 {
		t.Fatalf("%d findings, want 3", len(notes))
	}
	for _, n := range notes {
		r.gl.AwardEmoji(projectID, iid, n.ID, alice, "thumbsdown")
	}
	// The next review of the merge request learns the three dismissals.
	r.gl.Push(projectID, iid, "Readme", map[string]string{"README.md": "# Solver\n\nIt solves.\n"})
	r.mrEvent(iid, gitlabtest.HookOptions{Action: "update", OldRev: "x"})
	r.wait()

	ctx := context.Background()
	counts, err := review.Learned(ctx, r.store, projectPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(counts) != 1 || counts[0].Kind != "error-handling" || counts[0].Dismissed != 3 {
		t.Fatalf("learned %+v", counts)
	}

	// error-handling is suppressed in the project: another merge request
	// does not raise it; other kinds still are.
	iid2 := r.openMR(changed, gitlabtest.MROptions{})
	r.mrEvent(iid2, gitlabtest.HookOptions{Action: "open"})
	r.wait()
	if n := len(r.notesWith(iid2, "Do not panic")); n != 0 {
		t.Fatalf("a suppressed kind was raised: %d", n)
	}
	r.one(iid2, "Removing this defer")
	if sum := r.summary(iid2); !strings.Contains(sum, "1 finding of kinds this project suppresses (error-handling) left out") {
		t.Errorf("summary:\n%s", sum)
	}

	// The configuration allows it again.
	r.cfg.Review.Allow = []string{"error-handling"}
	iid3 := r.openMR(changed, gitlabtest.MROptions{})
	r.mrEvent(iid3, gitlabtest.HookOptions{Action: "open"})
	r.wait()
	r.one(iid3, "Do not panic")

	// Without the allow, `timon review suppressions --clear` starts the
	// count afresh.
	r.cfg.Review.Allow = nil
	if n, err := review.ResetKind(ctx, r.store, projectPath, "error-handling"); err != nil || n != 1 {
		t.Fatalf("reset: %d %v", n, err)
	}
	if counts, _ := review.Learned(ctx, r.store, projectPath); len(counts) != 0 {
		t.Fatalf("after the reset: %+v", counts)
	}
	iid4 := r.openMR(changed, gitlabtest.MROptions{})
	r.mrEvent(iid4, gitlabtest.HookOptions{Action: "open"})
	r.wait()
	r.one(iid4, "Do not panic")
}

func TestMergeRequestsOfBotsAreSkipped(t *testing.T) {
	t.Parallel()
	renovate := gitlabtest.User{ID: 31, Username: "project_42_bot_5f2a", Bot: true}
	dependabot := gitlabtest.User{ID: 32, Username: "dependabot"}
	r := newRig(t, rigOptions{configure: func(c *review.Config) { c.Review.SkipAuthors = []string{"dependabot"} }})
	r.gl.AddUser(renovate)
	r.gl.AddUser(dependabot)
	iid := r.openMR(changed, gitlabtest.MROptions{Author: renovate})
	iid2 := r.openMR(changed, gitlabtest.MROptions{Author: dependabot})
	for _, i := range []int64{iid, iid2} {
		if code, body := r.mrEvent(i, gitlabtest.HookOptions{Action: "open"}); code != http.StatusAccepted {
			t.Fatalf("open: %d %s", code, body)
		}
	}
	r.wait()
	if n := len(r.modelCalls()); n != 0 {
		t.Fatalf("%d model calls for merge requests of bots", n)
	}
	if r.summary(iid) != "" || r.summary(iid2) != "" {
		t.Fatal("a merge request of a bot was reviewed")
	}
	// A person asking is answered.
	r.command(iid, alice, "/timon review")
	r.wait()
	if r.summary(iid) == "" {
		t.Fatal("/timon review on a bot's merge request was not answered")
	}
	// A person's merge request is reviewed.
	iid3 := r.openMR(changed, gitlabtest.MROptions{})
	r.mrEvent(iid3, gitlabtest.HookOptions{Action: "open"})
	r.wait()
	if r.summary(iid3) == "" {
		t.Fatal("a person's merge request was not reviewed")
	}
}

func TestImprovePostsSuggestionsOnTheirLines(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	ret, ghost, keep := "\t\treturn err", "\tfmt.Println(\"x\")", "\tdefer f.Close()"
	r.llm.Handle(func(q fakellm.Request) fakellm.Reply {
		improve := false
		for _, m := range q.Messages {
			improve = improve || strings.Contains(m.Content, "Propose concrete improvements")
		}
		if !improve {
			return gitlabtest.Reviewer(gitlabtest.DefaultRules)(q)
		}
		return fakellm.Reply{Text: gitlabtest.ReviewJSON("Suggestions.", []gitlabtest.ModelFinding{
			{File: "main.go", Line: "panic(err)", Severity: "major", Confidence: 0.9, Message: "Return the error.", Suggestion: &ret, Category: "error-handling"},
			// Not a line of the diff.
			{File: "main.go", Line: "log.Fatal(err)", Severity: "minor", Confidence: 0.9, Message: "Print it.", Suggestion: &ghost},
			// A removed line: nothing to apply a suggestion to.
			{File: "main.go", Line: "defer f.Close()", Severity: "minor", Confidence: 0.9, Message: "Keep it.", Suggestion: &keep},
			// No replacement.
			{File: "main.go", Line: "run(f)", Severity: "minor", Confidence: 0.9, Message: "Name it better."},
			// A file that is not in the diff.
			{File: "other.go", Line: "run(f)", Severity: "minor", Confidence: 0.9, Message: "Elsewhere.", Suggestion: &ret},
		})}
	})
	iid := r.openMR(changed, gitlabtest.MROptions{})
	body := "/timon improve"
	id := r.gl.AddNote(projectID, iid, alice, body)
	hook := r.gl.NoteHook(projectID, iid, id, alice, body)
	h := gitlabtest.Headers(gitlab.EventNote, webhookSecret, "improve-delivery", "")
	if code, out := r.deliver(h, hook); code != http.StatusAccepted {
		t.Fatalf("improve: %d %s", code, out)
	}
	r.deliver(h, hook) // GitLab retries the delivery
	r.wait()

	inline := r.gl.InlineNotes(projectID, iid)
	if len(inline) != 1 {
		for _, n := range inline {
			t.Logf("%+v %q", *n.Position, n.Body)
		}
		t.Fatalf("%d suggestions posted, want 1", len(inline))
	}
	n := inline[0]
	if p := n.Position; p.NewPath != "main.go" || p.NewLine != 8 || p.OldLine != 0 || p.HeadSHA != r.gl.Head(projectID, iid) {
		t.Errorf("suggestion placed at %+v", *p)
	}
	if !strings.Contains(n.Body, "```suggestion:-0+0\n\t\treturn err\n```") {
		t.Errorf("no suggestion block: %q", n.Body)
	}
	if len(n.Suggestions) != 1 || !n.Suggestions[0].Appliable || n.Suggestions[0].FromContent != "\t\tpanic(err)\n" || n.Suggestions[0].ToContent != "\t\treturn err\n" {
		t.Errorf("GitLab reads the suggestion as %+v", n.Suggestions)
	}
	if r.gl.InvalidSuggestions() != 0 || r.gl.InvalidPositions() != 0 {
		t.Errorf("%d invalid suggestions, %d invalid positions", r.gl.InvalidSuggestions(), r.gl.InvalidPositions())
	}
	var reply string
	replies := 0
	for _, x := range r.gl.Notes(projectID, iid) {
		if x.Author.ID == bot.ID && x.Position == nil {
			reply = x.Body
			replies++
		}
	}
	if replies != 1 || !strings.Contains(reply, "1 suggestion posted") || !strings.Contains(reply, "4 suggestions were dropped") {
		t.Errorf("%d replies; reply %q", replies, reply)
	}
	if n := len(r.modelCalls()); n != 1 {
		t.Errorf("%d model calls, want 1", n)
	}
}

func TestAskInADiscussionIsAnsweredThereOnce(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	r.llm.Handle(func(q fakellm.Request) fakellm.Reply {
		if len(q.ResponseFormat) > 0 {
			return gitlabtest.Reviewer(gitlabtest.DefaultRules)(q)
		}
		return fakellm.Reply{Text: "Because a library must not stop the program."}
	})
	iid := r.openMR(changed, gitlabtest.MROptions{})
	// Alice comments on the panic line, then asks in that thread.
	first, disc := r.gl.AddDiffNote(projectID, iid, alice, "Hmm.", gitlabtest.Position{OldPath: "main.go", NewPath: "main.go", NewLine: 8})
	_ = first
	body := "/timon ask why not panic here?"
	id := r.gl.Reply(projectID, iid, disc, alice, body)
	hook := r.gl.DiffNoteHook(projectID, iid, id, alice, body)

	// GitLab writes the reply, then answers 502; the delivery is sent
	// again, and once more under another key.
	r.gl.FailAfterWrite(1)
	h := gitlabtest.Headers(gitlab.EventNote, webhookSecret, "ask-delivery", "")
	if code, out := r.deliver(h, hook); code != http.StatusAccepted {
		t.Fatalf("ask: %d %s", code, out)
	}
	r.deliver(h, hook)
	r.wait()
	r.deliver(gitlabtest.Headers(gitlab.EventNote, webhookSecret, "ask-delivery-2", ""), hook)
	r.wait()

	var answers []*gitlabtest.Note
	for _, d := range r.gl.Discussions(projectID, iid) {
		for _, n := range d.Notes {
			if n.Author.ID == bot.ID {
				if d.ID != disc {
					t.Fatalf("the bot wrote outside the discussion: %q", n.Body)
				}
				answers = append(answers, n)
			}
		}
	}
	if len(answers) != 1 {
		t.Fatalf("%d answers, want 1", len(answers))
	}
	if !strings.Contains(answers[0].Body, "Because a library must not stop the program.") {
		t.Errorf("answer: %q", answers[0].Body)
	}
	if posts := r.gl.Count(http.MethodPost, "/discussions/"+disc+"/notes"); posts != 1 {
		t.Errorf("%d replies POSTed, want 1", posts)
	}
	calls := r.modelCalls()
	if len(calls) != 1 {
		t.Fatalf("%d model calls, want 1", len(calls))
	}
	prompt := calls[0].LastUser()
	for _, want := range []string{`<file path="main.go"`, "+\t\tpanic(err)", "why not panic here?", "Hmm."} {
		if !strings.Contains(prompt, want) {
			t.Errorf("the prompt lacks %q:\n%s", want, prompt)
		}
	}
	if strings.Contains(prompt, "AWS_ACCESS_KEY_ID") || strings.Contains(prompt, "vendored") {
		t.Errorf("the prompt carries more than the hunk:\n%s", prompt)
	}

	// A Reporter asking is not answered; /timon ask outside a diff
	// discussion is explain's question.
	id2 := r.gl.Reply(projectID, iid, disc, guest, "/timon ask and now?")
	r.deliver(gitlabtest.Headers(gitlab.EventNote, webhookSecret, newKey(), ""), r.gl.DiffNoteHook(projectID, iid, id2, guest, "/timon ask and now?"))
	r.wait()
	r.command(iid, alice, "/timon ask what is this?")
	r.wait()
	if n := len(r.modelCalls()); n != 2 {
		t.Fatalf("%d model calls, want 2", n)
	}
	explained := false
	for _, n := range r.gl.Notes(projectID, iid) {
		explained = explained || (n.Author.ID == bot.ID && strings.HasPrefix(n.Body, "> what is this?"))
	}
	if !explained {
		t.Error("/timon ask outside a discussion was not answered as explain")
	}
}
