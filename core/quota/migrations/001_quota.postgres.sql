CREATE TABLE quota_usage (
	subject TEXT PRIMARY KEY,
	minute_start BIGINT NOT NULL,
	minute_requests BIGINT NOT NULL,
	day_start BIGINT NOT NULL,
	day_tokens BIGINT NOT NULL,
	month_start BIGINT NOT NULL,
	month_tokens BIGINT NOT NULL
) WITH (fillfactor = 50)
--;
CREATE TABLE quota_leases (
	subject TEXT NOT NULL,
	expires_at BIGINT NOT NULL,
	id TEXT NOT NULL,
	PRIMARY KEY (subject, expires_at, id)
)
