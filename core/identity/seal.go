package identity

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
)

// Rows that must hold a secret for a few minutes (a sign-in attempt's PKCE
// verifier, a token waiting for its device) hold it sealed to a key that
// only the holder of a value the store keeps no copy of can derive (the
// state, the device code): reading the database does not give it away.

func deriveKey(label, secret string) []byte {
	sum := sha256.Sum256([]byte("timon " + label + " v1|" + secret))
	return sum[:]
}

func seal(key, plaintext []byte) (string, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return "", err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, gcm.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	return base64.RawStdEncoding.EncodeToString(gcm.Seal(nonce, nonce, plaintext, nil)), nil
}

func open(key []byte, sealed string) ([]byte, error) {
	raw, err := base64.RawStdEncoding.DecodeString(sealed)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	if len(raw) < gcm.NonceSize() {
		return nil, errors.New("sealed value too short")
	}
	return gcm.Open(nil, raw[:gcm.NonceSize()], raw[gcm.NonceSize():], nil)
}

// devicePrivateKey is the X25519 key a device code derives: its public
// half is stored when the device starts, so that approval can seal the
// token to it, and only the device code opens it.
func devicePrivateKey(deviceCode string) (*ecdh.PrivateKey, error) {
	return ecdh.X25519().NewPrivateKey(deriveKey("device key", deviceCode))
}

// sealTo seals plaintext to an X25519 public key (ephemeral key agreement,
// then AES-GCM); the result carries the ephemeral public key.
func sealTo(pub *ecdh.PublicKey, plaintext []byte) (string, error) {
	eph, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return "", err
	}
	shared, err := eph.ECDH(pub)
	if err != nil {
		return "", err
	}
	key := sha256.Sum256(append(append(shared, eph.PublicKey().Bytes()...), pub.Bytes()...))
	ct, err := seal(key[:], plaintext)
	if err != nil {
		return "", err
	}
	return base64.RawStdEncoding.EncodeToString(eph.PublicKey().Bytes()) + "." + ct, nil
}

func openWith(priv *ecdh.PrivateKey, sealed string) ([]byte, error) {
	i := 0
	for i < len(sealed) && sealed[i] != '.' {
		i++
	}
	if i == len(sealed) {
		return nil, errors.New("malformed sealed value")
	}
	ephRaw, err := base64.RawStdEncoding.DecodeString(sealed[:i])
	if err != nil {
		return nil, err
	}
	eph, err := ecdh.X25519().NewPublicKey(ephRaw)
	if err != nil {
		return nil, err
	}
	shared, err := priv.ECDH(eph)
	if err != nil {
		return nil, err
	}
	key := sha256.Sum256(append(append(shared, ephRaw...), priv.PublicKey().Bytes()...))
	return open(key[:], sealed[i+1:])
}
