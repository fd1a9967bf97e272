CREATE TABLE audit_entries (
	seq BIGINT PRIMARY KEY,
	time_us BIGINT NOT NULL,
	data TEXT NOT NULL,
	hash TEXT NOT NULL
)
--;
CREATE INDEX audit_entries_time ON audit_entries (time_us)
--;
CREATE TABLE audit_checkpoints (
	seq BIGINT PRIMARY KEY,
	hash TEXT NOT NULL,
	time_us BIGINT NOT NULL,
	key_id TEXT NOT NULL,
	signature TEXT NOT NULL
)
--;
CREATE TABLE audit_content (
	seq BIGINT PRIMARY KEY,
	time_us BIGINT NOT NULL,
	key_id TEXT NOT NULL,
	sealed BYTEA NOT NULL
)
--;
CREATE INDEX audit_content_time ON audit_content (time_us)
