package audit

import "crypto/ed25519"

// What BenchmarkConsolePages (package audit_test, which times the
// console's pages: they import this package) reuses of BenchmarkConsole:
// its journal of a million entries and the keys it was written with.
var (
	SeedConsole     = seedConsole
	ConsoleEntries  = consoleEntries
	BenchSigningKey = testKey
	BenchContentKey = testContentKey
	BenchHashKey    = testHashKey
)

// BenchPublicKey is the public half of BenchSigningKey.
func BenchPublicKey() ed25519.PublicKey { return testPub() }
