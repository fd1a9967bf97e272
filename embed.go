// Package timon holds what the binary embeds from the repository's root:
// the example configuration that `timon serve` runs on by default.
package timon

import _ "embed"

// ExampleConfig is timon.example.yaml.
//
//go:embed timon.example.yaml
var ExampleConfig []byte
