package assistant_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"timon.dev/timon/core"
	"timon.dev/timon/core/audit"
	"timon.dev/timon/core/provider"
	"timon.dev/timon/core/provider/fakellm"
	"timon.dev/timon/core/quota"
)

// planted is what the test puts in one string field: a marker that no
// detector flags (to see whether the field reaches the model at all), a
// GitHub token and an e-mail address, all distinct per field.
type planted struct{ marker, token, email string }

func plant(k int) planted {
	const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	rng := rand.New(rand.NewPCG(uint64(k)+1, 42))
	var b strings.Builder
	for range 36 {
		b.WriteByte(alnum[rng.IntN(len(alnum))])
	}
	return planted{marker: fmt.Sprintf("zqmark%dz", k), token: "ghp_" + b.String(), email: fmt.Sprintf("f%d.person@lab-univ.fr", k)}
}

func (p planted) text() string { return p.marker + " " + p.token + " " + p.email }

// json is a JSON document carrying p as a key and as a string value.
func (p planted) json() []byte {
	b, _ := json.Marshal(map[string]any{"type": "object", "description": p.text(),
		"properties": map[string]any{p.text(): map[string]any{"type": "string"}}})
	return b
}

// stringSlots walks v by reflection — nested structs, slices, maps,
// pointers, []byte and json.RawMessage — and calls visit for every string
// location with its path and a setter. Empty slices, nil maps and nil
// pointers are given one element, kept only if the setter is called, so
// that every field of the type is reached, including those added later.
func stringSlots(v reflect.Value, path string, visit func(path string, set func(planted))) {
	switch v.Kind() {
	case reflect.String:
		visit(path, func(p planted) { v.SetString(p.text()) })
	case reflect.Struct:
		for i := range v.NumField() {
			if f := v.Type().Field(i); f.IsExported() {
				stringSlots(v.Field(i), strings.TrimPrefix(path+"."+f.Name, "."), visit)
			}
		}
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			isJSON := v.Type() == reflect.TypeFor[json.RawMessage]()
			visit(path, func(p planted) {
				if isJSON {
					v.SetBytes(p.json())
				} else {
					v.SetBytes([]byte(p.text()))
				}
			})
			return
		}
		if v.Len() > 0 {
			for i := range v.Len() {
				stringSlots(v.Index(i), path, visit)
			}
			return
		}
		e := reflect.New(v.Type().Elem()).Elem()
		stringSlots(e, path, func(p string, set func(planted)) {
			visit(p, func(x planted) { set(x); v.Set(reflect.Append(v, e)) })
		})
	case reflect.Map:
		visit(path+"[key]", func(p planted) {
			if v.IsNil() {
				v.Set(reflect.MakeMap(v.Type()))
			}
			k := reflect.New(v.Type().Key()).Elem()
			k.SetString(p.text())
			v.SetMapIndex(k, reflect.New(v.Type().Elem()).Elem())
		})
		e := reflect.New(v.Type().Elem()).Elem()
		stringSlots(e, path, func(p string, set func(planted)) {
			visit(p, func(x planted) {
				set(x)
				if v.IsNil() {
					v.Set(reflect.MakeMap(v.Type()))
				}
				v.SetMapIndex(reflect.ValueOf("k").Convert(v.Type().Key()), e)
			})
		})
	case reflect.Pointer:
		if !v.IsNil() {
			stringSlots(v.Elem(), path, visit)
			return
		}
		e := reflect.New(v.Type().Elem())
		stringSlots(e.Elem(), path, func(p string, set func(planted)) {
			visit(p, func(x planted) { set(x); v.Set(e) })
		})
	}
}

// requestFor is a valid request of each task, with a schema so that the
// schema's name and body are sent too.
func requestFor(task string) *core.Request {
	r := &core.Request{Principal: core.Principal{UserID: "walker", Integration: core.IntegrationAPI},
		ResponseFormat: &core.JSONSchema{Name: "answer", Schema: json.RawMessage(`{"type":"object"}`)}}
	switch task {
	case "chat":
		r.Task, r.Messages = core.TaskChat, []core.Message{{Role: "user", Content: "hello"}}
	case "complete":
		r.Task, r.Prefix = core.TaskComplete, "func add(a, b int) int {"
	case "rewrite-latex":
		r.Task, r.Format, r.Input = core.TaskRewrite, core.FormatLaTeX, `Le résultat $x^2$ est connu \cite{a}.`
	default:
		r.Task, r.Input = core.Task(task), "some text"
	}
	return r
}

