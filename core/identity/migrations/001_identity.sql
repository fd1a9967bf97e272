CREATE TABLE identity_people (
	id TEXT PRIMARY KEY,
	issuer TEXT NOT NULL,
	subject TEXT NOT NULL,
	name TEXT NOT NULL,
	email TEXT NOT NULL,
	groups_json TEXT NOT NULL,
	admin INTEGER NOT NULL,
	created_at BIGINT NOT NULL,
	last_seen_at BIGINT NOT NULL,
	UNIQUE (issuer, subject)
)
--;
CREATE TABLE identity_sessions (
	id TEXT PRIMARY KEY,
	hash TEXT NOT NULL UNIQUE,
	person_id TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	expires_at BIGINT NOT NULL,
	last_seen_at BIGINT NOT NULL,
	revoked_at BIGINT NOT NULL
)
--;
CREATE INDEX identity_sessions_person ON identity_sessions (person_id)
--;
CREATE TABLE identity_logins (
	state_hash TEXT PRIMARY KEY,
	sealed TEXT NOT NULL,
	expires_at BIGINT NOT NULL
)
--;
CREATE TABLE identity_devices (
	code_hash TEXT PRIMARY KEY,
	user_code TEXT NOT NULL UNIQUE,
	client TEXT NOT NULL,
	name TEXT NOT NULL,
	public_key TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	expires_at BIGINT NOT NULL,
	interval_s INTEGER NOT NULL,
	last_poll_at BIGINT NOT NULL,
	status TEXT NOT NULL,
	person_id TEXT NOT NULL,
	token_id TEXT NOT NULL,
	token_expires_at BIGINT NOT NULL,
	sealed TEXT NOT NULL
)
