package redact

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"timon.dev/timon/core/redact/redacttest"
)

func TestNewErrors(t *testing.T) {
	for _, c := range []struct {
		p    Profile
		want string
	}{
		{Profile{Name: "p", Patterns: []Pattern{{"ticket", `PRJ-(\d+`}}}, `pattern "ticket"`},
		{Profile{Name: "p", Patterns: []Pattern{{"", `x`}}}, `pattern name ""`},
		{Profile{Name: "p", Patterns: []Pattern{{"a", `x`}, {"a", `y`}}}, `duplicate pattern name "a"`},
		{Profile{Name: "p", Actions: map[string]Action{"email": "drop"}}, `unknown action "drop"`},
	} {
		_, err := New(c.p)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New(%+v) = %v, want error containing %q", c.p, err, c.want)
		}
	}
}

func TestInitTime(t *testing.T) {
	// The built-in set is compiled once per process (expressions compile
	// lazily, on first use). Report what the first New and a New with
	// custom terms cost, in wall-clock and thread CPU time.
	defer redacttest.LockThread()()
	start, cpu := time.Now(), redacttest.ThreadCPU()
	r := mustNew(t, Profile{})
	t.Logf("first New: %v wall, %v cpu (built-in rule set: %d rules, automaton %d states)",
		time.Since(start), redacttest.ThreadCPU()-cpu, len(r.rs.rules), r.rs.ac.nstates)
	start, cpu = time.Now(), redacttest.ThreadCPU()
	mustNew(t, Profile{Terms: []string{"ProjectX"}, Patterns: []Pattern{{"t", `PRJ-\d+`}}})
	t.Logf("New with terms and patterns: %v wall, %v cpu", time.Since(start), redacttest.ThreadCPU()-cpu)
}

func TestScanSortedNonOverlapping(t *testing.T) {
	r := mustNew(t, Profile{Terms: []string{"alice"}})
	text := "mail alice@lab.fr, token = \"ghp_R2dqZ8f9XkLmN3pQ7sT1vW4yB6cE0hJ5aF8g\", tel 06 12 34 56 78"
	fs := r.Scan(text)
	for i := 1; i < len(fs); i++ {
		if fs[i].Start < fs[i-1].End {
			t.Fatalf("overlap: %v", fs)
		}
	}
	got := Counts(fs)
	want := map[string]int{"email": 1, "github-pat": 1, "phone": 1}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Counts = %v, want %v (the term inside the e-mail merges into it)", got, want)
	}
}

func TestResolveMergesOverlaps(t *testing.T) {
	gs := resolve([]cand{
		{Finding{"generic-api-key", KindSecret, 10, 30}, prioGeneric},
		{Finding{"github-pat", KindSecret, 10, 30}, prioSpecific},
		{Finding{"email", KindPersonal, 25, 40}, prioPersonal},
		{Finding{"phone", KindPersonal, 50, 60}, prioPersonal},
	})
	var got []Finding
	for _, g := range gs {
		got = append(got, g.Finding)
	}
	want := []Finding{{"github-pat", KindSecret, 10, 40}, {"phone", KindPersonal, 50, 60}}
	if fmt.Sprint(got) != fmt.Sprint(want) || len(gs[0].parts) != 3 {
		t.Errorf("resolve = %v, want %v", got, want)
	}
}

// An allowed finding overlapping a masked or blocked one must not let it
// through: the strictest action of a merged span wins.
func TestStrictestActionOnOverlap(t *testing.T) {
	text := "contact: ProjectX-hunter2@lab.fr"
	r := mustNew(t, Profile{Terms: []string{"ProjectX"}, Actions: map[string]Action{"email": ActionAllow}})
	out, fs, err := r.Redact(NewVault(), text)
	if err != nil || strings.Contains(out, "ProjectX") || len(fs) != 1 {
		t.Fatalf("got %q %v %v: the term inside an allowed e-mail must be masked", out, fs, err)
	}
	r = mustNew(t, Profile{Terms: []string{"ProjectX"}, Actions: map[string]Action{"email": ActionAllow, "custom": ActionBlock}})
	var be *BlockedError
	if _, _, err := r.Redact(NewVault(), text); !errors.As(err, &be) || be.Type != "custom:term" {
		t.Fatalf("got %v, want blocked by custom:term", err)
	}
}

