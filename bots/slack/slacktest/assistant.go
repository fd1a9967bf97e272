package slacktest

import (
	"encoding/json"
	"net/url"
	"slices"
	"time"
	"unicode/utf8"
)

// maxStreamRunes is the most markdown_text one chat.*Stream call takes.
const maxStreamRunes = 12000

// startStream opens a streamed reply in a thread (chat.startStream):
// thread_ts is required; recipient_user_id and recipient_team_id outside
// direct messages; markdown_text is optional.
func (s *Server) startStream(v url.Values) (map[string]any, string) {
	ch, thread, text := v.Get("channel"), v.Get("thread_ts"), v.Get("markdown_text")
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.noStream != "" {
		return nil, s.noStream
	}
	c := s.channels[ch]
	switch {
	case ch == "" || c == nil:
		return nil, "channel_not_found"
	case thread == "":
		return nil, "invalid_arguments"
	case c.Type != "im" && (v.Get("recipient_user_id") == "" || v.Get("recipient_team_id") == ""):
		return nil, "invalid_arguments"
	case utf8.RuneCountInString(text) > maxStreamRunes:
		return nil, "msg_too_long"
	}
	m := &Message{Channel: ch, TS: s.nextTS(), ThreadTS: thread, User: BotUserID, BotID: BotID, Text: text,
		Streamed: true, Streaming: true, At: time.Now()}
	if text != "" {
		m.Chunks = []string{text}
	}
	s.messages = append(s.messages, m)
	s.notify()
	return map[string]any{"channel": ch, "ts": m.TS}, ""
}

// stream finds the bot's streamed message ts in ch; mu must be held.
func (s *Server) stream(ch, ts string) (*Message, string) {
	for _, m := range s.messages {
		if m.Channel == ch && m.TS == ts && m.Streamed {
			if !m.Streaming {
				return nil, "message_not_in_streaming_state"
			}
			return m, ""
		}
	}
	return nil, "message_not_found"
}

func (s *Server) appendStream(v url.Values) (map[string]any, string) {
	text := v.Get("markdown_text")
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.noStream != "" {
		return nil, s.noStream
	}
	if text == "" {
		return nil, "no_text"
	}
	if utf8.RuneCountInString(text) > maxStreamRunes {
		return nil, "msg_too_long"
	}
	m, code := s.stream(v.Get("channel"), v.Get("ts"))
	if code != "" {
		return nil, code
	}
	m.Text += text
	m.Chunks = append(m.Chunks, text)
	s.notify()
	return map[string]any{"channel": m.Channel, "ts": m.TS}, ""
}

func (s *Server) stopStream(v url.Values) (map[string]any, string) {
	text := v.Get("markdown_text")
	var meta json.RawMessage
	if raw := v.Get("metadata"); raw != "" {
		var md struct {
			EventType    string         `json:"event_type"`
			EventPayload map[string]any `json:"event_payload"`
		}
		if json.Unmarshal([]byte(raw), &md) != nil || md.EventType == "" || md.EventPayload == nil {
			return nil, "invalid_metadata_format"
		}
		meta = json.RawMessage(raw)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.noStream != "" {
		return nil, s.noStream
	}
	if utf8.RuneCountInString(text) > maxStreamRunes {
		return nil, "msg_too_long"
	}
	m, code := s.stream(v.Get("channel"), v.Get("ts"))
	if code != "" {
		return nil, code
	}
	if text != "" {
		m.Text += text
		m.Chunks = append(m.Chunks, text)
	}
	if meta != nil {
		m.Metadata = meta
	}
	m.Streaming = false
	s.notify()
	return map[string]any{"channel": m.Channel, "ts": m.TS, "message": map[string]any{"type": "message", "text": m.Text,
		"user": BotUserID, "bot_id": BotID, "ts": m.TS}}, ""
}

// assistantThread checks the arguments every assistant.threads method
// takes; mu must be held.
func (s *Server) assistantThread(v url.Values) string {
	c := s.channels[v.Get("channel_id")]
	switch {
	case c == nil:
		return "channel_not_found"
	case c.Type != "im":
		return "not_allowed" // assistant threads live in the app's direct messages
	case v.Get("thread_ts") == "":
		return "invalid_arguments"
	}
	return ""
}

func (s *Server) setStatus(v url.Values) (map[string]any, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if code := s.assistantThread(v); code != "" {
		return nil, code
	}
	if _, ok := v["status"]; !ok {
		return nil, "invalid_arguments" // "" clears it, but it must be sent
	}
	s.notify()
	return nil, ""
}

func (s *Server) setTitle(v url.Values) (map[string]any, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if code := s.assistantThread(v); code != "" {
		return nil, code
	}
	if v.Get("title") == "" {
		return nil, "invalid_arguments"
	}
	s.notify()
	return nil, ""
}

// Prompt is a suggested prompt of an assistant thread.
type Prompt struct {
	Title   string `json:"title"`
	Message string `json:"message"`
}

func (s *Server) setSuggestedPrompts(v url.Values) (map[string]any, string) {
	var prompts []Prompt
	if json.Unmarshal([]byte(v.Get("prompts")), &prompts) != nil || len(prompts) == 0 || len(prompts) > 4 ||
		slices.ContainsFunc(prompts, func(p Prompt) bool { return p.Title == "" || p.Message == "" }) {
		return nil, "invalid_arguments"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if code := s.assistantThread(v); code != "" {
		return nil, code
	}
	s.notify()
	return nil, ""
}

// Statuses returns the statuses set on an assistant thread, in order (""
// clears it).
func (s *Server) Statuses(channel, thread string) []string {
	var out []string
	for _, c := range s.Calls("assistant.threads.setStatus") {
		if c.Values.Get("channel_id") == channel && c.Values.Get("thread_ts") == thread {
			out = append(out, c.Values.Get("status"))
		}
	}
	return out
}

// Titles returns the titles set on an assistant thread, in order.
func (s *Server) Titles(channel, thread string) []string {
	var out []string
	for _, c := range s.Calls("assistant.threads.setTitle") {
		if c.Values.Get("channel_id") == channel && c.Values.Get("thread_ts") == thread {
			out = append(out, c.Values.Get("title"))
		}
	}
	return out
}

// SuggestedPrompts returns the title and prompts last set on an assistant
// thread.
func (s *Server) SuggestedPrompts(channel, thread string) (title string, prompts []Prompt) {
	for _, c := range s.Calls("assistant.threads.setSuggestedPrompts") {
		if c.Values.Get("channel_id") == channel && c.Values.Get("thread_ts") == thread {
			title, prompts = c.Values.Get("title"), nil
			json.Unmarshal([]byte(c.Values.Get("prompts")), &prompts)
		}
	}
	return title, prompts
}
