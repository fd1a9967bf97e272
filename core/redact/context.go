package redact

import (
	"encoding/base64"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Detectors that recognise a value by the words around it, in English and
// French: passwords and keys written in prose ("le mot de passe est …",
// "the password for the VM is `…`"), credentials passed as positional
// arguments (smtp.login(user, "…")), on command lines (mysql -p'…'), in
// HTTP Basic credentials wherever they appear, Azure storage keys and AWS
// secret keys near their context, French passport and identity-card
// numbers. Each matcher looks at a bounded window around its anchor hit
// (at most a line, a few hundred bytes): the cost stays linear in the text.

// contextRuleDefs are appended to the built-in rules (see builtinRules).
func contextRuleDefs() []builtinDef {
	return []builtinDef{
		{
			typ:  "password_assignment",
			prio: prioHeuristic,
			// a password or key word, a few words, a connector, a value
			expr:       `(?:(?i:password|passwd|passphrase|pwd|mdp|mot de passe|mot-de-passe|secret|token|jeton|key|cle)|clé|Clé|CLÉ)[^\n]{0,80}`,
			matcher:    matchProse,
			newMatcher: newProseMatcher,
		},
		{
			typ:     "password_assignment",
			prio:    prioHeuristic,
			expr:    `(?:login|Login|SetBasicAuth|PlainAuth|getConnection|auth=|auth:|bind_s|simple_bind|NewStaticCredentials|NewClient)[ \t]*\([^\n]{0,256}`,
			matcher: matchPositional,
		},
		{
			typ:     "password_assignment",
			prio:    prioHeuristic,
			expr:    `(?:mysql|mysqldump|mysqladmin|mariadb|sshpass|redis-cli|login|curl)[^\n]{0,256}`,
			matcher: matchCommandLine,
		},
		{
			typ:     "basic_auth",
			prio:    prioBuiltin,
			expr:    `(?i)basic[ \t]+[A-Za-z0-9+/]{8,}={0,2}`,
			matcher: matchBasic,
		},
		{
			typ:     "azure_storage_key",
			prio:    prioBuiltin,
			expr:    `(?i)(?:azure|storage|stockage|accountkey|account_key|account-key)[^\n]{0,160}`,
			matcher: matchAzureKey,
		},
		{
			typ:     "aws_secret_key",
			prio:    prioBuiltin,
			expr:    `(?:AKIA|ASIA)[^\n]{0,200}`,
			matcher: matchAWSSecret,
		},
		{
			typ:     "passport",
			kind:    KindPersonal,
			prio:    prioPersonal,
			expr:    `(?i)(?:passport|passeport|pasaporte|reisepass)[^\n]{0,64}`,
			matcher: matchPassport,
		},
		{
			typ:     "id_card",
			kind:    KindPersonal,
			prio:    prioPersonal,
			expr:    `(?i)(?:cni|identit|id card|id-card|idcard)[^\n]{0,64}`,
			matcher: matchIDCard,
		},
	}
}

// ---- helpers ----

func isLetterByte(c byte) bool { return 'a' <= c|0x20 && c|0x20 <= 'z' || c >= utf8.RuneSelf }

// wordBoundaryBefore: the hit at k starts a word (or a camelCase hump).
func wordBoundaryBefore(text string, k int) bool {
	if k == 0 {
		return true
	}
	p := text[k-1]
	if p >= utf8.RuneSelf {
		r, _ := utf8.DecodeLastRuneInString(text[maxInt(0, k-4):k])
		return !unicode.IsLetter(r) && !unicode.IsDigit(r) // d’identité
	}
	if !isLetterByte(p) && !isDigit(p) {
		return true
	}
	return 'a' <= p && p <= 'z' && isUpper(text[k])
}

// wordBoundaryAfter: the hit ending at e ends a word (or a camelCase hump).
func wordBoundaryAfter(text string, e int) bool {
	if e >= len(text) {
		return true
	}
	c := text[e]
	return !('a' <= c && c <= 'z') && !(c >= utf8.RuneSelf && c != 0xc2 && c != 0xe2)
}

func lineEnd(text string, i, max int) int {
	hi := minInt(len(text), i+max)
	if j := strings.IndexByte(text[i:hi], '\n'); j >= 0 {
		return i + j
	}
	return hi
}

// readValue reads a value at i: quoted (', ", `) up to its closing quote
// on the line, or bare up to a blank; a bare value loses a sentence's
// closing punctuation. It returns the value's span and whether it was
// quoted.
func readValue(text string, i, hi int) (vs, ve int, quoted, ok bool) {
	return readValueCached(text, i, hi, nil)
}

// valueBytes are the bytes a bare value runs over (readValue).
var valueBytes = func() *[256]bool {
	var s [256]bool
	for c := range s {
		s[c] = true
	}
	for _, c := range " \t\r\"'`" {
		s[c] = false
	}
	return &s
}()

// readValueCached is readValue with the run of value bytes shared through
// c by the hits of one scan: in "key=key=key=…" every hit's value ends at
// the same place, found once rather than once per hit.
func readValueCached(text string, i, hi int, c *spanCache) (vs, ve int, quoted, ok bool) {
	if i >= hi {
		return
	}
	switch q := text[i]; q {
	case '"', '\'', '`':
		j := strings.IndexByte(text[i+1:hi], q)
		if j <= 0 {
			return
		}
		return i + 1, i + 1 + j, true, true
	}
	j := i
	if c != nil {
		j = minInt(c.runEnd(text, i, valueBytes), hi)
		if b := strings.Index(text[i:j], `\\`); b >= 0 {
			j = i + b
		}
	} else {
		for j < hi {
			c := text[j]
			if c == ' ' || c == '\t' || c == '\r' || c == '"' || c == '\'' || c == '`' || c == '\\' && j+1 < hi && text[j+1] == '\\' {
				break
			}
			j++
		}
	}
	// punctuation that closes a clause or a bracket; a final '.' stays
	// (it may be the password's: masking a full stop too is harmless)
	for j > i {
		switch text[j-1] {
		case ',', ';', ':', ')', ']', '}':
			j--
			continue
		}
		break
	}
	if j == i {
		return
	}
	return i, j, false, true
}

// proseWordClass: 1 for password words, 2 for key/token words.
func proseWordClass(w string) int {
	for _, p := range []string{"password", "passwd", "passphrase", "pwd", "mdp", "mot de passe", "mot-de-passe"} {
		if strings.EqualFold(w, p) {
			return 1
		}
	}
	return 2
}

// connectorWords link a password word to its value in a sentence.
var connectorWords = map[string]bool{"is": true, "est": true, "c'est": true, "c’est": true, "was": true, "sera": true, "reste": true,
	"vaut": true, "=": true, "->": true, "→": true, "are": true, "était": true}

// matchProse: a password or key word, at most six filler words, a
// connector (':' '=' or is/est/c'est…) or a quoted value, then the value.
func matchProse(text string, k, e int) (ms, me, vs, ve int, ok bool) {
	return matchProseCached(text, k, e, nil)
}

// newProseMatcher is matchProse for one scan, its hits sharing value runs.
func newProseMatcher() func(text string, k, e int) (ms, me, vs, ve int, ok bool) {
	var c spanCache
	return func(text string, k, e int) (ms, me, vs, ve int, ok bool) {
		return matchProseCached(text, k, e, &c)
	}
}

func matchProseCached(text string, k, e int, vc *spanCache) (ms, me, vs, ve int, ok bool) {
	if !wordBoundaryBefore(text, k) {
		return
	}
	// the word may run on as an identifier (password_hash, tokens): only
	// the word itself, or a plural, is prose.
	w := text[k:e]
	if e < len(text) && (text[e] == 's' || text[e] == 'S') {
		e++
	}
	if e < len(text) && (isAlnum(text[e]) || text[e] == '_' || text[e] >= utf8.RuneSelf && text[e] != 0xc2 && text[e] != 0xe2) {
		return // inside an identifier: keyLogLabel, tokenizer
	}
	camel := k > 0 && 'a' <= text[k-1] && text[k-1] <= 'z' // apiKey, setTrafficSecret
	class := proseWordClass(w)
	hi := lineEnd(text, e, 160)
	i := e
	words := 0
	connected := false
	for i < hi && words <= 6 {
		i = skipBlanks(text, i)
		if i >= hi {
			return
		}
		c := text[i]
		if c == ':' || c == '=' {
			if i+1 < hi && (text[i+1] == '=' || text[i+1] == ':') {
				return // ==, ::
			}
			i++
			connected = true
			break
		}
		if c == '`' || c == '"' || c == '\'' && i > 0 && text[i-1] == ' ' {
			break // a quoted value right after the words
		}
		// a filler word: letters, apostrophes, hyphens, n°
		j := i
		for j < hi && (isLetterByte(text[j]) || text[j] == '\'' || text[j] == '-' || text[j] == '~') {
			j++
		}
		if j == i {
			if c == '(' || c == ',' || c == '*' {
				i++
				continue
			}
			break
		}
		fw := text[i:j]
		if connectorWords[strings.ToLower(fw)] {
			i = j
			connected = true
			break
		}
		if j < hi && text[j] != ' ' && text[j] != '\t' && text[j] != ':' && text[j] != ',' && text[j] != '(' && text[j] != '*' {
			// not a plain word: perhaps the value itself
			break
		}
		i = j
		words++
	}
	i = skipBlanks(text, i)
	if i >= hi {
		return
	}
	hi = lineEnd(text, i, 600) // the value may be long (OpenAI keys, JWTs)
	var v0, v1 int
	var quoted, found bool
	if strings.HasPrefix(text[i:hi], "**") {
		// **bold** value
		if j := strings.Index(text[i+2:hi], "**"); j > 0 {
			v0, v1, quoted, found = i+2, i+2+j, true, true
		}
	} else {
		v0, v1, quoted, found = readValueCached(text, i, hi, vc)
	}
	if !found {
		return
	}
	v := text[v0:v1]
	if class == 1 && !quoted && !proseSecret(v, false) {
		// "login/mdp : admin / s3cret", "user / password: bob / …"
		j := skipBlanks(text, v1)
		if j < hi && text[j] == '/' {
			if w0, w1, q, ok := readValue(text, skipBlanks(text, j+1), hi); ok {
				v0, v1, quoted, v = w0, w1, q, text[w0:w1]
			}
		}
	}
	if camel && !connected || v[0] == '-' || !connected && (v0 == e || text[v0-1] != ' ' && text[v0-1] != '\t' && !quoted) {
		return // user:password@host is a URL's business
	}
	if !connected && !quoted && !strongKey(v) && !(class == 1 && strongPassword(v)) {
		return
	}
	if class == 1 {
		if !proseSecret(v, quoted) {
			return
		}
	} else if !strongKey(v) {
		return
	}
	return k, v1, v0, v1, true
}

// proseSecret: what may be a password in a sentence.
func proseSecret(v string, quoted bool) bool {
	if !quoted {
		v = strings.TrimRight(v, ".")
	}
	if len(v) < 6 || len(v) > 128 || placeholderish(v) || strings.ContainsAny(v, " \t()[]{}<>") {
		return false
	}
	if isDottedIdent(v) && !strings.ContainsAny(v, "0123456789") {
		return false
	}
	if isIdentLike(v) {
		return false
	}
	return secretLike(v) || quoted && len(v) >= 8 && hasUpperLower(v)
}

// strongPassword: a value that reads as a password even without a
// connector ("mot de passe Hv9!pQ2xZ"): 8+ characters, letters, digits, and
// symbols or mixed case, and not an identifier.
func strongPassword(v string) bool {
	v = strings.TrimRight(v, ".")
	if len(v) < 8 || isIdentLike(v) || placeholderish(v) {
		return false
	}
	letters, digits, symbols := 0, 0, 0
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case isDigit(c):
			digits++
		case 'a' <= c|0x20 && c|0x20 <= 'z':
			letters++
		case c < 0x80 && c > ' ':
			symbols++
		default:
			return false
		}
	}
	return letters > 0 && digits > 0 && (symbols > 0 || hasUpperLower(v))
}

