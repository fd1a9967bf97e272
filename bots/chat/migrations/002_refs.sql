CREATE TABLE chat_refs (
	platform TEXT NOT NULL,
	channel_id TEXT NOT NULL,
	thread_id TEXT NOT NULL,
	user_id TEXT NOT NULL,
	records TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	PRIMARY KEY (platform, channel_id, thread_id, user_id)
)
