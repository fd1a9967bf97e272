package server

import (
	"bytes"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"timon.dev/timon/core"
	"timon.dev/timon/core/remote"
)

// openAPIDoc is the embedded document, decoded.
func openAPIDoc(t *testing.T) map[string]any {
	t.Helper()
	var doc map[string]any
	dec := json.NewDecoder(bytes.NewReader(OpenAPI()))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("openapi.json is not JSON: %v", err)
	}
	return doc
}

// at walks the document along keys: at(doc, "components", "schemas").
func at(t *testing.T, v any, keys ...string) any {
	t.Helper()
	for i, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("openapi.json: %s is not an object", strings.Join(keys[:i], "/"))
		}
		if v, ok = m[k]; !ok {
			t.Fatalf("openapi.json: no %s", strings.Join(keys[:i+1], "/"))
		}
	}
	return v
}

func obj(t *testing.T, v any, keys ...string) map[string]any {
	t.Helper()
	m, ok := at(t, v, keys...).(map[string]any)
	if !ok {
		t.Fatalf("openapi.json: %s is not an object", strings.Join(keys, "/"))
	}
	return m
}

func strs(t *testing.T, v any, keys ...string) []string {
	t.Helper()
	list, ok := at(t, v, keys...).([]any)
	if !ok {
		t.Fatalf("openapi.json: %s is not an array", strings.Join(keys, "/"))
	}
	out := make([]string, len(list))
	for i, x := range list {
		if out[i], ok = x.(string); !ok {
			t.Fatalf("openapi.json: %s[%d] is not a string", strings.Join(keys, "/"), i)
		}
	}
	return out
}

var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// documentedRoutes lists "METHOD /path" of every operation, and of those
// marked x-timon-mount (attached by cmd, not by New).
func documentedRoutes(t *testing.T, doc map[string]any) (all, mounts []string) {
	t.Helper()
	for path, item := range obj(t, doc, "paths") {
		for method, op := range item.(map[string]any) {
			if !slices.Contains(httpMethods, method) {
				continue
			}
			r := strings.ToUpper(method) + " " + path
			all = append(all, r)
			if m, _ := op.(map[string]any)["x-timon-mount"].(bool); m {
				mounts = append(mounts, r)
			}
		}
	}
	slices.Sort(all)
	slices.Sort(mounts)
	return all, mounts
}

// TestOpenAPIDocumentIsValid: the document is OpenAPI 3.1, every $ref
// resolves, every operation has an id (unique) and responses.
func TestOpenAPIDocumentIsValid(t *testing.T) {
	doc := openAPIDoc(t)
	if v, _ := doc["openapi"].(string); !strings.HasPrefix(v, "3.1.") {
		t.Fatalf("openapi = %q, want 3.1.x", v)
	}
	at(t, doc, "info", "title")
	at(t, doc, "info", "version")
	at(t, doc, "components", "securitySchemes", "bearer")

	var walk func(where string, v any)
	refs := 0
	walk = func(where string, v any) {
		switch v := v.(type) {
		case map[string]any:
			if r, ok := v["$ref"].(string); ok {
				refs++
				ptr, ok := strings.CutPrefix(r, "#/")
				if !ok {
					t.Errorf("%s: $ref %q is not local", where, r)
				} else if _, err := resolve(doc, ptr); err != nil {
					t.Errorf("%s: $ref %q: %v", where, r, err)
				}
			}
			for k, x := range v {
				walk(where+"/"+k, x)
			}
		case []any:
			for i, x := range v {
				walk(where+"/"+strconv.Itoa(i), x)
			}
		}
	}
	walk("#", doc)
	if refs == 0 {
		t.Fatal("no $ref found: the walk is broken")
	}

	ids := map[string]string{}
	for path, item := range obj(t, doc, "paths") {
		for method, op := range item.(map[string]any) {
			if !slices.Contains(httpMethods, method) {
				t.Errorf("%s: %q is not an HTTP method", path, method)
				continue
			}
			where := strings.ToUpper(method) + " " + path
			id, _ := op.(map[string]any)["operationId"].(string)
			if id == "" {
				t.Errorf("%s has no operationId", where)
			} else if other, dup := ids[id]; dup {
				t.Errorf("%s and %s share the operationId %s", where, other, id)
			}
			ids[id] = where
			if rs, _ := op.(map[string]any)["responses"].(map[string]any); len(rs) == 0 {
				t.Errorf("%s has no responses", where)
			}
			// A path parameter is declared as one.
			for _, m := range regexp.MustCompile(`\{([^}]+)\}`).FindAllStringSubmatch(path, -1) {
				found := false
				params, _ := op.(map[string]any)["parameters"].([]any)
				for _, p := range params {
					p := p.(map[string]any)
					found = found || p["in"] == "path" && p["name"] == m[1] && p["required"] == true
				}
				if !found {
					t.Errorf("%s: path parameter %s is not declared (in: path, required)", where, m[1])
				}
			}
		}
	}
}

