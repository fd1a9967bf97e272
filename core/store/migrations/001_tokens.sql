CREATE TABLE tokens (
	id TEXT PRIMARY KEY,
	hash TEXT NOT NULL UNIQUE,
	user_id TEXT NOT NULL,
	groups_json TEXT NOT NULL,
	name TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	expires_at BIGINT NOT NULL,
	revoked_at BIGINT NOT NULL,
	last_used_at BIGINT NOT NULL
)
--;
CREATE INDEX tokens_user ON tokens (user_id)