var walkedTasks = []string{"chat", "complete", "rewrite", "rewrite-latex", "summarize", "explain", "review"}

// TestEveryStringFieldIsRedacted plants a distinct token and e-mail in each
// string field of core.Request, one field at a time, for every task: the
// model never receives them, and when the field reaches the model its
// findings are counted in the journal. A field validation or policy
// rejects makes the request fail with nothing sent.
func TestEveryStringFieldIsRedacted(t *testing.T) {
	r := newRig(t, rigOptions{})
	// A LaTeX rewrite is verified: answer with the masked input as given.
	r.fake.Handle(func(q fakellm.Request) fakellm.Reply {
		if s := q.LastUser(); strings.Contains(s, "<data>") {
			i, j := strings.Index(s, "<data>\n"), strings.LastIndex(s, "\n</data>")
			return fakellm.Reply{Text: s[i+len("<data>\n") : j]}
		}
		return fakellm.Reply{}
	})
	ctx := context.Background()
	sentFields := map[string]bool{}
	k := 0
	for _, task := range walkedTasks {
		var paths []string
		stringSlots(reflect.ValueOf(requestFor(task)).Elem(), "", func(p string, _ func(planted)) { paths = append(paths, p) })
		if len(paths) < 15 {
			t.Fatalf("only %d string fields found: %v", len(paths), paths)
		}
		for i, path := range paths {
			k++
			p := plant(k)
			req := requestFor(task)
			j := 0
			stringSlots(reflect.ValueOf(req).Elem(), "", func(_ string, set func(planted)) {
				if j == i {
					set(p)
				}
				j++
			})
			before := len(r.fake.Requests())
			resp, err := r.engine.Do(ctx, req)
			got := r.fake.Requests()[before:]
			for _, q := range got {
				body := string(q.Body)
				if strings.Contains(body, p.token) || strings.Contains(body, p.email) || strings.Contains(body, strings.ReplaceAll(p.email, "@", `\u0040`)) {
					t.Fatalf("%s / %s: the model received the planted values: %s", task, path, body)
				}
			}
			if err != nil {
				switch core.ErrorKind(err) {
				case core.KindInvalid, core.KindDenied, core.KindBlocked:
				default:
					t.Fatalf("%s / %s: %v", task, path, err)
				}
				if len(got) != 0 {
					t.Fatalf("%s / %s: refused (%v) after sending %d request(s)", task, path, err, len(got))
				}
				// The reason may quote the value (an unknown task, a model
				// not allowed): the journal keeps it scrubbed. Who asks is
				// kept as given: it comes from authentication.
				var ce *core.Error
				if errors.As(err, &ce) && !strings.HasPrefix(path, "Principal.") {
					e := entryOf(t, r, ce.RequestID)
					if j := fmt.Sprintf("%+v", e); strings.Contains(j, p.token) || strings.Contains(j, p.email) {
						t.Fatalf("%s / %s: the journal keeps the planted values: %s", task, path, j)
					}
				}
				continue
			}
			reached := false
			for _, q := range got {
				reached = reached || strings.Contains(string(q.Body), p.marker)
			}
			if !reached {
				continue
			}
			sentFields[task+" "+path] = true
			e := entryOf(t, r, resp.RequestID)
			if e.Redactions["email"] < 1 || e.Redactions["github-pat"] < 1 {
				t.Fatalf("%s / %s reached the model but the journal counts %v", task, path, e.Redactions)
			}
			if !strings.Contains(resp.Text, p.email) && (task == "chat" || task == "rewrite-latex") && path == "Messages.Content" {
				t.Fatalf("%s / %s: the answer was not restored: %q", task, path, resp.Text)
			}
		}
	}
	// The walk is only worth something if it reached what is sent.
	for _, want := range []string{"chat Messages.Content", "complete Prefix", "complete Suffix", "rewrite Input", "rewrite Instruction",
		"explain Origin.Path", "review Origin.Path", "summarize Instruction", "chat ResponseFormat.Name", "chat ResponseFormat.Schema",
		"review ResponseFormat.Schema"} {
		if !sentFields[want] {
			t.Errorf("%s never reached the model: the walk or the prompts changed (sent: %v)", want, sentFields)
		}
	}
}

