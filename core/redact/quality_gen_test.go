package redact

import (
	"encoding/base64"
	"fmt"
	"math/big"
	"math/rand/v2"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"timon.dev/timon/core/redact/redacttest"
)

// The labelled quality corpus (testdata/quality/corpus.json) is generated
// by this seeded generator: documents in many syntaxes (code in Go, Python,
// JS; YAML, JSON, TOML, INI, .env, Dockerfiles, shell, diffs, Markdown,
// LaTeX, chat messages) in English and French, written the way people write
// them, with each sensitive value labelled by its type and exact byte span,
// and hard negatives around them that must not be flagged: SHAs, UUIDs,
// hashes, DOIs, arXiv ids, ORCIDs, versions, timestamps, numbers failing
// their checksum, placeholders and documentation examples.
//
// Templates hold macros: {{t:TYPE}} or {{t:TYPE/VARIANT}} is a labelled
// value of TYPE, {{n:KIND}} a negative, {{w}} {{user}} {{host}} {{int}}
// {{first}} {{last}} plain filler.

const (
	alnum    = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	lowerNum = "abcdefghijklmnopqrstuvwxyz0123456789"
	upperNum = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b32      = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	b64url   = alnum + "_-"
	digitsS  = "0123456789"
	upperS   = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
)

var (
	qFirst   = []string{"marie", "jean", "sophie", "pierre", "camille", "lucas", "emma", "hugo", "chloe", "louis", "alice", "thomas", "julie", "nicolas", "sarah", "david", "laura", "paul"}
	qLast    = []string{"martin", "bernard", "dubois", "durand", "lefebvre", "moreau", "laurent", "simon", "michel", "garcia", "roux", "fournier", "girard", "bonnet", "smith", "jones"}
	qDom     = []string{"cnrs.fr", "univ-lyon1.fr", "inria.fr", "gmail.com", "laposte.net", "orange.fr", "sorbonne-universite.fr", "proton.me", "outlook.fr", "ens.fr", "u-bordeaux.fr"}
	qHosts   = []string{"db.internal", "pg-prod-01.lab.local", "10.12.0.7", "mysql.cnrs.fr", "redis-cache", "mongo0.cluster.local", "smtp.univ-lyon1.fr", "amqp.lab.internal", "localhost"}
	qWords   = []string{"atlas", "boreal", "cygne", "delta", "fjord", "granit", "helios", "iris", "jade", "lagune", "nacre", "orion", "pollen", "quartz", "sirocco", "tundra", "vortex", "zephyr"}
	qPwWords = []string{"Soleil", "Tournesol", "Marmotte", "Brioche", "Falcon", "Horizon", "Cassis", "Granite", "Ocelot", "Puffin", "Zebra", "Lavande", "Mistral", "Printemps"}
)

func pick(r *rand.Rand, xs []string) string { return xs[r.IntN(len(xs))] }

func rs(r *rand.Rand, alphabet string, n int) string { return redacttest.RandString(r, alphabet, n) }

// mixed returns n characters of alphabet holding at least one digit and one
// letter (real keys do; an all-letter run would be a word).
func mixed(r *rand.Rand, alphabet string, n int) string {
	for {
		s := rs(r, alphabet, n)
		if strings.ContainsAny(s, digitsS) && strings.ContainsAny(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") {
			return s
		}
	}
}

func luhnDigit(body string) byte {
	for c := byte('0'); c <= '9'; c++ {
		if luhn([]byte(body + string(c))) {
			return c
		}
	}
	panic("unreachable")
}

func luhnNumber(r *rand.Rand, prefix string, n int) string {
	body := prefix + rs(r, digitsS, n-1-len(prefix))
	return body + string(luhnDigit(body))
}

func groupBy(s string, sep string, sizes ...int) string {
	var parts []string
	for _, k := range sizes {
		if k >= len(s) {
			break
		}
		parts = append(parts, s[:k])
		s = s[k:]
	}
	parts = append(parts, s)
	return strings.Join(parts, sep)
}

func group4(s, sep string) string {
	var parts []string
	for len(s) > 4 {
		parts = append(parts, s[:4])
		s = s[4:]
	}
	return strings.Join(append(parts, s), sep)
}

func ibanFor(country, bban string) string {
	num := ""
	for _, c := range bban + country + "00" {
		if c >= 'A' && c <= 'Z' {
			num += strconv.Itoa(int(c-'A') + 10)
		} else {
			num += string(c)
		}
	}
	n, _ := new(big.Int).SetString(num, 10)
	check := 98 - new(big.Int).Mod(n, big.NewInt(97)).Int64()
	return fmt.Sprintf("%s%02d%s", country, check, bban)
}

