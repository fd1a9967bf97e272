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

// builtinDef defines a built-in rule.
type builtinDef struct {
	typ      string
	kind     Kind // default KindSecret
	prio     int
	expr     string // documents the shape; gives the anchors
	validate func(text string, s, e int) bool
	matcher  func(text string, s, e int) (ms, me, vs, ve int, ok bool)
	// newMatcher: see rule.newMatcher
	newMatcher func() func(text string, s, e int) (ms, me, vs, ve int, ok bool)
}

func builtinRules() ([]*rule, error) {
	defs := []builtinDef{
		{
			typ:  "url_password",
			prio: prioBuiltin,
			// scheme://[user]:password@host — the password runs to the last
			// '@' before the path, so unencoded '@' in it stays covered.
			expr:     `(?i)\b[a-z][a-z0-9+.-]{1,30}://([^\s:@/?#"'<>\x60]{0,128}):([^\s/?#"'<>\x60]{1,256})@[a-z0-9\[_-]`,
			validate: validURLPassword,
			matcher:  matchURLPassword,
		},
		{
			typ:  "password_assignment",
			prio: prioHeuristic,
			// key (ending with a secret-ish word), optional closing quote,
			// an assignment operator, then a quoted or bare value.
			expr:     `(?i)([\w.-]*(?:passw(?:or)?d|passphrase|pwd|pass|pw|mdp|mot[_-]?de[_-]?passe|motdepasse|jeton|cle[_-]?api|secret|token|(?:api|access|secret|private|auth|signing|encryption|master)[_.-]?key|client[_.-]?secret|credentials?))["']?[ \t]*(?::=|=>|=|:)[ \t]*(?:"([^"\n]{1,512})"|'([^'\n]{1,512})'|` + "`([^`\\n]{1,512})`" + `|([^\s"'\x60,;]{1,512}))`,
			validate: validAssignment,
			matcher:  matchAssignment,
		},
		{
			typ:      "auth_header",
			prio:     prioBuiltin,
			expr:     `(?i)\bauthorization["']?[ \t]*[:=][ \t]*["']?(?:basic|bearer|token|digest|apikey)[ \t]+([A-Za-z0-9._~+/=-]{8,})`,
			validate: validTokenish,
			matcher:  matchAuthorization,
		},
		{
			typ:      "auth_header",
			prio:     prioBuiltin,
			expr:     `(?i)\bbearer[ \t]+([A-Za-z0-9._~+/-]{20,}=*)`,
			validate: validTokenish,
			matcher:  matchBearer,
		},
		{
			typ:      "mistral_api_key",
			prio:     prioBuiltin,
			expr:     `(?i)mistral[\w.-]{0,40}?(?:\([ \t]*api_key)?["']?[ \t]*(?::=|=>|=|:|,)[ \t]*["']?([A-Za-z0-9]{32})\b`,
			validate: validMistralKey,
			matcher:  matchMistral,
		},
	}
	builtin := len(defs)
	defs = append(defs, contextRuleDefs()...)
	var rules []*rule
	for i, d := range defs {
		kind := d.kind
		if kind == "" {
			kind = KindSecret
		}
		r := &rule{typ: d.typ, kind: kind, prio: d.prio, validate: d.validate, matcher: d.matcher, newMatcher: d.newMatcher}
		// see keyedHit; the context rules (contextRuleDefs) share the type
		// but not the matcher, and need no operator
		r.keyed = i < builtin && d.typ == "password_assignment"
		if d.matcher != nil {
			r.groupFrom = 1 // matcher results: match, then the value
		}
		if err := compileRule(r, d.expr, false); err != nil {
			return nil, fmt.Errorf("built-in rule %s: %w", d.typ, err)
		}
		if r.anchors == nil {
			return nil, fmt.Errorf("built-in rule %s: no anchor literal", d.typ)
		}
		rules = append(rules, r)
	}
	return rules, nil
}

// The built-in detectors are matched by hand at their anchor hits rather
// than by their expressions (which document them and give the anchors):
// Go's regexp costs microseconds per call, these cost nanoseconds.