func TestRedactActions(t *testing.T) {
	text := "Write to jean.dupont@cnrs.fr about ProjectX; password: hunter2!"
	for _, c := range []struct {
		actions map[string]Action
		want    string
		blocked string
	}{
		{nil, "Write to [[EMAIL_1]] about [[TERM_1]]; password: [[SECRET_1]]", ""},
		{map[string]Action{"personal": ActionAllow}, "Write to jean.dupont@cnrs.fr about [[TERM_1]]; password: [[SECRET_1]]", ""},
		{map[string]Action{"custom": ActionAllow, "password_assignment": ActionAllow}, "Write to [[EMAIL_1]] about ProjectX; password: hunter2!", ""},
		{map[string]Action{"secret": ActionBlock}, "", "password_assignment"},
		{map[string]Action{"custom:term": ActionBlock, "custom": ActionAllow}, "", "custom:term"},
	} {
		r := mustNew(t, Profile{Name: "p", Actions: c.actions, Terms: []string{"ProjectX"}})
		v := NewVault()
		out, fs, err := r.Redact(v, text)
		if c.blocked != "" {
			var be *BlockedError
			if !errors.As(err, &be) || be.Type != c.blocked || out != "" || fs != nil {
				t.Errorf("%v: got %q, %v, %v; want BlockedError{%s}", c.actions, out, fs, err, c.blocked)
			}
			if err != nil && err.Error() != "blocked: the text contains a "+c.blocked {
				t.Errorf("message %q", err.Error())
			}
			if v.Len() != 0 {
				t.Errorf("a blocked text must not fill the vault")
			}
			continue
		}
		if err != nil || out != c.want {
			t.Errorf("%v: got %q, %v; want %q", c.actions, out, err, c.want)
		}
		if back := v.Restore(out); back != text {
			t.Errorf("restore: %q", back)
		}
	}
}

func TestBlockedErrorHasNoValue(t *testing.T) {
	r := mustNew(t, Profile{Actions: map[string]Action{"secret": ActionBlock}})
	_, _, err := r.Redact(NewVault(), "token ghp_R2dqZ8f9XkLmN3pQ7sT1vW4yB6cE0hJ5aF8g")
	if err == nil || strings.Contains(err.Error(), "ghp_") {
		t.Fatalf("err = %v", err)
	}
}

func TestVaultSameValueSamePlaceholder(t *testing.T) {
	r := mustNew(t, Profile{})
	v := NewVault()
	out1, _, _ := r.Redact(v, "a@lab.fr, b@lab.fr, a@lab.fr")
	if out1 != "[[EMAIL_1]], [[EMAIL_2]], [[EMAIL_1]]" {
		t.Fatalf("got %q", out1)
	}
	out2, _, _ := r.Redact(v, "again b@lab.fr and 06 12 34 56 78")
	if out2 != "again [[EMAIL_2]] and [[PHONE_1]]" {
		t.Fatalf("got %q", out2)
	}
	if v.Len() != 3 {
		t.Fatalf("Len = %d", v.Len())
	}
}

func TestVaultAdversarialPlaceholders(t *testing.T) {
	r := mustNew(t, Profile{})
	v := NewVault()
	text := "[[EMAIL_1]] is not bob@lab.fr; [[EMAIL_2]] [[SECRET_1]]"
	out, _, err := r.Redact(v, text)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "bob@lab.fr") || !strings.Contains(out, "[[EMAIL_3]]") {
		t.Fatalf("got %q: the e-mail must get a number not present in the text", out)
	}
	if back := v.Restore(out); back != text {
		t.Fatalf("restore %q, want %q", back, text)
	}
	// A later text of the same conversation containing a placeholder the
	// vault issued, literally: it must survive the round trip too.
	text2 := "the model said [[EMAIL_3]] literally, and carol@lab.fr"
	out2, _, _ := r.Redact(v, text2)
	if back := v.Restore(out2); back != text2 {
		t.Fatalf("restore %q, want %q (masked %q)", back, text2, out2)
	}
	// Reserved placeholders are never issued later either.
	out3, _, _ := r.Redact(v, "dave@lab.fr")
	if out3 == "[[EMAIL_1]]" || out3 == "[[EMAIL_2]]" {
		t.Fatalf("reserved placeholder issued: %q", out3)
	}
}