func genIBAN(r *rand.Rand) string {
	switch r.IntN(5) {
	case 0, 1:
		return ibanFor("FR", rs(r, digitsS, 10)+rs(r, upperNum, 11)+rs(r, digitsS, 2))
	case 2:
		return ibanFor("DE", rs(r, digitsS, 18))
	case 3:
		return ibanFor("BE", rs(r, digitsS, 12))
	default:
		return ibanFor("ES", rs(r, digitsS, 20))
	}
}

func genNIR(r *rand.Rand) string {
	body := fmt.Sprintf("%d%02d%02d%02d%03d%03d", 1+r.IntN(2), r.IntN(100), 1+r.IntN(12), 1+r.IntN(95), 1+r.IntN(990), 1+r.IntN(999))
	n, _ := strconv.ParseUint(body, 10, 64)
	return fmt.Sprintf("%s%02d", body, 97-n%97)
}

func genSIREN(r *rand.Rand) string { return luhnNumber(r, string(rune('1'+r.IntN(9))), 9) }

func validSIRET(r *rand.Rand) string {
	siren := genSIREN(r)
	body := siren + rs(r, digitsS, 4)
	return body + string(luhnDigit(body))
}

func genCard(r *rand.Rand) string {
	switch r.IntN(4) {
	case 0, 1:
		return luhnNumber(r, "4"+rs(r, digitsS, 1), 16)
	case 2:
		return luhnNumber(r, "5"+string(rune('1'+r.IntN(5))), 16)
	default:
		return luhnNumber(r, "37", 15)
	}
}

func genPassword(r *rand.Rand) string {
	syms := "!%*+-.?^_~@#&"
	switch r.IntN(5) {
	case 0:
		return pick(r, qPwWords) + strconv.Itoa(1900+r.IntN(130)) + string(syms[r.IntN(len(syms))])
	case 1:
		return mixed(r, alnum, 12+r.IntN(10))
	case 2:
		s := []byte(mixed(r, alnum, 10+r.IntN(8)))
		for k := 0; k < 3; k++ {
			s[r.IntN(len(s))] = syms[r.IntN(len(syms))]
		}
		return string(s)
	case 3:
		return string(syms[r.IntN(3)]) + "~" + mixed(r, alnum+"%!*", 12)
	default:
		return strings.ToLower(pick(r, qPwWords)) + "-" + strings.ToLower(pick(r, qPwWords)) + "-" + strconv.Itoa(10+r.IntN(90))
	}
}

// genURLPassword: characters that need no percent-encoding in a URL.
func genURLPassword(r *rand.Rand) string {
	switch r.IntN(3) {
	case 0:
		return pick(r, qPwWords) + strconv.Itoa(100+r.IntN(900)) + "!"
	case 1:
		return mixed(r, alnum, 16+r.IntN(10))
	default:
		return mixed(r, alnum, 8) + "-" + mixed(r, alnum, 6) + "_" + rs(r, digitsS, 2)
	}
}

func genJWT(r *rand.Rand) string {
	hdr := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	pl := base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf(`{"sub":"%s","name":"%s %s","iat":%d}`, rs(r, digitsS, 10), pick(r, qFirst), pick(r, qLast), 1700000000+r.IntN(9999999))))
	return hdr + "." + pl + "." + rs(r, b64url, 43)
}

func genPrivateKey(r *rand.Rand, nl string) string {
	kind := pick(r, []string{"RSA PRIVATE KEY", "PRIVATE KEY", "EC PRIVATE KEY", "OPENSSH PRIVATE KEY"})
	var b strings.Builder
	b.WriteString("-----BEGIN " + kind + "-----" + nl)
	for k := 0; k < 4+r.IntN(4); k++ {
		b.WriteString(rs(r, redacttest.B64Chars, 64) + nl)
	}
	b.WriteString(rs(r, redacttest.B64Chars, 20) + "==" + nl)
	b.WriteString("-----END " + kind + "-----")
	return b.String()
}