// resolve follows a JSON pointer (without "#/") in doc.
func resolve(doc any, ptr string) (any, error) {
	v := doc
	for _, tok := range strings.Split(ptr, "/") {
		tok = strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)
		m, ok := v.(map[string]any)
		if !ok {
			return nil, &json.UnsupportedValueError{Str: "not an object before " + tok}
		}
		if v, ok = m[tok]; !ok {
			return nil, &json.UnsupportedValueError{Str: "no " + tok}
		}
	}
	return v, nil
}

// cmdMounts reads the routes cmd/timon mounts on the server, from its
// source: every server.Mount literal's Method and Path. They exist only
// when an integration is configured, so New cannot list them by itself.
func cmdMounts(t *testing.T) []Mount {
	t.Helper()
	files, err := filepath.Glob("../../cmd/timon/*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("reading cmd/timon: %v (%d files)", err, len(files))
	}
	var mounts []Mount
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatalf("parsing %s: %v", name, err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.CompositeLit)
			if !ok {
				return true
			}
			var m Mount
			for _, el := range lit.Elts {
				kv, ok := el.(*ast.KeyValueExpr)
				if !ok {
					continue
				}
				key, _ := kv.Key.(*ast.Ident)
				if key == nil {
					continue
				}
				switch key.Name {
				case "Method":
					m.Method = methodOf(kv.Value)
				case "Path":
					if b, ok := kv.Value.(*ast.BasicLit); ok && b.Kind == token.STRING {
						m.Path, _ = strconv.Unquote(b.Value)
					}
				}
			}
			if m.Method != "" && m.Path != "" {
				mounts = append(mounts, m)
			} else if m.Method != "" || m.Path != "" {
				t.Errorf("%s: a Mount whose method and path are not both literal: %s %s", fset.Position(lit.Pos()), m.Method, m.Path)
			}
			return true
		})
	}
	if len(mounts) == 0 {
		t.Fatal("no server.Mount found in cmd/timon: the reader is broken")
	}
	return mounts
}

// methodOf reads http.MethodPost or "POST".
func methodOf(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.SelectorExpr:
		if x, ok := e.X.(*ast.Ident); ok && x.Name == "http" {
			if m, ok := strings.CutPrefix(e.Sel.Name, "Method"); ok {
				return strings.ToUpper(m)
			}
		}
	case *ast.BasicLit:
		s, _ := strconv.Unquote(e.Value)
		return s
	}
	return ""
}

// TestOpenAPIMatchesRoutes: the OpenAPI document matches the routes. Every
// route the server registers (New's own, and those cmd mounts) is in the
// document, and every operation of the document is a registered route.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	doc := openAPIDoc(t)
	mounts := cmdMounts(t)
	for i := range mounts {
		mounts[i].Handler = http.NotFoundHandler()
	}
	s := New(Options{Mounts: mounts})

	// ServeMux patterns write parameters {name}, as OpenAPI does.
	var served []string
	for _, r := range s.routes {
		served = append(served, r.String())
	}
	slices.Sort(served)
	documented, docMounts := documentedRoutes(t, doc)

	for _, r := range served {
		if !slices.Contains(documented, r) {
			t.Errorf("route %s is served but not in openapi.json", r)
		}
	}
	for _, r := range documented {
		if !slices.Contains(served, r) {
			t.Errorf("openapi.json describes %s, which the server does not serve", r)
		}
	}

	var cmdRoutes []string
	for _, m := range mounts {
		cmdRoutes = append(cmdRoutes, m.Method+" "+m.Path)
	}
	slices.Sort(cmdRoutes)
	if !slices.Equal(cmdRoutes, docMounts) {
		t.Errorf("routes marked x-timon-mount = %v, cmd/timon mounts %v", docMounts, cmdRoutes)
	}
	for _, r := range docMounts {
		method, path, _ := strings.Cut(r, " ")
		op := obj(t, doc, "paths", path, strings.ToLower(method))
		if sec, ok := op["security"].([]any); !ok || len(sec) != 0 {
			t.Errorf("%s is authenticated by the platform's signature: its security must be []", r)
		}
		ref, _ := op["x-timon-docs"].(string)
		if _, err := os.Stat(filepath.Join("../..", ref)); ref == "" || err != nil {
			t.Errorf("%s: x-timon-docs %q does not name a file of the repository", r, ref)
		}
	}
	// Routes without a token say so; every other route needs the bearer.
	open := []string{"GET /healthz", "GET /readyz", "GET /metrics", "GET /openapi.json"}
	for _, r := range documented {
		method, path, _ := strings.Cut(r, " ")
		sec, has := obj(t, doc, "paths", path, strings.ToLower(method))["security"].([]any)
		public := has && len(sec) == 0
		if want := slices.Contains(open, r) || slices.Contains(docMounts, r); public != want {
			t.Errorf("%s: without a token in openapi.json = %v, want %v", r, public, want)
		}
	}
}

