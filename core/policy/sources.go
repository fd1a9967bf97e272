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
	class := req.Classification
	if class == "" {
		class = p.cfg.DefaultClassification
	}
	for _, r := range p.cfg.Rules {
		if !r.Match.matches(req, class) {
			continue
		}
		d := Decision{Rule: r.Name, Classification: maxClass(class, r.Classification), Profile: r.Profile, Content: r.Content}
		if d.Profile == "" {
			d.Profile = p.cfg.DefaultProfile
		}
		if d.Content == "" {
			d.Content = p.cfg.DefaultContent
		}
		if r.Effect == "deny" {
			d.Reason = r.Reason
			if d.Reason == "" {
				d.Reason = fmt.Sprintf("denied by rule %q", r.Name)
			}
			return d
		}
		allowed, listed := p.cfg.Classifications[d.Classification]
		switch {
		case listed && !slices.Contains(allowed, src.Name):
			d.Reason = fmt.Sprintf("source %s may not receive %s data (classifications)", src.Name, d.Classification)
		case !src.Sovereign && !(r.AllowNonSovereign && listed):
			d.Reason = fmt.Sprintf("source %s is not sovereign, and rule %q does not allow non-sovereign services for %s data", src.Name, r.Name, d.Classification)
		default:
			d.Allow = true
		}
		return d
	}
	return Decision{Rule: "default", Classification: class, Profile: p.cfg.DefaultProfile, Content: p.cfg.DefaultContent,
		Reason: fmt.Sprintf("no rule allows task %s for %s", req.Task, req.Principal)}
}