func genPhone(r *rand.Rand, variant string) string {
	nat := string(rune('1'+r.IntN(7))) + rs(r, digitsS, 8) // 9 national digits
	if nat[0] == '5' {
		nat = "6" + nat[1:]
	}
	if variant == "" {
		variant = pick(r, []string{"fr", "fr", "fr", "intl", "intl"})
	}
	if variant == "us" {
		return fmt.Sprintf("(%d) %d-%04d", 200+r.IntN(700), 200+r.IntN(700), r.IntN(10000))
	}
	switch variant {
	case "fr":
		d := "0" + nat
		switch r.IntN(4) {
		case 0:
			return groupBy(d, " ", 2, 2, 2, 2)
		case 1:
			return groupBy(d, ".", 2, 2, 2, 2)
		case 2:
			return d
		default:
			return groupBy(d, "-", 2, 2, 2, 2)
		}
	}
	switch r.IntN(8) {
	case 0:
		return "+33 " + groupBy(nat, " ", 1, 2, 2, 2)
	case 1:
		return "+33 (0)" + groupBy(nat, " ", 1, 2, 2, 2)
	case 2:
		return "+33" + nat
	case 3:
		return fmt.Sprintf("+1 (%d) 555-%04d", 200+r.IntN(700), r.IntN(10000))
	case 4:
		return fmt.Sprintf("+1 %d-555-%04d", 200+r.IntN(700), r.IntN(10000))
	case 5:
		return "+44 20 " + rs(r, digitsS, 4) + " " + rs(r, digitsS, 4)
	case 6:
		return "+49 30 " + rs(r, digitsS, 8)
	default:
		return "+41 22 " + groupBy(rs(r, digitsS, 7), " ", 3, 2)
	}
}

// qValue generates a labelled value.
func qValue(r *rand.Rand, typ, variant string) string {
	switch typ {
	case "aws_key_id":
		return pick(r, []string{"AKIA", "AKIA", "ASIA"}) + mixed(r, upperS+"234567", 16)
	case "aws_secret":
		return mixed(r, alnum+"/+", 40)
	case "azure_storage":
		return rs(r, alnum+"+/", 86) + "=="
	case "gcp_key":
		return "AIza" + mixed(r, b64url, 35)
	case "stripe":
		return pick(r, []string{"sk_live_", "sk_live_", "rk_live_", "sk_test_"}) + mixed(r, alnum, 24+r.IntN(75))
	case "npm":
		return "npm_" + mixed(r, alnum, 36)
	case "slack_token":
		return pick(r, []string{"xoxb-", "xoxp-"}) + rs(r, digitsS, 12) + "-" + rs(r, digitsS, 12) + "-" + mixed(r, alnum, 24)
	case "slack_webhook":
		return "https://hooks.slack.com/services/T" + rs(r, upperNum, 8) + "/B" + rs(r, upperNum, 10) + "/" + mixed(r, alnum, 24)
	case "github_token":
		switch r.IntN(3) {
		case 0:
			return "github_pat_11" + rs(r, upperNum, 20) + "_" + mixed(r, alnum, 59)
		case 1:
			return "gho_" + mixed(r, alnum, 36)
		}
		return "ghp_" + mixed(r, alnum, 36)
	case "gitlab_token":
		return "glpat-" + mixed(r, alnum+"_-", 20)
	case "openai":
		if r.IntN(2) == 0 {
			return "sk-proj-" + mixed(r, b64url, 74) + "T3BlbkFJ" + mixed(r, b64url, 74)
		}
		return "sk-" + mixed(r, alnum, 20) + "T3BlbkFJ" + mixed(r, alnum, 20)
	case "mistral":
		return mixed(r, alnum, 32)
	case "vault":
		return "hvs." + mixed(r, b64url, 90+r.IntN(20))
	case "jwt":
		return genJWT(r)
	case "private_key":
		if variant == "json" {
			return genPrivateKey(r, `\n`)
		}
		return genPrivateKey(r, "\n")
	case "url_password":
		return genURLPassword(r)
	case "basic_auth":
		u := pick(r, qFirst)
		if variant == "bot" {
			u = "svc-" + pick(r, qWords)
		}
		return base64.StdEncoding.EncodeToString([]byte(u + ":" + genURLPassword(r)))
	case "bearer":
		if r.IntN(3) == 0 {
			return genJWT(r)
		}
		return mixed(r, alnum+"-_.", 32+r.IntN(30))
	case "password":
		if variant == "url" {
			return genURLPassword(r)
		}
		if variant == "plain" {
			return mixed(r, alnum, 14+r.IntN(8))
		}
		return genPassword(r)
	case "email":
		f, l := pick(r, qFirst), pick(r, qLast)
		switch r.IntN(3) {
		case 0:
			return f + "." + l + "@" + pick(r, qDom)
		case 1:
			return f[:1] + l + strconv.Itoa(r.IntN(99)) + "@" + pick(r, qDom)
		}
		return f + "_" + l + "@" + pick(r, qDom)
	case "phone":
		return genPhone(r, variant)
	case "iban":
		v := genIBAN(r)
		if variant == "compact" || r.IntN(3) == 0 {
			return v
		}
		return group4(v, " ")
	case "nir":
		v := genNIR(r)
		if r.IntN(2) == 0 {
			return v
		}
		return groupBy(v, " ", 1, 2, 2, 2, 3, 3)
	case "siren":
		v := genSIREN(r)
		if variant == "spaced" {
			return groupBy(v, " ", 3, 3)
		}
		return v
	case "siret":
		v := validSIRET(r)
		if variant == "spaced" {
			return groupBy(v, " ", 3, 3, 3)
		}
		return v
	case "card":
		v := genCard(r)
		switch r.IntN(3) {
		case 0:
			return v
		case 1:
			if len(v) == 15 {
				return groupBy(v, " ", 4, 6)
			}
			return group4(v, " ")
		}
		if len(v) == 15 {
			return groupBy(v, "-", 4, 6)
		}
		return group4(v, "-")
	case "passport":
		return rs(r, digitsS, 2) + rs(r, upperS, 2) + rs(r, digitsS, 5)
	case "id_card":
		if variant == "old" || r.IntN(2) == 0 {
			return rs(r, digitsS, 12)
		}
		return rs(r, upperS, 1) + mixed(r, upperNum, 8)
	}
	panic("unknown labelled type " + typ)
}

