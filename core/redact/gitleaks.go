package redact

//go:generate go run ./internal/gengitleaks -o gitleaks_rules.go

// glRule is one gitleaks rule as generated from gitleaks' default config.
type glRule struct {
	ID          string
	Regex       string
	SecretGroup int
	Entropy     float64
	Keywords    []string
	Allowlists  []glAllowlist
}

// glAllowlist is a gitleaks allowlist reduced to what applies to a bare text:
// a joined regex (tested against the secret, the match or the line per
// Target) and stop words (tested against the secret).
type glAllowlist struct {
	And       bool
	Target    string // "" (secret), "match" or "line"
	Regex     string
	StopWords []string
}
