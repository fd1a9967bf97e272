package server

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"testing"
)

// TestOpenAIValues checks the readers of the values that OpenAI's API lets
// take several shapes, and the parameter each refusal names.
func TestOpenAIValues(t *testing.T) {
	for _, c := range []struct {
		raw, want, param, code string
	}{
		{`"func f() {"`, "func f() {", "", ""},
		{`["one"]`, "one", "", ""},
		{`["one", "two"]`, "", "prompt", "unsupported_value"},
		{`[1, 2]`, "", "prompt", "unsupported_value"},
		{`[[1, 2]]`, "", "prompt", "unsupported_value"},
		{`null`, "", "prompt", "invalid_value"},
		{`{}`, "", "prompt", "invalid_value"},
	} {
		got, err := promptText(json.RawMessage(c.raw))
		checkParamError(t, "prompt "+c.raw, err, c.param, c.code)
		if err == nil && got != c.want {
			t.Errorf("prompt %s = %q, want %q", c.raw, got, c.want)
		}
	}
	for _, c := range []struct {
		raw         string
		n           int
		param, code string
	}{
		{`"a"`, 1, "", ""},
		{`["a", "b", "c"]`, 3, "", ""},
		{`[]`, 0, "input", "invalid_value"},
		{`[1, 2]`, 0, "input", "unsupported_value"},
		{`["a", [1]]`, 0, "input", "unsupported_value"},
	} {
		got, err := embedInputs(json.RawMessage(c.raw))
		checkParamError(t, "input "+c.raw, err, c.param, c.code)
		if err == nil && len(got) != c.n {
			t.Errorf("input %s = %q", c.raw, got)
		}
	}
	for raw, want := range map[string]bool{"null": true, "false": true, "0": true, `""`: true, "[]": true, "{}": true,
		"true": false, "2": false, `[{"type":"function"}]`: false} {
		if isDefault("tools", json.RawMessage(raw)) != want {
			t.Errorf("isDefault(tools, %s) != %v", raw, want)
		}
	}
	if !isDefault("n", json.RawMessage("1")) || isDefault("temperature", json.RawMessage("1")) {
		t.Error("1 is the default of n only")
	}
}

func checkParamError(t *testing.T, what string, err error, param, code string) {
	t.Helper()
	var pe *paramError
	switch {
	case param == "" && err != nil:
		t.Errorf("%s: %v", what, err)
	case param != "" && (!errors.As(err, &pe) || pe.param != param || pe.code != code):
		t.Errorf("%s: got %#v, want param %q code %q", what, err, param, code)
	}
}

// TestOpenAIBase64Vector: the npm client reads little-endian float32s.
func TestOpenAIBase64Vector(t *testing.T) {
	v := []float64{0.5, -0.25, 1e-3}
	b, err := base64.StdEncoding.DecodeString(base64Vector(v))
	if err != nil || len(b) != 12 {
		t.Fatalf("%d bytes, %v", len(b), err)
	}
	for i, x := range v {
		if got := math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:])); got != float32(x) {
			t.Errorf("value %d = %v, want %v", i, got, float32(x))
		}
	}
}
