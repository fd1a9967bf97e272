package mattermost

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/mattermost/mattermost/server/public/model"
)

// TestListenFollowsSequenceNumbers drives listen against a scripted
// WebSocket: a duplicate is skipped, a gap ends the connection so that the
// next one asks for the missing event, with the connection id of the hello
// and the bearer token.
func TestListenFollowsSequenceNumbers(t *testing.T) {
	t.Parallel()
	const connID = "aaaabbbbccccddddeeeeffffgg"
	var mu sync.Mutex
	var queries []url.Values
	var auth []string
	script := [][]int64{{-1, 1, 1, 3}, {}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n := len(queries)
		queries = append(queries, r.URL.Query())
		auth = append(auth, r.Header.Get("Authorization"))
		mu.Unlock()
		c, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for _, seq := range script[min(n, len(script)-1)] {
			var ev *model.WebSocketEvent
			if seq < 0 {
				ev = model.NewWebSocketEvent(model.WebsocketEventHello, "", "", "", nil, "")
				ev.Add("connection_id", connID)
				seq = 0
			} else {
				ev = model.NewWebSocketEvent(model.WebsocketEventTyping, "", "c", "", nil, "")
			}
			b, _ := ev.SetSequence(seq).ToJSON()
			if c.WriteMessage(websocket.TextMessage, b) != nil {
				return
			}
		}
		// Then hold the connection until the client goes.
		_, _, _ = c.ReadMessage()
	}))
	defer srv.Close()
	base, _ := url.Parse(srv.URL)
	b := &Adapter{o: Options{Config: Config{BotToken: "tok"}}, log: discard(), base: base, http: srv.Client(), sem: make(chan struct{}, 1)}
	var st stream
	received, err := b.listen(context.Background(), &user{ID: "me"}, &st)
	var gap *gapError
	if !received || !errors.As(err, &gap) || gap.want != 2 || gap.got != 3 {
		t.Fatalf("listen = %v, %v; want a gap 2 → 3", received, err)
	}
	if st.connID != connID || st.next != 2 {
		t.Fatalf("state %+v", st)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := b.listen(ctx, &user{ID: "me"}, &st); ctx.Err() == nil {
		t.Fatalf("the second connection ended early: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(queries) != 2 || queries[0].Get("connection_id") != "" || queries[0].Get("sequence_number") != "0" ||
		queries[1].Get("connection_id") != connID || queries[1].Get("sequence_number") != "2" {
		t.Fatalf("queries %v", queries)
	}
	if auth[0] != "BEARER tok" || auth[1] != "BEARER tok" {
		t.Fatalf("authorization %q", auth)
	}
}
