package mattermosttest

import (
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/mattermost/mattermost/server/public/model"
)

// deadQueueSize is how many sent events a connection keeps for a client
// that resumes, as the server's dead queue.
const deadQueueSize = 128

// outQueueSize bounds the events waiting to be written to one connection;
// a client that falls further behind is disconnected.
const outQueueSize = 1024

// serverVersion is reported in hello events, in the server's format
// (version.build.config-hash.licensed).
const serverVersion = "10.5.0.10.5.0.1c38da627ebb4e3635677db6939e9195.false"

var upgrader = websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}

// session is the server side of one connection id: it outlives the
// WebSocket connection that carries it, so that a client may resume.
type session struct {
	id, userID string
	seq        int64                   // the next sequence number
	dead       []*model.WebSocketEvent // the last events sent, with their sequence numbers
	pending    []*model.WebSocketEvent // broadcast while no connection was open
	conn       *wsConn
}

// wsConn is one open WebSocket connection and its writer.
type wsConn struct {
	ws   *websocket.Conn
	out  chan []byte
	done chan struct{}
	once sync.Once
}

func newWSConn(ws *websocket.Conn) *wsConn {
	return &wsConn{ws: ws, out: make(chan []byte, outQueueSize), done: make(chan struct{})}
}

func (c *wsConn) close() {
	c.once.Do(func() {
		close(c.done)
		_ = c.ws.Close() // abrupt: no close frame, as a broken network
	})
}

func (c *wsConn) writer() {
	for {
		select {
		case b := <-c.out:
			_ = c.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if err := c.ws.WriteMessage(websocket.TextMessage, b); err != nil {
				c.close()
				return
			}
		case <-c.done:
			return
		}
	}
}

// enqueue queues b for writing; false when the client is too far behind.
func (c *wsConn) enqueue(b []byte) bool {
	select {
	case c.out <- b:
		return true
	default:
		return false
	}
}

// detach closes the session's connection if it is c (or any, for nil).
// The caller holds s.mu.
func (ss *session) detach(c *wsConn) {
	if ss.conn != nil && (c == nil || ss.conn == c) {
		ss.conn.close()
		ss.conn = nil
	}
}

// send numbers ev and writes it, or keeps it for when the client comes
// back. The caller holds s.mu.
func (ss *session) send(ev *model.WebSocketEvent) {
	if ss.conn == nil {
		ss.pending = append(ss.pending, ev)
		return
	}
	e := ev.SetSequence(ss.seq)
	ss.seq++
	ss.dead = append(ss.dead, e)
	if len(ss.dead) > deadQueueSize {
		ss.dead = ss.dead[len(ss.dead)-deadQueueSize:]
	}
	ss.write(e)
}

// write writes an already numbered event. The caller holds s.mu.
func (ss *session) write(e *model.WebSocketEvent) {
	b, err := e.ToJSON()
	if err != nil || !ss.conn.enqueue(b) {
		ss.detach(nil)
	}
}

func (ss *session) hello() {
	ev := model.NewWebSocketEvent(model.WebsocketEventHello, "", "", ss.userID, nil, "")
	ev.Add("server_version", serverVersion)
	ev.Add("connection_id", ss.id)
	ev.Add("server_hostname", "mattermosttest")
	ss.send(ev)
}

// broadcast sends ev to every connection its broadcast reaches. The caller
// holds s.mu.
func (s *Server) broadcast(ev *model.WebSocketEvent) {
	b := ev.GetBroadcast()
	for _, ss := range s.sessions {
		switch {
		case b.UserId != "" && ss.userID != b.UserId:
		case b.OmitUsers[ss.userID]:
		case b.ChannelId != "" && !s.members[b.ChannelId][ss.userID]:
		default:
			ss.send(ev)
		}
	}
}

