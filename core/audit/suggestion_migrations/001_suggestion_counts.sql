CREATE TABLE suggestion_counts (
	day BIGINT NOT NULL,
	user_id TEXT NOT NULL,
	integration TEXT NOT NULL,
	language TEXT NOT NULL,
	groups_json TEXT NOT NULL,
	shown BIGINT NOT NULL,
	accepted BIGINT NOT NULL,
	PRIMARY KEY (day, user_id, integration, language)
)
--;
CREATE INDEX suggestion_counts_day ON suggestion_counts (day)