func TestRestoreLeavesUnknown(t *testing.T) {
	r := mustNew(t, Profile{})
	v := NewVault()
	out, _, _ := r.Redact(v, "mail a@lab.fr")
	answer := out + " [[EMAIL_9]] [[ EMAIL_1 ]] [EMAIL_1] [[email_1]] [[EMAIL_1]]] [[[EMAIL_1]] EMAIL_1 [[EMAIL_1"
	got := v.Restore(answer)
	want := "mail a@lab.fr [[EMAIL_9]] [[ EMAIL_1 ]] [EMAIL_1] [[email_1]] a@lab.fr] [a@lab.fr EMAIL_1 [[EMAIL_1"
	if got != want {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
	if NewVault().Restore("[[EMAIL_1]]") != "[[EMAIL_1]]" {
		t.Fatal("an empty vault restores nothing")
	}
}

func TestRestorerChunkings(t *testing.T) {
	r := mustNew(t, Profile{})
	v := NewVault()
	masked, _, _ := r.Redact(v, "a@lab.fr b@lab.fr 06 12 34 56 78 password: hunter2!")
	answer := "Sure: [[EMAIL_1]], [[EMAIL_2]]; call [[PHONE_1]] [[PHONE_9]] [[SECRET_1]]] [x [[ [[EMAIL_1"
	if !strings.Contains(masked, "[[SECRET_1]]") {
		t.Fatalf("masked %q", masked)
	}
	want := v.Restore(answer)
	// every split into two and three chunks
	for i := 0; i <= len(answer); i++ {
		for j := i; j <= len(answer); j++ {
			got := streamRestore(t, v, []string{answer[:i], answer[i:j], answer[j:]})
			if got != want {
				t.Fatalf("chunks %q %q %q: got %q, want %q", answer[:i], answer[i:j], answer[j:], got, want)
			}
		}
	}
}

func streamRestore(t testing.TB, v *Vault, chunks []string) string {
	var b strings.Builder
	rs := v.NewRestorer(func(s string) error { b.WriteString(s); return nil })
	for _, c := range chunks {
		if err := rs.Write(c); err != nil {
			t.Fatal(err)
		}
	}
	if err := rs.Flush(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestRestorerHoldsOnlyPlaceholderPrefixes(t *testing.T) {
	r := mustNew(t, Profile{})
	v := NewVault()
	r.Redact(v, "a@lab.fr")
	var emitted []string
	rs := v.NewRestorer(func(s string) error { emitted = append(emitted, s); return nil })
	step := func(chunk, want string) {
		t.Helper()
		emitted = nil
		rs.Write(chunk)
		if got := strings.Join(emitted, ""); got != want {
			t.Fatalf("after %q emitted %q, want %q", chunk, got, want)
		}
	}
	step("hello [", "hello ")                   // "[" may start [[EMAIL_1]]
	step("x", "[x")                             // it did not
	step(" [[EM", " ")                          // prefix of [[EMAIL_1]]
	step("AIL_1]", "")                          // still a prefix
	step("] ok [[TERM_", "a@lab.fr ok [[TERM_") // TERM_ was never issued
	step(" [[EMAIL_2", " [[EMAIL_2")            // EMAIL_2 was never issued either
	errBoom := errors.New("boom")
	rs2 := v.NewRestorer(func(string) error { return errBoom })
	if err := rs2.Write("text"); !errors.Is(err, errBoom) {
		t.Fatalf("emit error not returned: %v", err)
	}
	if err := rs2.Flush(); !errors.Is(err, errBoom) {
		t.Fatalf("error not sticky: %v", err)
	}
}

func TestMaskOutput(t *testing.T) {
	r := mustNew(t, Profile{})
	v := NewVault()
	masked, _, _ := r.Redact(v, "my key is ghp_R2dqZ8f9XkLmN3pQ7sT1vW4yB6cE0hJ5aF8g, mail a@lab.fr")
	answer := "Use [[SECRET_1]] for a@lab.fr; or this one: AKIAZ3MSJV4WWNKWW5FG, and write to [[EMAIL_1]] or bob@lab.fr"
	out, fs := r.MaskOutput(v, answer)
	want := "Use [[SECRET_1]] for a@lab.fr; or this one: [REDACTED aws-access-token], and write to [[EMAIL_1]] or bob@lab.fr"
	if out != want || len(fs) != 1 || fs[0].Type != "aws-access-token" {
		t.Fatalf("got %q %v (masked prompt %q)", out, fs, masked)
	}
	if got := v.Restore(out); !strings.Contains(got, "ghp_R2dqZ8f9XkLmN3pQ7sT1vW4yB6cE0hJ5aF8g") {
		t.Fatalf("the vault's own secret must come back: %q", got)
	}
	if out, fs := r.MaskOutput(v, "nothing here"); out != "nothing here" || fs != nil {
		t.Fatalf("got %q %v", out, fs)
	}
}

// A detector that panics must not escape: Redact returns an error and no
// text; MaskOutput returns a marker.
func TestFailClosed(t *testing.T) {
	r := mustNew(t, Profile{})
	boom := &rule{typ: "boom", kind: KindSecret, prio: prioBuiltin,
		matcher: func(string, int, int) (int, int, int, int, bool) { panic("detector bug") }}
	if err := compileRule(boom, `BOOM`, false); err != nil {
		t.Fatal(err)
	}
	rs := &ruleSet{rules: append(append([]*rule(nil), r.rs.rules...), boom), global: r.rs.global, keywords: r.rs.keywords}
	if err := rs.build(); err != nil {
		t.Fatal(err)
	}
	r.rs = rs
	out, fs, err := r.Redact(NewVault(), "a@lab.fr BOOM")
	if !errors.Is(err, ErrScan) || out != "" || fs != nil {
		t.Fatalf("got %q %v %v, want ErrScan and nothing", out, fs, err)
	}
	if out, _ := r.MaskOutput(NewVault(), "secret answer BOOM"); strings.Contains(out, "secret answer") {
		t.Fatalf("MaskOutput leaked %q", out)
	}
	if _, _, err := r.Redact(nil, "x"); err == nil {
		t.Fatal("nil vault must fail")
	}
}

func TestConcurrentUse(t *testing.T) {
	r := mustNew(t, Profile{Terms: []string{"ProjectX"}})
	v := NewVault()
	c := redacttest.BenchCorpus(t)
	samples := redacttest.GitleaksSamples(t)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				text := c[(g*7919+i*4096)%(len(c)-8192):][:8192] + samples[(g*31+i)%len(samples)] + " ProjectX a@lab.fr"
				out, _, err := r.Redact(v, text)
				if err != nil {
					t.Error(err)
					return
				}
				if back := v.Restore(out); back != text {
					t.Error("round trip failed under concurrency")
					return
				}
			}
		}(g)
	}
	wg.Wait()
}

