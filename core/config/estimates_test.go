package config_test

import (
	"strings"
	"testing"

	"timon.dev/timon/core/config"
)

// TestModelEstimates: figures are read per model, the currency defaults to
// EUR, and wrong figures are reported at their line.
func TestModelEstimates(t *testing.T) {
	t.Setenv(config.EnvProviderURL, "")
	src := `providers:
  - name: a
    models: [small, large]
    estimates:
      small:
        price_per_1k_tokens: {input: 0.0002, output: 0.0006}
        wh_per_1k_tokens: {input: 0.01, output: 0.3}
      large:
        currency: USD
        price_per_1k_tokens: {output: 0.006}
  - name: b
    base_url: http://127.0.0.1:8000/v1
    models: [small]
    estimates:
      small: {price_per_1k_tokens: {input: 9}}
policy:
  routes:
    default: [small]
  rules:
    - {name: all, effect: allow}
`
	cfg, err := config.Parse("c.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	es := cfg.ModelEstimates()
	small, large := es["small"], es["large"]
	if small.Currency != "EUR" || small.PricePer1kTokens != (config.InOut{Input: 0.0002, Output: 0.0006}) ||
		small.WhPer1kTokens != (config.InOut{Input: 0.01, Output: 0.3}) {
		t.Errorf("small: %+v (the first provider's figures)", small)
	}
	if large.Currency != "USD" || large.PricePer1kTokens.Output != 0.006 || large.WhPer1kTokens != (config.InOut{}) {
		t.Errorf("large: %+v", large)
	}

	bad := `providers:
  - name: a
    models: [small]
    estimates:
      small:
        currency: euro
        wh_per_1k_tokens: {output: -1}
      other: {}
policy:
  routes:
    default: [small]
  rules:
    - {name: all, effect: allow}
`
	_, err = config.Parse("c.yaml", []byte(bad))
	if err == nil {
		t.Fatal("bad figures accepted")
	}
	for _, w := range []string{
		`c.yaml:6: providers[0].estimates.small.currency: expected an ISO 4217 code`,
		`providers[0].estimates.small.wh_per_1k_tokens.output: expected 0 (not estimated) or a positive number, got -1`,
		`c.yaml:8: providers[0].estimates.other: model "other" is not among this provider's models`,
	} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("missing problem %q in:\n%v", w, err)
		}
	}
}
