package config

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"timon.dev/timon/core/provider"
)

// Moderation configures the classifiers of moderation guardrails. They are
// used only by policy rules with a moderation block; without one, nothing
// is classified.
type Moderation struct {
	// Classifiers are tried in order, the next after one that fails.
	Classifiers []Classifier `yaml:"classifiers"`
	// Categories are the institution's own categories, put to guard
	// models (wire guard) after the built-in ones.
	Categories []ModerationCategory `yaml:"categories"`
}

// Classifier is a moderation endpoint, described like a provider.
type Classifier struct {
	Provider `yaml:",inline"`
	// Wire is the moderation API: mistral (/v1/moderations and
	// /v1/chat/moderations), openai (/v1/moderations) or guard (a guard
	// model, such as Llama Guard, asked through chat); zero means mistral
	// for kind mistral and openai otherwise.
	Wire string `yaml:"wire"`
	// AllowNonSovereign allows a classifier not marked sovereign: what is
	// classified is what users send.
	AllowNonSovereign bool `yaml:"allow_non_sovereign"`
}

// ModerationCategory is a custom category of a guard model's prompt.
type ModerationCategory struct {
	// Name: lower-case letters, digits and '_'; rules refer to it.
	Name string `yaml:"name"`
	// Description says in a sentence what falls in it.
	Description string `yaml:"description"`
}

func (c *Config) moderationDefaults() {
	for i := range c.Moderation.Classifiers {
		if k := &c.Moderation.Classifiers[i]; k.Kind == "" {
			k.Kind = "openai"
		}
	}
}

func (l *loader) validateModeration(c *Config) {
	m := &c.Moderation
	names := map[string]bool{}
	guard := false
	for i := range m.Classifiers {
		k := &m.Classifiers[i]
		at := fmt.Sprintf("moderation.classifiers[%d]", i)
		if k.Name == "" {
			l.add(at+".name", "a classifier needs a name")
		} else if names[k.Name] {
			l.add(at+".name", "classifier name %q is used twice", k.Name)
		}
		names[k.Name] = true
		if k.Kind != "openai" && k.Kind != "mistral" {
			l.add(at+".kind", "expected mistral or openai, got %q", k.Kind)
		}
		switch provider.ModerationWire(k.Wire) {
		case "", provider.ModerationMistral, provider.ModerationOpenAI:
		case provider.ModerationGuard:
			guard = true
			if len(k.Models) == 0 {
				l.add(at+".models", "a guard classifier needs its model named (such as llama-guard-3-8b)")
			}
		default:
			l.add(at+".wire", "expected mistral, openai or guard, got %q", k.Wire)
		}
		if u, err := url.Parse(k.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			l.add(at+".base_url", "expected an http(s) URL such as https://api.mistral.ai/v1, got %q", k.BaseURL)
		}
		if k.MaxRetries < 0 {
			l.add(at+".max_retries", "expected 0 or more")
		}
		if !k.Sovereign && !k.AllowNonSovereign {
			l.add(at+".sovereign", "classifier %q is not marked sovereign: what it classifies is what users send; mark it sovereign, or set allow_non_sovereign", k.Name)
		}
		key, err := secret(k.APIKeyEnv, k.APIKeyFile)
		if err != nil {
			l.add(at, "%v", err)
		}
		k.APIKey = strings.TrimSpace(key)
	}
	seen := map[string]bool{}
	for _, b := range provider.MistralCategories {
		seen[b.Name] = true
	}
	for i, gc := range m.Categories {
		at := fmt.Sprintf("moderation.categories[%d]", i)
		switch {
		case gc.Name == "" || strings.ContainsFunc(gc.Name, func(r rune) bool { return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') }):
			l.add(at+".name", "expected a name of lower-case letters, digits and '_', got %q", gc.Name)
		case seen[gc.Name]:
			l.add(at+".name", "category %q is already defined (built-in or above)", gc.Name)
		}
		seen[gc.Name] = true
		if strings.TrimSpace(gc.Description) == "" || strings.ContainsAny(gc.Description, "\r\n") {
			l.add(at+".description", "a custom category needs a description on one line: a guard model reads it to decide")
		}
	}
	if len(m.Categories) > 0 && !guard {
		l.add("moderation.categories", "custom categories are only put to guard models: add a classifier with wire: guard")
	}
	if len(m.Classifiers) == 0 {
		for i, r := range c.Policy.Rules {
			if r.Moderation.Active() {
				l.add(fmt.Sprintf("policy.rules[%d].moderation", i), "rule %q moderates, but no classifier is configured under moderation.classifiers", r.Name)
			}
		}
	}
}

// ClassifierConfigs returns the classifiers' configurations, custom
// categories given to guard models only.
func (m *Moderation) ClassifierConfigs() []provider.ClassifierConfig {
	var cats []provider.GuardCategory
	for _, gc := range m.Categories {
		cats = append(cats, provider.GuardCategory{Name: gc.Name, Description: gc.Description})
	}
	out := make([]provider.ClassifierConfig, 0, len(m.Classifiers))
	for _, k := range m.Classifiers {
		cc := provider.ClassifierConfig{
			Config: provider.Config{Name: k.Name, Kind: provider.Kind(k.Kind), BaseURL: k.BaseURL, APIKey: k.APIKey,
				Models: k.Models, Timeout: time.Duration(k.Timeout), MaxRetries: k.MaxRetries, Sovereign: k.Sovereign},
			Wire: provider.ModerationWire(k.Wire), AllowNonSovereign: k.AllowNonSovereign,
		}
		if cc.Wire == provider.ModerationGuard {
			cc.Categories = slices.Clone(cats)
		}
		out = append(out, cc)
	}
	return out
}
