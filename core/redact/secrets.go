package redact

import (
	"fmt"
	"strings"
)

// Built-in secret detectors for what researchers leak most and gitleaks'
// default rules miss: passwords in connection URLs, assignments of
// passwords/secrets/tokens in configuration files and code, Authorization
// headers, Mistral API keys. They run through the same fast path as
// gitleaks' rules; validators reject references, types and placeholders
// (`${DB_PASSWORD}`, `os.environ[...]`, `password: str`, `"<token>"`).

func builtinRules() ([]*rule, error) {
	defs := []struct {
		typ      string
		prio     int
		expr     string
		group    int // 0: first non-empty group from groupFrom
		from     int
		validate func(text string, s, e int) bool
		precheck func(text string, s, e int) bool
		matcher  func(text string, s, e int) (ms, me, vs, ve int, ok bool)
	}{
		{
			typ:  "url_password",
			prio: prioBuiltin,
			// scheme://[user]:password@host — the password runs to the last
			// '@' before the path, so unencoded '@' in it stays covered.
			expr:     `(?i)\b[a-z][a-z0-9+.-]{1,30}://([^\s:@/?#"'<>\x60]{0,128}):([^\s/?#"'<>\x60]{1,256})@[a-z0-9\[_-]`,
			group:    2,
			validate: validURLPassword,
			precheck: urlCredsFollow,
		},
		{
			typ:  "password_assignment",
			prio: prioGeneric,
			// key (ending with a secret-ish word), optional closing quote,
			// an assignment operator, then a quoted or bare value.
			expr:     `(?i)([\w.-]*(?:passw(?:or)?d|passphrase|pwd|secret|token|api[_.-]?key|access[_.-]?key|private[_.-]?key|client[_.-]?secret|auth[_.-]?key|credentials?))["']?[ \t]*(?::=|=>|=|:)[ \t]*(?:"([^"\n]{1,512})"|'([^'\n]{1,512})'|` + "`([^`\\n]{1,512})`" + `|([^\s"'\x60,;]{1,512}))`,
			from:     2,
			validate: validAssignment,
			matcher:  matchAssignment,
		},
		{
			typ:      "auth_header",
			prio:     prioBuiltin,
			expr:     `(?i)\bauthorization["']?[ \t]*[:=][ \t]*["']?(?:basic|bearer|token|digest|apikey)[ \t]+([A-Za-z0-9._~+/=-]{8,})`,
			group:    1,
			validate: validTokenish,
		},
		{
			typ:      "auth_header",
			prio:     prioBuiltin,
			expr:     `(?i)\bbearer[ \t]+([A-Za-z0-9._~+/-]{20,}=*)`,
			group:    1,
			validate: validTokenish,
		},
		{
			typ:      "mistral_api_key",
			prio:     prioBuiltin,
			expr:     `(?i)mistral[\w.-]{0,40}?(?:\([ \t]*api_key)?["']?[ \t]*(?::=|=>|=|:|,)[ \t]*["']?([A-Za-z0-9]{32})\b`,
			group:    1,
			validate: validMistralKey,
		},
	}
	var rules []*rule
	for _, d := range defs {
		r := &rule{typ: d.typ, kind: KindSecret, prio: d.prio, group: d.group, groupFrom: d.from, validate: d.validate, precheck: d.precheck, matcher: d.matcher}
		if d.matcher != nil {
			r.groupFrom = 1 // matcher results: match, then the value
		}
		if err := compileRule(r, d.expr, d.matcher == nil); err != nil {
			return nil, fmt.Errorf("built-in rule %s: %w", d.typ, err)
		}
		if r.anchors == nil {
			return nil, fmt.Errorf("built-in rule %s: no anchor literal", d.typ)
		}
		rules = append(rules, r)
	}
	return rules, nil
}

// urlCredsFollow: after "://", a ':' then an '@' before the authority ends.
func urlCredsFollow(text string, _, e int) bool {
	colon := false
	for i := e; i < len(text) && i < e+400; i++ {
		switch text[i] {
		case ':':
			colon = true
		case '@':
			if colon {
				return true
			}
		case '/', '?', '#', ' ', '\t', '\n', '\r', '"', '\'', '<', '>', '`':
			return false
		}
	}
	return false
}

