package slack_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"timon.dev/timon/bots/slack/slacktest"
)

func TestSocketMode(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{mode: "socket", noSecret: true})
	ctx, cancel := context.WithCancel(ctxT(t))
	done := make(chan error, 1)
	go func() { done <- r.adapter.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	if err := r.slack.WaitSocket(ctx, 1); err != nil {
		t.Fatal(err)
	}

	// Slack's documented Socket Mode app_mention (only the mention, so the
	// answer is help), acknowledged, answered in its thread; delivered
	// again (retry_attempt 1), acknowledged and not answered twice.
	env := fixture(t, "socket_mode_events_api_app_mention.json")
	if err := r.slack.Send(env); err != nil {
		t.Fatal(err)
	}
	if _, err := r.slack.WaitAck(ctx, "cda4159a-72a5-4744-aba3-4d66eb52682b"); err != nil {
		t.Fatal(err)
	}
	r.settle(t)
	var v map[string]any
	json.Unmarshal(env, &v)
	v["retry_attempt"], v["retry_reason"], v["envelope_id"] = 1, "timeout", "second-delivery"
	again, _ := json.Marshal(v)
	if err := r.slack.Send(again); err != nil {
		t.Fatal(err)
	}
	if _, err := r.slack.WaitAck(ctx, "second-delivery"); err != nil {
		t.Fatal(err)
	}
	r.settle(t)
	replies := r.slack.Replies("C111", "1610241741.000200")
	if len(replies) != 1 || !strings.Contains(replies[0].Text, "ask <question>") {
		t.Fatalf("replies %+v", replies)
	}

	// Slack's documented Socket Mode slash command: acknowledged with a
	// private "working on it", answered through its response URL.
	if err := r.slack.Send(fixture(t, "socket_mode_slash_commands.json")); err != nil {
		t.Fatal(err)
	}
	ack, err := r.slack.WaitAck(ctx, "1d3c79ab-0ffb-41f3-a080-d19e85f53649")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(ack.Payload), "Working on it") {
		t.Fatalf("slash ack payload %s", ack.Payload)
	}
	r.settle(t)
	if res := r.slack.Responses(); len(res) != 1 || res[0].Path != "/response/commands/T111/111/xxx" {
		t.Fatalf("responses %+v", res)
	}

	// A dropped connection is opened again, and events flow.
	r.slack.DropSocket()
	if err := r.slack.WaitSocket(ctx, 2); err != nil {
		t.Fatal(err)
	}
	ts := r.slack.AddMessage("C111", "", "U222", "<@"+slacktest.BotUserID+"> ask still there?")
	if err := r.slack.Send(slacktest.Envelope("after-reconnect", "events_api",
		slacktest.AppMention("EvAfter", "C111", "U222", "ask still there?", ts, ""), 0)); err != nil {
		t.Fatal(err)
	}
	if _, err := r.slack.WaitAck(ctx, "after-reconnect"); err != nil {
		t.Fatal(err)
	}
	r.settle(t)
	if replies := r.slack.Replies("C111", ts); len(replies) != 1 || !strings.HasPrefix(replies[0].Text, "echo: still there?") {
		t.Fatalf("after reconnect: %+v", replies)
	}
}