// serveWebSocket serves GET /api/v4/websocket: authentication by the
// Authorization header (or an authentication_challenge message), then the
// reliable WebSocket protocol.
func (s *Server) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	user := s.authUser(r)
	q := r.URL.Query()
	cid, seqParam := q.Get("connection_id"), q.Get("sequence_number")
	s.mu.Lock()
	s.hits = append(s.hits, Hit{Route: "GET /api/v4/websocket", Path: r.URL.Path, UserID: user})
	refuse := s.refuse
	s.notify()
	s.mu.Unlock()
	if refuse {
		writeError(w, http.StatusServiceUnavailable, "api.server.unavailable", "The server is unavailable.")
		return
	}
	var seqNum int64
	if cid != "" && user != "" {
		// As the server: a connection id must come with a sequence number.
		var err error
		if !model.IsValidId(cid) {
			writeError(w, http.StatusBadRequest, "api.websocket_handler.invalid_param.app_error", "invalid connection id")
			return
		}
		if seqNum, err = strconv.ParseInt(seqParam, 10, 64); err != nil {
			writeError(w, http.StatusBadRequest, "api.websocket_handler.invalid_param.app_error", "invalid sequence number")
			return
		}
	}
	ws, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	ws.SetReadLimit(model.SocketMaxMessageSizeKb)
	if user == "" {
		if user = s.challenge(ws); user == "" {
			_ = ws.Close()
			return
		}
		cid = "" // only a session authenticated at upgrade may resume
	}
	c := newWSConn(ws)
	s.mu.Lock()
	info := Conn{ConnectionID: q.Get("connection_id"), SequenceNumber: seqParam, UserID: user}
	ss := s.sessions[cid]
	if cid == "" || ss == nil || ss.userID != user {
		ss = &session{id: model.NewId(), userID: user}
		s.sessions[ss.id] = ss
		ss.conn = c
		ss.hello()
		info.Outcome = "new"
	} else {
		ss.detach(nil)
		ss.conn = c
		info.Outcome = ss.resume(s, seqNum)
	}
	for _, ev := range ss.pending {
		if ss.conn == nil {
			break
		}
		ss.send(ev)
	}
	if ss.conn != nil {
		ss.pending = nil
	}
	info.Assigned = ss.id
	s.conns = append(s.conns, info)
	s.notify()
	s.mu.Unlock()

	go c.writer()
	for {
		_, data, err := ws.ReadMessage()
		if err != nil {
			break
		}
		var req model.WebSocketRequest
		if json.Unmarshal(data, &req) == nil && req.Seq > 0 {
			b, _ := json.Marshal(model.NewWebSocketResponse(model.StatusOk, req.Seq, nil))
			c.enqueue(b)
		}
	}
	s.mu.Lock()
	ss.detach(c)
	s.notify()
	s.mu.Unlock()
}

// resume serves a reconnection with a sequence number, as the server's
// write pump does: replay from the dead queue, or nothing when nothing
// was missed, or a new connection id and hello when events were lost.
// The caller holds s.mu.
func (ss *session) resume(s *Server, n int64) string {
	for i, e := range ss.dead {
		if e.GetSequence() == n {
			for _, e := range ss.dead[i:] {
				if ss.conn == nil {
					break
				}
				ss.write(e)
			}
			return "resumed"
		}
	}
	if len(ss.dead) == 0 || ss.dead[len(ss.dead)-1].GetSequence() == n-1 {
		return "resumed"
	}
	delete(s.sessions, ss.id)
	ss.id = model.NewId()
	s.sessions[ss.id] = ss
	ss.seq = 0
	ss.dead = nil
	ss.hello()
	return "lost"
}

// challenge reads an authentication_challenge and answers it; it returns
// the user, "" when authentication failed.
func (s *Server) challenge(ws *websocket.Conn) string {
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	defer ws.SetReadDeadline(time.Time{})
	var req model.WebSocketRequest
	if err := ws.ReadJSON(&req); err != nil {
		return ""
	}
	token, _ := req.Data["token"].(string)
	s.mu.Lock()
	user := s.tokens[token]
	s.mu.Unlock()
	if req.Action != string(model.WebsocketAuthenticationChallenge) || user == "" {
		_ = ws.WriteJSON(model.NewWebSocketError(req.Seq, model.NewAppError("ServeWebSocket", "api.web_socket_router.not_authenticated.app_error", nil, "", http.StatusUnauthorized)))
		return ""
	}
	_ = ws.WriteJSON(model.NewWebSocketResponse(model.StatusOk, req.Seq, nil))
	return user
}
