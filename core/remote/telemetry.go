package remote

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"

	"timon.dev/timon/core"
)

// SuggestionsPath is the hub's route that receives the counts of
// completion suggestions an editor showed and the user accepted.
const SuggestionsPath = "/v1/telemetry/completions"

// SuggestionsRequest is the body of POST /v1/telemetry/completions: counts
// by language since the last report, no content. The hub adds them to the
// token's user, on the day it receives them.
type SuggestionsRequest struct {
	Counts []core.SuggestionCount `json:"counts"`
}

// SendSuggestions reports counts of suggestions shown and accepted to the
// hub, as integration (lsp for timon lsp).
func (c *Client) SendSuggestions(ctx context.Context, integration core.Integration, counts []core.SuggestionCount) error {
	body, err := json.Marshal(SuggestionsRequest{Counts: counts})
	if err != nil {
		return core.Errorf(core.KindInvalid, "encoding suggestion counts: %v", err)
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+SuggestionsPath, bytes.NewReader(body))
	if err != nil {
		return core.Errorf(core.KindInvalid, "building request: %v", err)
	}
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("Authorization", "Bearer "+c.token)
	if integration != "" {
		hr.Header.Set(IntegrationHeader, string(integration))
	}
	resp, err := c.http.Do(hr)
	if err != nil {
		if ctx.Err() != nil {
			return &core.Error{Kind: core.KindCanceled, Message: "the report was canceled", Err: ctx.Err()}
		}
		return &core.Error{Kind: core.KindUnavailable, Message: "the timon hub at " + c.base + " is unreachable", Err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusOK {
		return decodeError(resp)
	}
	return nil
}
