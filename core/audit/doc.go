// Package audit is timon's journal: one entry per request — allowed, denied
// or failed — that nobody can quietly change, and the reads that answer an
// administrator (List, Tail, Export), a security officer (Verify,
// checkpoints) and a data-protection officer (StatsFor, Usage, retention,
// ReadContent).
//
// # What is stored
//
// An entry records who (user, groups), through what (integration, task),
// what decided (rule, decision), what happened (outcome, a short error),
// with which provider and model, what was redacted (counts by type),
// tokens, latency, and keyed hashes of what was sent to and returned by
// the model: HMAC-SHA-256 under Options.HashKey, whose id (HashKeyID) the
// entry records as hash_key, so that a reader of the journal cannot test
// whether a given text was sent. Entries without hash_key (journaled
// before keyed hashes) hold the plain SHA-256; both are checked by
// ReadContent, and the chain covers them alike. Never the content, unless policy set the entry's level to "full":
// then the content is sealed with XChaCha20-Poly1305 under
// Options.ContentKey, bound to the entry's request id and content hashes,
// in its own table (audit_content), so that retention can delete it. A
// level of "none" drops even the hashes (a hash of a short text can be
// guessed). Strings are stored as valid UTF-8 without NUL, identically on
// both drivers.
//
// Table audit_entries has four columns: seq (1..n, no gaps; SQLite's rowid),
// time_us (indexed), data — every other field as JSON with sorted keys,
// empty fields left out — and hash. The narrow layout is deliberate.
// Verify reads every row, and on the pure-Go SQLite driver reading a row
// costs ~0.3 µs per column; four columns verify about twice as fast as the
// twenty an entry has. And Append writes every row: a secondary index on a
// column with many values (user, request id) costs a random page write per
// entry, so the only index is on time, which grows at its end. Filters on
// data fields (user, request id, integration, group, outcome) use the
// dialect's JSON functions over the time range asked for.
//
// # The chain
//
//	hash(n) = SHA-256("timon-audit-entry-v1\n" ‖ hash(n-1) ‖ seq ‖ time_us ‖ len(data) ‖ data)
//
// with integers as 8 bytes big-endian and hash(0) 32 zero bytes (hex in
// GenesisHash). Every stored column is covered, seq included, and the
// encoding is unambiguous (fixed sizes, a length before data): a changed
// column, a deleted, inserted or reordered entry breaks the chain at that
// entry. Content is covered through its hashes only, which lets retention
// delete it while the chain still verifies.
//
// # Checkpoints
//
// A chain alone does not stop someone who rewrites it from some entry on,
// or cuts its tail. With Options.SigningKey the journal signs checkpoints
// (table audit_checkpoints): Ed25519 over
// "timon-audit-checkpoint\n<seq>\n<hash>\n<time>\n" — every CheckpointEvery
// entries, in the same transaction as the entry it names; after
// CheckpointInterval when entries are left unsigned; and on Close. Verify
// checks each checkpoint's signature and that the entry it names exists
// with that hash: a rewrite or a truncation of what a checkpoint covers is
// caught, the latter even without the public key.
//
// Checkpoints name their key (KeyID). VerifyKeys takes a KeySet: several
// public keys, each with its period. Rotate records a new signing key in
// the chain: an entry whose next_key names the new key id, checkpointed by
// the old key, whose period ends there.
//
// Limits. Entries after the last checkpoint are protected by the chain
// only: someone who can write the database could rewrite them, or add
// entries with valid hashes at the end, and the next checkpoint would sign
// them; Report.LastCheckpoint says where that stretch starts, and
// CheckpointInterval bounds it in time. Someone who deletes checkpoints
// along with entries is caught only against a copy kept elsewhere:
// ExportCheckpoints writes them out (to storage the database's
// administrators cannot write) and VerifyWithCheckpoints checks against
// that copy.
//
// # Writing: group commit, several writers
//
// Append is on every request's path. It validates and encodes the entry and
// seals content in the caller's goroutine, then hands it to the Journal's
// single writer goroutine and waits. The writer takes every entry waiting —
// and, for up to 200 µs, those other callers are still preparing — into
// one transaction (at most 512), so concurrent requests share a commit; a
// lone caller never waits. Append returns once that transaction committed.
// The writer keeps one connection with its statements prepared once.
// Writes are inserts only: no aggregate, no update, no read but the last
// (seq, hash).
//
// Each batch transaction first takes the append lock — on PostgreSQL
// pg_advisory_xact_lock of a fixed key, on SQLite the write lock its
// transactions take at BEGIN (IMMEDIATE) — then reads the last (seq, hash)
// and inserts its entries with the following seqs. What differs between
// the databases (the lock, the insert, the writer's and the scans'
// connection settings, WAL checkpoints, retention's delete, JSON filters)
// is the store driver's (store.Driver). Writers in several
// processes — timon serve replicas on one PostgreSQL, processes on one
// SQLite file — thus append one batch after another to one chain without
// gaps; the primary key on seq would refuse a duplicate anyway.
//
// Durability: an acknowledged entry is committed. On PostgreSQL that is the
// server's commit (synchronous_commit). On SQLite (WAL, synchronous=NORMAL)
// it survives a crash of the process; with Options.FullSync it also
// survives a power loss, at the cost of an fsync per batch. SQLite's WAL
// checkpoints (two fsyncs each) run on a goroutine beside the writer, not
// after its commits, where they would stall every Append waiting for the
// next batch; only every few thousand pages does a short checkpoint wait
// for the writer, so that the WAL starts over.
//
// # Verifying
//
// Verify reads the checkpoints, then the entries in chunks of 65,536 seqs,
// several at once: an entry's hash is recomputed from its columns and the
// previous stored hash — which the previous entry's own check proves — so
// chunks are independent. On SQLite each scan maps the file into memory. It
// reports the first bad seq and what is wrong with it.
//
// # Retention
//
// ApplyRetention deletes the content older than a date, in small batches
// (SQLite overwrites the freed pages); entries stay and the chain still
// verifies. ReadContent tells content deleted by retention (ErrNoContent)
// from an unknown entry (store.ErrNotFound).
//
// # Reading content
//
// Journal.Read gives an administrator one request's entries with the
// content kept under "full", and journals that reading first — an entry of
// integration "audit", task "read", whose Subject is the request id read —
// so that who read what is in the same chain, under the same checkpoints,
// as the requests themselves. If the reading cannot be journaled, nothing
// is returned.
package audit
