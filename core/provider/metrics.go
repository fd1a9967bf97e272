package provider

import (
	"errors"
	"strconv"
	"time"

	"timon.dev/timon/core/metrics"
)

// operation names a call kind in metrics; pings are not observed.
func (k callKind) operation() string {
	switch k {
	case callChat:
		return "chat"
	case callLegacy:
		return "fim"
	case callStream:
		return "stream"
	case callEmbed:
		return "embed"
	case callModerate, callGuard:
		return "moderate"
	}
	return ""
}

// observe records one call (retries included) and, when it failed, why.
func (c *Client) observe(op string, start time.Time, err error) {
	metrics.ProviderDuration.WithLabelValues(c.cfg.Name, op).Observe(time.Since(start).Seconds())
	if err == nil {
		return
	}
	reason := "error"
	var e *Error
	switch {
	case errors.As(err, &e) && e.Timeout:
		reason = "timeout"
	case errors.As(err, &e) && e.StatusCode > 0:
		reason = strconv.Itoa(e.StatusCode)
	case errors.As(err, &e) && e.Partial:
		reason = "stream_cut"
	case errors.As(err, &e) && e.Retryable:
		reason = "connection"
	}
	metrics.ProviderErrors.WithLabelValues(c.cfg.Name, reason).Inc()
}
