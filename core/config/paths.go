package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
)

// ExpandPath expands a leading ~ (the user's home directory) and $VAR or
// ${VAR} in a file path, as a shell would. An unset variable, an unknown
// home or ~user is an error rather than a path that silently points
// elsewhere.
func ExpandPath(p string) (string, error) {
	if p == "" {
		return "", nil
	}
	var missing []string
	p = os.Expand(p, func(name string) string {
		v, ok := os.LookupEnv(name)
		if !ok || v == "" {
			missing = append(missing, name)
		}
		return v
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("environment variable %s is not set", strings.Join(missing, ", "))
	}
	if !strings.HasPrefix(p, "~") {
		return p, nil
	}
	rest := p[1:]
	if rest != "" && rest[0] != '/' && rest[0] != filepath.Separator {
		return "", fmt.Errorf("only ~/ is expanded, not another user's home (%q)", p)
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("expanding ~: %w", err)
	}
	return home + rest, nil
}

// expandPaths applies ExpandPath to data_dir and to every setting whose
// name ends in _file (and to journal.public_keys, a list of files), found
// by their YAML names so that a setting added later is covered too.
func (l *loader) expandPaths(c *Config) {
	if d, err := ExpandPath(c.DataDir); err != nil {
		l.add("data_dir", "%v", err)
	} else {
		c.DataDir = d
	}
	for i, k := range c.Journal.PublicKeys {
		path := fmt.Sprintf("journal.public_keys[%d]", i)
		if p, err := ExpandPath(k); err != nil {
			l.add(path, "%v", err)
		} else {
			c.Journal.PublicKeys[i] = p
		}
	}
	l.expandFiles(reflect.ValueOf(c).Elem(), "")
	for _, s := range l.sections {
		l.expandFiles(reflect.ValueOf(s.Settings), s.At)
	}
}

func (l *loader) expandFiles(v reflect.Value, path string) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			l.expandFiles(v.Elem(), path)
		}
	case reflect.Slice:
		for i := range v.Len() {
			l.expandFiles(v.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
	case reflect.Map:
		if v.Type().Elem().Kind() != reflect.Struct && v.Type().Elem().Kind() != reflect.Pointer {
			return
		}
		for _, k := range v.MapKeys() {
			// Map values are not addressable: expand a copy, put it back.
			e := reflect.New(v.Type().Elem()).Elem()
			e.Set(v.MapIndex(k))
			l.expandFiles(e, fmt.Sprintf("%s.%v", path, k))
			v.SetMapIndex(k, e)
		}
	case reflect.Struct:
		t := v.Type()
		if t == nodeType {
			return // kept as written
		}
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "-" {
				continue
			}
			sub := path // an inline struct adds no segment
			if name != "" {
				sub = strings.TrimPrefix(path+"."+name, ".")
			}
			fv := v.Field(i)
			if fv.Kind() == reflect.String && strings.HasSuffix(name, "_file") {
				p, err := ExpandPath(fv.String())
				if err != nil {
					l.add(sub, "%v", err)
					continue
				}
				fv.SetString(p)
				continue
			}
			l.expandFiles(fv, sub)
		}
	}
}

// UserDataDir is the per-user data directory of a program run by one
// person (timon lsp in local mode): $XDG_DATA_HOME/timon or
// ~/.local/share/timon on Linux and other Unix systems,
// ~/Library/Application Support/timon on macOS, %LocalAppData%\timon on
// Windows.
func UserDataDir() (string, error) {
	switch runtime.GOOS {
	case "windows":
		if d := os.Getenv("LocalAppData"); d != "" {
			return filepath.Join(d, "timon"), nil
		}
		return "", errors.New("%LocalAppData% is not set")
	case "darwin", "ios":
		d, err := os.UserConfigDir() // ~/Library/Application Support
		if err != nil {
			return "", err
		}
		return filepath.Join(d, "timon"), nil
	}
	if d := os.Getenv("XDG_DATA_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "timon"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(home, ".local", "share", "timon"), nil
}