func TestCleanCorpusHasNoFindings(t *testing.T) {
	r := mustNew(t, Profile{})
	for seed := uint64(10); seed < 14; seed++ {
		c := redacttest.CleanCorpus(t, 200<<10, seed)
		for _, f := range r.Scan(c) {
			lo := maxInt(0, f.Start-60)
			t.Errorf("seed %d: false positive %s %q after %q", seed, f.Type, c[f.Start:f.End], c[lo:f.Start])
		}
	}
}

var update = flag.Bool("update", false, "rewrite the golden files")

// Golden test: testdata/golden/*.input through Redact, compared with
// *.golden (go test -run TestGolden -update rewrites them).
func TestGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/golden/*.input")
	if len(files) == 0 {
		t.Fatal("no golden inputs")
	}
	r := mustNew(t, Profile{Name: "golden", Terms: []string{"Opération Æther", "Blue Harbor"}, Patterns: []Pattern{{"ticket", `\bPRJ-\d{4,6}\b`}}})
	for _, f := range files {
		in, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		v := NewVault()
		out, fs, err := r.Redact(v, string(in))
		if err != nil {
			t.Fatal(err)
		}
		got := out + "\n--- counts\n" + fmt.Sprint(Counts(fs)) + "\n"
		golden := strings.TrimSuffix(f, ".input") + ".golden"
		if *update {
			if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (run with -update)", err)
		}
		if got != string(want) {
			t.Errorf("%s: output differs from %s:\n%s", f, golden, got)
		}
		if v.Restore(out) != string(in) {
			t.Errorf("%s: restore is not the identity", f)
		}
	}
}
