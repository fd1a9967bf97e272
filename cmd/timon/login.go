package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"time"

	"go.yaml.in/yaml/v3"

	"timon.dev/timon/core/remote/credentials"
)

// cmdLogin signs the user in to a hub through the browser (DEVICE.md) and
// stores the personal token that timon lsp --hub then uses.
func cmdLogin(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("login", stderr)
	hubFlag := fs.String("hub", "", "the hub's URL, such as https://timon.example.org (default: lsp.hub_url of --config)")
	path := fs.String("config", "", "configuration file naming the hub in lsp.hub_url")
	name := fs.String("name", "", "the token's name on the hub (default: timon lsp on HOSTNAME)")
	noBrowser := fs.Bool("no-browser", false, "print the URL without opening a browser")
	hub, err := parseHubArgs(fs, args, hubFlag, path, stderr)
	if err != nil {
		return err
	}
	file, err := credentials.Default()
	if err != nil {
		return err
	}
	// Read the file before asking anyone to approve anything: a file that
	// cannot be used (corrupt, readable by others) fails now.
	prev, had, err := file.Get(hub)
	if err != nil {
		return err
	}
	if *name == "" {
		host, _ := os.Hostname()
		if host == "" {
			host = "this computer"
		}
		*name = "timon lsp on " + host
	}
	if insecureHub(hub) {
		fmt.Fprintf(stderr, "timon: warning: %s is plain http: your token will cross the network unencrypted\n", hub)
	}
	d := &credentials.Device{Hub: hub, Client: "timon-cli", Name: *name, Second: loginSecond}
	a, err := d.Start(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "To sign in to %s, open\n\n    %s\n\nand check that the page shows the code\n\n    %s\n\n", hub, a.URL(), a.UserCode)
	if !*noBrowser && isTerminal(stdout) {
		if err := openBrowser(a.URL()); err != nil {
			fmt.Fprintf(stdout, "(could not open a browser: %v; open the address yourself)\n", err)
		} else {
			fmt.Fprintln(stdout, "(opened in your browser)")
		}
	}
	fmt.Fprintf(stdout, "Waiting for your approval (the code expires in %s; Ctrl-C cancels)…\n", expiresIn(a.ExpiresIn))
	c, err := d.Wait(ctx, a)
	switch {
	case errors.Is(err, credentials.ErrDenied):
		return fmt.Errorf("the sign-in was denied in the browser: nothing was stored")
	case errors.Is(err, credentials.ErrExpired):
		return fmt.Errorf("%w: run timon login --hub %s again", err, hub)
	case ctx.Err() != nil:
		fmt.Fprintln(stderr, "timon: sign-in cancelled: nothing was stored")
		return errFailed
	case err != nil:
		return err
	}
	if err := file.Put(c); err != nil {
		return err
	}
	who := ""
	if c.User != "" {
		who = " as " + c.User
	}
	fmt.Fprintf(stdout, "Signed in to %s%s. The token is stored in %s", hub, who, file.Path)
	if !c.ExpiresAt.IsZero() {
		fmt.Fprintf(stdout, " and expires on %s", c.ExpiresAt.Local().Format("2006-01-02 15:04"))
	}
	fmt.Fprintf(stdout, ".\ntimon lsp --hub %s now uses it.\n", hub)
	if had && prev.Token != c.Token {
		fmt.Fprintln(stdout, "It replaces the token stored before, which stays valid on the hub until it expires or you revoke it in the hub's console.")
	}
	return nil
}

