package credentials

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// RevokePath is the hub's route where a token revokes itself.
const RevokePath = "/v1/tokens/self"

// ErrNotAccepted is Revoke's answer when the hub refuses the token (401):
// already revoked, expired or unknown, it is no longer valid there.
var ErrNotAccepted = errors.New("the hub no longer accepts the token")

// Revoke asks the hub to revoke token, the one presented (DELETE
// /v1/tokens/self): signing out. It returns nil when the hub revoked it,
// an error wrapping ErrNotAccepted when the hub already refuses it, and
// another error when the hub could not be reached or answered otherwise
// (the token may then still be valid). client nil uses one that honours
// system CAs and HTTPS_PROXY; ctx bounds the call.
func Revoke(ctx context.Context, client *http.Client, hub, token string) error {
	hub, err := NormalizeHub(hub)
	if err != nil {
		return err
	}
	if client == nil {
		client = &http.Client{Transport: http.DefaultTransport}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, hub+RevokePath, nil)
	if err != nil {
		return fmt.Errorf("revoking the token on %s: %w", hub, err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("revoking the token on %s: %w", hub, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	switch {
	case resp.StatusCode == http.StatusNoContent || resp.StatusCode == http.StatusOK:
		return nil
	case resp.StatusCode == http.StatusUnauthorized:
		if msg := errorMessage(body); msg != "" {
			return fmt.Errorf("revoking the token on %s: %w (%s)", hub, ErrNotAccepted, msg)
		}
		return fmt.Errorf("revoking the token on %s: %w", hub, ErrNotAccepted)
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusMethodNotAllowed:
		return fmt.Errorf("revoking the token on %s: the hub does not offer it (%d; an older hub?)", hub, resp.StatusCode)
	default:
		return fmt.Errorf("revoking the token on %s: the hub answered %d %s", hub, resp.StatusCode, errorMessage(body))
	}
}