func hasUpperLower(v string) bool {
	u, l := false, false
	for i := 0; i < len(v); i++ {
		u = u || isUpper(v[i])
		l = l || 'a' <= v[i] && v[i] <= 'z'
	}
	return u && l
}

// strongKey: a random-looking credential: long, letters and digits, high
// entropy, not a reference.
func strongKey(v string) bool {
	v = strings.TrimRight(v, ".")
	if len(v) < 16 || len(v) > 512 || placeholderish(v) {
		return false
	}
	letters, digits, upper, lower := 0, 0, 0, 0
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case isDigit(c):
			digits++
		case isUpper(c):
			upper++
			letters++
		case 'a' <= c && c <= 'z':
			lower++
			letters++
		case c == '-' || c == '_' || c == '.' || c == '/' || c == '+' || c == '=' || c == '~':
		default:
			return false
		}
	}
	if digits == 0 || letters == 0 || isDottedIdent(v) || isHex(v) && (len(v) == 32 || len(v) == 40 || len(v) == 64) || wordish(v) {
		return false
	}
	if strings.ContainsRune(v, '_') && strings.Trim(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") == "" {
		return false // a constant's name: CLIENT_TRAFFIC_SECRET_0
	}
	if strings.Count(v, "-") >= 3 && looksLikeUUIDOrDate(v) {
		return false
	}
	return shannonEntropy(v) > 3.3
}