func entryOf(t *testing.T, r *rig, id string) audit.Entry {
	t.Helper()
	es, err := audit.List(context.Background(), r.store, audit.Filter{RequestID: id})
	if err != nil || len(es) != 1 {
		t.Fatalf("journal entry %s: %v, %d entries", id, err, len(es))
	}
	return es[0]
}

// TestSchemaIsRedactedInOrder: a schema's values hidden behind JSON escapes
// are found, keys keep their order (structured output follows it), and the
// answer's placeholders come back as the values.
func TestSchemaIsRedactedInOrder(t *testing.T) {
	r := newRig(t, rigOptions{})
	req := chat("alice", nil, "fill it")
	req.ResponseFormat = &core.JSONSchema{Name: "x", Schema: json.RawMessage(
		`{"type":"object","properties":{"zeta":{"type":"string"},"alpha":{"enum":["ada\u0040lab-univ.fr"]},"mid":{"type":"number","minimum":1.50}}}`)}
	if _, err := r.engine.Do(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	got := string(r.fake.Requests()[0].ResponseFormat)
	if strings.Contains(got, "lab-univ.fr") {
		t.Fatalf("the schema reached the model with the address: %s", got)
	}
	if !strings.Contains(got, "[[EMAIL_1]]") || strings.Index(got, "zeta") > strings.Index(got, "alpha") ||
		strings.Index(got, "alpha") > strings.Index(got, "mid") || !strings.Contains(got, "1.50") {
		t.Fatalf("schema sent: %s", got)
	}
}

// TestSchemaNumberWithFindingIsRefused: a card number written as a JSON
// number cannot become a placeholder: the request is refused, nothing sent.
func TestSchemaNumberWithFindingIsRefused(t *testing.T) {
	r := newRig(t, rigOptions{})
	req := chat("alice", nil, "fill it")
	req.ResponseFormat = &core.JSONSchema{Name: "x", Schema: json.RawMessage(`{"type":"object","examples":[4111111111111111]}`)}
	_, err := r.engine.Do(context.Background(), req)
	if core.ErrorKind(err) != core.KindBlocked || r.fake.Count() != 0 {
		t.Fatalf("got %v with %d request(s) sent", err, r.fake.Count())
	}
}

// TestRedactionOverBudgetSendsNothing: past its time budget, redaction
// refuses the request: nothing sent, a 503-kind error naming the reason,
// one journal entry, and the quota reservation given back.
func TestRedactionOverBudgetSendsNothing(t *testing.T) {
	r := newRig(t, rigOptions{redactTimeout: 1, limits: quota.Limits{Concurrent: 1, TokensPerDay: 1 << 30}})
	_, err := r.engine.Do(context.Background(), chat("slow", nil, strings.Repeat("mail ada@lab-univ.fr ", 1000)))
	var ce *core.Error
	if !errors.As(err, &ce) || ce.Kind != core.KindUnavailable || !strings.Contains(ce.Message, "redaction took longer than its budget") {
		t.Fatalf("got %v", err)
	}
	if strings.Contains(ce.Message, "ada@") {
		t.Fatalf("the error quotes the input: %s", ce.Message)
	}
	if r.fake.Count() != 0 {
		t.Fatalf("%d request(s) reached the model", r.fake.Count())
	}
	e := entryOf(t, r, ce.RequestID)
	if e.Outcome != "error" || !strings.Contains(e.Error, "redaction took longer than its budget") || e.Decision != "allow" {
		t.Fatalf("journal entry %+v", e)
	}
	u, err := r.quota.Usage(context.Background(), quota.Subject{Key: "user:slow"})
	if err != nil {
		t.Fatal(err)
	}
	if u.InFlight != 0 || u.TokensToday != 0 || u.RequestsThisMinute != 1 {
		t.Fatalf("the reservation was not given back: %+v", u)
	}
}

// TestQuotaComesBeforeRedaction: a request over its quota is refused as
// such before any of it is scanned (a blocked secret would otherwise be
// the reason).
func TestQuotaComesBeforeRedaction(t *testing.T) {
	r := newRig(t, rigOptions{limits: quota.Limits{RequestsPerMinute: 1}})
	if _, err := r.engine.Do(context.Background(), chat("s", []string{"strict"}, "hello")); err != nil {
		t.Fatal(err)
	}
	_, err := r.engine.Do(context.Background(), chat("s", []string{"strict"}, "my key is AKIAZ3MSJV4WWNKWW5FI"))
	if core.ErrorKind(err) != core.KindQuota {
		t.Fatalf("got %v, want the quota refusal", err)
	}
}

// TestCutStreamIsCharged: a stream the caller abandons after output started
// is settled with the prompt and the streamed tokens, and journaled so.
func TestCutStreamIsCharged(t *testing.T) {
	for _, c := range []struct {
		name    string
		reply   fakellm.Reply
		stop    bool // the caller goes away after the first pieces
		outcome string
	}{
		{name: "caller-goes-away", reply: fakellm.Reply{Text: strings.Repeat("word ", 400)}, stop: true, outcome: "canceled"},
		{name: "provider-cuts", reply: fakellm.Reply{Text: strings.Repeat("word ", 400), CutAfter: 20}, outcome: "provider_error"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t, rigOptions{limits: quota.Limits{TokensPerDay: 1 << 30}})
			r.fake.Handle(func(fakellm.Request) fakellm.Reply { return c.reply })
			pieces := 0
			_, err := r.engine.Stream(context.Background(), chat("cut", nil, strings.Repeat("a long question ", 100)), func(string) error {
				pieces++
				if c.stop && pieces == 3 {
					return errors.New("client gone")
				}
				return nil
			})
			var ce *core.Error
			if !errors.As(err, &ce) || pieces < 1 {
				t.Fatalf("got %v after %d piece(s)", err, pieces)
			}
			e := entryOf(t, r, ce.RequestID)
			// The prompt is about 1,600 bytes: ~400 tokens.
			if e.Outcome != c.outcome || e.TokensIn < 300 || e.TokensOut < 1 || e.Provider != "first" {
				t.Fatalf("journal entry %+v", e)
			}
			u, err := r.quota.Usage(context.Background(), quota.Subject{Key: "user:cut"})
			if err != nil {
				t.Fatal(err)
			}
			if u.TokensToday != e.TokensIn+e.TokensOut {
				t.Fatalf("quota counts %d tokens, journal %d+%d", u.TokensToday, e.TokensIn, e.TokensOut)
			}
		})
	}
}

// TestAnswerLostAtTheEndIsCharged: a caller gone when the (verified, whole)
// LaTeX rewrite is emitted still pays for the model's work.
func TestAnswerLostAtTheEndIsCharged(t *testing.T) {
	r := newRig(t, rigOptions{limits: quota.Limits{TokensPerDay: 1 << 30}})
	r.fake.Handle(func(req fakellm.Request) fakellm.Reply {
		return fakellm.Reply{Text: dataOf(t, req), Usage: &provider.Usage{PromptTokens: 300, CompletionTokens: 70}}
	})
	_, err := r.engine.Stream(context.Background(), rewriteLaTeX(paragraph, "grammar"), func(string) error { return errors.New("client gone") })
	if core.ErrorKind(err) != core.KindCanceled {
		t.Fatalf("got %v", err)
	}
	u, err := r.quota.Usage(context.Background(), quota.Subject{Key: "user:ada"})
	if err != nil {
		t.Fatal(err)
	}
	if u.TokensToday != 370 || u.InFlight != 0 {
		t.Fatalf("quota usage %+v, want the 370 tokens reported", u)
	}
}
