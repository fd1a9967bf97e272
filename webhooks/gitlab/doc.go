// Package gitlab is timon's GitLab front end: the webhook endpoint (POST
// /webhooks/gitlab), the API client, and the durable job that runs a
// merge-request review.
//
// The handler authenticates every delivery (X-Gitlab-Token compared in
// constant time with the secret of the project, its group, or the default
// one; a Standard Webhooks webhook-signature checked when present), decides
// whether it asks for work (Merge Request Hook: open, reopen, draft to
// ready, new commits; Note Hook: /timon review|describe|explain <question>),
// drops repeated deliveries (Idempotency-Key, else X-Gitlab-Event-UUID) and
// queues a River job, unique per project, merge request, head and kind. It
// answers within milliseconds: 202 for queued work, 200 for what it
// deliberately ignores, 401 for bad authentication and 400 for a malformed
// body only, so that GitLab never disables the hook.
//
// The job's worker checks what cannot be checked at once (the commenter's
// access level, the bot's own notes) and hands the work to webhooks/review.
// The API client retries only idempotent requests; a POST that fails after
// GitLab may have written it is checked by re-reading, never sent again
// blindly.
package gitlab
