package slacktest

import (
	"fmt"
	"strings"
	"time"
)

// AddMessageAt adds a message written by a user at a given time (its
// timestamp says so, as Slack's do); it returns its timestamp.
func (s *Server) AddMessageAt(channel, threadTS, user, text string, at time.Time) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	m := &Message{Channel: channel, TS: fmt.Sprintf("%d.%06d", at.Unix(), s.seq), ThreadTS: threadTS, User: user, Text: text, At: at}
	s.messages = append(s.messages, m)
	return m.TS
}

// tsLess orders Slack timestamps ("1515449522.000016").
func tsLess(a, b string) bool {
	ai, af, _ := strings.Cut(a, ".")
	bi, bf, _ := strings.Cut(b, ".")
	if len(ai) != len(bi) {
		return len(ai) < len(bi)
	}
	if ai != bi {
		return ai < bi
	}
	return af < bf
}
