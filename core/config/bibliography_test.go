package config_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"timon.dev/timon/core/biblio"
	"timon.dev/timon/core/config"
)

func TestBibliographyConfig(t *testing.T) {
	const src = `providers:
  - {name: a, base_url: "http://127.0.0.1:1/v1", models: [m], sovereign: true}
bibliography:
  sources:
    - {name: HAL, kind: hal, sovereign: true}
    - {name: OpenAlex, kind: openalex, base_url: "https://api.openalex.org", timeout: 5s, mailto: bib@lab.fr}
policy:
  routes: {default: [m]}
  classifications:
    public: [a, HAL, OpenAlex]
  rules:
    - {name: public-refs, effect: allow, allow_non_sovereign: true, match: {tasks: [refs], classifications: [public]}}
    - {name: all, effect: allow}
`
	cfg, err := config.Parse("c.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	got := cfg.Bibliography.SourceConfigs()
	if len(got) != 2 || got[0] != (biblio.Config{Name: "HAL", Kind: "hal", Sovereign: true}) ||
		got[1] != (biblio.Config{Name: "OpenAlex", Kind: "openalex", BaseURL: "https://api.openalex.org", Timeout: 5 * time.Second, Mailto: "bib@lab.fr"}) {
		t.Fatalf("sources %+v", got)
	}
	if infos := cfg.Bibliography.SourcePolicyInfos(); len(infos) != 2 || infos[0].Name != "HAL" || !infos[0].Sovereign || infos[1].Sovereign {
		t.Fatalf("policy infos %+v", infos)
	}
}

func TestBibliographyConfigErrors(t *testing.T) {
	const src = `providers:
  - {name: a, base_url: "http://127.0.0.1:1/v1", models: [m], sovereign: true}
bibliography:
  sources:
    - {name: a, kind: hal}
    - {name: X, kind: crossref}
    - {name: Y, kind: hal, base_url: "ftp://hal"}
policy:
  classifications:
    public: [Z]
`
	_, err := config.Parse("c.yaml", []byte(src))
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Fatalf("want *config.Error, got %v", err)
	}
	msg := ce.Error()
	for _, want := range []string{
		`c.yaml:5: bibliography.sources[0].name: name "a" is used by another source or a provider`,
		`c.yaml:6: bibliography.sources[1].kind: expected hal or openalex, got "crossref"`,
		`c.yaml:7: bibliography.sources[2].base_url: expected an http(s) URL`,
		`policy.classifications.public[0]: unknown provider "Z"`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("errors lack %q:\n%s", want, msg)
		}
	}
}