// cmdLogout signs out of a hub: it has the hub revoke the token timon
// login stored for it (DELETE /v1/tokens/self), then forgets it. A token
// the hub could not revoke is forgotten all the same, with what to do.
func cmdLogout(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("logout", stderr)
	hubFlag := fs.String("hub", "", "the hub's URL (default: lsp.hub_url of --config)")
	path := fs.String("config", "", "configuration file naming the hub in lsp.hub_url")
	hub, err := parseHubArgs(fs, args, hubFlag, path, stderr)
	if err != nil {
		return err
	}
	file, err := credentials.Default()
	if err != nil {
		return err
	}
	c, had, err := file.Get(hub)
	if errors.Is(err, credentials.ErrInsecure) {
		// Removing a leaked token is what the person should do: let them,
		// by removing the whole file.
		if err := os.Remove(file.Path); err != nil {
			return fmt.Errorf("removing the credentials file: %w", err)
		}
		fmt.Fprintf(stdout, "Removed %s, which other users could read: revoke its tokens in the hubs' consoles.\n", file.Path)
		return nil
	}
	if err != nil {
		return err
	}
	if !had {
		return fmt.Errorf("not signed in to %s: no token stored for it in %s", hub, file.Path)
	}
	rctx, cancel := context.WithTimeout(ctx, logoutTimeout)
	revokeErr := credentials.Revoke(rctx, nil, hub, c.Token)
	cancel()
	if _, err := file.Delete(hub); err != nil {
		return err
	}
	switch {
	case revokeErr == nil:
		fmt.Fprintf(stdout, "signed out: the token was revoked on %s and forgotten here.\n", hub)
	case errors.Is(revokeErr, credentials.ErrNotAccepted):
		fmt.Fprintf(stdout, "signed out: %s no longer accepted the token (revoked or expired already); it is forgotten here.\n", hub)
	default:
		fmt.Fprintf(stdout, "Removed the token stored for %s from %s.\n", hub, file.Path)
		return fmt.Errorf("%w\nThe token may still be valid on the hub until it expires: revoke it on the My timon page of the hub's console (%s/console/#tokens), or ask an administrator to (timon token revoke)", revokeErr, hub)
	}
	return nil
}

// logoutTimeout bounds timon logout's call to the hub.
const logoutTimeout = 10 * time.Second

// loginSecond is the unit of the hub's polling interval and expiry: zero
// (a second) but in tests.
var loginSecond time.Duration

var errNoHub = errors.New("which hub? give --hub URL (such as https://timon.example.org), or --config FILE with lsp.hub_url")

// hubFor is the hub's normalised URL from --hub, else from lsp.hub_url of
// the configuration file.
func hubFor(flagHub, path string) (string, error) {
	hub := flagHub
	if hub == "" && path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("reading configuration: %w", err)
		}
		var peek struct {
			LSP struct {
				HubURL string `yaml:"hub_url"`
			} `yaml:"lsp"`
		}
		if err := yaml.Unmarshal(data, &peek); err != nil {
			return "", fmt.Errorf("reading configuration %s: %w", path, err)
		}
		hub = peek.LSP.HubURL
	}
	if hub == "" {
		return "", errNoHub
	}
	return credentials.NormalizeHub(hub)
}

// insecureHub reports a plain-http hub off this machine.
func insecureHub(hub string) bool {
	u, err := url.Parse(hub)
	if err != nil || u.Scheme != "http" {
		return false
	}
	switch u.Hostname() {
	case "localhost", "127.0.0.1", "::1":
		return false
	}
	return true
}

func expiresIn(seconds int) string {
	if seconds <= 0 {
		seconds = 600
	}
	return (time.Duration(seconds) * time.Second).String()
}

// isTerminal reports whether w is a terminal: only then is a person
// there to use a browser opened for them.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// openBrowser opens u (an http(s) URL the hub gave) in the desktop's
// browser, without waiting for it. On Linux and the BSDs it needs a
// graphical session: xdg-open would otherwise start a text browser in
// this very terminal.
func openBrowser(u string) error {
	var cmd *exec.Cmd
	switch runtime.GOOS {
	case "darwin":
		cmd = exec.Command("open", u)
	case "windows":
		cmd = exec.Command("rundll32", "url.dll,FileProtocolHandler", u)
	default:
		if os.Getenv("DISPLAY") == "" && os.Getenv("WAYLAND_DISPLAY") == "" {
			return errors.New("no graphical session")
		}
		cmd = exec.Command("xdg-open", u)
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	go cmd.Wait()
	return nil
}

// parseHubArgs parses login's and logout's flags, which take no argument,
// and finds the hub they name.
func parseHubArgs(fs *flag.FlagSet, args []string, hubFlag, path *string, stderr io.Writer) (string, error) {
	if err := parse(fs, args); err != nil {
		return "", err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "timon %s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return "", errUsage
	}
	hub, err := hubFor(*hubFlag, *path)
	if errors.Is(err, errNoHub) {
		fmt.Fprintf(stderr, "timon %s: %v\n", fs.Name(), err)
		printUsage(fs, stderr)
		return "", errUsage
	}
	return hub, err
}
