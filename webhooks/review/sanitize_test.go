package review

import (
	"strings"
	"testing"
)

// TestSanitizerRefusesEncodedDestinations: the allowlist is not bypassed
// with HTML entities, percent escapes, reference links or raw HTML.
func TestSanitizerRefusesEncodedDestinations(t *testing.T) {
	s := &Sanitizer{Allow: []string{"gitlab.example.org"}}
	in := strings.Join([]string{
		"[a](http&#58;&#47;&#47;evil.example/a) [b](javascript&#58;alert(1)) [c](&#x6A;avascript:alert(1))",
		"[d](http&colon;//evil.example/d) [e](http%3A%2F%2Fevil.example/e) ![f](//evil.example/f.png)",
		"[g][1] and ![h][2]",
		"",
		"[1]: http&#58;//evil.example/g",
		"[2]:",
		"   <https://evil.example/h.png>",
		"<a href=\"https://evil.example/i\">i</a> <img\nsrc=https://evil.example/j.png> <iframe src=//evil.example/k></iframe>",
		"[ok](https://gitlab.example.org/g/p/-/issues/1) [rel](/g/p/-/merge_requests/2)",
	}, "\n")
	out := s.Text(in)
	for _, bad := range []string{"evil.example", "javascript", "avascript:", "<a ", "<img", "<iframe"} {
		if strings.Contains(out, bad) {
			t.Errorf("output still holds %q:\n%s", bad, out)
		}
	}
	for _, good := range []string{"[ok](https://gitlab.example.org/g/p/-/issues/1)", "[rel](/g/p/-/merge_requests/2)", "a b c", "d e"} {
		if !strings.Contains(out, good) {
			t.Errorf("output lost %q:\n%s", good, out)
		}
	}
}
