package mattermost

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/websocket"

	"timon.dev/timon/bots/chat"
)

const (
	// readTimeout: a connection silent for this long (no event, ping or
	// pong) is deemed dead. The server pings every minute; the bot pings
	// every pingEvery.
	readTimeout      = 75 * time.Second
	pingEvery        = 30 * time.Second
	writeTimeout     = 10 * time.Second
	handshakeTimeout = 15 * time.Second
	// maxEventBytes bounds one event: a post of 65,535 bytes, JSON-escaped
	// twice (the post is a string inside the event), with its metadata.
	maxEventBytes = 1 << 20
	// queueTimeout bounds the queueing of one event, retries included.
	queueTimeout = 30 * time.Second
)

// WebSocket event types the bot reads (model.WebsocketEventHello,
// WebsocketEventPosted); the others (post_edited, typing,
// ephemeral_message…) only count in the sequence numbers.
const (
	eventHello  = "hello"
	eventPosted = "posted"
)

// wsEvent is an event of the WebSocket (model.WebSocketEvent's JSON): its
// type, its data and its sequence number. The server's replies to the
// client's requests have no type.
type wsEvent struct {
	Event string         `json:"event"`
	Data  map[string]any `json:"data"`
	Seq   int64          `json:"seq"`
}

// decodeEvent reads an event as model.WebSocketEventFromJSON does (the
// first JSON value of the message).
func decodeEvent(data []byte) (*wsEvent, error) {
	var ev wsEvent
	if err := json.NewDecoder(bytes.NewReader(data)).Decode(&ev); err != nil {
		return nil, err
	}
	return &ev, nil
}

// stream is what the bot knows of its WebSocket across connections.
type stream struct {
	connID string // from the last hello
	next   int64  // the sequence number of the next event expected
}

// gapError is a jump in sequence numbers: events were missed on this
// connection.
type gapError struct{ want, got int64 }

func (e *gapError) Error() string {
	return fmt.Sprintf("missed WebSocket events: expected sequence number %d, got %d", e.want, e.got)
}

// errUnauthorized is the server refusing the bot token.
var errUnauthorized = errors.New("the Mattermost server refused the bot token (401)")

// Run listens to the Mattermost WebSocket until ctx ends, reconnecting and
// resuming after failures, and queues each post to answer on the router;
// call it once. It returns nil when ctx ends (after the posts received are
// queued), and an error only when the server refuses the bot token at
// start.
func (b *Adapter) Run(ctx context.Context) error {
	defer b.inflight.Wait()
	me, err := b.start(ctx)
	if err != nil || me == nil {
		return err
	}
	if b.o.Config.CommandURL != "" {
		rctx, cancel := context.WithTimeout(ctx, registerTimeout)
		if err := b.RegisterCommands(rctx); err != nil {
			b.log.Warn("registering the slash command failed; a command registered by hand (command_token) still works", "err", err)
		}
		cancel()
	}
	var st stream
	backoff := b.o.MinBackoff
	for {
		received, err := b.listen(ctx, me, &st)
		b.connected.Store(false)
		if ctx.Err() != nil {
			return nil
		}
		if received {
			backoff = b.o.MinBackoff
		}
		wait := jitter(backoff)
		var gap *gapError
		switch {
		case errors.As(err, &gap):
			b.log.Info("Mattermost WebSocket events were missed; reconnecting to have them sent again", "err", err)
		case errors.Is(err, errUnauthorized):
			b.log.Error("the Mattermost server refused the bot token; retrying", "in", wait.String())
		default:
			b.log.Warn("Mattermost WebSocket disconnected; reconnecting", "err", err, "in", wait.String())
		}
		backoff = min(backoff*2, b.o.MaxBackoff)
		if !sleep(ctx, wait) {
			return nil
		}
	}
}

// start learns who the bot is, waiting for the server to answer.
func (b *Adapter) start(ctx context.Context) (*user, error) {
	backoff := b.o.MinBackoff
	for {
		me, err := b.self(ctx)
		if err == nil {
			b.log.Info("Mattermost bot started", "bot", me.Username, "server", b.base.Host)
			return me, nil
		}
		if ctx.Err() != nil {
			return nil, nil
		}
		if errors.Is(err, errUnauthorized) {
			return nil, fmt.Errorf("mattermost: %w", err)
		}
		wait := jitter(backoff)
		b.log.Warn("the Mattermost server does not answer yet; retrying", "err", err, "in", wait.String())
		backoff = min(backoff*2, b.o.MaxBackoff)
		if !sleep(ctx, wait) {
			return nil, nil
		}
	}
}

