CREATE TABLE chat_events (
	platform TEXT NOT NULL,
	event_id TEXT NOT NULL,
	done INTEGER NOT NULL DEFAULT 0,
	request_id TEXT NOT NULL DEFAULT '',
	created_at BIGINT NOT NULL,
	PRIMARY KEY (platform, event_id)
)
--;
CREATE TABLE chat_posts (
	platform TEXT NOT NULL,
	event_id TEXT NOT NULL,
	part INTEGER NOT NULL,
	post_id TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	PRIMARY KEY (platform, event_id, part)
)
--;
CREATE INDEX chat_events_created ON chat_events (created_at)