// secretWords end the keys of password_assignment (see its expression).
var secretWords = func() []string {
	ws := []string{"passwd", "password", "passphrase", "pwd", "_pass", ".pass", "-pass", "secret", "token", "credential", "credentials",
		"motdepasse", "mot_de_passe", "mot-de-passe", "_mdp", "-mdp", ".mdp", "_pw", "-pw", ".pw", "jeton", "cle_api", "cleapi", "cle-api", "apikey"}
	for _, p := range []string{"api", "access", "secret", "private", "auth", "signing", "encryption", "master"} {
		for _, sep := range []string{"", "_", ".", "-"} {
			ws = append(ws, p+sep+"key")
		}
	}
	for _, sep := range []string{"", "_", ".", "-"} {
		ws = append(ws, "client"+sep+"secret")
	}
	return ws
}()

// shortSecretWords end a key only as a whole word or a camelCase hump
// (smtpPass, bind_pw, MDP) — not bypass, compass.
var shortSecretWords = []string{"pass", "pw", "mdp"}

// secretPrefixes start keys that hold a secret (MDP_ADMIN, PASSWORD_DB),
// unless the key ends with a word that makes it metadata (nonSecretTails).
var secretPrefixes = []string{"mdp", "pwd", "password", "passwd", "motdepasse", "mot_de_passe", "cle_api", "secret", "token"}

var nonSecretTails = []string{"file", "path", "url", "uri", "length", "len", "min", "max", "policy", "hash", "expiry", "expires", "ttl",
	"hint", "reset", "field", "name", "label", "at", "date", "time", "expires_at", "expiration", "created", "updated", "regex", "pattern", "rule", "rules", "type", "id", "endpoint", "header", "env", "var",
	"dir", "count", "timeout", "lifetime", "store", "manager", "provider", "source", "ref", "key_id", "version", "prefix", "format", "size"}

func endsWithSecretWord(key string) bool {
	if key == "" {
		return false
	}
	switch key[len(key)-1] | 0x20 { // every secret word ends with one of these
	case 'd', 'e', 's', 't', 'n', 'y', 'l', 'w', 'p', 'i':
	default:
		return false
	}
	for _, w := range secretWords {
		if len(key) >= len(w) && strings.EqualFold(key[len(key)-len(w):], w) {
			return true
		}
	}
	for _, w := range shortSecretWords {
		n := len(key) - len(w)
		if n >= 0 && strings.EqualFold(key[n:], w) && (n == 0 || !isAlnum(key[n-1]) || 'a' <= key[n-1] && key[n-1] <= 'z' && isUpper(key[n])) {
			return true
		}
	}
	return false
}

// startsWithSecretWord: MDP_ADMIN, PASSWORD_DB, SECRET_JWT.
func startsWithSecretWord(key string) bool {
	key = strings.TrimLeft(key, "-_.")
	for _, w := range secretPrefixes {
		if len(key) > len(w)+1 && strings.EqualFold(key[:len(w)], w) && (key[len(w)] == '_' || key[len(w)] == '-' || key[len(w)] == '.') {
			rest := key[len(w)+1:]
			for _, t := range nonSecretTails {
				n := len(rest) - len(t)
				if n >= 0 && strings.EqualFold(rest[n:], t) && (n == 0 || rest[n-1] == '_' || rest[n-1] == '-' || rest[n-1] == '.') {
					return false
				}
			}
			return true
		}
	}
	return false
}

// k8sEnvName: the key is the value of a "name:" (Kubernetes env list).
func k8sEnvName(text string, ks int) bool {
	i := ks
	if i > 0 && (text[i-1] == '"' || text[i-1] == '\'') {
		i--
	}
	for i > 0 && (text[i-1] == ' ' || text[i-1] == '\t') {
		i--
	}
	return i >= 5 && text[i-5:i] == "name:"
}

// netrcPassword: "machine host login user password value" (.netrc).
func netrcPassword(text string, ks, e int) bool {
	if !strings.EqualFold(text[ks:e], "password") {
		return false
	}
	lo := maxInt(0, ks-160)
	seg := text[lo:ks]
	if j := strings.LastIndexByte(seg, '\n'); j >= 0 {
		seg = seg[j+1:]
	}
	return strings.HasPrefix(strings.TrimLeft(seg, " \t"), "machine ") && strings.Contains(seg, " login ")
}

