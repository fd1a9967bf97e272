// Package review turns a merge request's diff into a governed review posted
// back as positioned comments: it parses the hunks, skips what must not or
// need not be reviewed (generated, too large, lockfiles, vendored and
// policy-excluded paths), packs the rest into the model's budget in chunks,
// asks the model through core.Assistant for JSON findings under a schema
// (validated, one retry), places each finding on a position computed from the
// parsed hunks, and posts at most N inline discussions plus one summary note
// edited in place.
//
// Every posted note carries a hidden fingerprint (an HTML comment), and the
// model's validated answer is stored per merge request, head and kind before
// anything is posted, so a re-run (a retried job, a restart) posts nothing
// twice. If the head moves while a review runs, its output is dropped.
//
// Everything that comes from the merge request — title, description, diff,
// commit messages, notes — is untrusted: bidi and zero-width characters are
// stripped, it travels only inside delimited data blocks, the model gets no
// tools, and its answer is checked (schema, leaked instructions, secrets,
// links and images to hosts outside an allowlist, GitLab quick actions and
// mentions) before it is posted. Leaked secrets found in the diff are flagged
// by type and location, never by value. Each request lists those pieces
// (title, description, commit titles, each file's block) as
// core.Request.Untrusted, so that a moderating policy rule checks them one
// by one: what it sets aside is said not reviewed in the posted note, with
// the engine's other notices; what it refuses (the material, or the
// model's answer) is reported in the note instead of a review.
//
// The package talks to GitLab through the API interface, which
// webhooks/gitlab's client implements.
package review
