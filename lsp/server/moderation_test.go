package server_test

import (
	"regexp"
	"strings"
	"testing"

	"go.lsp.dev/protocol"

	"timon.dev/timon/core/policy"
	"timon.dev/timon/core/provider/fakellm"
	"timon.dev/timon/lsp/lsptest"
)

// moderated is the rule everyone's moderation in these tests: fakellm
// flags the categories named by "[flag:NAME]" markers.
func moderated() *policy.Moderation {
	a := func(action string) policy.ModerationAction { return policy.ModerationAction{Action: action} }
	return &policy.Moderation{
		Input:  map[string]policy.ModerationAction{"violence_and_threats": a("block"), "health": a("warn"), "financial": a("log")},
		Output: map[string]policy.ModerationAction{"selfharm": a("block"), "law": a("warn")},
	}
}

var outFlag = regexp.MustCompile(`outflag-([a-z_]+)`)

// modRewriter answers moderation requests by fakellm's markers and
// rewrites as rewriter does, turning "outflag-NAME" into the marker
// "[flag:NAME]": the answer, not the input, is flagged.
func modRewriter(req fakellm.Request) fakellm.Reply {
	if strings.HasSuffix(req.Path, "/moderations") || req.Path == "/v1/fim/completions" {
		return fakellm.Reply{}
	}
	r := rewriter(req)
	r.Text = outFlag.ReplaceAllString(r.Text, "[flag:$1]")
	return r
}

// modelRequests are the requests that reached the model (not the
// classifier).
func modelRequests(fake *fakellm.Server) int {
	n := 0
	for _, r := range fake.Requests() {
		if strings.HasSuffix(r.Path, "/chat/completions") || strings.HasSuffix(r.Path, "/fim/completions") {
			n++
		}
	}
	return n
}

// modPaper is a LaTeX document whose first paragraph carries marker.
func modPaper(marker string) string {
	return "\\section{Results}\n\nTeh results " + marker + " hold.\n\nSecond paragraph.\n"
}

// TestModerationOfCodeActions: a LaTeX rewrite under moderation, resolved
// lazily (VS Code) and run as a command (eglot). A warning is shown with
// the edit, which applies; a log is journaled only; a refusal (input or
// answer) or a classifier down is shown with the category or classifier
// and nothing is applied.
func TestModerationOfCodeActions(t *testing.T) {
	cases := []struct {
		name, marker   string
		classifierDown bool
		applied        bool
		message        string // "" for none
		typ            protocol.MessageType
		modelAsked     bool
		journal        string
	}{
		{name: "input block", marker: "[flag:violence_and_threats]",
			message: "timon: Fix grammar and spelling failed: refused by moderation: category violence_and_threats (input)", typ: protocol.MessageTypeWarning,
			journal: "in:violence_and_threats=block"},
		{name: "input warn", marker: "[flag:health]", applied: true,
			message: "timon: Fix grammar and spelling: moderation: category health flagged (input)", typ: protocol.MessageTypeWarning, modelAsked: true,
			journal: "in:health=warn"},
		{name: "input log", marker: "[flag:financial]", applied: true, modelAsked: true, journal: "in:financial=log"},
		{name: "output block", marker: "outflag-selfharm",
			message: "timon: Fix grammar and spelling failed: refused by moderation: category selfharm (output)", typ: protocol.MessageTypeWarning, modelAsked: true,
			journal: "out:selfharm=block"},
		{name: "output warn", marker: "outflag-law", applied: true,
			message: "timon: Fix grammar and spelling: moderation: category law flagged (output)", typ: protocol.MessageTypeWarning, modelAsked: true,
			journal: "out:law=warn"},
		{name: "classifier down", marker: "[flag:health]", classifierDown: true,
			message: "timon: Fix grammar and spelling failed: moderation is unavailable, so nothing was sent (classifier " + lsptest.Classifier + ")", typ: protocol.MessageTypeError,
			journal: "in:error=block"},
	}
	for _, tc := range cases {
		for _, client := range []string{"resolve", "command"} {
			t.Run(tc.name+"/"+client, func(t *testing.T) {
				caps := lsptest.VSCode
				if client == "command" {
					caps = lsptest.Eglot19
				}
				s := start(t, setup{caps: caps, moderation: moderated()})
				ctx := ctxT(t)
				s.fake.Handle(modRewriter)
				if tc.classifierDown {
					s.fake.Handle(func(req fakellm.Request) fakellm.Reply {
						if strings.HasSuffix(req.Path, "/moderations") {
							return fakellm.Reply{Status: 503}
						}
						return modRewriter(req)
					})
				}
				u := s.file("paper.tex")
				doc := modPaper(tc.marker)
				s.c.Open(u, "latex", doc)
				cur := strings.Index(doc, "results")
				grammar := find(codeActions(t, s, u, cur, cur), "grammar")

				if client == "resolve" {
					var resolved protocol.CodeAction
					if err := s.c.Call(ctx, "codeAction/resolve", &grammar, &resolved); err != nil {
						t.Fatal(err)
					}
					if (resolved.Edit != nil) != tc.applied {
						t.Fatalf("resolved with edit %+v, want an edit: %v", resolved.Edit, tc.applied)
					}
					if tc.applied {
						if err := s.c.Apply(*resolved.Edit); err != nil {
							t.Fatal(err)
						}
					}
				} else {
					if err := s.c.Call(ctx, "workspace/executeCommand", map[string]any{"command": grammar.Command.Command, "arguments": grammar.Command.Arguments}, nil); err != nil {
						t.Fatal(err)
					}
					// The action ends with an edit or a message.
					if err := s.c.WaitFor(ctx, "the action's end", func() bool {
						return len(s.c.AppliedEdits()) > 0 || len(s.c.Messages()) > 0
					}); err != nil {
						t.Fatal(err)
					}
					if tc.applied {
						if err := s.c.WaitFor(ctx, "the edit", func() bool { return len(s.c.AppliedEdits()) == 1 }); err != nil {
							t.Fatal(err)
						}
					} else if n := len(s.c.AppliedEdits()); n != 0 {
						t.Fatalf("%d edits sent", n)
					}
				}

				want := doc
				if tc.applied {
					want = outFlag.ReplaceAllString(strings.Replace(doc, "Teh", "The", 1), "[flag:$1]")
				}
				if got := s.c.Text(u); got != want {
					t.Fatalf("text %q, want %q", got, want)
				}
				// Messages go out before the resolve answer and before
				// workspace/applyEdit: they are all here.
				msgs := s.c.Messages()
				switch {
				case tc.message == "" && len(msgs) != 0:
					t.Fatalf("messages %+v, want none", msgs)
				case tc.message != "" && (len(msgs) != 1 || !strings.HasPrefix(msgs[0].Message, tc.message) || msgs[0].Type != tc.typ):
					t.Fatalf("messages %+v, want one of type %v starting %q", msgs, tc.typ, tc.message)
				}
				if asked := modelRequests(s.fake) > 0; asked != tc.modelAsked {
					t.Fatalf("the model was asked: %v, want %v", asked, tc.modelAsked)
				}
				es := s.local.Journal(t)
				if len(es) != 1 || es[0].Moderation != tc.journal || es[0].Integration != "lsp" {
					t.Fatalf("journal %+v, want one lsp entry with moderation %q", es, tc.journal)
				}
			})
		}
	}
}