// dockerInstruction reports whether the key starting at ks follows a
// Dockerfile ENV or ARG instruction at the start of its line (a diff's
// +/- marker allowed): there the value may follow a blank.
func dockerInstruction(text string, ks int) bool {
	i := ks
	for i > 0 && (text[i-1] == ' ' || text[i-1] == '\t') {
		i--
	}
	if i == ks || i < 3 {
		return false
	}
	w := text[i-3 : i]
	if !strings.EqualFold(w, "ENV") && !strings.EqualFold(w, "ARG") {
		return false
	}
	j := i - 3
	for j > 0 && (text[j-1] == ' ' || text[j-1] == '\t' || text[j-1] == '+' || text[j-1] == '-') {
		j--
	}
	return j == 0 || text[j-1] == '\n'
}

func isURLStop(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', '\f', '\v', '/', '?', '#', '"', '\'', '<', '>', '`':
		return true
	}
	return false
}

// matchURLPassword: scheme://[user]:password@host at a "://" hit.
func matchURLPassword(text string, k, e int) (ms, me, vs, ve int, ok bool) {
	j := k
	for j > 0 && k-j < 31 && (isAlnum(text[j-1]) || text[j-1] == '+' || text[j-1] == '.' || text[j-1] == '-') {
		j--
	}
	for j < k && !('a' <= text[j]|0x20 && text[j]|0x20 <= 'z') {
		j++
	}
	if k-j < 2 || (j > 0 && isWordByte(text[j-1])) {
		return
	}
	i := e
	for i < len(text) && i-e <= 128 && !isURLStop(text[i]) && text[i] != ':' && text[i] != '@' {
		i++
	}
	if i >= len(text) || text[i] != ':' {
		return
	}
	start := i + 1
	at := -1
	for p := start; p < len(text) && p-start < 257 && !isURLStop(text[p]); p++ {
		if text[p] == '@' && p > start && p+1 < len(text) {
			if c := text[p+1]; isAlnum(c) || c == '[' || c == '_' || c == '-' {
				at = p
			}
		}
	}
	if at < 0 {
		return
	}
	return j, at + 1, start, at, true
}

func isTokenByte(c byte) bool {
	return isAlnum(c) || c == '.' || c == '_' || c == '~' || c == '+' || c == '/' || c == '-'
}

// matchAuthorization: Authorization: Basic|Bearer|Token|Digest|ApiKey <value>.
func matchAuthorization(text string, k, e int) (ms, me, vs, ve int, ok bool) {
	if k > 0 && isWordByte(text[k-1]) {
		return
	}
	i := e
	if i < len(text) && (text[i] == '"' || text[i] == '\'') {
		i++
	}
	i = skipBlanks(text, i)
	if i >= len(text) || (text[i] != ':' && text[i] != '=') {
		return
	}
	i = skipBlanks(text, i+1)
	if i < len(text) && (text[i] == '"' || text[i] == '\'') {
		i++
	}
	w := i
	for i < len(text) && 'a' <= text[i]|0x20 && text[i]|0x20 <= 'z' {
		i++
	}
	switch strings.ToLower(text[w:i]) {
	case "basic", "bearer", "token", "digest", "apikey":
	default:
		return
	}
	v := skipBlanks(text, i)
	if v == i {
		return
	}
	j := v
	for j < len(text) && (isTokenByte(text[j]) || text[j] == '=') {
		j++
	}
	if j-v < 8 {
		return
	}
	return k, j, v, j, true
}

// matchBearer: Bearer <token of 20+ characters>.
func matchBearer(text string, k, e int) (ms, me, vs, ve int, ok bool) {
	if k > 0 && isWordByte(text[k-1]) {
		return
	}
	v := skipBlanks(text, e)
	if v == e {
		return
	}
	j := v
	for j < len(text) && isTokenByte(text[j]) {
		j++
	}
	if j-v < 20 {
		return
	}
	for j < len(text) && text[j] == '=' {
		j++
	}
	return k, j, v, j, true
}

