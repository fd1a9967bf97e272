package integrationtests

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"timon.dev/timon/core/provider/fakellm"
	"timon.dev/timon/webhooks/gitlab"
	"timon.dev/timon/webhooks/gitlab/gitlabtest"
)

// TestAbuseServerSlowBody: a client trickling its body one byte at a time
// is answered 408 (or cut off) once server.body_timeout has passed, while
// its body is still far from complete; a streamed answer lasting longer
// than the body timeout is not cut.
func TestAbuseServerSlowBody(t *testing.T) {
	fake := newFake(t)
	h := startHubWith(t, fake, hubConfigWith(fake.URL(), "server:\n  max_body_bytes: 65536\n  body_timeout: 1s\n  log_level: debug\n"))
	tok := h.token("alice", "physics")

	conn, err := net.Dial("tcp", strings.TrimPrefix(h.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// 60000 bytes at one byte every 20 ms would take 20 minutes.
	fmt.Fprintf(conn, "POST /v1/assist HTTP/1.1\r\nHost: timon\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 60000\r\n\r\n", tok)
	stop := make(chan struct{})
	sent := make(chan int, 1)
	go func() {
		n := 0
		defer func() { sent <- n }()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if _, err := conn.Write([]byte{' '}); err != nil {
				return
			}
			n++
		}
	}()
	// A safety net only: without a body deadline the answer would come
	// after the whole body, 20 minutes from now.
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	close(stop)
	n := <-sent
	if n >= 60000 {
		t.Fatalf("the whole body was sent (%d bytes)", n)
	}
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("the server held a trickling body open for 30s (%d bytes sent): %v", n, err)
		}
		// Closed without an answer: acceptable.
		t.Logf("connection closed after %d bytes: %v", n, err)
	} else {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(body), "did not arrive within 1s") {
			t.Fatalf("trickling body answered %d %s", resp.StatusCode, body)
		}
	}

	// A streamed answer longer than the body timeout goes to its end.
	text := strings.Repeat("The cluster is back. ", 6)
	fake.Enqueue(fakellm.Reply{Text: text, ChunkSize: 21, ChunkDelay: 300 * time.Millisecond})
	deltas, done := h.stream(tok, map[string]any{"task": "chat", "stream": true,
		"messages": []map[string]string{{"role": "user", "content": "Is the cluster back?"}}})
	if got := strings.Join(deltas, ""); got != text || done["text"] != text {
		t.Fatalf("stream cut: got %q, done %v", got, done["text"])
	}
}

// TestAbuseServerBodyLimits: the GitLab webhook's own 4 MiB bound applies
// on its route (a 2 MiB delivery reaches the handler, which refuses its
// token; a 5 MiB one gets 413 naming 4 MiB), the configured bound on the
// others, each named in its 413.
func TestAbuseServerBodyLimits(t *testing.T) {
	fake := newFake(t)
	g := startGitLabHub(t, fake, "")
	tok := g.token("alice", "physics")

	delivery := func(size int) (int, string) {
		t.Helper()
		body := fmt.Sprintf(`{"object_kind":"merge_request","project":{"id":%d,"path_with_namespace":%q},"description":"%s"}`,
			glProject, glPath, strings.Repeat("x", size))
		req, _ := http.NewRequest(http.MethodPost, g.url+"/webhooks/gitlab", strings.NewReader(body))
		req.Header = gitlabtest.Headers(gitlab.EventMergeRequest, "not-the-secret", "abuse-"+fmt.Sprint(size), "")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if status, body := delivery(2 << 20); status != http.StatusUnauthorized {
		t.Fatalf("2 MiB delivery with a bad token: %d %s, want 401 from the GitLab handler", status, body)
	}
	status, body := delivery(5 << 20)
	if status != http.StatusRequestEntityTooLarge || !strings.Contains(body, "4 MiB") {
		t.Fatalf("5 MiB delivery: %d %s, want 413 naming 4 MiB", status, body)
	}

	// Other routes: the configured 64 KiB, also when no length is declared.
	big := `{"task":"chat","messages":[{"role":"user","content":"` + strings.Repeat("x", 100<<10) + `"}]}`
	for _, chunked := range []bool{false, true} {
		var r io.Reader = strings.NewReader(big)
		if chunked {
			r = io.MultiReader(bytes.NewReader([]byte(big))) // no length: chunked
		}
		req, _ := http.NewRequest(http.MethodPost, g.url+"/v1/assist", r)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(b), "64 KiB") {
			t.Fatalf("100 KiB body (chunked %v) on /v1/assist: %d %s, want 413 naming 64 KiB", chunked, resp.StatusCode, b)
		}
	}
}
