package integrationtests

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"timon.dev/timon/core"
	"timon.dev/timon/core/remote"
)

// abuseValue is what the tests put in one field: a marker no detector
// flags (to see whether the field reaches the model), a GitHub token and an
// e-mail address, distinct per field.
type abuseValue struct{ marker, token, email string }

func newAbuseValue(k int) abuseValue {
	const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	rng := rand.New(rand.NewPCG(uint64(k)+7, 99))
	var b strings.Builder
	for range 36 {
		b.WriteByte(alnum[rng.IntN(len(alnum))])
	}
	return abuseValue{marker: fmt.Sprintf("zqwire%dz", k), token: "ghp_" + b.String(), email: fmt.Sprintf("w%d.person@lab-univ.fr", k)}
}

func (a abuseValue) text() string { return a.marker + " " + a.token + " " + a.email }

func (a abuseValue) json() []byte {
	b, _ := json.Marshal(map[string]any{"type": "object", "description": a.text(),
		"properties": map[string]any{a.text(): map[string]any{"type": "string"}}})
	return b
}

// leaked reports whether body carries a's token or e-mail, also as JSON
// escapes would write them.
func (a abuseValue) leaked(body string) bool {
	return strings.Contains(body, a.token) || strings.Contains(body, a.email) ||
		strings.Contains(body, strings.ReplaceAll(a.email, "@", `\u0040`))
}

// wireSlots walks v by reflection (structs, slices, maps, pointers, []byte,
// json.RawMessage) and calls visit for every string location with a
// setter; empty slices, nil maps and pointers get an element when the
// setter is called, so that a field added later is reached too.
func wireSlots(v reflect.Value, path string, visit func(path string, set func(abuseValue))) {
	switch v.Kind() {
	case reflect.String:
		visit(path, func(a abuseValue) { v.SetString(a.text()) })
	case reflect.Struct:
		for i := range v.NumField() {
			if f := v.Type().Field(i); f.IsExported() {
				wireSlots(v.Field(i), strings.TrimPrefix(path+"."+f.Name, "."), visit)
			}
		}
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			isJSON := v.Type() == reflect.TypeFor[json.RawMessage]()
			visit(path, func(a abuseValue) {
				if isJSON {
					v.SetBytes(a.json())
				} else {
					v.SetBytes([]byte(a.text()))
				}
			})
			return
		}
		if v.Len() > 0 {
			for i := range v.Len() {
				wireSlots(v.Index(i), path, visit)
			}
			return
		}
		e := reflect.New(v.Type().Elem()).Elem()
		wireSlots(e, path, func(p string, set func(abuseValue)) {
			visit(p, func(a abuseValue) { set(a); v.Set(reflect.Append(v, e)) })
		})
	case reflect.Map:
		if v.Type().Key().Kind() == reflect.String {
			visit(path+"[key]", func(a abuseValue) {
				if v.IsNil() {
					v.Set(reflect.MakeMap(v.Type()))
				}
				v.SetMapIndex(reflect.ValueOf(a.text()).Convert(v.Type().Key()), reflect.New(v.Type().Elem()).Elem())
			})
		}
		e := reflect.New(v.Type().Elem()).Elem()
		wireSlots(e, path, func(p string, set func(abuseValue)) {
			visit(p, func(a abuseValue) {
				set(a)
				if v.IsNil() {
					v.Set(reflect.MakeMap(v.Type()))
				}
				v.SetMapIndex(reflect.New(v.Type().Key()).Elem(), e)
			})
		})
	case reflect.Pointer:
		if !v.IsNil() {
			wireSlots(v.Elem(), path, visit)
			return
		}
		e := reflect.New(v.Type().Elem())
		wireSlots(e.Elem(), path, func(p string, set func(abuseValue)) {
			visit(p, func(a abuseValue) { set(a); v.Set(e) })
		})
	}
}

