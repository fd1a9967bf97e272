package review

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

func TestCategoriesAreTheSchemasClosedSet(t *testing.T) {
	var s struct {
		Properties struct {
			Findings struct {
				Items struct {
					Properties map[string]struct {
						Enum []any `json:"enum"`
					} `json:"properties"`
					Required []string `json:"required"`
				} `json:"items"`
			} `json:"findings"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(Schema, &s); err != nil {
		t.Fatal(err)
	}
	items := s.Properties.Findings.Items
	var enum []string
	for _, v := range items.Properties["category"].Enum {
		if v != nil {
			enum = append(enum, v.(string))
		}
	}
	if !slices.Equal(enum, Categories) || !slices.Contains(items.Required, "category") {
		t.Fatalf("schema's categories %v, Categories %v", enum, Categories)
	}
	a, err := ParseAnswer(`{"summary":"ok","findings":[{"file":"a","line":"b","severity":"minor","confidence":0.5,"message":"m","suggestion":null,"category":"style"}]}`)
	if err != nil || a.Findings[0].Kind() != "style" {
		t.Fatalf("%+v %v", a, err)
	}
	a, err = ParseAnswer(`{"summary":"ok","findings":[{"file":"a","line":"b","severity":"minor","confidence":0.5,"message":"m","suggestion":null,"category":null}]}`)
	if err != nil || a.Findings[0].Kind() != "other" {
		t.Fatalf("null category: %+v %v", a, err)
	}
	if _, err := ParseAnswer(`{"summary":"ok","findings":[{"file":"a","line":"b","severity":"minor","confidence":0.5,"message":"m","suggestion":null,"category":"nitpick"}]}`); err == nil {
		t.Fatal("a category outside the closed set was accepted")
	}
}

func TestDismissKeyAndFindingMarker(t *testing.T) {
	k := dismissKey("a.go", "  x :=  1", "bug")
	if k != dismissKey("a.go", "x := 1", "bug") {
		t.Error("the key depends on spacing")
	}
	if k == dismissKey("a.go", "x := 1", "style") || k == dismissKey("b.go", "x := 1", "bug") {
		t.Error("two findings share a key")
	}
	c := &Comment{Fingerprint: "fp", Kind: "bug", Key: k, Message: "m", Severity: "minor"}
	body := inlineBody(c, "0123456789")
	kind, key, ok := parseFindingMarker(body)
	if !ok || kind != "bug" || key != k || !strings.Contains(body, FingerprintMarker("fp")) {
		t.Fatalf("%q: %s %s %v", body, kind, key, ok)
	}
	if _, _, ok := parseFindingMarker("<!-- timon:fp:abc -->"); ok {
		t.Error("a fingerprint read as a finding marker")
	}
}

func TestSuggestionBlockCannotBeClosedByItsText(t *testing.T) {
	if got := suggestionBlock("x := 1"); got != "```suggestion:-0+0\nx := 1\n```" {
		t.Errorf("%q", got)
	}
	if got := suggestionBlock("s := \"```\""); !strings.HasPrefix(got, "````suggestion:-0+0\n") || !strings.HasSuffix(got, "\n````") {
		t.Errorf("%q", got)
	}
}

func TestLearningSettings(t *testing.T) {
	no, yes := false, true
	var s Settings
	if s.SuppressThreshold() != 3 || !s.SkipBots() {
		t.Fatal("defaults")
	}
	s.SuppressAfter = -1
	if s.SuppressThreshold() != 0 {
		t.Fatal("-1 never suppresses")
	}
	base := Settings{Suppress: []string{"style"}, SuppressAfter: 5, SkipBotAuthors: &yes, SkipAuthors: []string{"renovate"}}
	got, refused := base.NarrowedBy(Settings{Suppress: []string{"tests"}, Allow: []string{"bug"}, SuppressAfter: 9, SkipBotAuthors: &no, SkipAuthors: []string{"bot2"}})
	if strings.Join(got.Suppress, ",") != "style,tests" || strings.Join(got.Allow, ",") != "bug" || got.SuppressThreshold() != 5 ||
		!got.SkipBots() || strings.Join(got.SkipAuthors, ",") != "renovate,bot2" {
		t.Fatalf("narrowed: %+v", got)
	}
	if r := strings.Join(refused, ";"); !strings.Contains(r, "suppress_after 9") || !strings.Contains(r, "skip_bot_authors: false") {
		t.Fatalf("refused %q", refused)
	}
	got, refused = base.NarrowedBy(Settings{SuppressAfter: 2})
	if got.SuppressThreshold() != 2 || len(refused) != 0 {
		t.Fatalf("sooner refused: %+v %q", got, refused)
	}
	merged := base.Merge(Settings{Suppress: []string{"tests"}, Allow: []string{"style"}, SkipBotAuthors: &no})
	if strings.Join(merged.Suppress, ",") != "style,tests" || merged.SkipBots() || strings.Join(merged.Allow, ",") != "style" {
		t.Fatalf("merged: %+v", merged)
	}
	bad := Settings{Suppress: []string{"nitpick"}, Allow: []string{"secret"}, SuppressAfter: -4, SkipAuthors: []string{"@bot"}}
	probs := strings.Join(bad.Validate(), "\n")
	for _, want := range []string{"suppress[0]: unknown kind", "allow[0]: unknown kind", "suppress_after", "skip_authors[0]"} {
		if !strings.Contains(probs, want) {
			t.Errorf("problems lack %q:\n%s", want, probs)
		}
	}
}
