package mattermost_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mattermost/mattermost/server/public/model"

	"timon.dev/timon/bots/mattermost/mattermosttest"
)

// A catch-up summary of the channel over a period (/timon summarize
// last 4h) reads the period only, page after page, and answers the
// requester privately.
func TestSummarizeChannelOverAPeriod(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{commandToken: fixtureTok, noRun: true})
	srv := httptest.NewServer(r.bot.Handler())
	defer srv.Close()
	now := time.Now()
	if _, err := r.mm.PostAt(r.grace.Id, townID, "OLD: the budget meeting moved", now.Add(-30*time.Hour)); err != nil {
		t.Fatal(err)
	}
	for i := range 450 {
		if _, err := r.mm.PostAt(r.grace.Id, townID, fmt.Sprintf("cryostat log line %d", i), now.Add(-3*time.Hour+time.Duration(i)*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	res, err := r.mm.SlashCommand(context.Background(), srv.URL, fixtureTok, mattermosttest.Command{UserID: r.alan.Id, ChannelID: townID, Text: "summarize last 4h"})
	if err != nil || res.Status != http.StatusOK {
		t.Fatalf("%v %+v", err, res)
	}
	r.settle(t)
	reqs := r.llm.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d model calls, want 1", len(reqs))
	}
	sent := reqs[0].LastUser()
	if !strings.Contains(sent, "grace: cryostat log line 0\n") || !strings.Contains(sent, "grace: cryostat log line 449") || strings.Contains(sent, "OLD") {
		t.Fatalf("sent %.300q", sent)
	}
	if n := r.mm.CountHits("GET /api/v4/channels/{channel_id}/posts"); n < 3 {
		t.Fatalf("%d pages read for 451 posts by pages of 200", n)
	}
	if posts := r.mm.PostsBy(r.botID, ""); len(posts) != 0 {
		t.Fatalf("the summary was posted publicly: %+v", posts)
	}
	eph := r.mm.Ephemerals()
	if len(eph) == 0 || !strings.Contains(eph[len(eph)-1].Message, "Summarized 450 messages in one part") {
		t.Fatalf("ephemerals %+v", eph)
	}
	for _, e := range eph {
		if e.UserID != r.alan.Id {
			t.Fatalf("a reply went to someone else: %+v", e)
		}
	}
}

// The requester must be a member of the channel, even an open one the bot
// is in (the server would let them read it): otherwise nothing is read.
func TestSummarizeChannelRefusedToNonMembers(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{commandToken: fixtureTok, noRun: true})
	srv := httptest.NewServer(r.bot.Handler())
	defer srv.Close()
	lab := r.mm.AddChannel(&model.Channel{Name: "lab", DisplayName: "Lab", Type: model.ChannelTypeOpen}, r.grace.Id, r.botID)
	if _, err := r.mm.PostAt(r.grace.Id, lab.Id, "The ORION results are in", time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	res, err := r.mm.SlashCommand(context.Background(), srv.URL, fixtureTok, mattermosttest.Command{UserID: r.alan.Id, ChannelID: lab.Id, Text: "résume depuis hier"})
	if err != nil || res.Status != http.StatusOK {
		t.Fatalf("%v %+v", err, res)
	}
	r.settle(t)
	if r.llm.Count() != 0 {
		t.Fatal("a channel was summarized for a user who is not a member")
	}
	if n := r.mm.CountHits("GET /api/v4/channels/{channel_id}/posts"); n != 0 {
		t.Fatalf("the channel was read %d times for a non-member", n)
	}
	eph := r.mm.Ephemerals()
	if len(eph) != 1 || eph[0].UserID != r.alan.Id || !strings.Contains(eph[0].Message, "not a member") {
		t.Fatalf("ephemerals %+v", eph)
	}
}