// qNegative generates a look-alike that must not be flagged.
func qNegative(r *rand.Rand, kind string) string {
	switch kind {
	case "sha":
		return rs(r, redacttest.HexDigits, 40)
	case "sha7":
		return rs(r, redacttest.HexDigits, 7)
	case "sha256":
		return rs(r, redacttest.HexDigits, 64)
	case "uuid":
		return rs(r, redacttest.HexDigits, 8) + "-" + rs(r, redacttest.HexDigits, 4) + "-4" + rs(r, redacttest.HexDigits, 3) + "-a" + rs(r, redacttest.HexDigits, 3) + "-" + rs(r, redacttest.HexDigits, 12)
	case "doi":
		return fmt.Sprintf("10.%d/%s.%d.%d", 1000+r.IntN(9000), pick(r, []string{"s41586", "j.cell", "nature", "physrevlett", "acs.jpcb"}), 2015+r.IntN(10), 100000+r.IntN(900000))
	case "arxiv":
		return fmt.Sprintf("arXiv:%02d%02d.%05d", 15+r.IntN(10), 1+r.IntN(12), r.IntN(100000))
	case "orcid":
		return fmt.Sprintf("0000-000%d-%04d-%04d", 1+r.IntN(3), r.IntN(10000), r.IntN(10000))
	case "version":
		return fmt.Sprintf("v%d.%d.%d", r.IntN(3), r.IntN(40), r.IntN(20))
	case "ts":
		return fmt.Sprintf("2024-%02d-%02dT%02d:%02d:%02dZ", 1+r.IntN(12), 1+r.IntN(28), r.IntN(24), r.IntN(60), r.IntN(60))
	case "epoch":
		return strconv.Itoa(1600000000 + r.IntN(200000000))
	case "bad_iban":
		v := []byte(genIBAN(r))
		k := 4 + r.IntN(len(v)-4)
		for !isDigit(v[k]) {
			k = 4 + r.IntN(len(v)-4)
		}
		v[k] = '0' + (v[k]-'0'+1+byte(r.IntN(8)))%10
		return group4(string(v), " ")
	case "bad_card":
		v := []byte(genCard(r))
		v[len(v)-1] = '0' + (v[len(v)-1]-'0'+1+byte(r.IntN(8)))%10
		return group4(string(v), " ")
	case "bad_nir":
		v := genNIR(r)
		k, _ := strconv.Atoi(v[13:])
		return groupBy(v[:13]+fmt.Sprintf("%02d", (k+1+r.IntN(90))%97), " ", 1, 2, 2, 2, 3, 3)
	case "bad_siret":
		v := []byte(validSIRET(r))
		v[13] = '0' + (v[13]-'0'+1+byte(r.IntN(8)))%10
		return string(v)
	case "ip":
		return fmt.Sprintf("10.%d.%d.%d", r.IntN(255), r.IntN(255), 1+r.IntN(254))
	case "placeholder":
		return pick(r, []string{"votre_cle_api", "your-api-key-here", "YOUR_API_KEY", "sk-...", "fake-key-for-tests", "test-token", "motdepasse",
			"xoxb-your-bot-token", "changeme", "<token>", "${DB_PASSWORD}", "$API_TOKEN", "%(password)s", "{{ vault_password }}", "xxxxxxxxxxxx",
			"********", "REPLACE_ME", "<votre-mot-de-passe>", "your_password_here", "ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "sk-your-key-here",
			"mot_de_passe", "<YOUR_TOKEN>", "{{ .Values.password }}", "CHANGE_ME", "dummy-secret", "secret-de-test", "ma-cle-secrete"})
	case "doc_aws":
		return pick(r, []string{"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"})
	case "order":
		return fmt.Sprintf("%d-%04d-%05d", 2020+r.IntN(6), r.IntN(10000), r.IntN(100000))
	case "isbn":
		return fmt.Sprintf("978-2-%02d-%06d-%d", r.IntN(100), r.IntN(1000000), r.IntN(10))
	case "partref":
		return rs(r, digitsS, 2) + rs(r, upperS, 2) + rs(r, digitsS, 5)
	case "b64hash":
		return base64.StdEncoding.EncodeToString([]byte(rs(r, alnum, 32)))
	case "money":
		return fmt.Sprintf("%d %03d,%02d €", 1+r.IntN(900), r.IntN(1000), r.IntN(100))
	}
	panic("unknown negative " + kind)
}

