package audit

import "timon.dev/timon/core"

// Outcomes: what became of a request, as the journal records it, metrics
// label it (timon_requests_total{outcome}) and stats count it. These names
// are the journal's, stored in entries that cannot be rewritten, so they
// stay; an API error's code (core.Kind) is finer, and OutcomeFor maps it.
// docs/operations.md has the same table ("Outcomes"); a test keeps them
// together.
const (
	OutcomeOK             = "ok"              // answered
	OutcomeDenied         = "denied"          // refused by a policy rule: the only denials
	OutcomeBlocked        = "blocked"         // redaction refused to send the content
	OutcomeQuotaExceeded  = "quota_exceeded"  // over a budget or rate
	OutcomeProviderError  = "provider_error"  // the model provider failed, refused or timed out
	OutcomeOutputRejected = "output_rejected" // the model's answer failed a check
	OutcomeCanceled       = "canceled"        // the caller went away
	OutcomeInvalid        = "invalid"         // malformed or oversized request, refused before policy
	OutcomeError          = "error"           // the hub's own failure (store, journal, a limit of its own)
)

// Outcomes lists every outcome an entry may record.
var Outcomes = []string{OutcomeOK, OutcomeDenied, OutcomeBlocked, OutcomeQuotaExceeded, OutcomeProviderError,
	OutcomeOutputRejected, OutcomeCanceled, OutcomeInvalid, OutcomeError}

// OutcomeFor is the outcome of a request that ended with an error of kind
// k, the API's error code.
func OutcomeFor(k core.Kind) string {
	switch k {
	case core.KindDenied:
		return OutcomeDenied
	case core.KindBlocked:
		return OutcomeBlocked
	case core.KindQuota:
		return OutcomeQuotaExceeded
	case core.KindUnavailable, core.KindTimeout:
		return OutcomeProviderError
	case core.KindOutputRejected:
		return OutcomeOutputRejected
	case core.KindCanceled:
		return OutcomeCanceled
	case core.KindInvalid, core.KindTooLarge:
		return OutcomeInvalid
	}
	return OutcomeError
}
