CREATE TABLE quota_usage (
	subject TEXT PRIMARY KEY,
	minute_start BIGINT NOT NULL,
	minute_requests BIGINT NOT NULL,
	day_start BIGINT NOT NULL,
	day_tokens BIGINT NOT NULL,
	month_start BIGINT NOT NULL,
	month_tokens BIGINT NOT NULL
)
--;
CREATE TABLE quota_leases (
	id TEXT NOT NULL,
	subject TEXT NOT NULL,
	expires_at BIGINT NOT NULL,
	PRIMARY KEY (id, subject)
)
--;
CREATE INDEX quota_leases_live ON quota_leases (subject, expires_at)