var qMacro = regexp.MustCompile(`\{\{(t|n):([a-z_0-9/]+)\}\}|\{\{(w|user|host|int|first|last|W)\}\}`)

// render expands a template into a document, recording labels.
func render(r *rand.Rand, tpl string, d *redacttest.Doc, cache map[string]string) {
	var b strings.Builder
	b.WriteString(d.Text)
	last := 0
	for _, m := range qMacro.FindAllStringSubmatchIndex(tpl, -1) {
		b.WriteString(tpl[last:m[0]])
		last = m[1]
		if m[2] >= 0 {
			kind, arg := tpl[m[2]:m[3]], tpl[m[4]:m[5]]
			if kind == "n" {
				b.WriteString(qNegative(r, arg))
				continue
			}
			typ, variant, _ := strings.Cut(arg, "/")
			// {{t:x/same}} repeats the previous value of x in this snippet.
			var v string
			if variant == "same" && cache[typ] != "" {
				v = cache[typ]
			} else {
				v = qValue(r, typ, variant)
				cache[typ] = v
			}
			d.Labels = append(d.Labels, redacttest.Label{Type: typ, Start: b.Len(), End: b.Len() + len(v)})
			b.WriteString(v)
			continue
		}
		switch tpl[m[6]:m[7]] {
		case "w":
			b.WriteString(pick(r, qWords))
		case "W":
			w := pick(r, qWords)
			b.WriteString(strings.ToUpper(w[:1]) + w[1:])
		case "user":
			b.WriteString(pick(r, []string{"app", "admin", "postgres", "root", "deploy", "etl", pick(r, qFirst)}))
		case "host":
			b.WriteString(pick(r, qHosts))
		case "int":
			b.WriteString(strconv.Itoa(1 + r.IntN(500)))
		case "first":
			f := pick(r, qFirst)
			b.WriteString(strings.ToUpper(f[:1]) + f[1:])
		case "last":
			l := pick(r, qLast)
			b.WriteString(strings.ToUpper(l[:1]) + l[1:])
		}
	}
	b.WriteString(tpl[last:])
	d.Text = b.String()
}

// generateQuality builds n documents from the genres' snippets.
func generateQuality(n int, seed uint64) []redacttest.Doc {
	r := rand.New(rand.NewPCG(seed, 0x9e3779b9))
	genres := qualityGenres()
	names := make([]string, 0, len(genres))
	for name := range genres {
		names = append(names, name)
	}
	sort.Strings(names)
	docs := make([]redacttest.Doc, 0, n)
	for i := 0; i < n; i++ {
		g := names[i%len(names)]
		snippets := genres[g]
		d := redacttest.Doc{Name: fmt.Sprintf("%03d-%s", i, g)}
		k := 3 + r.IntN(4)
		for j := 0; j < k; j++ {
			render(r, snippets[r.IntN(len(snippets))], &d, map[string]string{})
		}
		docs = append(docs, d)
	}
	return docs
}