// wordish: most of v is made of words (CamelCase humps or lowercase runs
// of three letters or more): ReadUint16LengthPrefixed, cipherSuiteTLS13 —
// identifiers, not random keys, whose letters rarely run in words.
func wordish(v string) bool { return wordishFrac(v, 0.5) }

// wordishFrac: at least frac of v's bytes are in words.
func wordishFrac(v string, frac float64) bool {
	covered, letters := 0, 0
	for i := 0; i < len(v); {
		c := v[i]
		if !('a' <= c|0x20 && c|0x20 <= 'z') {
			i++
			continue
		}
		j := i
		if isUpper(c) {
			j++
		}
		k := j
		for k < len(v) && 'a' <= v[k] && v[k] <= 'z' {
			k++
		}
		if k-j >= 3 {
			covered += k - i
		} else if k == j {
			k++ // an upper-case letter alone (or in an acronym)
		}
		letters += k - i
		i = k
	}
	return letters > 0 && float64(covered) >= frac*float64(len(v))
}

func looksLikeUUIDOrDate(v string) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(isHex(v[i:i+1]) || c == '-' || c == ':' || c == 'T' || c == 'Z') {
			return false
		}
	}
	return true
}

// ---- positional credentials ----

// positionalArg: which argument of these calls is the secret.
func positionalArg(name string) int {
	switch name {
	case "PlainAuth", "getConnection":
		return 2
	case "NewClient":
		return 0
	}
	return 1
}

