// Package audit is timon's journal: one entry per request — allowed, denied
// or failed — that nobody can quietly change, and the reads that answer an
// administrator (List, Tail, Export), a security officer (Verify,
// checkpoints) and a data-protection officer (StatsFor, Usage, retention,
// ReadContent).
//
// The design (its trade-offs and why) is in docs/design/audit.md.
package audit