// matchAssignment parses `key <op> value` around a secret-ish word at
// [k, e): the word must end the key (an identifier run: letters, digits,
// '_', '.', '-'), then an optional closing quote, blanks, one of ":", "=",
// ":=", "=>" (not "==", "::", "=~"), blanks, and a value: quoted on one line
// or bare up to a blank, quote, ',' or ';'.
func matchAssignment(text string, k, e int) (ms, me, vs, ve int, ok bool) {
	ks := k
	for ks > 0 && k-ks < 128 && isWordDotDash(text[ks-1]) {
		ks--
	}
	i := e
	if i < len(text) && (text[i] == '"' || text[i] == '\'') {
		i++
	}
	for i < len(text) && (text[i] == ' ' || text[i] == '\t') {
		i++
	}
	if i >= len(text) {
		return
	}
	switch {
	case text[i] == ':' && i+1 < len(text) && text[i+1] == '=':
		i += 2
	case text[i] == '=' && i+1 < len(text) && text[i+1] == '>':
		i += 2
	case text[i] == ':':
		if i+1 < len(text) && text[i+1] == ':' {
			return
		}
		i++
	case text[i] == '=':
		if i+1 < len(text) && (text[i+1] == '=' || text[i+1] == '~') {
			return
		}
		i++
	default:
		return
	}
	for i < len(text) && (text[i] == ' ' || text[i] == '\t') {
		i++
	}
	if i >= len(text) {
		return
	}
	switch q := text[i]; q {
	case '"', '\'', '`':
		limit := minInt(len(text), i+1+512)
		j := i + 1
		for j < limit && text[j] != q && text[j] != '\n' {
			j++
		}
		if j >= limit || text[j] != q || j == i+1 {
			return
		}
		return ks, j + 1, i + 1, j, true
	}
	j := i
	for j < len(text) && j-i < 512 {
		c := text[j]
		if c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '"' || c == '\'' || c == '`' || c == ',' || c == ';' {
			break
		}
		j++
	}
	if j == i {
		return
	}
	return ks, j, i, j, true
}

// assignFollows: after the key word, an optional closing quote, blanks, then
// ':' or '='.
func assignFollows(text string, _, e int) bool {
	i := e
	if i < len(text) && (text[i] == '"' || text[i] == '\'') {
		i++
	}
	for i < len(text) && (text[i] == ' ' || text[i] == '\t') {
		i++
	}
	return i < len(text) && (text[i] == ':' || text[i] == '=')
}

// dummyValues are values that stand for a secret rather than being one.
var dummyValues = map[string]bool{
	"password": true, "passwd": true, "pass": true, "pwd": true, "secret": true,
	"token": true, "apikey": true, "api_key": true, "key": true,
	"true": true, "false": true, "null": true, "nil": true, "none": true,
	"undefined": true, "required": true, "optional": true, "string": true,
	"str": true, "bytes": true, "int": true, "bool": true, "boolean": true,
	"number": true, "object": true, "any": true, "redacted": true,
	"hidden": true, "masked": true, "empty": true, "todo": true, "fixme": true,
	"your_password": true, "yourpassword": true, "mypassword": true,
	"sensitive": true, "secretstr": true, "secretstring": true, "char": true,
	"text": true, "varchar": true, "integer": true, "env": true, "file": true,
}

// placeholderish reports values that are references, templates or
// stand-ins: ${X}, $X, {{x}}, %(x)s, <x>, [x], ****, xxxx, YOUR_API_KEY.
func placeholderish(v string) bool {
	if v == "" {
		return true
	}
	if dummyValues[strings.ToLower(v)] {
		return true
	}
	switch v[0] {
	case '$', '%', '<', '[', '{', '!', '|', '>', '&', '*', '@', '#':
		return true
	}
	if strings.Contains(v, "{{") || strings.Contains(v, "${") || strings.Contains(v, "#{") ||
		strings.Contains(v, "%(") || strings.Contains(v, "://") {
		return true
	}
	if strings.HasPrefix(v, "/") || strings.HasPrefix(v, "./") || strings.HasPrefix(v, "~/") {
		return true
	}
	same := true
	for i := 1; i < len(v); i++ {
		if v[i] != v[0] {
			same = false
			break
		}
	}
	if same {
		return true
	}
	// Upper-snake constants and stand-ins: YOUR_API_KEY, CHANGE_ME, DB_PASSWORD.
	if strings.ContainsRune(v, '_') && strings.Trim(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZ_") == "" {
		return true
	}
	lv := strings.ToLower(v)
	for _, w := range []string{"your", "example", "placeholder", "changeme", "change_me", "dummy", "sample", "xxxx", "<", ">"} {
		if strings.Contains(lv, w) {
			return true
		}
	}
	return false
}

func validURLPassword(text string, s, e int) bool {
	v := text[s:e]
	return !placeholderish(v)
}

// validAssignment decides whether an assigned value looks like a secret
// rather than code (a reference, a call, a type) or prose.
func validAssignment(text string, s, e int) bool {
	v := text[s:e]
	quoted := s > 0 && (text[s-1] == '"' || text[s-1] == '\'' || text[s-1] == '`')
	if len(v) < 4 || placeholderish(v) {
		return false
	}
	if strings.ContainsAny(v, " \t") {
		return false
	}
	if isDottedIdent(v) {
		return false
	}
	if quoted {
		return true
	}
	// Bare values: code gives expressions, configuration gives literals.
	if strings.ContainsAny(v, "()[]{}<>") {
		return false
	}
	if isIdentLike(v) {
		return false
	}
	return secretLike(v)
}

