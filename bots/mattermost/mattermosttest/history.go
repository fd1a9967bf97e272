package mattermosttest

import (
	"time"

	"github.com/mattermost/mattermost/server/public/model"
)

// PostAt stores a post by userID written at a given time, as an import
// would: no event is broadcast. Posts are kept in the order they are
// added, so a test adds them oldest first (and before any Post).
func (s *Server) PostAt(userID, channelID, message string, at time.Time) (*model.Post, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.users[userID]; !ok {
		return nil, model.NewAppError("PostAt", "app.user.missing_account.const", nil, "", 400)
	}
	if _, ok := s.channels[channelID]; !ok {
		return nil, model.NewAppError("PostAt", "api.post.create_post.channel_id.app_error", nil, "", 400)
	}
	p := &model.Post{ChannelId: channelID, Message: message, UserId: userID, CreateAt: model.GetMillisForTime(at)}
	p.PreSave()
	if aerr := p.IsValid(MaxPostRunes); aerr != nil {
		return nil, aerr
	}
	s.posts[p.Id] = p
	s.order = append(s.order, p.Id)
	s.notify()
	return p.Clone(), nil
}
