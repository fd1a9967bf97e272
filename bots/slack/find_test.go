package slack_test

import (
	"context"
	"testing"

	"timon.dev/timon/bots/chat"
	"timon.dev/timon/bots/slack/slacktest"
	"timon.dev/timon/core"
)

// TestFindReadsRepliesBackByMetadata: a reply posted with its event key
// carries message metadata, and Find reads it back (in a thread and in a
// direct message conversation), asking Slack for the metadata it returns
// only on request.
func TestFindReadsRepliesBackByMetadata(t *testing.T) {
	r := newRig(t, rigOptions{skipStart: true})
	ctx := context.Background()
	root := r.slack.AddMessage("C123ABC456", "", "U061F7AUR", "<@"+slacktest.BotUserID+"> hello")
	ev := &chat.Event{Platform: core.IntegrationSlack, ID: "EvFind", UserID: "U061F7AUR", ChannelID: "C123ABC456",
		ThreadID: root, MessageID: root, Trigger: chat.TriggerMention}
	other := *ev
	other.ID = "EvOther"
	for i, c := range []struct {
		ev   *chat.Event
		part int
	}{{ev, 0}, {&other, 0}, {ev, 1}} {
		if _, err := r.adapter.Post(ctx, c.ev, chat.Reply{Text: "part", Key: chat.EventKey(c.ev), Part: c.part}); err != nil {
			t.Fatal(i, err)
		}
	}
	found, err := r.adapter.Find(ctx, ev, chat.EventKey(ev))
	if err != nil {
		t.Fatal(err)
	}
	msgs := r.slack.Replies("C123ABC456", root)
	if len(found) != 2 || found[0] != msgs[0].TS || found[1] != msgs[2].TS {
		t.Fatalf("found %v in %+v", found, msgs)
	}
	for _, c := range r.slack.Calls("conversations.replies") {
		if c.Values.Get("include_all_metadata") != "1" {
			t.Fatalf("conversations.replies without include_all_metadata: %v", c.Values)
		}
	}

	// A direct message answered in the conversation: conversations.history
	// after the message.
	dm := r.slack.AddMessage("D024BE91L", "", "U2147483697", "hi")
	dev := &chat.Event{Platform: core.IntegrationSlack, ID: "EvDM", UserID: "U2147483697", ChannelID: "D024BE91L",
		ChannelType: chat.ChannelDM, MessageID: dm, Trigger: chat.TriggerDM}
	if _, err := r.adapter.Post(ctx, dev, chat.Reply{Text: "answer", Key: chat.EventKey(dev)}); err != nil {
		t.Fatal(err)
	}
	found, err = r.adapter.Find(ctx, dev, chat.EventKey(dev))
	if err != nil || len(found) != 1 || found[0] == "" {
		t.Fatalf("direct message: found %v, %v", found, err)
	}
	if found, _ := r.adapter.Find(ctx, dev, "slack:EvNone"); len(found) != 0 {
		t.Fatalf("found replies of an event never answered: %v", found)
	}
}