// TestModerationOfCompletions: a refused completion offers nothing and
// says why once (as other completion errors), not at every pause; a
// warned one keeps its suggestion and says so once per document.
func TestModerationOfCompletions(t *testing.T) {
	complete := func(t *testing.T, s *session, u string) []protocol.CompletionItem {
		t.Helper()
		var list protocol.CompletionList
		if err := s.c.Call(ctxT(t), "textDocument/completion", completionParams(u, s.c.Pos(u, len(s.c.Text(u))), 1), &list); err != nil {
			t.Fatal(err)
		}
		return list.Items
	}
	// A keystroke at the start: the next completion is asked of the model
	// again (the cache keys on the text before the cursor).
	retype := func(s *session, u string) { s.c.Replace(u, 0, 0, "\n") }

	t.Run("block", func(t *testing.T) {
		s := start(t, setup{caps: lsptest.Neovim07, moderation: moderated()})
		s.fake.Handle(modRewriter)
		u := s.file("a.go")
		s.c.Open(u, "go", "// [flag:violence_and_threats]\n"+addGo)
		for i := range 3 {
			if items := complete(t, s, u); len(items) != 0 {
				t.Fatalf("completion %d: items %+v", i, items)
			}
			retype(s, u)
		}
		// The message goes out before the completion's answer.
		msgs := s.c.Messages()
		if len(msgs) != 1 || msgs[0].Type != protocol.MessageTypeWarning ||
			!strings.HasPrefix(msgs[0].Message, "timon: completion failed: refused by moderation: category violence_and_threats (input)") {
			t.Fatalf("messages %+v, want one refusal", msgs)
		}
		if n := modelRequests(s.fake); n != 0 {
			t.Fatalf("%d model requests", n)
		}
		if es := s.local.Journal(t); len(es) != 3 || es[2].Moderation != "in:violence_and_threats=block" {
			t.Fatalf("journal %+v", es)
		}
	})

	t.Run("warn", func(t *testing.T) {
		s := start(t, setup{caps: lsptest.Neovim07, moderation: moderated()})
		s.fake.Handle(modRewriter)
		const text = "// [flag:health]\n" + addGo
		u := s.file("a.go")
		s.c.Open(u, "go", text)
		for i := range 3 {
			if items := complete(t, s, u); len(items) != 1 {
				t.Fatalf("completion %d: items %+v, want the suggestion", i, items)
			}
			retype(s, u)
		}
		const notice = "timon: completion: moderation: category health flagged (input)"
		msgs := s.c.Messages()
		if len(msgs) != 1 || msgs[0].Type != protocol.MessageTypeWarning || msgs[0].Message != notice {
			t.Fatalf("messages %+v, want one notice", msgs)
		}
		if n := modelRequests(s.fake); n != 3 {
			t.Fatalf("%d model requests, want 3 (each completion warned)", n)
		}
		// Another document: said once there too.
		v := s.file("b.go")
		s.c.Open(v, "go", text)
		if items := complete(t, s, v); len(items) != 1 {
			t.Fatalf("items %+v", items)
		}
		if msgs := s.c.Messages(); len(msgs) != 2 || msgs[1].Message != notice {
			t.Fatalf("messages %+v, want the notice again for b.go", msgs)
		}
		for _, e := range s.local.Journal(t) {
			if e.Moderation != "in:health=warn" {
				t.Fatalf("journal entry with moderation %q", e.Moderation)
			}
		}
	})
}
