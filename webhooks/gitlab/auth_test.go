package gitlab_test

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"testing"
	"time"

	"timon.dev/timon/core/config"
	"timon.dev/timon/webhooks/gitlab"
	"timon.dev/timon/webhooks/gitlab/gitlabtest"
)

func TestSecretsPerProjectAndGroup(t *testing.T) {
	r := newRig(t, rigOptions{configure: func(c *config.GitLab) {
		c.Groups = []config.GitLabScope{{Path: "research", Secret: "group-secret"}}
		c.Projects = []config.GitLabScope{{Path: "research/other", Secret: "other-secret"}}
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
	secret := "whsec_" + base64.StdEncoding.EncodeToString([]byte("a signing key of 32 bytes, yes!!"))
	r := newRig(t, rigOptions{configure: func(c *config.GitLab) { c.SigningSecret = secret }})
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
