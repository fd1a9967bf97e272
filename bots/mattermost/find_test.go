package mattermost_test

import (
	"context"
	"testing"

	"timon.dev/timon/bots/chat"
	"timon.dev/timon/core"
)

// TestFindReadsRepliesBackByProps: a reply posted with its event key
// carries props, and Find reads it back: in a thread, and among the posts
// after a direct message.
func TestFindReadsRepliesBackByProps(t *testing.T) {
	r := newRig(t, rigOptions{noRun: true})
	ctx := context.Background()
	root := r.post(t, r.alan.Id, townID, "", "@timon hello")
	ev := &chat.Event{Platform: core.IntegrationMattermost, ID: root.Id, UserID: r.alan.Id, ChannelID: townID,
		ThreadID: root.Id, MessageID: root.Id, Trigger: chat.TriggerMention}
	other := *ev
	other.ID = "other"
	var ids []string
	for _, c := range []struct {
		ev   *chat.Event
		part int
	}{{ev, 0}, {&other, 0}, {ev, 1}} {
		id, err := r.bot.Post(ctx, c.ev, chat.Reply{Text: "part", Key: chat.EventKey(c.ev), Part: c.part})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	found, err := r.bot.Find(ctx, ev, chat.EventKey(ev))
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 2 || found[0] != ids[0] || found[1] != ids[2] {
		t.Fatalf("found %v, posted %v", found, ids)
	}

	dm := r.mm.DirectChannel(r.alan.Id, r.botID)
	msg := r.post(t, r.alan.Id, dm.Id, "", "hi")
	dev := &chat.Event{Platform: core.IntegrationMattermost, ID: msg.Id, UserID: r.alan.Id, ChannelID: dm.Id,
		ChannelType: chat.ChannelDM, MessageID: msg.Id, Trigger: chat.TriggerDM}
	id, err := r.bot.Post(ctx, dev, chat.Reply{Text: "answer", Key: chat.EventKey(dev)})
	if err != nil {
		t.Fatal(err)
	}
	found, err = r.bot.Find(ctx, dev, chat.EventKey(dev))
	if err != nil || len(found) != 1 || found[0] != id {
		t.Fatalf("direct message: found %v (posted %s), %v", found, id, err)
	}
	if found, _ := r.bot.Find(ctx, dev, "mattermost:none"); len(found) != 0 {
		t.Fatalf("found replies of an event never answered: %v", found)
	}
}
