package config

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"timon.dev/timon/core/policy"
)

// The shape check walks the YAML tree against the configuration's types,
// by their YAML names, before anything is decoded: every unknown setting,
// value of the wrong kind or unreadable duration is reported at its own
// line with its path, all at once, in the file's words (never a Go type).
// A value found wrong is removed from the tree, so that decoding the rest
// cannot fail and the other settings are still checked.

var (
	durationType         = reflect.TypeFor[Duration]()
	moderationActionType = reflect.TypeFor[policy.ModerationAction]()
)

// checkShape reports the shape problems of the tree under n, which is to
// be decoded into a value of type t, and prunes what it reports. The
// paths it reports are kept (loader.shaped), so that the checks of values
// do not report them a second time.
func (l *loader) checkShape(n *yaml.Node, t reflect.Type, path string) {
	if n == nil {
		return
	}
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if isNull(n) {
		return
	}
	if t == nodeType {
		// A part kept as written, unless a section claims it.
		s, ok := l.section(path)
		if !ok {
			l.checkRaw(n, path)
			return
		}
		t = reflect.TypeOf(s.Settings)
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == durationType {
		if n.Kind != yaml.ScalarNode {
			l.shapeProblem(n, path, "expected a duration such as 30s, 5m, 24h or 7d, got %s", describe(n))
			return
		}
		if _, err := ParseDuration(n.Value); err != nil {
			l.shapeProblem(n, path, "%v", err)
		}
		return
	}
	if t == moderationActionType && n.Kind == yaml.ScalarNode {
		// The short form, an action alone: policy checks its value.
		l.checkScalar(n, reflect.TypeFor[string](), path)
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			l.shapeProblem(n, path, "expected a section of settings (name: value lines), got %s", describe(n))
			return
		}
		fields := yamlFields(t)
		l.childSections(fields, path)
		l.eachPair(n, path, func(key, val *yaml.Node) bool {
			f, ok := fields[key.Value]
			if !ok {
				at := join(path, key.Value)
				l.problemAt(key.Line, at, "unknown setting %q%s", key.Value, l.suggest(key.Value, fields, path))
				return false
			}
			l.checkShape(val, f, join(path, key.Value))
			return true
		})
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			l.shapeProblem(n, path, "expected name: value pairs, got %s", describe(n))
			return
		}
		l.eachPair(n, path, func(key, val *yaml.Node) bool {
			if key.Kind != yaml.ScalarNode {
				l.problemAt(key.Line, path, "expected a name before the colon, got %s", describe(key))
				return false
			}
			l.checkShape(val, t.Elem(), join(path, key.Value))
			return true
		})
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			l.shapeProblem(n, path, "expected a list (such as [a, b], or one \"- item\" a line), got %s", describe(n))
			return
		}
		for i, c := range n.Content {
			l.checkShape(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
		}
	default:
		l.checkScalar(n, t, path)
	}
}

// checkScalar checks a value that is neither a section nor a list by
// decoding it alone, as the decoder will.
func (l *loader) checkScalar(n *yaml.Node, t reflect.Type, path string) {
	var want string
	switch t.Kind() {
	case reflect.String:
		want = "a text value"
	case reflect.Bool:
		want = "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		want = "a whole number"
	case reflect.Float32, reflect.Float64:
		want = "a number"
	default:
		return // the decoder reports it
	}
	if n.Kind != yaml.ScalarNode {
		l.shapeProblem(n, path, "expected %s, got %s", want, describe(n))
		return
	}
	err := n.Decode(reflect.New(t).Interface())
	switch {
	case want == "a whole number" && isInteger(n.Value) && (err != nil || n.ShortTag() != "!!int"):
		l.shapeProblem(n, path, "expected %s, got %s (out of range)", want, n.Value)
	case want == "a whole number" && n.ShortTag() == "!!float":
		// The decoder would drop what follows the point.
		l.shapeProblem(n, path, "expected %s, got %s", want, describe(n))
	case err != nil:
		l.shapeProblem(n, path, "expected %s, got %s", want, describe(n))
	}
}

// eachPair visits the pairs of a mapping, following merge keys (<<) and
// reporting a name given twice; a pair that visit rejects, or that
// repeats a name, is removed.
func (l *loader) eachPair(n *yaml.Node, path string, visit func(key, val *yaml.Node) bool) {
	seen := map[string]int{}
	kept := n.Content[:0:0]
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, val := n.Content[i], n.Content[i+1]
		if key.Tag == "!!merge" {
			kept = append(kept, key, val)
			continue
		}
		if first, dup := seen[key.Value]; dup {
			l.problemAt(key.Line, join(path, key.Value), "%q is set twice (first at line %d); keep one", key.Value, first)
			continue
		}
		seen[key.Value] = key.Line
		if visit(key, val) {
			kept = append(kept, key, val)
		}
	}
	n.Content = kept
	// Merged mappings are checked where they are written; their pairs
	// apply here too, so check them against this section's settings.
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Tag != "!!merge" {
			continue
		}
		srcs := []*yaml.Node{n.Content[i+1]}
		if s := n.Content[i+1]; s.Kind == yaml.SequenceNode {
			srcs = s.Content
		}
		for _, s := range srcs {
			for s.Kind == yaml.AliasNode && s.Alias != nil {
				s = s.Alias
			}
			if s.Kind == yaml.MappingNode {
				l.eachPair(s, path, visit)
			}
		}
	}
}

