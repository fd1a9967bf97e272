package mattermost

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"timon.dev/timon/bots/chat"
	"timon.dev/timon/core"
)

// fromPosted reads a "posted" WebSocket event: the chat event to answer,
// or nil when the bot has nothing to answer (its own post, another bot's,
// a system message, a post that does not mention it outside a direct
// message). The server says whom a post mentions in the event's "mentions"
// field (a JSON array of user ids, as a string); direct messages to the bot
// are those of channel type "D".
func fromPosted(me *user, ev *wsEvent) (*chat.Event, error) {
	data := ev.Data
	raw, _ := data["post"].(string)
	if raw == "" {
		return nil, fmt.Errorf("posted event without a post")
	}
	var p post
	if err := json.Unmarshal([]byte(raw), &p); err != nil {
		return nil, fmt.Errorf("decoding the post of a posted event: %w", err)
	}
	if p.ID == "" || p.UserID == "" || p.ChannelID == "" {
		return nil, fmt.Errorf("posted event with an incomplete post")
	}
	switch {
	case p.UserID == me.ID, // the bot's own posts, whatever they say
		p.Type != "", // system messages
		p.DeleteAt != 0,
		isTrue(p.prop(propFromBot)), // other bots: no loops between bots
		isTrue(p.prop(propFromWebhook)):
		return nil, nil
	}
	chType, _ := data["channel_type"].(string)
	var trigger chat.Trigger
	switch {
	case chType == channelDirect:
		trigger = chat.TriggerDM
	case slices.Contains(mentions(data["mentions"]), me.ID):
		trigger = chat.TriggerMention
	default:
		return nil, nil
	}
	out := &chat.Event{
		Platform:    core.IntegrationMattermost,
		ID:          p.ID,
		UserID:      p.UserID,
		ChannelID:   p.ChannelID,
		ChannelType: channelType(chType),
		MessageID:   p.ID,
		Trigger:     trigger,
		Text:        stripMention(p.Message, me.Username),
	}
	out.TeamID, _ = data["team_id"].(string)
	if sender, _ := data["sender_name"].(string); strings.HasPrefix(sender, "@") {
		out.UserName = sender[1:]
	}
	switch {
	case p.RootID != "":
		out.ThreadID = p.RootID
	case trigger == chat.TriggerMention:
		// A mention in a channel is answered in a thread under it.
		out.ThreadID = p.ID
	}
	if trigger != chat.TriggerDM {
		// A direct message channel's name is the two user ids.
		out.ChannelName, _ = data["channel_name"].(string)
	}
	return out, nil
}

// mentions reads the "mentions" field: a JSON array of user ids encoded as
// a string (as model.ArrayToJSON writes it), or, leniently, an array.
func mentions(v any) []string {
	switch m := v.(type) {
	case string:
		var ids []string
		if json.Unmarshal([]byte(m), &ids) == nil {
			return ids
		}
	case []any:
		var ids []string
		for _, x := range m {
			if s, ok := x.(string); ok {
				ids = append(ids, s)
			}
		}
		return ids
	}
	return nil
}

func isTrue(v any) bool {
	switch x := v.(type) {
	case string:
		return x == "true"
	case bool:
		return x
	}
	return false
}

// stripMention removes the mentions of @username from text (with a colon
// or comma right after it) and trims the result.
func stripMention(text, username string) string {
	if username == "" {
		return strings.TrimSpace(text)
	}
	at := "@" + username
	var b strings.Builder
	rest := text
	for {
		i := indexFold(rest, at)
		if i < 0 {
			b.WriteString(rest)
			break
		}
		end := i + len(at)
		before, _ := utf8.DecodeLastRuneInString(rest[:i])
		after, _ := utf8.DecodeRuneInString(rest[end:])
		if (i > 0 && (isNameRune(before) || before == '@')) || (end < len(rest) && isNameRune(after)) ||
			// "@timon.bot" is another user; "@timon." ends a sentence.
			(after == '.' && end+1 < len(rest) && isNameRune(rune(rest[end+1]))) {
			b.WriteString(rest[:end])
			rest = rest[end:]
			continue
		}
		b.WriteString(rest[:i])
		if end < len(rest) && (rest[end] == ':' || rest[end] == ',') {
			end++
		}
		rest = rest[end:]
	}
	return strings.TrimSpace(b.String())
}

// isNameRune reports whether r may be part of a Mattermost username.
func isNameRune(r rune) bool {
	return r == '_' || r == '-' || unicode.IsLetter(r) || unicode.IsDigit(r)
}

// indexFold is strings.Index ignoring ASCII case (usernames are ASCII).
func indexFold(s, sub string) int {
	n := len(sub)
	for i := 0; i+n <= len(s); i++ {
		if strings.EqualFold(s[i:i+n], sub) {
			return i
		}
	}
	return -1
}