// assistFor is a valid /v1/assist body of a task, with a schema so that
// its name and body are sent too.
func assistFor(task string) *remote.AssistRequest {
	r := &remote.AssistRequest{ResponseFormat: &core.JSONSchema{Name: "answer", Schema: json.RawMessage(`{"type":"object"}`)}}
	switch task {
	case "chat":
		r.Task, r.Messages = core.TaskChat, []core.Message{{Role: "user", Content: "hello"}}
	case "complete":
		r.Task, r.Prefix = core.TaskComplete, "func add(a, b int) int {"
	default:
		r.Task, r.Input = core.Task(task), "some text"
	}
	return r
}

// auditEntries reads the journal entries that query (url.Values encoded)
// selects through the admin route.
func auditEntries(t *testing.T, h *hub, admin string, query url.Values) []map[string]any {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, h.url+"/admin/audit?"+query.Encode(), nil)
	req.Header.Set("Authorization", "Bearer "+admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var page struct {
		Entries []map[string]any `json:"entries"`
	}
	decodeJSON(t, resp, &page)
	if resp.StatusCode != 200 {
		t.Fatalf("/admin/audit?%s: %d", query.Encode(), resp.StatusCode)
	}
	return page.Entries
}

// auditEntry reads one journal entry through the admin route.
func auditEntry(t *testing.T, h *hub, admin, id string) map[string]any {
	t.Helper()
	entries := auditEntries(t, h, admin, url.Values{"request_id": {id}})
	if len(entries) != 1 {
		t.Fatalf("/admin/audit?request_id=%s: %d entries", id, len(entries))
	}
	return entries[0]
}

func redactionCount(e map[string]any, typ string) int {
	m, _ := e["redactions"].(map[string]any)
	n, _ := m[typ].(float64)
	return int(n)
}

// TestAbuseFieldsAssist: a distinct token and e-mail in each string field
// of the /v1/assist body, one field at a time, for each task, never reach
// the model through timon serve; a field that reaches it has its findings
// counted in the journal; a field that is refused sends nothing.
func TestAbuseFieldsAssist(t *testing.T) {
	fake := newFake(t)
	h := startHub(t, fake, fake.URL())
	user := h.token("walker", "physics")
	admin := h.token("root", "admin")
	sent := map[string]bool{}
	k := 0
	for _, task := range []string{"chat", "complete", "rewrite", "summarize", "explain", "review"} {
		var paths []string
		wireSlots(reflect.ValueOf(assistFor(task)).Elem(), "", func(p string, _ func(abuseValue)) { paths = append(paths, p) })
		if len(paths) < 12 {
			t.Fatalf("only %d string fields found: %v", len(paths), paths)
		}
		for i, path := range paths {
			k++
			a := newAbuseValue(k)
			body := assistFor(task)
			j := 0
			wireSlots(reflect.ValueOf(body).Elem(), "", func(_ string, set func(abuseValue)) {
				if j == i {
					set(a)
				}
				j++
			})
			before := len(modelRequests(fake))
			status, out, _ := h.post("/v1/assist", user, body)
			got := modelRequests(fake)[before:]
			for _, q := range got {
				if a.leaked(string(q.Body)) {
					t.Fatalf("%s / %s: the model received the planted values: %s", task, path, q.Body)
				}
			}
			if status != 200 {
				if status != 400 && status != 403 && status != 422 {
					t.Fatalf("%s / %s: %d %v", task, path, status, out)
				}
				if len(got) != 0 {
					t.Fatalf("%s / %s: refused (%d) after sending %d request(s)", task, path, status, len(got))
				}
				// The reason may quote the value: the journal keeps it
				// scrubbed.
				if id, _ := out["request_id"].(string); id != "" {
					if e := auditEntry(t, h, admin, id); a.leaked(fmt.Sprint(e)) {
						t.Fatalf("%s / %s: the journal entry holds the planted values: %v", task, path, e)
					}
				}
				continue
			}
			reached := false
			for _, q := range got {
				reached = reached || strings.Contains(string(q.Body), a.marker)
			}
			if !reached {
				continue
			}
			sent[task+" "+path] = true
			e := auditEntry(t, h, admin, out["request_id"].(string))
			if redactionCount(e, "email") < 1 || redactionCount(e, "github-pat") < 1 {
				t.Fatalf("%s / %s reached the model but the journal counts %v", task, path, e["redactions"])
			}
			if a.leaked(fmt.Sprint(e)) {
				t.Fatalf("%s / %s: the journal entry holds the planted values: %v", task, path, e)
			}
		}
	}
	for _, want := range []string{"chat Messages.Content", "complete Prefix", "rewrite Input", "rewrite Instruction",
		"explain Origin.Path", "review Origin.Path", "chat ResponseFormat.Name", "chat ResponseFormat.Schema"} {
		if !sent[want] {
			t.Errorf("%s never reached the model: the walk or the prompts changed (sent: %v)", want, sent)
		}
	}
}

