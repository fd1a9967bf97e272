CREATE TABLE gitlab_review_dismissals (
	project_id BIGINT NOT NULL,
	project_path TEXT NOT NULL,
	iid BIGINT NOT NULL,
	fingerprint TEXT NOT NULL,
	kind TEXT NOT NULL,
	reason TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	PRIMARY KEY (project_id, iid, fingerprint)
)
--;
CREATE INDEX gitlab_review_dismissals_kind ON gitlab_review_dismissals (project_id, kind)
--;
CREATE TABLE gitlab_review_kind_resets (
	project_id BIGINT NOT NULL,
	project_path TEXT NOT NULL,
	kind TEXT NOT NULL,
	reset_at BIGINT NOT NULL,
	PRIMARY KEY (project_id, kind)
)