// matchPositional: login(user, "secret"), SetBasicAuth("u", "p"),
// PlainAuth("", "u", "p", host), auth=("u", "p"), simple_bind_s(dn, "p"),
// NewStaticCredentials("AKIA…", "secret", ""), mistral.NewClient("key").
func matchPositional(text string, k, e int) (ms, me, vs, ve int, ok bool) {
	name := strings.TrimRight(text[k:e], "=:")
	if name != "login" && name != "Login" && k > 0 && isAlnum(text[k-1]) {
		return // bind inside rebind, …; smtpLogin( is fine
	}
	e = skipBlanks(text, e)
	if e >= len(text) || text[e] != '(' {
		return
	}
	e++
	want := positionalArg(name)
	if name == "NewClient" {
		// only for LLM and SaaS clients: the receiver names the vendor
		r := k - 1
		if r < 0 || text[r] != '.' {
			return
		}
		s := r
		for s > 0 && r-s < 32 && isWordByte(text[s-1]) {
			s--
		}
		switch strings.ToLower(text[s:r]) {
		case "mistral", "openai", "anthropic", "stripe", "slack", "github", "gitlab", "cohere", "groq":
		default:
			return
		}
	}
	hi := lineEnd(text, e, 320)
	i := e
	for arg := 0; i < hi; arg++ {
		i = skipBlanks(text, i)
		if i >= hi {
			return
		}
		if arg == want {
			q := text[i]
			if q != '"' && q != '\'' && q != '`' {
				return
			}
			v0, v1, _, found := readValue(text, i, hi)
			if !found {
				return
			}
			v := text[v0:v1]
			if len(v) < 4 || placeholderish(v) || strings.ContainsAny(v, " \t") || isEmailLike(v) {
				return
			}
			if name == "NewClient" && !strongKey(v) {
				return
			}
			return k, v1 + 1, v0, v1, true
		}
		// skip this argument: a string literal or an expression without
		// nested parentheses or commas
		switch q := text[i]; q {
		case '"', '\'', '`':
			j := strings.IndexByte(text[i+1:hi], q)
			if j < 0 {
				return
			}
			i = i + 1 + j + 1
		default:
			for i < hi && text[i] != ',' && text[i] != ')' && text[i] != '(' {
				i++
			}
		}
		i = skipBlanks(text, i)
		if i >= hi || text[i] != ',' {
			return
		}
		i++
	}
	return
}

