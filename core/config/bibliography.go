package config

import (
	"fmt"
	"net/url"
	"time"

	"timon.dev/timon/core/biblio"
	"timon.dev/timon/core/policy"
)

// Bibliography configures the bibliographic sources the chat's refs
// command searches. Without sources, the search is off (and says how to
// switch it on).
type Bibliography struct {
	// Sources are searched in order; their records are listed in that
	// order.
	Sources []BibSource `yaml:"sources"`
}

// BibSource is one bibliographic source: an outside service that receives
// the (redacted) query, configured and governed like a provider.
type BibSource struct {
	// Name appears in replies, in the journal (as provider) and in
	// policy.classifications.
	Name string `yaml:"name"`
	// Kind: hal (HAL's search API) or openalex.
	Kind string `yaml:"kind"`
	// BaseURL; zero means the kind's public API
	// (https://api.archives-ouvertes.fr, https://api.openalex.org).
	BaseURL string `yaml:"base_url"`
	// Timeout bounds one search; zero means 10s.
	Timeout Duration `yaml:"timeout"`
	// Sovereign marks a source the institution trusts like its own
	// machines; zero (false): used only where a policy rule sets
	// allow_non_sovereign and the classification lists the source.
	Sovereign bool `yaml:"sovereign"`
	// Mailto is given to OpenAlex (its polite pool); optional.
	Mailto string `yaml:"mailto"`
}

func (l *loader) validateBibliography(c *Config) {
	names := map[string]bool{}
	for _, p := range c.Providers {
		names[p.Name] = true
	}
	for i, s := range c.Bibliography.Sources {
		at := fmt.Sprintf("bibliography.sources[%d]", i)
		if s.Name == "" {
			l.add(at+".name", "a source needs a name")
		} else if names[s.Name] {
			l.add(at+".name", "name %q is used by another source or a provider", s.Name)
		}
		names[s.Name] = true
		if s.Kind != biblio.KindHAL && s.Kind != biblio.KindOpenAlex {
			l.add(at+".kind", "expected hal or openalex, got %q", s.Kind)
		}
		if s.BaseURL != "" {
			if u, err := url.Parse(s.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
				l.add(at+".base_url", "expected an http(s) URL such as %s, got %q", biblio.DefaultHALURL, s.BaseURL)
			}
		}
		if s.Timeout < 0 {
			l.add(at+".timeout", "expected a positive duration such as 10s")
		}
	}
}

// SourcePolicyInfos describes the sources to the policy, beside the
// providers (see policy.New): classifications may then name them.
func (b *Bibliography) SourcePolicyInfos() []policy.Provider {
	out := make([]policy.Provider, 0, len(b.Sources))
	for _, s := range b.Sources {
		out = append(out, policy.Provider{Name: s.Name, Sovereign: s.Sovereign})
	}
	return out
}

// SourceConfigs returns the sources' configurations.
func (b *Bibliography) SourceConfigs() []biblio.Config {
	out := make([]biblio.Config, 0, len(b.Sources))
	for _, s := range b.Sources {
		out = append(out, biblio.Config{Name: s.Name, Kind: s.Kind, BaseURL: s.BaseURL,
			Timeout: time.Duration(s.Timeout), Sovereign: s.Sovereign, Mailto: s.Mailto})
	}
	return out
}