// matchMistral: a mistral... key assigned a 32-character alphanumeric value.
func matchMistral(text string, k, e int) (ms, me, vs, ve int, ok bool) {
	i := e
	for i < len(text) && i-e < 40 && isWordDotDash(text[i]) {
		i++
	}
	if i < len(text) && text[i] == '(' {
		j := skipBlanks(text, i+1)
		if j+7 <= len(text) && strings.EqualFold(text[j:j+7], "api_key") {
			i = j + 7
		}
	}
	if i < len(text) && (text[i] == '"' || text[i] == '\'') {
		i++
	}
	i = skipBlanks(text, i)
	if i >= len(text) {
		return
	}
	switch {
	case strings.HasPrefix(text[i:], ":=") || strings.HasPrefix(text[i:], "=>"):
		i += 2
	case text[i] == '=' || text[i] == ':' || text[i] == ',':
		i++
	default:
		return
	}
	i = skipBlanks(text, i)
	if i < len(text) && (text[i] == '"' || text[i] == '\'') {
		i++
	}
	j := i
	for j < len(text) && isAlnum(text[j]) {
		j++
	}
	if j-i != 32 || (j < len(text) && text[j] == '_') {
		return
	}
	return k, j, i, j, true
}

func skipBlanks(text string, i int) int {
	for i < len(text) && (text[i] == ' ' || text[i] == '\t') {
		i++
	}
	return i
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
	// The hit may be inside the key (SECRET_KEY holds "secret"): the key
	// runs on, and must end with a secret word.
	for e < len(text) && e-k < 128 && isWordDotDash(text[e]) {
		e++
	}
	if !endsWithSecretWord(text[ks:e]) && !startsWithSecretWord(text[ks:e]) {
		return
	}
	i := e
	keyQuoted := false
	if i < len(text) && (text[i] == '"' || text[i] == '\'') {
		i++
		keyQuoted = true
		if i < len(text) && text[i] == ']' {
			i++ // $cfg['password'] = …
		}
	}
	b := i
	for i < len(text) && (text[i] == ' ' || text[i] == '\t') {
		i++
	}
	if i >= len(text) {
		return
	}
	switch {
	case (text[i] == '\n' || text[i] == '\r') && k8sEnvName(text, ks):
		// - name: DB_PASSWORD
		//   value: "…"
		j := strings.IndexByte(text[i:minInt(len(text), i+2)], '\n')
		if j < 0 {
			return
		}
		j = skipBlanks(text, i+j+1)
		if !strings.HasPrefix(text[j:], "value:") {
			return
		}
		i = j + len("value:")
	case keyQuoted && text[i] == ',' && ks >= 2 && text[ks-2] == '(':
		// define('DB_PASSWORD', '…'), setProperty("password", "…"): the
		// key is a call's first argument, the value a string literal
		// (not a list of words: "token", "secret")
		j := skipBlanks(text, i+1)
		if j >= len(text) || text[j] != '"' && text[j] != '\'' {
			return
		}
		if q := strings.IndexByte(text[j+1:minInt(len(text), j+514)], text[j]); q < 0 || !secretLike(text[j+1:j+1+q]) {
			return
		}
		i++
	case text[i] == '(' && i == e:
		// setter: .password("…"), setPassword("…"), withPassword("…")
		j := skipBlanks(text, i+1)
		if j >= len(text) || text[j] != '"' && text[j] != '\'' {
			return
		}
		i++
	case i > b && text[i] != ':' && text[i] != '=' && (dockerInstruction(text, ks) || strings.HasPrefix(text[ks:e], "--") || netrcPassword(text, ks, e)):
		// ENV KEY value, ARG KEY value, --password value
		if text[i] == '-' {
			return
		}
	case text[i] == ':' && i+1 < len(text) && text[i+1] == '=':
		i += 2
	case text[i] == '=' && i+1 < len(text) && text[i+1] == '>':
		i += 2
	case text[i] == ':':
		if i+1 < len(text) && text[i+1] == ':' {
			return
		}
		i++
		// TypeScript/Kotlin annotations: password: string = "…"
		j := skipBlanks(text, i)
		t := j
		for t < len(text) && t-j < 32 && (isAlnum(text[t]) || text[t] == '_' || text[t] == '?') {
			t++
		}
		if t > j {
			if u := skipBlanks(text, t); u < len(text) && text[u] == '=' && (u+1 >= len(text) || text[u+1] != '=' && text[u+1] != '>') {
				i = u + 1
			}
		}
	case text[i] == '>' && ks > 0 && text[ks-1] == '<':
		// <password>…</password>
		j := i + 1
		end := strings.IndexByte(text[j:minInt(len(text), j+512)], '<')
		if end <= 0 || strings.ContainsAny(text[j:j+end], "\n") {
			return
		}
		return ks - 1, j + end, j, j + end, true
	case keyQuoted && strings.HasPrefix(text[i:], "value="):
		// <add key="ApiKey" value="…" />
		i += len("value=")
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
	"sensitive": true, "secretstr": true, "secretstring": true, "char": true, "open sesame": true,
	"text": true, "varchar": true, "integer": true, "env": true, "file": true,
}

// placeholderish reports values that are references, templates or
// stand-ins: ${X}, $X, {{x}}, %(x)s, <x>, [x], ****, xxxx, YOUR_API_KEY,
// your-api-key-here, votre_cle_api, sk-..., YAML tags and anchors.
func placeholderish(v string) bool {
	if v == "" {
		return true
	}
	if dummyValues[strings.ToLower(v)] {
		return true
	}
	rest := v[1:]
	switch v[0] {
	case '<', '[', '{':
		return true
	case '$':
		// $VAR, ${VAR}, $(cmd); "$" inside a password is fine
		return rest == "" || rest[0] == '{' || rest[0] == '(' || isIdentifier(rest)
	case '%':
		// %(name)s, %s, %ENV%
		return rest == "" || rest[0] == '(' || len(rest) == 1 || strings.HasSuffix(rest, "%") && isIdentifier(strings.TrimSuffix(rest, "%"))
	case '!', '&', '@', '#':
		// YAML tags (!vault, !Ref), anchors (&x), decorators, comments
		return rest == "" || isIdentifier(rest) || rest[0] == '{'
	case '*':
		return rest == "" || isIdentifier(rest) || rest[0] == '*'
	case '|', '>':
		return len(strings.Trim(rest, "-+0123456789")) == 0
	}
	if placeholderMarks.contains(v) {
		return true
	}
	if (strings.HasPrefix(v, "/") || strings.HasPrefix(v, "./") || strings.HasPrefix(v, "~/")) && pathLike(v) {
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
	return madeOfStandInWords(v)
}

// placeholderMarks: templates, references, elisions and stand-in words
// (ASCII case-insensitive, one pass).
var placeholderMarks = newAutomaton([]string{"{{", "${", "#{", "%(", ":/", "...", "…", "<", ">",
	"your", "votre", "example", "exemple", "placeholder", "changeme", "change_me", "change-me", "dummy", "sample", "xxxx",
	"replace", "remplacer", "redacted"})

// standInWords make up placeholder values: fake-key-for-tests,
// test-token, ma-cle-secrete, motdepasse, xoxb-your-bot-token.
var standInWords = map[string]bool{
	"my": true, "ma": true, "mon": true, "mes": true, "the": true, "a": true, "le": true, "la": true, "de": true, "du": true, "for": true, "pour": true,
	"here": true, "ici": true, "test": true, "tests": true, "testing": true, "fake": true, "faux": true, "fausse": true, "mock": true, "stub": true,
	"api": true, "key": true, "cle": true, "clé": true, "token": true, "jeton": true, "secret": true, "secrete": true, "secrète": true,
	"password": true, "passwd": true, "pass": true, "pwd": true, "mot": true, "passe": true, "motdepasse": true, "mdp": true,
	"bot": true, "app": true, "user": true, "access": true, "auth": true, "value": true, "valeur": true, "default": true, "local": true,
	"dev": true, "demo": true, "foo": true, "bar": true, "baz": true, "none": true, "null": true, "todo": true, "insert": true, "put": true,
	"enter": true, "new": true, "old": true, "some": true, "any": true, "real": true, "vrai": true, "abc": true, "xyz": true,
	"sk": true, "pk": true, "rk": true, "xoxb": true, "xoxp": true, "ghp": true, "glpat": true, "npm": true, "hvs": true, "live": true, "dummy": true,
	"admin": true, "root": true, "private": true, "public": true, "client": true, "service": true, "account": true, "webhook": true, "url": true,
}

// madeOfStandInWords: every word of v (split at '-', '_', '.', ' ') is a
// stand-in word: nothing in it is random.
func madeOfStandInWords(v string) bool {
	var buf [16]byte
	n := 0
	for i := 0; i < len(v); {
		j := i
		for j < len(v) && v[j] != '-' && v[j] != '_' && v[j] != '.' && v[j] != ' ' {
			j++
		}
		if j > i {
			if j-i > len(buf) {
				return false // no stand-in word is that long
			}
			w := buf[:j-i]
			for k := range w {
				w[k] = lowerASCII(v[i+k])
			}
			if !standInWords[string(w)] { // no allocation for a lookup
				return false
			}
			n++
		}
		i = j + 1
	}
	return n > 0
}

// pathLike: /etc/secrets/db, ./key.pem, ~/.pgpass — not a random key that
// happens to start with '/' (base64 keys do).
func pathLike(v string) bool {
	if strings.ContainsAny(v, "+=") {
		return false
	}
	for i := 0; i < len(v); {
		j := strings.IndexByte(v[i:], '/')
		if j < 0 {
			j = len(v) - i
		}
		if seg := v[i : i+j]; len(seg) >= 16 && mixedClasses(seg) {
			return false
		}
		i += j + 1
	}
	return true
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
	if isDottedIdent(v) || strings.Count(v, "-") >= 2 && looksLikeUUIDOrDate(v) {
		return false
	}
	// the name of a secret, not one: "X-Gitlab-Token", "DB_PASSWORD"
	if endsWithSecretWord(v) && !strings.ContainsAny(v, "0123456789") {
		return false
	}
	// a regular expression describing secrets
	if strings.HasPrefix(v, "(?") || strings.Contains(v, `\b`) || strings.Contains(v, `\d`) || strings.Contains(v, "]{") {
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
		case 'a' <= c|0x20 && c|0x20 <= 'z' || c >= 0x80: // accented letters are letters
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
func notASecret(text string, s, e int, typ string, b64 *backSpan) bool {
	v := text[s:e]
	if containsFold(v, "example") {
		return true
	}
	if e-s <= 64 && (madeOfStandInWords(v) || namesAKey(v)) {
		return true
	}
	if strings.Contains(v, "[[") {
		rest := stripPlaceholders(v)
		if len(strings.Trim(rest, `"'`+"` ")) < 8 {
			return true
		}
	}
	if inHashOrDataRun(text, s, b64) {
		return true
	}
	if typ == "sourcegraph-access-token" && (e-s == 40) && isHex(v) {
		return true
	}
	return false
}

// namesAKey: an identifier that names a key rather than holding one
// (encryptionKey1024, NewEncapsulationKey768, refreshToken2).
func namesAKey(v string) bool {
	if !isIdentifier(v) || !wordish(v) {
		return false
	}
	for _, w := range []string{"Key", "Token", "Secret", "Password"} {
		if strings.Contains(v, w) {
			return true
		}
	}
	return false
}

// sentenceEndedWords: a gitleaks token-format rule matched only because a
// sentence's punctuation follows (sentenceTerm), and the value reads as
// words (s.ReadUint16LengthPrefixed, in a comment, is no Vault token).
func sentenceEndedWords(text string, s, e int) bool {
	return e < len(text) && strings.IndexByte(".,:!?)]>*", text[e]) >= 0 && wordishFrac(text[s:e], 0.7)
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
func inHashOrDataRun(text string, s int, b64 *backSpan) bool {
	i := maxInt(b64.runStart(text, s), s-1<<20)
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
