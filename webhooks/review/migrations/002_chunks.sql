CREATE TABLE gitlab_review_chunks (
	project_id BIGINT NOT NULL,
	iid BIGINT NOT NULL,
	head_sha TEXT NOT NULL,
	kind TEXT NOT NULL,
	chunk TEXT NOT NULL,
	sealed TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	PRIMARY KEY (project_id, iid, head_sha, kind, chunk)
)
--;
CREATE INDEX gitlab_review_chunks_created ON gitlab_review_chunks (created_at)
