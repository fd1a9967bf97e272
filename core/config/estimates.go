package config

import (
	"math"
	"slices"
)

// DefaultCurrency is the currency of prices that do not name one.
const DefaultCurrency = "EUR"

func (p *Provider) estimateDefaults() {
	for m, e := range p.Estimates {
		if e.Currency == "" {
			e.Currency = DefaultCurrency
			p.Estimates[m] = e
		}
	}
}

// checkEstimate checks the figures of model m of provider p, at path.
func (l *loader) checkEstimate(path string, p *Provider, m string) {
	e := p.Estimates[m]
	if !slices.Contains(p.Models, m) {
		l.add(path, "model %q is not among this provider's models", m)
	}
	for name, v := range map[string]float64{
		"price_per_1k_tokens.input": e.PricePer1kTokens.Input, "price_per_1k_tokens.output": e.PricePer1kTokens.Output,
		"wh_per_1k_tokens.input": e.WhPer1kTokens.Input, "wh_per_1k_tokens.output": e.WhPer1kTokens.Output,
	} {
		if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			l.add(path+"."+name, "expected 0 (not estimated) or a positive number, got %v", v)
		}
	}
	if !isCurrency(e.Currency) {
		l.add(path+".currency", "expected an ISO 4217 code of three capital letters such as EUR, got %q", e.Currency)
	}
}

func isCurrency(s string) bool {
	if len(s) != 3 {
		return false
	}
	for i := range 3 {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}

// ModelEstimates returns the cost and energy figures of every model, by
// model name; a model served by several providers takes the figures of
// the first that gives some.
func (c *Config) ModelEstimates() map[string]ModelEstimate {
	out := map[string]ModelEstimate{}
	for _, p := range c.Providers {
		for m, e := range p.Estimates {
			if _, ok := out[m]; !ok {
				out[m] = e
			}
		}
	}
	return out
}
