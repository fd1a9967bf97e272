-- Usage roll-ups: counters the journal's writer adds to in the transaction
-- that appends the entries they count, so that pages read aggregates, not
-- entries. Days and months are UTC, as Unix microseconds of their start.
-- (On SQLite they are WITHOUT ROWID: a commit then writes one page of each,
-- not a table's and its primary key's.) They count entries, which
-- retention never deletes (it deletes content): see docs/design/audit.md.
CREATE TABLE audit_usage_daily (
	day_us BIGINT NOT NULL,
	integration TEXT NOT NULL,
	provider TEXT NOT NULL,
	model TEXT NOT NULL,
	requests BIGINT NOT NULL DEFAULT 0,
	tokens_in BIGINT NOT NULL DEFAULT 0,
	tokens_out BIGINT NOT NULL DEFAULT 0,
	denials BIGINT NOT NULL DEFAULT 0,
	quota_refusals BIGINT NOT NULL DEFAULT 0,
	answered BIGINT NOT NULL DEFAULT 0,
	provider_errors BIGINT NOT NULL DEFAULT 0,
	latency_ms BIGINT NOT NULL DEFAULT 0,
	lat_00 BIGINT NOT NULL DEFAULT 0,
	lat_01 BIGINT NOT NULL DEFAULT 0,
	lat_02 BIGINT NOT NULL DEFAULT 0,
	lat_03 BIGINT NOT NULL DEFAULT 0,
	lat_04 BIGINT NOT NULL DEFAULT 0,
	lat_05 BIGINT NOT NULL DEFAULT 0,
	lat_06 BIGINT NOT NULL DEFAULT 0,
	lat_07 BIGINT NOT NULL DEFAULT 0,
	lat_08 BIGINT NOT NULL DEFAULT 0,
	lat_09 BIGINT NOT NULL DEFAULT 0,
	lat_10 BIGINT NOT NULL DEFAULT 0,
	lat_11 BIGINT NOT NULL DEFAULT 0,
	lat_12 BIGINT NOT NULL DEFAULT 0,
	lat_13 BIGINT NOT NULL DEFAULT 0,
	lat_14 BIGINT NOT NULL DEFAULT 0,
	lat_15 BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (day_us, integration, provider, model)
) WITHOUT ROWID
--;
CREATE TABLE audit_usage_users (
	user_id TEXT NOT NULL,
	day_us BIGINT NOT NULL,
	integration TEXT NOT NULL,
	model TEXT NOT NULL,
	requests BIGINT NOT NULL DEFAULT 0,
	tokens_in BIGINT NOT NULL DEFAULT 0,
	tokens_out BIGINT NOT NULL DEFAULT 0,
	denials BIGINT NOT NULL DEFAULT 0,
	quota_refusals BIGINT NOT NULL DEFAULT 0,
	redactions BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (user_id, day_us, integration, model)
) WITHOUT ROWID
--;
CREATE TABLE audit_usage_monthly (
	month_us BIGINT NOT NULL,
	user_id TEXT NOT NULL,
	requests BIGINT NOT NULL DEFAULT 0,
	tokens BIGINT NOT NULL DEFAULT 0,
	tokens_in BIGINT NOT NULL DEFAULT 0,
	tokens_out BIGINT NOT NULL DEFAULT 0,
	denials BIGINT NOT NULL DEFAULT 0,
	quota_refusals BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (month_us, user_id)
) WITHOUT ROWID
--;
-- Top consumers read the first rows of these, whatever the number of people.
CREATE INDEX audit_usage_monthly_tokens ON audit_usage_monthly (month_us, tokens)
--;
CREATE INDEX audit_usage_monthly_refused ON audit_usage_monthly (month_us, quota_refusals) WHERE quota_refusals > 0
--;
CREATE TABLE audit_usage_groups (
	day_us BIGINT NOT NULL,
	grp TEXT NOT NULL,
	model TEXT NOT NULL,
	requests BIGINT NOT NULL DEFAULT 0,
	tokens_in BIGINT NOT NULL DEFAULT 0,
	tokens_out BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (day_us, grp, model)
) WITHOUT ROWID
--;
CREATE TABLE audit_usage_counts (
	day_us BIGINT NOT NULL,
	kind TEXT NOT NULL,
	name TEXT NOT NULL,
	n BIGINT NOT NULL DEFAULT 0,
	tokens_in BIGINT NOT NULL DEFAULT 0,
	tokens_out BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (day_us, kind, name)
) WITHOUT ROWID
--;
-- The entries journaled before this migration (seq up to upto_seq) are
-- added to the roll-ups by the journal when it opens (audit.Open), in
-- chunks under the append lock, done_seq recording its progress: the
-- same code as the writer's, so that both count alike.
CREATE TABLE audit_usage_backfill (
	id INTEGER PRIMARY KEY,
	upto_seq BIGINT NOT NULL,
	done_seq BIGINT NOT NULL
)
--;
INSERT INTO audit_usage_backfill (id, upto_seq, done_seq) SELECT 1, COALESCE(MAX(seq), 0), 0 FROM audit_entries
--;
-- A person's recent requests: their entries, newest first.
CREATE INDEX audit_entries_user ON audit_entries (json_extract(data, '$.user_id'), seq)
