// Package audit is timon's journal: one entry per request — allowed, denied
// or failed — that nobody can quietly change, and the reads that answer an
// administrator (List, Tail, Export), a security officer (Verify,
// checkpoints) and a data-protection officer (StatsFor, Usage, retention,
// ReadContent). The console's pages read usage roll-ups the writer keeps in
// the transaction of each append (UsageOf, RequestsOf, UsageByDay, UsageBy,
// TopConsumers and the like), never the entries themselves.
//
// The design (its trade-offs and why) is in docs/design/audit.md.
package audit
