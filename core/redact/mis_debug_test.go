package redact

import (
	"fmt"
	"testing"
)

func TestDebugMistral(t *testing.T) {
	rs, _ := shared()
	s := `MISTRAL_API_KEY=aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY`
	st := &scanState{}
	rs.scanRules(s, st)
	fmt.Println(st.findings, st.hits)
	for _, r := range rs.rules {
		if r.typ == "mistral_api_key" || r.typ == "password_assignment" {
			fmt.Println(r.typ, r.regexp(), r.regexp().FindAllStringSubmatchIndex(s, -1))
		}
	}
	fmt.Println(validMistralKey(s, 16, len(s)), notASecret(s, 16, len(s), "x"))
}