func isEmailLike(v string) bool {
	at := strings.IndexByte(v, '@')
	return at > 0 && strings.Contains(v[at:], ".")
}

// ---- command lines ----

// matchCommandLine: mysql -p'…' / -p… / --password=…, sshpass -p …,
// redis-cli -a …, docker|podman login -p …, curl -u user:….
func matchCommandLine(text string, k, e int) (ms, me, vs, ve int, ok bool) {
	if !wordBoundaryBefore(text, k) || e < len(text) && isAlnum(text[e]) {
		return
	}
	cmd := text[k:e]
	hi := lineEnd(text, e, 400)
	var flag string
	attached := false
	switch cmd {
	case "mysql", "mysqldump", "mysqladmin", "mariadb":
		flag, attached = "-p", true
	case "sshpass":
		flag = "-p"
	case "redis-cli":
		flag = "-a"
	case "login":
		flag = "-p"
	case "curl":
		flag = "-u"
	default:
		return
	}
	for i := e; i < hi; {
		j := strings.Index(text[i:hi], " "+flag)
		if cmd == "curl" {
			if u := strings.Index(text[i:hi], " --user "); u >= 0 && (j < 0 || u < j) {
				j = u + 4 // " --user" is one byte longer than " -u"
			}
		}
		if j < 0 {
			return
		}
		p := i + j + 1 + len(flag)
		i = p
		if p >= hi {
			return
		}
		if attached {
			if text[p] == ' ' || text[p] == '\t' {
				continue // mysql -p alone prompts for the password
			}
		} else {
			if text[p] != ' ' {
				continue
			}
			p = skipBlanks(text, p)
		}
		v0, v1, _, found := readValue(text, p, hi)
		if !found {
			return
		}
		if cmd == "curl" {
			c := strings.IndexByte(text[v0:v1], ':')
			if c < 0 {
				return
			}
			v0 += c + 1
		}
		v := text[v0:v1]
		if len(v) < 4 || placeholderish(v) || v[0] == '-' {
			return
		}
		return k, v1, v0, v1, true
	}
	return
}

// ---- HTTP Basic ----

// matchBasic: "Basic <base64>" whose payload decodes to user:password, in
// a header, an environment variable, a call or a diff alike.
func matchBasic(text string, k, e int) (ms, me, vs, ve int, ok bool) {
	if k > 0 && isWordByte(text[k-1]) {
		return
	}
	v := skipBlanks(text, e)
	if v == e {
		return
	}
	j := v
	for j < len(text) && j-v < 1024 && (isAlnum(text[j]) || text[j] == '+' || text[j] == '/') {
		j++
	}
	for n := 0; n < 2 && j < len(text) && text[j] == '='; n++ {
		j++
	}
	if j-v < 8 || j < len(text) && isWordByte(text[j]) {
		return
	}
	payload := text[v:j]
	raw, err := base64.StdEncoding.DecodeString(payload)
	if err != nil {
		raw, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(payload, "="))
		if err != nil {
			return
		}
	}
	c := strings.IndexByte(string(raw), ':')
	if c < 1 || c == len(raw)-1 || !utf8.Valid(raw) {
		return
	}
	for _, b := range raw {
		if b < 0x20 || b == 0x7f {
			return
		}
	}
	if placeholderish(string(raw[c+1:])) {
		return
	}
	return k, j, v, j, true
}

// ---- Azure storage keys, AWS secret keys ----

// b64Run returns the end of the base64 run starting at i.
func b64Run(text string, i, hi int) int {
	for i < hi && (isAlnum(text[i]) || text[i] == '+' || text[i] == '/') {
		i++
	}
	return i
}

// matchAzureKey: an 88-character base64 key ending in "==" after Azure
// storage context words, on the same line.
func matchAzureKey(text string, k, e int) (ms, me, vs, ve int, ok bool) {
	hi := lineEnd(text, e, 200)
	for i := e; i < hi; i++ {
		c := text[i]
		if !(isAlnum(c) || c == '+' || c == '/') || i > 0 && (isAlnum(text[i-1]) || text[i-1] == '+' || text[i-1] == '/') {
			continue
		}
		j := b64Run(text, i, len(text))
		if j-i == 86 && j+2 <= len(text) && text[j:j+2] == "==" && (j+2 == len(text) || !isB64Byte(text[j+2])) && mixedClasses(text[i:j]) {
			return k, j + 2, i, j + 2, true
		}
		i = j
	}
	return
}

