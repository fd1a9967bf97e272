package gitlab_test

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"timon.dev/timon/webhooks/gitlab"
	"timon.dev/timon/webhooks/gitlab/gitlabtest"
	"timon.dev/timon/webhooks/review"
)

func TestSecretsPerProjectAndGroup(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{configure: func(c *review.Config) {
		c.Groups = []review.Scope{{Path: "research", Secret: "group-secret"}}
		c.Projects = []review.Scope{{Path: "research/other", Secret: "other-secret"}}
	}})
	iid := r.openMR(changed, gitlabtest.MROptions{})
	body := r.gl.MergeRequestHook(projectID, iid, gitlabtest.HookOptions{Action: "open"})
	for token, want := range map[string]int{
		webhookSecret:  http.StatusUnauthorized, // the group's secret replaces the default one
		"other-secret": http.StatusUnauthorized, // another project's
		"group-secret": http.StatusAccepted,
	} {
		if code, resp := r.deliver(gitlabtest.Headers(gitlab.EventMergeRequest, token, newKey(), ""), body); code != want {
			t.Errorf("token %q: %d %s, want %d", token, code, resp, want)
		}
	}
}

func TestStandardWebhooksSignature(t *testing.T) {
	t.Parallel()
	secret := "whsec_" + base64.StdEncoding.EncodeToString([]byte("a signing key of 32 bytes, yes!!"))
	r := newRig(t, rigOptions{configure: func(c *review.Config) { c.SigningSecret = secret }})
	iid := r.openMR(changed, gitlabtest.MROptions{})
	body := r.gl.MergeRequestHook(projectID, iid, gitlabtest.HookOptions{Action: "open"})
	signed := func(id string, ts time.Time, sig string) http.Header {
		h := gitlabtest.Headers(gitlab.EventMergeRequest, webhookSecret, id, "")
		h.Set("webhook-id", id)
		h.Set("webhook-timestamp", strconv.FormatInt(ts.Unix(), 10))
		h.Set("webhook-signature", sig)
		return h
	}
	now := time.Now()
	cases := []struct {
		name string
		h    http.Header
		want int
	}{
		{"unsigned", gitlabtest.Headers(gitlab.EventMergeRequest, webhookSecret, "msg_0", ""), http.StatusUnauthorized},
		{"bad signature", signed("msg_1", now, "v1,"+base64.StdEncoding.EncodeToString([]byte("nope"))), http.StatusUnauthorized},
		{"signed for another body", signed("msg_2", now, gitlab.Sign(secret, "msg_2", now, []byte("{}"))), http.StatusUnauthorized},
		{"too old", signed("msg_3", now.Add(-time.Hour), gitlab.Sign(secret, "msg_3", now.Add(-time.Hour), body)), http.StatusUnauthorized},
		{"another key", signed("msg_4", now, gitlab.Sign("whsec_"+base64.StdEncoding.EncodeToString([]byte("other")), "msg_4", now, body)), http.StatusUnauthorized},
		{"valid, among others", signed("msg_5", now, "v1,Zm9v "+gitlab.Sign(secret, "msg_5", now, body)), http.StatusAccepted},
	}
	for _, c := range cases {
		if code, resp := r.deliver(c.h, body); code != c.want {
			t.Errorf("%s: %d %s, want %d", c.name, code, resp, c.want)
		}
	}
}

// TestASecretDrivesOnlyItsOwnScope: the project a delivery names is a
// claim; the project its id designates must be in the secret's scope.
func TestASecretDrivesOnlyItsOwnScope(t *testing.T) {
	t.Parallel()
	const vaultID, vaultPath = 43, "vault/x"
	r := newRig(t, rigOptions{configure: func(c *review.Config) {
		c.Groups = []review.Scope{{Path: "vault", Secret: "vault-secret"}}
	}})
	r.gl.AddProject(vaultID, vaultPath, map[string]string{"v.go": "package v\n"})
	r.gl.SetMember(vaultID, alice.ID, gitlabtest.Developer)
	r.gl.Commit(vaultID, "leak", "Vault", map[string]string{"v.go": "package v\n\nfunc V() { panic(\"VAULT\") }\n"})
	iid := r.gl.OpenMR(vaultID, gitlabtest.MROptions{Source: "leak", Title: "Vault", Author: alice})
	body := r.gl.MergeRequestHook(vaultID, iid, gitlabtest.HookOptions{Action: "open"})
	lie := bytes.Replace(body, []byte(`"path_with_namespace":"`+vaultPath+`"`), []byte(`"path_with_namespace":"`+projectPath+`"`), 1)
	if bytes.Equal(lie, body) {
		t.Fatal("the payload was not rewritten")
	}
	code, resp := r.deliver(gitlabtest.Headers(gitlab.EventMergeRequest, webhookSecret, newKey(), ""), lie)
	if code != http.StatusForbidden || !strings.Contains(resp, "does not cover") {
		t.Fatalf("cross-scope delivery: %d %s", code, resp)
	}
	// Its own secret works, under its own scope.
	if code, resp := r.deliver(gitlabtest.Headers(gitlab.EventMergeRequest, "vault-secret", newKey(), ""), body); code != http.StatusAccepted {
		t.Fatalf("the vault's own delivery: %d %s", code, resp)
	}
	r.wait()
	var origins []string
	for _, q := range r.modelCalls() {
		origins = append(origins, q.LastUser())
	}
	if len(origins) != 1 {
		t.Fatalf("%d model calls, want the vault's own one only", len(origins))
	}
	// An unknown project: the same refusal.
	unknown := bytes.Replace(body, []byte(`"id":`+strconv.Itoa(vaultID)+`,`), []byte(`"id":4242,`), 1)
	if code, resp := r.deliver(gitlabtest.Headers(gitlab.EventMergeRequest, "vault-secret", newKey(), ""), unknown); code != http.StatusForbidden {
		t.Fatalf("unknown project: %d %s", code, resp)
	}
}

// TestCommandAuthorIsGitLabs: the note's author, body and question are
// read from GitLab, not from the delivery.
func TestCommandAuthorIsGitLabs(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	iid := r.openMR(changed, gitlabtest.MROptions{})
	// A Reporter's note, delivered as if a Developer had written it.
	id := r.gl.AddNote(projectID, iid, guest, "/timon explain what is this?")
	if code, _ := r.deliver(gitlabtest.Headers(gitlab.EventNote, webhookSecret, newKey(), ""), r.gl.NoteHook(projectID, iid, id, alice, "/timon explain what is this?")); code != http.StatusAccepted {
		t.Fatalf("command not queued: %d", code)
	}
	r.wait()
	if len(r.modelCalls()) != 0 {
		t.Fatal("a Reporter's command, claimed to be a Developer's, reached the model")
	}
	// A Developer's note: the question asked is the note's, not the
	// delivery's.
	id = r.gl.AddNote(projectID, iid, alice, "/timon explain why open the file twice?")
	r.deliver(gitlabtest.Headers(gitlab.EventNote, webhookSecret, newKey(), ""), r.gl.NoteHook(projectID, iid, id, alice, "/timon explain something else entirely"))
	r.wait()
	calls := r.modelCalls()
	if len(calls) != 1 || !strings.Contains(calls[0].Messages[0].Content+calls[0].LastUser(), "why open the file twice?") {
		t.Fatalf("%d calls; the question asked was not the note's", len(calls))
	}
}
