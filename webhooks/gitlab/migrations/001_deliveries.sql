CREATE TABLE gitlab_deliveries (
	delivery TEXT PRIMARY KEY,
	received_at BIGINT NOT NULL
)
--;
CREATE INDEX gitlab_deliveries_received ON gitlab_deliveries (received_at)
