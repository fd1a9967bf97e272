package audit

import (
	"maps"

	"timon.dev/timon/core/config"
)

// Estimator estimates the cost and energy of tokens by model, from the
// figures of the configuration (config.Config.ModelEstimates). Estimates
// are computed when read, from the tokens the journal counted: changing a
// figure re-estimates the past too. The zero Estimator estimates nothing.
type Estimator struct {
	figures map[string]config.ModelEstimate
}

// NewEstimator returns an estimator with figures by model name.
func NewEstimator(figures map[string]config.ModelEstimate) *Estimator {
	return &Estimator{figures: maps.Clone(figures)}
}

// Estimate is an estimated cost and energy.
type Estimate struct {
	// Cost is by currency (ISO 4217 code), for the tokens of models with
	// a price; absent when none has.
	Cost map[string]float64 `json:"cost,omitempty"`
	// Wh is the energy in watt-hours of the tokens of models with an
	// energy figure.
	Wh float64 `json:"wh"`
	// Unpriced and Unmetered are the tokens of models without a price,
	// without an energy figure: what the estimate leaves out.
	Unpriced  int64 `json:"unpriced_tokens,omitempty"`
	Unmetered int64 `json:"unmetered_tokens,omitempty"`
}

// Of estimates in input and out output tokens of model.
func (x *Estimator) Of(model string, in, out int64) Estimate {
	var e Estimate
	x.add(&e, model, in, out)
	return e
}

func (x *Estimator) add(e *Estimate, model string, in, out int64) {
	var f config.ModelEstimate
	if x != nil {
		f = x.figures[model]
	}
	if p := f.PricePer1kTokens; p.Input > 0 || p.Output > 0 {
		if e.Cost == nil {
			e.Cost = map[string]float64{}
		}
		cur := f.Currency
		if cur == "" {
			cur = config.DefaultCurrency
		}
		e.Cost[cur] += (float64(in)*p.Input + float64(out)*p.Output) / 1000
	} else {
		e.Unpriced += in + out
	}
	if w := f.WhPer1kTokens; w.Input > 0 || w.Output > 0 {
		e.Wh += (float64(in)*w.Input + float64(out)*w.Output) / 1000
	} else {
		e.Unmetered += in + out
	}
}

// Add adds o to e.
func (e *Estimate) Add(o Estimate) {
	for c, v := range o.Cost {
		if e.Cost == nil {
			e.Cost = map[string]float64{}
		}
		e.Cost[c] += v
	}
	e.Wh += o.Wh
	e.Unpriced += o.Unpriced
	e.Unmetered += o.Unmetered
}