// isDottedIdent: a.b.c references (cfg.password, process.env.TOKEN,
// errors.token.invalid).
func isDottedIdent(v string) bool {
	if !strings.Contains(v, ".") {
		return false
	}
	for _, part := range strings.Split(v, ".") {
		if part == "" || !isIdentifier(part) {
			return false
		}
		if c := part[0]; '0' <= c && c <= '9' {
			return false
		}
	}
	return true
}

func isIdentifier(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c == '$' || ('0' <= c && c <= '9') || ('a' <= c|0x20 && c|0x20 <= 'z')) {
			return false
		}
	}
	return s != ""
}

// isIdentLike: snake_case or camelCase names without digits (variables).
func isIdentLike(v string) bool {
	if !isIdentifier(v) {
		return false
	}
	hasDigit, hasUnderscore, hasUpper, hasLower := false, false, false, false
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case '0' <= c && c <= '9':
			hasDigit = true
		case c == '_':
			hasUnderscore = true
		case 'A' <= c && c <= 'Z':
			hasUpper = true
		case 'a' <= c && c <= 'z':
			hasLower = true
		}
	}
	if hasDigit {
		return false
	}
	if hasUnderscore {
		return true
	}
	// camelCase: lower first, then humps.
	return hasLower && hasUpper && 'a' <= v[0] && v[0] <= 'z' && isCamel(v)
}

func isCamel(v string) bool {
	// every upper letter is followed by a lower one (getPassword, userToken)
	for i := 0; i < len(v); i++ {
		if 'A' <= v[i] && v[i] <= 'Z' && (i+1 >= len(v) || !('a' <= v[i+1] && v[i+1] <= 'z')) {
			return false
		}
	}
	return true
}

// secretLike: a bare value needs letters and digits, or a symbol, or to be
// long and random-looking; plain words ("required", "something") are not.
func secretLike(v string) bool {
	letters, digits, symbols := 0, 0, 0
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case '0' <= c && c <= '9':
			digits++
		case 'a' <= c|0x20 && c|0x20 <= 'z':
			letters++
		case c == '_' || c == '-' || c == '.':
		default:
			symbols++
		}
	}
	if letters > 0 && digits > 0 {
		return true
	}
	if symbols > 0 && letters+digits > 0 {
		return true
	}
	if digits >= 6 && letters == 0 {
		return true
	}
	return len(v) >= 16 && shannonEntropy(v) > 3.5
}

// validTokenish: header credentials are random strings, not words.
func validTokenish(text string, s, e int) bool {
	v := text[s:e]
	if placeholderish(v) {
		return false
	}
	letters, digits := 0, 0
	for i := 0; i < len(v); i++ {
		c := v[i]
		if '0' <= c && c <= '9' {
			digits++
		} else if 'a' <= c|0x20 && c|0x20 <= 'z' {
			letters++
		}
	}
	return letters > 0 && (digits > 0 || len(v) >= 24 && shannonEntropy(v) > 3.5)
}

func validMistralKey(text string, s, e int) bool {
	v := text[s:e]
	letters, digits := 0, 0
	for i := 0; i < len(v); i++ {
		if c := v[i]; '0' <= c && c <= '9' {
			digits++
		} else {
			letters++
		}
	}
	return letters > 0 && digits > 0 && !placeholderish(v)
}

// notASecret drops secret candidates that are known non-secrets whatever
// the rule: documentation examples, placeholders already in the text,
// lockfile hashes, data URIs, bare git SHAs.
func notASecret(text string, s, e int, typ string) bool {
	v := text[s:e]
	if containsFold(v, "example") {
		return true
	}
	if strings.Contains(v, "[[") {
		rest := stripPlaceholders(v)
		if len(strings.Trim(rest, `"'`+"` ")) < 8 {
			return true
		}
	}
	if inHashOrDataRun(text, s) {
		return true
	}
	if typ == "sourcegraph-access-token" && (e-s == 40) && isHex(v) {
		return true
	}
	return false
}

func containsFold(s, sub string) bool {
	n := len(sub)
	for i := 0; i+n <= len(s); i++ {
		if strings.EqualFold(s[i:i+n], sub) {
			return true
		}
	}
	return false
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(('0' <= c && c <= '9') || ('a' <= c|0x20 && c|0x20 <= 'f')) {
			return false
		}
	}
	return s != ""
}

// inHashOrDataRun reports whether position s lies in a base64/hex run that
// follows a lockfile hash or data URI marker: go.sum "h1:", npm integrity
// "sha512-", "sha256-"…, or ";base64,".
func inHashOrDataRun(text string, s int) bool {
	i := s
	for i > 0 && s-i < 1<<20 && isB64Byte(text[i-1]) {
		i--
	}
	pre := text[maxInt(0, i-8):i]
	for _, m := range []string{";base64,", "h1:", "sha512-", "sha384-", "sha256-", "sha1-"} {
		if strings.HasSuffix(pre, m) {
			return true
		}
	}
	return false
}

func isB64Byte(c byte) bool {
	return c == '+' || c == '/' || c == '=' || ('0' <= c && c <= '9') || ('a' <= c|0x20 && c|0x20 <= 'z')
}