// shapeProblem reports a value of the wrong shape and replaces it with
// null, which decodes to the setting's zero value.
func (l *loader) shapeProblem(n *yaml.Node, path, format string, args ...any) {
	l.problemAt(n.Line, path, format, args...)
	*n = yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Line: n.Line, Column: n.Column}
}

// problemAt records a shape problem at a known line.
func (l *loader) problemAt(line int, path, format string, args ...any) {
	l.problems = append(l.problems, Problem{File: l.file, Line: line, Path: path, Msg: fmt.Sprintf(format, args...)})
	l.shaped = append(l.shaped, path)
}

// reported says whether path, or a setting enclosing it, already has a
// shape problem.
func (l *loader) reported(path string) bool {
	for _, p := range l.shaped {
		if p == "" || path == p || strings.HasPrefix(path, p+".") || strings.HasPrefix(path, p+"[") {
			return true
		}
	}
	return false
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

func isInteger(s string) bool {
	_, err := strconv.ParseInt(strings.ReplaceAll(s, "_", ""), 10, 64)
	return err == nil || errors.Is(err, strconv.ErrRange)
}

// describe says what a node is, as the file shows it.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a section (name: value lines)"
	case yaml.SequenceNode:
		return "a list"
	}
	return strconv.Quote(n.Value)
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// yamlFields maps a struct's YAML names to their types, inline structs
// included, as the decoder sees them.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if slices.Contains(strings.Split(opts, ","), "inline") {
			for k, v := range yamlFields(f.Type) {
				out[k] = v
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
	return out
}

// suggest names the setting an unknown name was probably meant to be: a
// near miss in the same section, else a section of that name elsewhere
// (slack: written at the top instead of under chat:), else the section's
// settings.
func (l *loader) suggest(name string, fields map[string]reflect.Type, path string) string {
	known := slices.Sorted(func(yield func(string) bool) {
		for k := range fields {
			if !yield(k) {
				return
			}
		}
	})
	best, bestD := "", math.MaxInt
	for _, k := range known {
		if d := distance(strings.ToLower(name), k); d < bestD {
			best, bestD = k, d
		}
	}
	if bestD <= max(1, min(3, len(name)/3)) {
		return fmt.Sprintf(" (did you mean %s?)", best)
	}
	for _, k := range known {
		if len(name) >= 4 && strings.HasPrefix(k, strings.ToLower(name)) {
			return fmt.Sprintf(" (did you mean %s?)", k)
		}
	}
	if where := l.elsewhere(name); where != "" && where != join(path, name) {
		return fmt.Sprintf(" here (it belongs at %s)", where)
	}
	if len(known) > 12 {
		return ""
	}
	where := "here"
	if path != "" {
		where = "in " + path
	}
	return fmt.Sprintf(" (the settings %s are %s)", where, strings.Join(known, ", "))
}

// elsewhere finds the shortest path of a setting called name anywhere in
// the configuration, "" when there is none.
func (l *loader) elsewhere(name string) string {
	var found string
	var walk func(t reflect.Type, path string, depth int)
	walk = func(t reflect.Type, path string, depth int) {
		if t == nodeType {
			s, ok := l.section(path)
			if !ok {
				fields := map[string]reflect.Type{}
				l.childSections(fields, path)
				for _, k := range slices.Sorted(maps.Keys(fields)) {
					f, p := fields[k], join(path, k)
					if k == name && (found == "" || strings.Count(p, ".") < strings.Count(found, ".")) {
						found = p
					}
					walk(f, p, depth+1)
				}
				return
			}
			t = reflect.TypeOf(s.Settings)
		}
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
			switch t.Kind() {
			case reflect.Map:
				return // names under a map are the user's own
			case reflect.Slice:
				path += "[]"
			}
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || t == durationType || depth > 3 {
			return
		}
		fields := yamlFields(t)
		l.childSections(fields, path)
		for _, k := range slices.Sorted(func(yield func(string) bool) {
			for k := range fields {
				if !yield(k) {
					return
				}
			}
		}) {
			p := join(path, k)
			if k == name && (found == "" || strings.Count(p, ".") < strings.Count(found, ".")) {
				found = p
			}
			walk(fields[k], p, depth+1)
		}
	}
	walk(reflect.TypeFor[Config](), "", 0)
	return found
}

// distance is the Levenshtein distance between a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