// jsonFields lists the JSON names of a struct type's fields.
func jsonFields(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

func properties(t *testing.T, doc map[string]any, schema string) []string {
	t.Helper()
	var out []string
	for k := range obj(t, doc, "components", "schemas", schema, "properties") {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// TestOpenAPIAssistSchemas: /v1/assist's request, response, events and
// errors, and the OpenAI routes' answers, in the document are the
// handler's types, field for field; every
// task of core is documented, with its own schema, and only those.
func TestOpenAPIAssistSchemas(t *testing.T) {
	doc := openAPIDoc(t)
	for _, c := range []struct {
		schema string
		typ    reflect.Type
	}{
		{"AssistRequest", reflect.TypeFor[remote.AssistRequest]()},
		{"Message", reflect.TypeFor[core.Message]()},
		{"Origin", reflect.TypeFor[core.Origin]()},
		{"JSONSchema", reflect.TypeFor[core.JSONSchema]()},
		{"AssistResponse", reflect.TypeFor[core.Response]()},
		{"Usage", reflect.TypeFor[core.Usage]()},
		{"AssistDelta", reflect.TypeFor[remote.Delta]()},
		{"Error", reflect.TypeFor[errorBody]()},
		{"ChatCompletion", reflect.TypeFor[ocResponse]()},
		{"Completion", reflect.TypeFor[completionResponse]()},
	} {
		if got, want := properties(t, doc, c.schema), jsonFields(c.typ); !slices.Equal(got, want) {
			t.Errorf("schema %s has properties %v; %s has fields %v", c.schema, got, c.typ, want)
		}
	}

	var tasks []string
	for _, task := range core.TextTasks {
		tasks = append(tasks, string(task))
	}
	if got := strs(t, doc, "components", "schemas", "Task", "enum"); !slices.Equal(got, tasks) {
		t.Errorf("task enum = %v, core.TextTasks = %v", got, tasks)
	}
	mapping := obj(t, doc, "components", "schemas", "AssistRequest", "discriminator", "mapping")
	if len(mapping) != len(tasks) {
		t.Errorf("the discriminator maps %d tasks, core has %d", len(mapping), len(tasks))
	}
	oneOf, _ := at(t, doc, "components", "schemas", "AssistRequest", "oneOf").([]any)
	for _, task := range tasks {
		ref, _ := mapping[task].(string)
		if ref == "" {
			t.Errorf("task %s has no schema in AssistRequest's discriminator", task)
			continue
		}
		s, err := resolve(doc, strings.TrimPrefix(ref, "#/"))
		if err != nil {
			t.Errorf("task %s: %s: %v", task, ref, err)
			continue
		}
		if c := at(t, s, "properties", "task", "const"); c != task {
			t.Errorf("%s says task %v, want %s", ref, c, task)
		}
		if !slices.ContainsFunc(oneOf, func(v any) bool { return v.(map[string]any)["$ref"] == ref }) {
			t.Errorf("%s is not in AssistRequest's oneOf", ref)
		}
		// Each field a task requires is a field of the request.
		for _, f := range strs(t, s, "required") {
			if !slices.Contains(properties(t, doc, "AssistRequest"), f) {
				t.Errorf("%s requires %s, which is not a field of AssistRequest", ref, f)
			}
		}
	}
	if got := strs(t, doc, "components", "schemas", "AssistRequest", "properties", "format", "enum"); !slices.Equal(got, []string{core.FormatText, core.FormatLaTeX}) {
		t.Errorf("format enum = %v", got)
	}
	var classes []string
	for _, c := range core.Classifications {
		classes = append(classes, string(c))
	}
	if got := strs(t, doc, "components", "schemas", "AssistRequest", "properties", "classification", "enum"); !slices.Equal(got, classes) {
		t.Errorf("classification enum = %v, core.Classifications = %v", got, classes)
	}

	events := []string{remote.EventDelta, remote.EventDone, remote.EventError}
	if got := strs(t, doc, "components", "schemas", "AssistEvent", "x-timon-events"); !slices.Equal(got, events) {
		t.Errorf("documented events = %v, the handler's = %v", got, events)
	}
	for i, e := range at(t, doc, "components", "schemas", "AssistEvent", "oneOf").([]any) {
		if name := at(t, e, "properties", "event", "const"); name != events[i] {
			t.Errorf("AssistEvent oneOf[%d] is event %v, want %s", i, name, events[i])
		}
	}
}

// errorKinds reads core's error kinds from core/errors.go: a kind added
// there without a line in the document fails here.
func errorKinds(t *testing.T) []core.Kind {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "../../core/errors.go", nil, 0)
	if err != nil {
		t.Fatalf("parsing core/errors.go: %v", err)
	}
	var kinds []core.Kind
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, spec := range g.Specs {
			vs := spec.(*ast.ValueSpec)
			if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "Kind" {
				continue
			}
			for _, v := range vs.Values {
				s, _ := strconv.Unquote(v.(*ast.BasicLit).Value)
				kinds = append(kinds, core.Kind(s))
			}
		}
	}
	if len(kinds) < 10 {
		t.Fatalf("found %d error kinds in core/errors.go: the reader is broken", len(kinds))
	}
	return kinds
}

// TestOpenAPIErrorCodes: every error kind of core is documented with the
// HTTP status the server gives it, and nothing else.
func TestOpenAPIErrorCodes(t *testing.T) {
	doc := openAPIDoc(t)
	enum := strs(t, doc, "components", "schemas", "ErrorCode", "enum")
	status := obj(t, doc, "components", "schemas", "ErrorCode", "x-timon-status")
	kinds := errorKinds(t)
	for _, k := range kinds {
		if !slices.Contains(enum, string(k)) {
			t.Errorf("error code %s is not in the document", k)
		}
		if got, _ := status[string(k)].(json.Number); got.String() != strconv.Itoa(Status(k)) {
			t.Errorf("code %s: documented status %v, the server's %d", k, status[string(k)], Status(k))
		}
	}
	for _, e := range enum {
		if !slices.Contains(kinds, core.Kind(e)) {
			t.Errorf("the document lists code %s, which core does not have", e)
		}
	}
	if len(status) != len(enum) {
		t.Errorf("x-timon-status has %d codes, the enum %d", len(status), len(enum))
	}
}

// TestOpenAPIServed: GET /openapi.json answers the document without a
// token.
func TestOpenAPIServed(t *testing.T) {
	srv := httptest.NewServer(New(Options{}))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("GET /openapi.json: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	if !bytes.Equal(body, OpenAPI()) {
		t.Fatal("GET /openapi.json is not the embedded document")
	}
}

// TestOpenAPIDocsAPIMd: docs/api.md names every route of the document,
// every task and every error code, and its /v1/assist examples are bodies
// the handler accepts: the strict decoder, then the request's validation.
func TestOpenAPIDocsAPIMd(t *testing.T) {
	doc := openAPIDoc(t)
	data, err := os.ReadFile("../../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	md := string(data)
	for path := range obj(t, doc, "paths") {
		if !strings.Contains(md, "`"+path) && !strings.Contains(md, " "+path) {
			t.Errorf("docs/api.md does not mention %s", path)
		}
	}
	for _, k := range errorKinds(t) {
		if !strings.Contains(md, "`"+string(k)+"`") {
			t.Errorf("docs/api.md does not list error code %s", k)
		}
	}

	blocks := regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(md, -1)
	body := regexp.MustCompile(`(?s) -d '(.*?)'`)
	examples := map[core.Task]int{}
	for _, b := range blocks {
		cmd := b[1]
		if !strings.Contains(cmd, "curl") {
			continue
		}
		if !strings.Contains(cmd, "http://127.0.0.1:8080/") {
			t.Errorf("example does not ask the hub at http://127.0.0.1:8080:\n%s", cmd)
		}
		m := body.FindStringSubmatch(cmd)
		if m == nil {
			continue
		}
		if !json.Valid([]byte(m[1])) {
			t.Errorf("example's body is not JSON:\n%s", cmd)
			continue
		}
		if !strings.Contains(cmd, "/v1/assist") {
			continue
		}
		// An example of an error says so in a comment: "# 400 invalid: …".
		wantErr := regexp.MustCompile(`(?m)^# 4\d\d `).MatchString(cmd)
		var a remote.AssistRequest
		err := decodeBody(strings.NewReader(m[1]), &a)
		if err == nil {
			err = a.Request(core.Principal{UserID: "doc", Integration: core.IntegrationAPI}).Validate()
		}
		switch {
		case err != nil && !wantErr:
			t.Errorf("the handler refuses the example (%v):\n%s", err, cmd)
		case err == nil && wantErr:
			t.Errorf("the example of an error is accepted:\n%s", cmd)
		case err == nil:
			examples[a.Task]++
		}
	}
	for _, task := range core.TextTasks {
		if examples[task] == 0 {
			t.Errorf("docs/api.md has no curl example of task %s", task)
		}
	}
}