func mixedClasses(v string) bool {
	d, u, l := false, false, false
	for i := 0; i < len(v); i++ {
		c := v[i]
		d = d || isDigit(c)
		u = u || isUpper(c)
		l = l || 'a' <= c && c <= 'z'
	}
	return d && u && l
}

// matchAWSSecret: after an AWS access key id, the 40-character secret
// that goes with it (same or next lines, within 200 bytes).
func matchAWSSecret(text string, k, e int) (ms, me, vs, ve int, ok bool) {
	if k > 0 && isAlnum(text[k-1]) {
		return
	}
	id := e
	for id < len(text) && id-e < 16 && (isUpper(text[id]) || isDigit(text[id])) {
		id++
	}
	if id-e != 16 || id < len(text) && isAlnum(text[id]) {
		return
	}
	hi := minInt(len(text), id+200)
	for i := id; i < hi; i++ {
		c := text[i]
		if !(isAlnum(c) || c == '+' || c == '/') || isB64Byte(text[i-1]) {
			continue
		}
		j := b64Run(text, i, len(text))
		if j-i == 40 && (j == len(text) || !(isB64Byte(text[j]) || text[j] == '_')) && mixedClasses(text[i:j]) && !isHex(text[i:j]) {
			return k, j, i, j, true
		}
		i = j
	}
	return
}

// ---- passports, identity cards ----

// contextToken finds the first token holding a digit within the window
// after a context word, skipping words (numéro, n°, no., number, de, du…).
func contextToken(text string, e int) (int, int, bool) {
	hi := lineEnd(text, e, 72)
	i := e
	for i < hi {
		c := text[i]
		if !isAlnum(c) {
			i++
			continue
		}
		j := i
		digit := false
		for j < hi && isAlnum(text[j]) {
			digit = digit || isDigit(text[j])
			j++
		}
		if digit {
			return i, j, true
		}
		i = j
	}
	return 0, 0, false
}

// matchPassport: a passport number after "passport"/"passeport": French
// (2 digits, 2 letters, 5 digits) or the usual 9-character forms.
func matchPassport(text string, k, e int) (ms, me, vs, ve int, ok bool) {
	if !wordBoundaryBefore(text, k) {
		return
	}
	s, t, found := contextToken(text, e)
	if !found || !passportShape(text[s:t]) {
		return
	}
	return k, t, s, t, true
}

func passportShape(v string) bool {
	if len(v) != 9 {
		return false
	}
	if isDigit(v[0]) && isDigit(v[1]) && isUpper(v[2]) && isUpper(v[3]) {
		for i := 4; i < 9; i++ {
			if !isDigit(v[i]) {
				return false
			}
		}
		return true
	}
	// one or two letters then digits, or nine digits
	i := 0
	for i < 2 && isUpper(v[i]) {
		i++
	}
	for ; i < 9; i++ {
		if !isDigit(v[i]) {
			return false
		}
	}
	return true
}

// matchIDCard: a French identity card number (12 digits, or the 9
// characters of the 2021 card) after "CNI", "carte (nationale)
// d'identité" or "identity card".
func matchIDCard(text string, k, e int) (ms, me, vs, ve int, ok bool) {
	if !wordBoundaryBefore(text, k) {
		return
	}
	w := text[k:e]
	if strings.EqualFold(w, "cni") {
		if !wordBoundaryAfter(text, e) {
			return
		}
	} else if strings.EqualFold(w, "identit") {
		// "carte (nationale) d'identité" or "identity card"
		if !containsFold(text[maxInt(0, k-24):k], "carte") && !containsFold(text[e:minInt(len(text), e+12)], "card") {
			return
		}
	}
	s, t, found := contextToken(text, e)
	if !found {
		return
	}
	v := text[s:t]
	switch {
	case len(v) == 12 && isAllDigits(v):
	case len(v) == 9 && isUpperNum(v) && !isAllDigits(v):
	default:
		return
	}
	return k, t, s, t, true
}

func isAllDigits(v string) bool {
	for i := 0; i < len(v); i++ {
		if !isDigit(v[i]) {
			return false
		}
	}
	return v != ""
}

func isUpperNum(v string) bool {
	for i := 0; i < len(v); i++ {
		if !isDigit(v[i]) && !isUpper(v[i]) {
			return false
		}
	}
	return true
}
