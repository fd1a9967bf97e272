// Package credentials obtains and keeps the personal tokens that timon lsp
// uses in remote mode: the device sign-in flow against a hub (DEVICE.md:
// POST /auth/device, then polling /auth/device/token) and the per-user
// credentials file that `timon login` writes and `timon lsp` reads, one
// credential per hub.
package credentials

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// Credential is a personal token for one hub, as stored by timon login.
type Credential struct {
	// Hub is the hub's normalised URL (NormalizeHub).
	Hub string `json:"hub"`
	// Token is the bearer token (timon_…). It is a secret: never log it.
	Token string `json:"token"`
	// User is the hub's id of the person who approved the sign-in.
	User string `json:"user,omitempty"`
	// ExpiresAt is when the hub stops accepting the token; zero means it
	// did not say.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

// Expired reports whether the token has expired at now.
func (c Credential) Expired(now time.Time) bool {
	return !c.ExpiresAt.IsZero() && !now.Before(c.ExpiresAt)
}

// String describes the credential without its token.
func (c Credential) String() string {
	s := "token for " + c.Hub
	if c.User != "" {
		s += " (user " + c.User + ")"
	}
	return s
}

// GoString keeps the token out of %#v too.
func (c Credential) GoString() string { return "credentials.Credential{" + c.String() + "}" }

// ErrInsecure is returned when the credentials file can be read by other
// users: its tokens may have leaked, so it is not used.
var ErrInsecure = errors.New("readable by other users")

// File is the credentials file: a JSON object mapping each hub's
// normalised URL to its Credential, mode 0600 in a 0700 directory,
// replaced atomically on every change.
type File struct {
	// Path is the file's location (DefaultPath when made by Default).
	Path string
}

// DefaultPath is where timon login keeps credentials:
// os.UserConfigDir()/timon/credentials.json ($XDG_CONFIG_HOME or
// ~/.config on Linux, ~/Library/Application Support on macOS,
// %AppData% on Windows).
func DefaultPath() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("finding the user's configuration directory: %w", err)
	}
	return filepath.Join(dir, "timon", "credentials.json"), nil
}

// Default is the credentials file at DefaultPath.
func Default() (*File, error) {
	p, err := DefaultPath()
	if err != nil {
		return nil, err
	}
	return &File{Path: p}, nil
}

// NormalizeHub is the key of a hub in the credentials file: the URL with
// its scheme and host in lower case, without a default port, a trailing
// slash, a query or a fragment. Only http(s) URLs with a host and no user
// information are hubs.
func NormalizeHub(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("hub URL: expected http(s)://host[:port] such as https://timon.example.org, got %q", raw)
	}
	if u.User != nil {
		return "", fmt.Errorf("hub URL: expected no user or password in it, got %q", u.Redacted())
	}
	scheme := u.Scheme // url.Parse lowers it
	host := strings.ToLower(u.Hostname())
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if p := u.Port(); p != "" && !(scheme == "https" && p == "443") && !(scheme == "http" && p == "80") {
		host += ":" + p
	}
	return scheme + "://" + host + strings.TrimRight(u.EscapedPath(), "/"), nil
}

// Get returns the credential stored for hub; ok is false when there is
// none (or no file at all).
func (f *File) Get(hub string) (c Credential, ok bool, err error) {
	key, err := NormalizeHub(hub)
	if err != nil {
		return Credential{}, false, err
	}
	all, err := f.read()
	if err != nil {
		return Credential{}, false, err
	}
	c, ok = all[key]
	return c, ok, nil
}

// Put stores c (its Hub normalised), replacing the credential of the same
// hub and keeping the others.
func (f *File) Put(c Credential) error {
	key, err := NormalizeHub(c.Hub)
	if err != nil {
		return err
	}
	if c.Token == "" {
		return errors.New("storing a credential: no token")
	}
	c.Hub = key
	all, err := f.read()
	if err != nil {
		return err
	}
	all[key] = c
	return f.write(all)
}

// Delete removes the credential of hub; removed is false when there was
// none.
func (f *File) Delete(hub string) (removed bool, err error) {
	key, err := NormalizeHub(hub)
	if err != nil {
		return false, err
	}
	all, err := f.read()
	if err != nil {
		return false, err
	}
	if _, ok := all[key]; !ok {
		return false, nil
	}
	delete(all, key)
	return true, f.write(all)
}

// read loads every credential; a missing file is an empty set.
func (f *File) read() (map[string]Credential, error) {
	fh, err := os.Open(f.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]Credential{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading credentials: %w", err)
	}
	defer fh.Close()
	if err := checkPrivate(fh, f.Path); err != nil {
		return nil, err
	}
	all := map[string]Credential{}
	dec := json.NewDecoder(fh)
	if err := dec.Decode(&all); err != nil {
		return nil, fmt.Errorf("reading credentials: %s is not a credentials file (%v): remove it and run timon login again", f.Path, err)
	}
	for k, c := range all {
		if c.Token == "" {
			return nil, fmt.Errorf("reading credentials: %s: the entry for %s has no token: run timon login --hub %s again", f.Path, k, k)
		}
	}
	return all, nil
}

// checkPrivate refuses a file that other users can read, as ssh does
// with private keys (Unix permissions only: Windows keeps the file in the
// user's profile, protected by its ACL).
func checkPrivate(fh *os.File, path string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	fi, err := fh.Stat()
	if err != nil {
		return fmt.Errorf("reading credentials: %w", err)
	}
	if m := fi.Mode().Perm(); m&0o077 != 0 {
		return fmt.Errorf("credentials file %s is %w (mode %04o): its tokens may have leaked; revoke them on the hub, then chmod 600 %s or remove it and run timon login again", path, ErrInsecure, m, path)
	}
	return nil
}

// write replaces the file with all: a temporary file in the same
// directory, written, synced and renamed over it, so that a reader sees
// the old or the new set, never half of one.
func (f *File) write(all map[string]Credential) error {
	dir := filepath.Dir(f.Path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating the credentials directory: %w", err)
	}
	data, err := json.MarshalIndent(all, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding credentials: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".credentials-*.tmp") // mode 0600
	if err != nil {
		return fmt.Errorf("writing credentials: %w", err)
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	if err := tmp.Chmod(0o600); err != nil && runtime.GOOS != "windows" {
		tmp.Close()
		return fmt.Errorf("writing credentials: %w", err)
	}
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("writing credentials: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("writing credentials: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing credentials: %w", err)
	}
	if err := os.Rename(tmp.Name(), f.Path); err != nil {
		return fmt.Errorf("writing credentials: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync() // the rename survives a crash; not possible everywhere
		d.Close()
	}
	return nil
}
