package assistant

import (
	"time"

	"timon.dev/timon/core/audit"
	"timon.dev/timon/core/metrics"
)

// observe records a finished request in the metrics: the same facts as its
// journal entry, without who asked.
func observe(e *audit.Entry) {
	metrics.Requests.WithLabelValues(e.Integration, e.Task, e.Outcome).Inc()
	metrics.RequestDuration.WithLabelValues(e.Integration, e.Task).Observe((time.Duration(e.LatencyMS) * time.Millisecond).Seconds())
	if e.Model != "" {
		if e.TokensIn > 0 {
			metrics.Tokens.WithLabelValues(e.Model, "prompt").Add(float64(e.TokensIn))
		}
		if e.TokensOut > 0 {
			metrics.Tokens.WithLabelValues(e.Model, "completion").Add(float64(e.TokensOut))
		}
	}
	for typ, n := range e.Redactions {
		metrics.Redactions.WithLabelValues(typ).Add(float64(n))
	}
}

// observeModeration counts a moderation finding: its direction (in, out),
// category ("error" when no classifier answered) and decision.
func observeModeration(dir, category, decision string) {
	metrics.Moderation.WithLabelValues(dir, category, decision).Inc()
}
