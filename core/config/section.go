package config

import (
	"fmt"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Section is a part of the file whose settings a package outside core
// declares (the chat bots' chat, chat.slack and chat.mattermost, GitLab
// review's gitlab), so that core knows no front end: the command that
// loads the file passes the sections it runs (Parse, Load). Their shape is
// checked against the package's type like core's own settings (every
// problem at its line, with its path), then the section is decoded into
// Settings and checks its values itself. A section no Section claims is
// kept as written (a yaml.Node of Config) and not checked.
type Section struct {
	// At is where the section is written: gitlab, chat.slack…
	At string
	// Settings points to the package's settings, decoded in place.
	Settings Settings
}

// Settings are the settings of a Section.
type Settings interface {
	// Check gives the zero values their meaning, resolves the secrets
	// and reports through c every value that is wrong, at its path
	// within the section.
	Check(c *Check)
}

// Integrated is Settings that switch an integration on or off; they
// appear in Config.Integrations, after core's.
type Integrated interface {
	Integration() Integration
}

// Check collects the problems of a section's values.
type Check struct {
	// Config is the rest of the configuration, for the values that
	// depend on it (the models the providers serve, limits); nil when
	// the settings come from elsewhere (a repository's .timon.yaml).
	Config *Config

	problems []fieldProblem
}

type fieldProblem struct{ path, msg string }

// Add reports a problem of the setting at path within the section ("" for
// the section itself): a name, or a path such as webhook.secret_env or
// groups[0].path.
func (c *Check) Add(path, format string, args ...any) {
	c.problems = append(c.problems, fieldProblem{path, fmt.Sprintf(format, args...)})
}

// Secret reads a secret from an environment variable or a file, for
// entry points switched on by their secret: an unset variable gives "",
// a file that cannot be read is a problem at path.
func (c *Check) Secret(path, env, file string) string {
	v, err := optionalSecret(env, file)
	if err != nil {
		c.Add(path, "%v", err)
	}
	return v
}

// SecretOr is Secret, reading the variable defaultEnv when neither *env
// nor file is given (and setting *env to it, as the settings then say).
func (c *Check) SecretOr(path, defaultEnv string, env *string, file string) string {
	if *env == "" && file == "" {
		*env = defaultEnv
	}
	return c.Secret(path, *env, file)
}

// Problems lists the problems found, one a line ("path: message").
func (c *Check) Problems() []string {
	out := make([]string, len(c.problems))
	for i, p := range c.problems {
		out[i] = strings.TrimPrefix(p.path+": "+p.msg, ": ")
	}
	return out
}

// Place names where a secret is read from, for people: its file when one
// is set, else its environment variable (never the value).
func Place(section, name, env, file string) string {
	if file != "" {
		return fmt.Sprintf("the file %s (%s.%s_file)", file, section, name)
	}
	return fmt.Sprintf("%s (or %s.%s_file)", env, section, name)
}

// JoinPath is the path of name within the section at path.
func JoinPath(path, name string) string { return join(path, name) }

var nodeType = reflect.TypeFor[yaml.Node]()

// section is the Section written at path.
func (l *loader) section(path string) (Section, bool) {
	for _, s := range l.sections {
		if s.At == path {
			return s, true
		}
	}
	return Section{}, false
}

// childSections adds to fields the sections written directly under path.
func (l *loader) childSections(fields map[string]reflect.Type, path string) {
	for _, s := range l.sections {
		parent, name := "", s.At
		if i := strings.LastIndex(s.At, "."); i >= 0 {
			parent, name = s.At[:i], s.At[i+1:]
		}
		if parent == path {
			fields[name] = reflect.TypeOf(s.Settings)
		}
	}
}

// checkRaw checks a part of the file kept as written: the sections under
// it that a Section claims, nothing else.
func (l *loader) checkRaw(n *yaml.Node, path string) {
	if n.Kind != yaml.MappingNode {
		return
	}
	fields := map[string]reflect.Type{}
	l.childSections(fields, path)
	if len(fields) == 0 {
		return
	}
	l.eachPair(n, path, func(key, val *yaml.Node) bool {
		if t, ok := fields[key.Value]; ok {
			l.checkShape(val, t, join(path, key.Value))
		}
		return true
	})
}

// decodeSections decodes each section from the checked tree.
func (l *loader) decodeSections() error {
	for _, s := range l.sections {
		n := l.root
		for _, part := range strings.Split(s.At, ".") {
			for n != nil && n.Kind == yaml.AliasNode {
				n = n.Alias
			}
			if n == nil || n.Kind != yaml.MappingNode {
				n = nil
				break
			}
			var m map[string]yaml.Node
			if err := n.Decode(&m); err != nil {
				return err
			}
			if v, ok := m[part]; ok {
				n = &v
			} else {
				n = nil
			}
		}
		if n == nil || isNull(n) {
			continue
		}
		if err := n.Decode(s.Settings); err != nil {
			return err
		}
	}
	return nil
}

// checkSections has each section check its values, and reports what they
// find at the lines of the file.
func (l *loader) checkSections(c *Config) {
	for _, s := range l.sections {
		ch := &Check{Config: c}
		s.Settings.Check(ch)
		for _, p := range ch.problems {
			at := s.At
			if p.path != "" {
				at = join(s.At, p.path)
			}
			l.add(at, "%s", p.msg)
		}
	}
}

// Section returns the settings of the section at path the file was read
// with, nil when it was read without one.
func (c *Config) Section(path string) Settings {
	for _, s := range c.sections {
		if s.At == path {
			return s.Settings
		}
	}
	return nil
}

// Hosts reports each entry of a link allowlist at path that is not a
// host name.
func (c *Check) Hosts(path string, hosts []string) {
	for i, h := range hosts {
		if h == "" || strings.ContainsAny(h, "/:@ ") {
			c.Add(fmt.Sprintf("%s[%d]", path, i), "expected a host name such as docs.example.org, got %q", h)
		}
	}
}