// TestAbuseFieldsChatCompletions: the same through the OpenAI-compatible
// route, over the fields it maps: the model, and messages given as a
// string or as text parts.
func TestAbuseFieldsChatCompletions(t *testing.T) {
	fake := newFake(t)
	h := startHub(t, fake, fake.URL())
	user := h.token("walker")
	admin := h.token("root", "admin")
	cases := []struct {
		name  string
		body  func(a abuseValue) map[string]any
		sends bool
	}{
		{name: "content", sends: true, body: func(a abuseValue) map[string]any {
			return map[string]any{"messages": []any{map[string]any{"role": "user", "content": a.text()}}}
		}},
		{name: "system content", sends: true, body: func(a abuseValue) map[string]any {
			return map[string]any{"messages": []any{map[string]any{"role": "system", "content": a.text()}, map[string]any{"role": "user", "content": "hi"}}}
		}},
		{name: "text part", sends: true, body: func(a abuseValue) map[string]any {
			return map[string]any{"messages": []any{map[string]any{"role": "user", "content": []any{map[string]any{"type": "text", "text": a.text()}}}}}
		}},
		{name: "role", body: func(a abuseValue) map[string]any {
			return map[string]any{"messages": []any{map[string]any{"role": a.text(), "content": "hi"}}}
		}},
		{name: "model", body: func(a abuseValue) map[string]any {
			return map[string]any{"model": a.text(), "messages": []any{map[string]any{"role": "user", "content": "hi"}}}
		}},
	}
	for i, c := range cases {
		a := newAbuseValue(1000 + i)
		before := len(modelRequests(fake))
		status, out, _ := h.post("/v1/chat/completions", user, c.body(a))
		got := modelRequests(fake)[before:]
		for _, q := range got {
			if a.leaked(string(q.Body)) {
				t.Fatalf("%s: the model received the planted values: %s", c.name, q.Body)
			}
		}
		if !c.sends {
			if status == 200 || len(got) != 0 {
				t.Fatalf("%s: %d with %d request(s) sent", c.name, status, len(got))
			}
			if id, _ := out["request_id"].(string); id != "" {
				if e := auditEntry(t, h, admin, id); a.leaked(fmt.Sprint(e)) {
					t.Fatalf("%s: the journal entry holds the planted values: %v", c.name, e)
				}
			}
			continue
		}
		if status != 200 || len(got) != 1 || !strings.Contains(string(got[0].Body), a.marker) {
			t.Fatalf("%s: %d %v, %d request(s)", c.name, status, out, len(got))
		}
		id, _ := out["id"].(string)
		e := auditEntry(t, h, admin, id)
		if redactionCount(e, "email") < 1 || redactionCount(e, "github-pat") < 1 {
			t.Fatalf("%s: the journal counts %v", c.name, e["redactions"])
		}
	}
}
