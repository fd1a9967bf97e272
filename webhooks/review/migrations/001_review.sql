CREATE TABLE gitlab_review_runs (
	project_id BIGINT NOT NULL,
	iid BIGINT NOT NULL,
	head_sha TEXT NOT NULL,
	kind TEXT NOT NULL,
	status TEXT NOT NULL,
	result TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL,
	PRIMARY KEY (project_id, iid, head_sha, kind)
)
--;
CREATE TABLE gitlab_mr_state (
	project_id BIGINT NOT NULL,
	iid BIGINT NOT NULL,
	reviewed_head TEXT NOT NULL,
	lease_owner TEXT NOT NULL,
	lease_until BIGINT NOT NULL,
	updated_at BIGINT NOT NULL,
	PRIMARY KEY (project_id, iid)
)