// listen runs one WebSocket connection until it fails; received tells
// whether it delivered anything (the connection worked).
func (b *Adapter) listen(ctx context.Context, me *user, st *stream) (received bool, err error) {
	conn, resp, err := b.dialer().DialContext(ctx, b.wsURL(st), http.Header{
		headerAuth: {headerBearer + " " + b.o.Config.BotToken},
	})
	if err != nil {
		if resp != nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusUnauthorized {
				return false, errUnauthorized
			}
			return false, fmt.Errorf("connecting to the Mattermost WebSocket: status %d: %w", resp.StatusCode, err)
		}
		return false, fmt.Errorf("connecting to the Mattermost WebSocket: %w", err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	conn.SetReadLimit(maxEventBytes)
	alive := func() { _ = conn.SetReadDeadline(time.Now().Add(readTimeout)) }
	alive()
	conn.SetPingHandler(func(data string) error {
		alive()
		err := conn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(writeTimeout))
		if errors.Is(err, websocket.ErrCloseSent) {
			return nil
		}
		return err
	})
	conn.SetPongHandler(func(string) error { alive(); return nil })
	done := make(chan struct{})
	defer close(done)
	go func() {
		t := time.NewTicker(pingEvery)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				if conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeTimeout)) != nil {
					return
				}
			case <-done:
				return
			}
		}
	}()

	for {
		_, data, err := conn.ReadMessage()
		if err != nil {
			return received, fmt.Errorf("reading the Mattermost WebSocket: %w", err)
		}
		alive()
		ev, err := decodeEvent(data)
		if err != nil || ev.Event == "" {
			continue // a reply to a request, or something this bot does not know
		}
		received = true
		b.connected.Store(true)
		if ev.Event == eventHello {
			b.hello(ev, st)
			continue
		}
		switch seq := ev.Seq; {
		case seq < st.next:
			continue // sent again after a resume: already seen
		case seq > st.next:
			return received, &gapError{want: st.next, got: seq}
		}
		st.next++
		if ev.Event == eventPosted {
			b.dispatch(ctx, me, ev)
		}
	}
}

// hello starts a connection's numbering. A connection id other than the
// one the bot asked to resume means the server could not resume (it
// restarted, or the bot was away too long): what was posted meanwhile is
// not sent.
func (b *Adapter) hello(ev *wsEvent, st *stream) {
	id, _ := ev.Data["connection_id"].(string)
	if st.connID != "" && id != st.connID {
		b.log.Warn("Mattermost could not resume the WebSocket connection; posts sent while it was down are not answered")
	}
	st.connID = id
	st.next = ev.Seq + 1
}

// wsURL is the WebSocket URL, with the connection to resume.
func (b *Adapter) wsURL(st *stream) string {
	u := *b.base
	if u.Scheme == "https" {
		u.Scheme = "wss"
	} else {
		u.Scheme = "ws"
	}
	u.Path = strings.TrimRight(u.Path, "/") + apiPath + "/websocket"
	u.RawPath = ""
	u.RawQuery = "connection_id=" + st.connID + "&sequence_number=" + strconv.FormatInt(st.next, 10)
	return u.String()
}

// dialer uses the HTTP client's TLS settings, proxy and dialer.
func (b *Adapter) dialer() *websocket.Dialer {
	d := &websocket.Dialer{Proxy: http.ProxyFromEnvironment, HandshakeTimeout: handshakeTimeout}
	if t, ok := b.http.Transport.(*http.Transport); ok {
		if t.TLSClientConfig != nil {
			d.TLSClientConfig = t.TLSClientConfig.Clone()
		}
		d.Proxy = t.Proxy
		d.NetDialContext = t.DialContext
	}
	return d
}

// dispatch queues the answer to a posted event, if the bot has one to
// give, without holding up the reading of the next events (at most
// dispatchers at once).
func (b *Adapter) dispatch(ctx context.Context, me *user, ev *wsEvent) {
	cev, err := fromPosted(me, ev)
	if err != nil {
		b.log.Warn("ignoring a malformed posted event", "err", err)
		return
	}
	if cev == nil {
		return
	}
	select {
	case b.sem <- struct{}{}:
	case <-ctx.Done():
		return
	}
	b.inflight.Add(1)
	go func() {
		defer func() {
			<-b.sem
			b.inflight.Done()
		}()
		// A stopping hub still queues what it has received.
		b.enqueue(context.WithoutCancel(ctx), cev)
	}()
}

// enqueue completes ev with its user's profile and queues it durably,
// retrying a failing store a few times.
func (b *Adapter) enqueue(ctx context.Context, ev *chat.Event) {
	ctx, cancel := context.WithTimeout(ctx, queueTimeout)
	defer cancel()
	b.withUser(ctx, ev)
	wait := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		dup, err := b.o.Router.Enqueue(ctx, ev)
		if err == nil {
			if dup {
				b.log.Debug("Mattermost post already queued", "event", ev.ID)
			}
			return
		}
		if attempt == 5 || !sleep(ctx, wait) {
			b.log.Error("a Mattermost post could not be queued; it is not answered", "event", ev.ID, "err", err)
			return
		}
		wait *= 2
	}
}

// jitter spreads reconnections: between d/2 and d.
func jitter(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2)
}

// sleep waits d or until ctx ends; false when ctx ended.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
