package policy

import (
	"fmt"
	"slices"

	"timon.dev/timon/core"
)

// DecideSource applies the rules to req, a search of the bibliographic
// source src (task refs), as Decide does for a model request: the first
// rule that matches decides, and an outside source is chosen like a
// provider. It receives the request's data (the query) only where the
// request's classification may go to it (classifications), and, when it
// is not sovereign, only if the deciding rule sets allow_non_sovereign and
// the classification lists it. The decision has no candidates.
//
// src must have been among the providers given to New (with no models) for
// classifications to name it.
func (p *Policy) DecideSource(req *core.Request, src Provider) Decision {
	return p.decide(req, func(d *Decision, r *Rule) {
		allowed, listed := p.cfg.Classifications[d.Classification]
		switch {
		case listed && !slices.Contains(allowed, src.Name):
			d.Reason = fmt.Sprintf("source %s may not receive %s data (classifications)", src.Name, d.Classification)
		case !src.Sovereign && !(r.AllowNonSovereign && listed):
			d.Reason = fmt.Sprintf("source %s is not sovereign, and rule %q does not allow non-sovereign services for %s data", src.Name, r.Name, d.Classification)
		default:
			d.Allow = true
		}
	})
}
