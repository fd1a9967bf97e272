package slacktest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
)

// Sign computes Slack's v0 signature of body at timestamp ts.
func Sign(secret string, ts int64, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("v0:" + strconv.FormatInt(ts, 10) + ":"))
	mac.Write(body)
	return "v0=" + hex.EncodeToString(mac.Sum(nil))
}

// AppMention is an Events API callback for a mention of the bot, shaped
// like Slack's documented app_mention example.
func AppMention(eventID, channel, user, text, ts, threadTS string) []byte {
	ev := map[string]any{"type": "app_mention", "user": user, "text": "<@" + BotUserID + "> " + text, "ts": ts,
		"channel": channel, "event_ts": ts}
	if threadTS != "" {
		ev["thread_ts"] = threadTS
	}
	return callback(eventID, ev)
}

// DirectMessage is an Events API callback for a direct message to the bot
// (message.im).
func DirectMessage(eventID, channel, user, text, ts string) []byte {
	return callback(eventID, map[string]any{"type": "message", "channel": channel, "user": user, "text": text,
		"ts": ts, "event_ts": ts, "channel_type": "im"})
}

// ThreadMessage is an Events API callback for a message in a thread of
// the bot's direct messages (message.im with thread_ts): a question in an
// assistant thread of Slack's AI-app split view.
func ThreadMessage(eventID, channel, user, text, ts, threadTS string) []byte {
	return callback(eventID, map[string]any{"type": "message", "channel": channel, "user": user, "text": text,
		"ts": ts, "thread_ts": threadTS, "event_ts": ts, "channel_type": "im"})
}

func callback(eventID string, ev map[string]any) []byte {
	b, _ := json.Marshal(map[string]any{
		"token": "XXYYZZ", "team_id": Team, "api_app_id": "A123ABC456", "event": ev, "type": "event_callback",
		"authorizations": []map[string]any{{"team_id": Team, "user_id": BotUserID, "is_bot": true, "is_enterprise_install": false}},
		"event_id":       eventID, "event_time": 1515449522,
	})
	return b
}

// Envelope wraps a payload for Socket Mode: typ is events_api or
// slash_commands.
func Envelope(envelopeID, typ string, payload []byte, retry int) []byte {
	b, _ := json.Marshal(map[string]any{"envelope_id": envelopeID, "payload": json.RawMessage(payload), "type": typ,
		"accepts_response_payload": typ == "slash_commands", "retry_attempt": retry, "retry_reason": map[bool]string{true: "timeout"}[retry > 0]})
	return b
}
