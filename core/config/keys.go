package config

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
)

// DecodeKey reads a 32-byte key written in hex or base64 (standard or URL,
// padded or not), as the journal's content and hash keys are, from the
// environment or from a file; surrounding white space is ignored.
func DecodeKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if b, err := hex.DecodeString(s); err == nil && len(b) == 32 {
		return b, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) == 32 {
			return b, nil
		}
	}
	return nil, errors.New("expected 32 bytes written in hex (64 characters) or base64")
}
