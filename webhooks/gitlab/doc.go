// Package gitlab is timon's GitLab front end: the webhook endpoint (POST
// /webhooks/gitlab), the API client, and the durable job that runs a
// merge-request review.
//
// The handler authenticates every delivery (X-Gitlab-Token compared in
// constant time with the secret of the project, its group, or the default
// one; a Standard Webhooks webhook-signature required wherever a signing
// secret is set). The project a delivery names is a claim: the handler
// reads the project by its id from GitLab and authenticates the delivery
// again against the secrets of the scope GitLab puts it in, so that one
// scope's secret never drives work on another's project (403 otherwise);
// the job's settings and journal origin come from GitLab's answer. It decides
// whether it asks for work (Merge Request Hook: open, reopen, draft to
// ready, new commits; Note Hook: /timon review|describe|explain <question>),
// drops repeated deliveries (Idempotency-Key, else X-Gitlab-Event-UUID) and
// queues a River job, unique per project, merge request, head and kind. It
// answers quickly: 202 for queued work, 200 for what it deliberately
// ignores, 401 for bad authentication, 403 for a project outside the
// secret's scope, 400 for a malformed body and 503 when GitLab cannot be
// asked about the project.
//
// The job holds references only (project, merge request, head, note id):
// it reads the content from GitLab when it runs, and what the review keeps
// between two steps is sealed (see webhooks/review).
//
// The job's worker checks what cannot be checked at once (the commenter's
// access level, the bot's own notes) and hands the work to webhooks/review.
// The API client retries only idempotent requests; a POST that fails after
// GitLab may have written it is checked by re-reading, never sent again
// blindly.
package gitlab
