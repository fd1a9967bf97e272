// Package audit is timon's journal: one entry per request — allowed, denied
// or failed — that nobody can quietly change, and the reads that answer an
// administrator (List, Tail, Export), a security officer (Verify,
// checkpoints) and a data-protection officer (StatsFor, Usage, retention).
//
// # What is stored
//
// An entry records who (user, groups), through what (integration, task),
// what decided (rule, decision), what happened (outcome, short error), with
// which model, what was redacted (counts by type), tokens, latency, and the
// SHA-256 of what was sent to and returned by the model. Never the content,
// unless policy set the entry's level to "full": then the content is sealed
// with XChaCha20-Poly1305 under Options.ContentKey, bound to the entry's
// request id and content hashes, in its own table (audit_content) so that
// retention can delete it. A level of "none" drops even the hashes.
//
// The table audit_entries holds, per entry: seq (1..n, no gaps), time_us,
// request_id and user_id (indexed: a user quotes the first, the usage view
// reads by the second), data — every other field as canonical JSON (keys
// sorted, empty fields left out) — and hash. The narrow layout is
// deliberate: verifying reads every row, and the cost of reading a row grows
// with its columns (on the pure-Go SQLite driver, ~0.3 µs per column), so a
// few wide columns verify three times faster than twenty narrow ones.
// Filters on data fields use the dialect's JSON functions.
//
// # The chain
//
// hash(n) = SHA-256("timon-audit-entry-v1\n" ‖ hash(n-1) ‖ seq ‖ time_us ‖
// request_id ‖ user_id ‖ data), integers as 8 bytes big-endian and each
// string as an 8-byte big-endian length and its bytes, hash(0) being 32 zero
// bytes. Every stored column is covered, seq included, so a changed column,
// a deleted, inserted or reordered entry breaks the chain at that entry.
// Content is covered only through its hashes, which is what lets retention
// delete it.
//
// # Checkpoints
//
// A chain alone does not stop someone who rewrites it from some entry on, or
// cuts its tail. With Options.SigningKey the journal signs checkpoints
// (table audit_checkpoints): Ed25519 over "timon-audit-checkpoint\n<seq>\n
// <hash>\n<time>\n", every CheckpointEvery entries (in the same transaction
// as the entry it names), after CheckpointInterval if entries are left
// unsigned, and on Close. Verify checks each checkpoint's signature and that
// the entry it names exists with that hash: a rewrite or a truncation of
// what a checkpoint covers is caught. Entries after the last checkpoint are
// protected by the chain only; Report.LastCheckpoint says where that starts.
// ExportCheckpoints copies checkpoints out, to a place the database's
// administrators cannot write; VerifyWithCheckpoints checks against that
// copy, which also catches a rewrite of the checkpoints table itself.
//
// # Writing: group commit, several writers
//
// Append is on every request's path: it validates and encodes the entry and
// seals content in the caller's goroutine, then hands it to the Journal's
// single writer goroutine and waits. The writer takes every entry waiting
// (up to 512) into one transaction, so concurrent requests share a commit;
// Append returns once that transaction committed. The writer keeps one
// connection. Writes are append-only inserts: no aggregate, no update.
//
// Each batch transaction first takes the append lock — on PostgreSQL
// pg_advisory_xact_lock of a fixed key, on SQLite the write lock its
// transactions take at BEGIN (IMMEDIATE) — then reads the last (seq, hash)
// and inserts its entries with the following seqs. Writers in several
// processes (timon serve replicas on one PostgreSQL; processes on one
// SQLite file) thus append one batch after another to one chain, without
// gaps, and the primary key on seq would refuse a duplicate anyway.
//
// Durability: an acknowledged entry is committed. On PostgreSQL that is the
// server's commit. On SQLite (WAL, synchronous=NORMAL) it survives a crash
// of the process; with Options.FullSync the writer's connection commits with
// synchronous=FULL and it survives a power loss too.
//
// # Verifying
//
// Verify reads the checkpoints, then the entries in seq-ordered chunks of
// 65,536, in parallel: an entry's hash is recomputed from its columns and the
// previous stored hash — which the previous entry's check proves — so chunks
// are independent. It reports the first bad seq and what is wrong.
//
// # Retention
//
// ApplyRetention deletes the content older than a date, in small batches;
// entries stay and the chain still verifies. ReadContent tells content
// deleted by retention (ErrNoContent) from an unknown entry.
package audit
