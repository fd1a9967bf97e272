// Command gengitleaks writes core/redact/gitleaks_rules.go from gitleaks'
// default config (see gitleaks.Generate). Run it with `go generate
// ./core/redact` after upgrading gitleaks in tools/gitleaks/go.mod.
package main

import (
	"flag"
	"log"
	"os"

	"timon.dev/timon/tools/gitleaks"
)

func main() {
	out := flag.String("o", "gitleaks_rules.go", "output file")
	flag.Parse()
	src, err := gitleaks.Generate(gitleaks.Version())
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*out, src, 0o644); err != nil {
		log.Fatal(err)
	}
}
