package redact

import (
	"strings"
)

// Personal data detectors. They are hand-written scanners rather than
// regular expressions: one pass finds '@' (e-mail) with IndexByte, another
// visits each number's first digit and tries the number formats there, each
// bailing out after a few bytes; every candidate must pass its checksum or
// structure check before it is reported.

func scanPersonal(text string, out *[]cand) {
	scanEmails(text, out)
	scanNumbers(text, out)
}

func addPersonal(out *[]cand, typ string, s, e int) {
	*out = append(*out, cand{Finding{Type: typ, Kind: KindPersonal, Start: s, End: e}, prioPersonal})
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
func isUpper(c byte) bool { return 'A' <= c && c <= 'Z' }
func isAlnum(c byte) bool {
	return ('0' <= c && c <= '9') || ('a' <= c|0x20 && c|0x20 <= 'z')
}

// ---- e-mail ----

func isLocalByte(c byte) bool {
	return isAlnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-'
}

// Reserved documentation domains and file extensions that look like TLDs
// in names such as icon@2x.png.
var (
	exampleDomains = []string{"example.com", "example.org", "example.net"}
	exampleSuffix  = []string{".example", ".test", ".invalid", ".localhost", ".example.com", ".example.org", ".example.net",
		// not mailboxes: ssh user@host on private names, cloud service accounts
		".local", ".internal", ".lan", ".localdomain", ".home.arpa", ".gserviceaccount.com"}
	// roleLocals are mailboxes of no person
	roleLocals = map[string]bool{"noreply": true, "no-reply": true, "donotreply": true, "do-not-reply": true, "ne-pas-repondre": true,
		"nepasrepondre": true, "postmaster": true, "mailer-daemon": true, "bounce": true, "bounces": true}
	fileTLDs = map[string]bool{"png": true, "jpg": true, "jpeg": true, "gif": true, "svg": true, "webp": true, "ico": true, "css": true, "js": true, "ts": true, "tsx": true, "jsx": true, "map": true, "scss": true, "lock": true, "json": true, "yaml": true, "yml": true, "toml": true, "txt": true, "html": true, "mjs": true, "cjs": true, "wasm": true}
)

func scanEmails(text string, out *[]cand) {
	for off := 0; off < len(text); {
		j := strings.IndexByte(text[off:], '@')
		if j < 0 {
			return
		}
		at := off + j
		off = at + 1
		s, e, ok := emailAt(text, at)
		if ok {
			addPersonal(out, "email", s, e)
			off = e
		}
	}
}

func emailAt(text string, at int) (int, int, bool) {
	ls := at
	for ls > 0 && at-ls <= 64 && isLocalByte(text[ls-1]) {
		ls--
	}
	if at-ls > 64 {
		return 0, 0, false
	}
	for ls < at && (text[ls] == '.' || text[ls] == '-' || text[ls] == '+') {
		ls++
	}
	if ls == at || text[at-1] == '.' {
		return 0, 0, false
	}
	// Domain: labels of [A-Za-z0-9-], dot separated, alphabetic TLD.
	i := at + 1
	labels := 0
	lastLabel := i
	for {
		ls2 := i
		for i < len(text) && (isAlnum(text[i]) || text[i] == '-') {
			i++
		}
		if i == ls2 || text[ls2] == '-' || text[i-1] == '-' || i-ls2 > 63 {
			if labels == 0 {
				return 0, 0, false
			}
			i = ls2 - 1 // drop the trailing dot
			break
		}
		labels++
		lastLabel = ls2
		if i+1 < len(text) && text[i] == '.' && isAlnum(text[i+1]) {
			i++
			continue
		}
		break
	}
	if labels < 2 {
		return 0, 0, false
	}
	tld := text[lastLabel:i]
	if len(tld) < 2 || hasUpperLower(tld) { // m.Path@m.Version is no address
		return 0, 0, false
	}
	for k := 0; k < len(tld); k++ {
		if !('a' <= tld[k]|0x20 && tld[k]|0x20 <= 'z') {
			return 0, 0, false
		}
	}
	if i < len(text) && (text[i] == '_' || isAlnum(text[i])) {
		return 0, 0, false
	}
	domain := strings.ToLower(text[at+1 : i])
	if fileTLDs[strings.ToLower(tld)] {
		return 0, 0, false
	}
	for _, d := range exampleDomains {
		if domain == d {
			return 0, 0, false
		}
	}
	for _, d := range exampleSuffix {
		if strings.HasSuffix(domain, d) {
			return 0, 0, false
		}
	}
	local := text[ls:at]
	if roleLocals[strings.ToLower(local)] {
		return 0, 0, false
	}
	if strings.EqualFold(local, "git") {
		return 0, 0, false // git@host:group/repo remotes
	}
	// user@host inside a URL authority (scheme://user:pass@host) is the URL
	// password detector's business.
	back := maxInt(0, ls-256)
	seg := text[back:ls]
	if k := strings.LastIndexAny(seg, " \t\n\r\"'<>()`"); k >= 0 {
		seg = seg[k+1:]
	}
	if strings.Contains(seg, "://") {
		return 0, 0, false
	}
	// user@host:path (scp, git remotes) and ssh/scp/rsync destinations
	if i < len(text) && text[i] == ':' && i+1 < len(text) && text[i+1] != ' ' {
		return 0, 0, false
	}
	if sshDestination(text, ls) {
		return 0, 0, false
	}
	return ls, i, true
}

// sshDestination: the address follows ssh, scp, sftp, rsync or
// ssh-copy-id on its line (ssh -p 2222 root@host).
func sshDestination(text string, ls int) bool {
	lo := maxInt(0, ls-128)
	seg := text[lo:ls]
	if j := strings.LastIndexByte(seg, '\n'); j >= 0 {
		seg = seg[j+1:]
	}
	for _, c := range []string{"ssh ", "scp ", "sftp ", "rsync ", "ssh-copy-id ", "mosh "} {
		if k := strings.Index(seg, c); k >= 0 && (k == 0 || !isAlnum(seg[k-1])) {
			return true
		}
	}
	return false
}

// ---- numbers ----

// digit-group parse of a number: groups of digits separated by one
// separator byte (space, '.', '-') or a no-break space.
type numParse struct {
	ng     int
	glen   [10]int
	gend   [10]int // end offset of each group
	sep    [10]string
	nd     int
	digits [40]byte
}

func sepAt(text string, j int) (int, string) {
	if j >= len(text) {
		return 0, ""
	}
	switch text[j] {
	case ' ', '.', '-':
		return 1, text[j : j+1]
	case 0xc2:
		if j+1 < len(text) && text[j+1] == 0xa0 {
			return 2, text[j : j+2]
		}
	case 0xe2:
		if j+2 < len(text) && text[j+1] == 0x80 && text[j+2] == 0xaf {
			return 3, text[j : j+3]
		}
	}
	return 0, ""
}

func parseGroups(text string, i int, p *numParse) {
	p.ng, p.nd = 0, 0
	j := i
	for p.ng < len(p.glen) {
		k := j
		for k < len(text) && isDigit(text[k]) && p.nd < len(p.digits) {
			p.digits[p.nd] = text[k]
			p.nd++
			k++
		}
		if k == j {
			break
		}
		if k < len(text) && isDigit(text[k]) {
			// longer than we care about
			p.ng = 0
			return
		}
		p.glen[p.ng] = k - j
		p.gend[p.ng] = k
		p.ng++
		n, sep := sepAt(text, k)
		if n == 0 || k+n >= len(text) || !isDigit(text[k+n]) {
			break
		}
		p.sep[p.ng-1] = sep
		j = k + n
	}
}

// uniformSep reports whether groups 0..k-1 use one separator.
func (p *numParse) uniformSep(k int) (string, bool) {
	if k <= 1 {
		return "", true
	}
	s := p.sep[0]
	for g := 1; g < k-1; g++ {
		if p.sep[g] != s {
			return "", false
		}
	}
	return s, true
}

// endsClean reports whether the number's group k-1 ends at a boundary: not
// followed by a letter/digit, and not continued by another group with the
// same separator (which would make it a longer number).
func (p *numParse) endsClean(text string, k int) bool {
	end := p.gend[k-1]
	if end < len(text) && (isAlnum(text[end]) || text[end] == '_') {
		return false
	}
	if k < p.ng {
		if s, _ := p.uniformSep(k); k == 1 || p.sep[k-1] == s {
			return false
		}
	}
	return true
}

func (p *numParse) sum(k int) int {
	n := 0
	for g := 0; g < k; g++ {
		n += p.glen[g]
	}
	return n
}

func (p *numParse) layout(k int, want ...int) bool {
	if k != len(want) {
		return false
	}
	for g := 0; g < k; g++ {
		if p.glen[g] != want[g] {
			return false
		}
	}
	return true
}

func scanNumbers(text string, out *[]cand) {
	var p numParse
	n := len(text)
	for i := 0; i < n; i++ {
		c := text[i]
		if c == '+' {
			if i+1 < n && isDigit(text[i+1]) && (i == 0 || !(isAlnum(text[i-1]) || text[i-1] == '+')) {
				if e := intlPhoneAt(text, i, &p); e > 0 {
					addPersonal(out, "phone", i, e)
					i = e - 1
				}
			}
			continue
		}
		if c == '(' {
			if e := usPhoneAt(text, i); e > 0 {
				addPersonal(out, "phone", i, e)
				i = e - 1
			}
			continue
		}
		if !isDigit(c) {
			continue
		}
		if i > 0 && (isAlnum(text[i-1]) || text[i-1] == '_') {
			if i >= 2 && isUpper(text[i-1]) && isUpper(text[i-2]) && (i == 2 || !isAlnum(text[i-3])) {
				if e := ibanAt(text, i-2); e > 0 {
					addPersonal(out, "iban", i-2, e)
					i = e - 1
					continue
				}
				// An IBAN-shaped string failing its checksum: its groups
				// are not a card or phone number either.
				if e := ibanShapedEnd(text, i-2); e > 0 {
					i = e - 1
					continue
				}
			}
			for i+1 < n && (isAlnum(text[i+1]) || text[i+1] == '_') {
				i++
			}
			continue
		}
		// The fractional part of a decimal number is not a number start.
		if i >= 2 && (text[i-1] == '.' || text[i-1] == ',') && isDigit(text[i-2]) {
			for i+1 < n && isDigit(text[i+1]) {
				i++
			}
			continue
		}
		// Every format needs at least 9 digits within its first 24 bytes.
		if !enoughDigits(text, i) {
			for i+1 < n && isDigit(text[i+1]) {
				i++
			}
			continue
		}
		if typ, e := numberAt(text, i, &p); e > 0 {
			addPersonal(out, typ, i, e)
			i = e - 1
			continue
		}
		for i+1 < n && isDigit(text[i+1]) {
			i++
		}
	}
}

// enoughDigits: at least 9 digits in the number-like run starting at i
// (digits, separators, Corsica's A/B), looking at 24 bytes at most.
func enoughDigits(text string, i int) bool {
	d := 0
	for j := i; j < len(text) && j-i < 24; j++ {
		switch c := text[j]; {
		case '0' <= c && c <= '9':
			d++
			if d >= 9 {
				return true
			}
		case c == ' ' || c == '.' || c == '-' || c == 'A' || c == 'B' || c == 'a' || c == 'b' || c >= 0x80:
		default:
			return false
		}
	}
	return false
}

// numberAt tries NIR, SIRET/SIREN, card and French phone formats at i.
func numberAt(text string, i int, p *numParse) (string, int) {
	if e := nirAt(text, i); e > 0 {
		return "nir", e
	}
	parseGroups(text, i, p)
	if p.ng == 0 || p.nd < 9 {
		return "", 0
	}
	// The SIREN/SIRET context is looked up only for a number that needs it.
	ctxDone, ctxOK := false, false
	ctx := func() bool {
		if !ctxDone {
			ctxDone, ctxOK = true, sirenContext(text, i)
		}
		return ctxOK
	}
	// SIRET: 14 digits, 3-3-3-5 (spaced: recognised without context), 9-5
	// or 14 with context.
	for k := p.ng; k >= 1; k-- {
		if p.sum(k) != 14 || !p.endsClean(text, k) {
			continue
		}
		spaced := p.layout(k, 3, 3, 3, 5) && p.sep[0] == " " && p.sep[1] == " " && p.sep[2] == " "
		if (spaced || ctx() && (k == 1 || p.layout(k, 9, 5) || p.layout(k, 3, 3, 3, 5))) && siretValid(p.digits[:14]) {
			return "siret", p.gend[k-1]
		}
	}
	for k := p.ng; k >= 1; k-- {
		if p.sum(k) != 9 || !p.endsClean(text, k) {
			continue
		}
		if !ctx() {
			break
		}
		if _, ok := p.uniformSep(k); ok && (k == 1 || p.layout(k, 3, 3, 3)) && luhn(p.digits[:9]) {
			return "siren", p.gend[k-1]
		}
	}
	// Payment card: 13-19 digits, Luhn, issuer prefix, usual groupings.
	for k := p.ng; k >= 1; k-- {
		total := p.sum(k)
		if total < 13 || total > 19 || !p.endsClean(text, k) {
			continue
		}
		sep, ok := p.uniformSep(k)
		if !ok || (k > 1 && sep != " " && sep != "-" && sep != "\u00a0") || !cardLayout(p, k) {
			continue
		}
		d := p.digits[:total]
		if cardPrefix(d) && luhn(d) {
			return "card", p.gend[k-1]
		}
	}
	// French phone, national format: 0X XX XX XX XX.
	if p.digits[0] == '0' && p.digits[1] != '0' && string(p.digits[:10]) != "0123456789" {
		for k := p.ng; k >= 1; k-- {
			if p.sum(k) != 10 || !p.endsClean(text, k) {
				continue
			}
			if _, ok := p.uniformSep(k); ok && (k == 1 || p.layout(k, 2, 2, 2, 2, 2)) {
				return "phone", p.gend[k-1]
			}
		}
	}
	// 0033 6 12 34 56 78
	if p.nd >= 13 && string(p.digits[:4]) == "0033" && p.glen[0] == 4 && p.digits[4] != '0' {
		k := 1
		for k < p.ng && p.sum(k) < 13 {
			k++
		}
		if p.sum(k) == 13 && p.endsClean(text, k) {
			return "phone", p.gend[k-1]
		}
	}
	return "", 0
}

func cardLayout(p *numParse, k int) bool {
	if k == 1 {
		return true
	}
	if p.layout(k, 4, 6, 5) || p.layout(k, 4, 6, 4) {
		return true
	}
	if k < 4 || k > 5 {
		return false
	}
	for g := 0; g < k-1; g++ {
		if p.glen[g] != 4 {
			return false
		}
	}
	last := p.glen[k-1]
	return last >= 1 && last <= 4
}

// cardPrefix accepts known issuer prefixes: Visa 4, Mastercard 51-55 and
// 22-27, Amex 34/37, Diners 30/36/38/39, JCB 35, Discover/UnionPay/Maestro
// 6, Maestro 50/56-58.
func cardPrefix(d []byte) bool {
	switch d[0] {
	case '4', '6':
		return true
	case '5':
		return d[1] >= '0' && d[1] <= '8'
	case '2':
		return d[1] >= '2' && d[1] <= '7'
	case '3':
		switch d[1] {
		case '0', '4', '5', '6', '7', '8', '9':
			return true
		}
	}
	return false
}

// intlPhoneAt parses +CC followed by groups (spaces, dots, dashes, one
// "(0)"-style group), 8 to 15 digits in all. +33 numbers must be valid
// French numbers.
func intlPhoneAt(text string, i int, p *numParse) int {
	j := i + 1
	nd := 0
	var digits [20]byte
	groups := 0
	var glen [12]int
	end := -1
	for groups < len(glen) {
		paren := false
		if j < len(text) && text[j] == '(' && groups > 0 {
			paren = true
			j++
		}
		k := j
		for k < len(text) && isDigit(text[k]) {
			if nd >= len(digits) {
				return 0
			}
			digits[nd] = text[k]
			nd++
			k++
		}
		if k == j {
			if paren {
				return 0
			}
			break
		}
		if paren {
			// "(0)" trunk prefix, or an area code: +1 (415) 555-0177
			if k >= len(text) || text[k] != ')' || k-j > 4 {
				return 0
			}
			k++
			// "(0)" is the trunk prefix: not part of the international number.
			if text[j:k-1] == "0" {
				nd--
			} else {
				glen[groups] = k - 1 - j
			}
		} else {
			glen[groups] = k - j
		}
		groups++
		end = k
		if nd >= 15 {
			break
		}
		n, _ := sepAt(text, k)
		if n == 0 && k < len(text) && (text[k] == '(' || paren && isDigit(text[k])) {
			j = k // "+33(0)6…", "+33 (0)6…"
			continue
		}
		if n == 0 || k+n >= len(text) || !(isDigit(text[k+n]) || text[k+n] == '(') {
			break
		}
		j = k + n
	}
	if end < 0 || end < len(text) && (isAlnum(text[end]) || text[end] == '_') {
		return 0
	}
	if nd < 8 || nd > 15 || digits[0] == '0' {
		return 0
	}
	if groups == 3 && glen[0] == 4 && glen[1] == 2 && glen[2] == 2 {
		return 0 // +2023-06-12: a date
	}
	if digits[0] == '3' && digits[1] == '3' {
		nat := digits[2:nd]
		if len(nat) == 10 && nat[0] == '0' {
			nat = nat[1:]
		}
		if len(nat) != 9 || nat[0] == '0' {
			return 0
		}
	}
	return end
}

// usPhoneAt: the North American national form "(415) 555-0177".
func usPhoneAt(text string, i int) int {
	const shape = "(ddd) ddd-dddd"
	if i+len(shape) > len(text) || i > 0 && isAlnum(text[i-1]) {
		return 0
	}
	for k := 0; k < len(shape); k++ {
		c := text[i+k]
		if shape[k] == 'd' {
			if !isDigit(c) {
				return 0
			}
		} else if c != shape[k] {
			return 0
		}
	}
	if text[i+1] < '2' || text[i+6] < '2' {
		return 0
	}
	e := i + len(shape)
	if e < len(text) && (isAlnum(text[e]) || text[e] == '-') {
		return 0
	}
	return e
}

// ---- SIREN / SIRET context ----

// sirenContext reports whether the words SIREN, SIRET or RCS occur shortly
// before i on the same line.
func sirenContext(text string, i int) bool {
	lo := maxInt(0, i-48)
	seg := text[lo:i]
	if k := strings.LastIndexByte(seg, '\n'); k >= 0 {
		seg = seg[k+1:]
	}
	for _, w := range []string{"siren", "siret", "rcs"} {
		for off := 0; off+len(w) <= len(seg); off++ {
			if seg[off]|0x20 != w[0] || !strings.EqualFold(seg[off:off+len(w)], w) {
				continue
			}
			// a word, or a camelCase hump: SirenEntreprise, numeroSiret
			before := off == 0 || !isAlnum(seg[off-1]) || 'a' <= seg[off-1] && seg[off-1] <= 'z' && isUpper(seg[off])
			after := off+len(w) == len(seg) || !isAlnum(seg[off+len(w)]) || isUpper(seg[off+len(w)]) && !isUpper(seg[off+len(w)-1])
			if before && after {
				return true
			}
		}
	}
	return false
}

// ---- NIR ----

// nirAt parses a French NIR at i: sex(1) year(2) month(2) department(2,
// 2A/2B in Corsica) commune(3) order(3) key(2), with an optional space, dot
// or dash between fields, and checks the key.
func nirAt(text string, i int) int {
	c := text[i]
	if c != '1' && c != '2' && c != '3' && c != '4' && c != '7' && c != '8' {
		return 0
	}
	fields := [...]int{1, 2, 2, 2, 3, 3, 2}
	var d [15]byte
	nd := 0
	j := i
	corsica := byte(0)
	for f, flen := range fields {
		if f > 0 {
			if n, _ := sepAt(text, j); n > 0 {
				j += n
			}
		}
		for k := 0; k < flen; k++ {
			if j >= len(text) {
				return 0
			}
			b := text[j]
			if f == 3 && k == 1 && d[nd-1] == '2' && (b == 'A' || b == 'B' || b == 'a' || b == 'b') {
				corsica = b | 0x20
				d[nd] = '0'
			} else if isDigit(b) {
				d[nd] = b
			} else {
				return 0
			}
			nd++
			j++
		}
	}
	if j < len(text) && (isAlnum(text[j]) || text[j] == '_') {
		return 0
	}
	month := int(d[3]-'0')*10 + int(d[4]-'0')
	if !(month >= 1 && month <= 12 || month == 20 || month >= 30 && month <= 42 || month >= 50) {
		return 0
	}
	if corsica == 0 && d[5] == '0' && d[6] == '0' {
		return 0
	}
	var n uint64
	for k := 0; k < 13; k++ {
		n = n*10 + uint64(d[k]-'0')
	}
	switch corsica {
	case 'a':
		n -= 1000000
	case 'b':
		n -= 2000000
	}
	key := int(d[13]-'0')*10 + int(d[14]-'0')
	if key != 97-int(n%97) {
		return 0
	}
	return j
}

// ---- IBAN ----

// ibanLengths per country (ISO 13616 registry, EU/EEA and neighbours plus
// common others).
var ibanLengths = map[string]int{
	"AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22,
	"BH": 22, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22,
	"DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27,
	"GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28,
	"IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20,
	"LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24,
	"ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24,
	"PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24, "SC": 31,
	"SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28, "TL": 23, "TN": 24,
	"TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "MA": 28, "DZ": 26,
}

// ibanAt parses an IBAN at i (two capital letters, two check digits, then
// the BBAN, optionally in space-separated groups of four) and checks it.
func ibanAt(text string, i int) int {
	want, ok := ibanLengths[text[i:i+2]]
	if !ok || i+4 > len(text) || !isDigit(text[i+2]) || !isDigit(text[i+3]) {
		return 0
	}
	var buf [34]byte
	n := 0
	j := i
	for n < want {
		if j >= len(text) {
			return 0
		}
		b := text[j]
		if b == ' ' && n%4 == 0 && n > 0 && j+1 < len(text) && isIBANChar(text[j+1]) {
			j++
			continue
		}
		if !isIBANChar(b) {
			return 0
		}
		buf[n] = b
		n++
		j++
	}
	if j < len(text) && (isAlnum(text[j]) || text[j] == '_') {
		return 0
	}
	if !mod97(buf[:n]) {
		return 0
	}
	return j
}

// ibanShapedEnd returns the end of an IBAN-shaped run at i (country,
// check digits, then space-separated groups of four, 15 to 34 characters),
// or 0.
func ibanShapedEnd(text string, i int) int {
	if _, ok := ibanLengths[text[i:i+2]]; !ok || i+4 > len(text) || !isDigit(text[i+2]) || !isDigit(text[i+3]) {
		return 0
	}
	j, n := i, 0
	for j < len(text) && n < 34 {
		if text[j] == ' ' && n%4 == 0 && j+1 < len(text) && isIBANChar(text[j+1]) {
			j++
			continue
		}
		if !isIBANChar(text[j]) {
			break
		}
		j++
		n++
	}
	if n < 15 {
		return 0
	}
	return j
}

func isIBANChar(c byte) bool { return isDigit(c) || isUpper(c) }

// ---- checksums ----

func luhn(d []byte) bool {
	sum := 0
	dbl := false
	for k := len(d) - 1; k >= 0; k-- {
		v := int(d[k] - '0')
		if dbl {
			v *= 2
			if v > 9 {
				v -= 9
			}
		}
		sum += v
		dbl = !dbl
	}
	return sum%10 == 0
}

// siretValid: Luhn, except La Poste's establishments (SIREN 356000000)
// whose digits sum to a multiple of 5.
func siretValid(d []byte) bool {
	if string(d[:9]) == "356000000" {
		s := 0
		for _, c := range d {
			s += int(c - '0')
		}
		return s%5 == 0
	}
	return luhn(d)
}

// mod97 checks an IBAN (ISO 7064 MOD 97-10).
func mod97(iban []byte) bool {
	r := 0
	add := func(c byte) {
		if isDigit(c) {
			r = (r*10 + int(c-'0')) % 97
		} else {
			v := int(c-'A') + 10
			r = (r*100 + v) % 97
		}
	}
	for _, c := range iban[4:] {
		add(c)
	}
	for _, c := range iban[:4] {
		add(c)
	}
	return r == 1
}
