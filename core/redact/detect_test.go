package redact

import (
	"fmt"
	"math/big"
	"strings"
	"testing"
)

// Table tests per detector: positives in several formats (the finding must
// cover exactly want), and near misses that must produce no finding of the
// detector's type (or none at all when typ is "").

type detCase struct {
	text string
	want string // the value expected to be found; "" for a negative
}

func mustNew(t testing.TB, p Profile) *Redactor {
	t.Helper()
	r, err := New(p)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func runDetCases(t *testing.T, typ string, cases []detCase) {
	t.Helper()
	r := mustNew(t, Profile{Name: "test"})
	for _, c := range cases {
		fs := r.Scan(c.text)
		if c.want == "" {
			for _, f := range fs {
				if typ == "" || f.Type == typ {
					t.Errorf("%s: false positive in %q: %s %q", typ, c.text, f.Type, c.text[f.Start:f.End])
				}
			}
			continue
		}
		found := false
		for _, f := range fs {
			if f.Type == typ && c.text[f.Start:f.End] == c.want {
				found = true
			}
		}
		if !found {
			var got []string
			for _, f := range fs {
				got = append(got, fmt.Sprintf("%s %q", f.Type, c.text[f.Start:f.End]))
			}
			t.Errorf("%s: want %q in %q; got %v", typ, c.want, c.text, got)
		}
	}
}

func TestEmail(t *testing.T) {
	runDetCases(t, "email", cases0)
}

func TestPhone(t *testing.T) {
	runDetCases(t, "phone", cases1)
}

func TestIBAN(t *testing.T) {
	runDetCases(t, "iban", cases2)
}

// nirKey computes a NIR key independently (Corsica: 2A -> 19, 2B -> 18).
func nirKey(first13 string) string {
	s := strings.NewReplacer("2A", "19", "2B", "18").Replace(first13)
	n, _ := new(big.Int).SetString(s, 10)
	k := 97 - new(big.Int).Mod(n, big.NewInt(97)).Int64()
	return fmt.Sprintf("%02d", k)
}

func TestNIRKeyCrossCheck(t *testing.T) {
	for _, c := range []struct{ n, key string }{{"1850578006084", "91"}, {"2850520006084", ""}} {
		if c.key != "" && nirKey(c.n) != c.key {
			t.Errorf("nirKey(%s) = %s, want %s", c.n, nirKey(c.n), c.key)
		}
	}
}

func TestNIR(t *testing.T) {
	runDetCases(t, "nir", cases3)
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

func TestSIRENAndSIRET(t *testing.T) {
	runDetCases(t, "siret", cases4)
	runDetCases(t, "siren", cases5)
}

func TestCard(t *testing.T) {
	runDetCases(t, "card", cases6)
}

func TestNotPersonal(t *testing.T) {
	// Things that look like numbers or addresses but are not personal data.
	runDetCases(t, "", cases7)
}

func TestBuiltinSecrets(t *testing.T) {
	runDetCases(t, "url_password", cases8)
	runDetCases(t, "password_assignment", cases9)
	runDetCases(t, "auth_header", cases10)
	runDetCases(t, "mistral_api_key", cases11)
}

func TestGitleaksDerived(t *testing.T) {
	r := mustNew(t, Profile{})
	for _, c := range []struct{ text, typ, want string }{
		{`github_token = "ghp_R2dqZ8f9XkLmN3pQ7sT1vW4yB6cE0hJ5aF8g"`, "github-pat", "ghp_R2dqZ8f9XkLmN3pQ7sT1vW4yB6cE0hJ5aF8g"},
		{"aws_access_key_id = AKIAZ3MSJV4WWNKWW5FG", "aws-access-token", "AKIAZ3MSJV4WWNKWW5FG"},
		{"glpat-x7Hq9LmZ2pQr4sTv6wXy", "gitlab-pat", "glpat-x7Hq9LmZ2pQr4sTv6wXy"},
		{"SLACK=xoxb-1234567890123-1234567890123-aB3dE5fG7hJ9kL1mN3pQ5rS7", "slack-bot-token", "xoxb-1234567890123-1234567890123-aB3dE5fG7hJ9kL1mN3pQ5rS7"},
		{"stripe sk_live_4eC39HqLyjWDarjtT1zdp7dc", "stripe-access-token", "sk_live_4eC39HqLyjWDarjtT1zdp7dc"},
		{"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\nQyNTUxOQAAACBa7sXwXc3mTq0lQ+6Tz6oGvY9hHsZ8\n-----END OPENSSH PRIVATE KEY-----", "private-key", ""},
	} {
		fs := r.Scan(c.text)
		ok := false
		for _, f := range fs {
			if f.Type == c.typ && (c.want == "" || c.text[f.Start:f.End] == c.want) {
				ok = true
			}
		}
		if !ok {
			t.Errorf("want %s %q in %q, got %v", c.typ, c.want, c.text, fs)
		}
	}
}

func TestNotSecrets(t *testing.T) {
	runDetCases(t, "", cases12)
}

func TestCustomTermsAndPatterns(t *testing.T) {
	r := mustNew(t, Profile{
		Name:     "lab",
		Terms:    []string{"ProjectX", "Blue Harbor", "Opération Æther", " "},
		Patterns: []Pattern{{"ticket", `\bPRJ-\d{4,6}\b`}, {"codename", `codename:\s*(\w+)`}},
	})
	for _, c := range []struct {
		text string
		want []string // "type=value"
	}{
		{"the ProjectX launch", []string{"custom:term=ProjectX"}},
		{"PROJECTX_API_URL and projectx-api", []string{"custom:term=PROJECTX", "custom:term=projectx"}},
		{"ProjectXY and myprojectx", nil},
		{"partner: blue harbor, BLUE HARBOR", []string{"custom:term=blue harbor", "custom:term=BLUE HARBOR"}},
		{"OPÉRATION ÆTHER et opération æther", []string{"custom:term=OPÉRATION ÆTHER", "custom:term=opération æther"}},
		{"see PRJ-12345 and PRJ-1", []string{"custom:ticket=PRJ-12345"}},
		{"codename: falcon", []string{"custom:codename=falcon"}},
	} {
		var got []string
		for _, f := range r.Scan(c.text) {
			got = append(got, f.Type+"="+c.text[f.Start:f.End])
		}
		if strings.Join(got, "|") != strings.Join(c.want, "|") {
			t.Errorf("%q: got %q, want %q", c.text, got, c.want)
		}
	}
}

var cases0 = []detCase{
	{"contact: jean.dupont@cnrs.fr", "jean.dupont@cnrs.fr"},
	{"Marie-Claire.Durand+lab@univ-paris-saclay.fr wrote", "Marie-Claire.Durand+lab@univ-paris-saclay.fr"},
	{"<bob_smith@inria.fr>", "bob_smith@inria.fr"},
	{"mailto:alice@lab.cnrs.fr.", "alice@lab.cnrs.fr"},
	{`"author": "x.y@ens.psl.eu"`, "x.y@ens.psl.eu"},
	{"write to user@example.com", ""},
	{"doc@sub.example.org", ""},
	{"git clone git@gitlab.lab.fr:group/repo.git", ""},
	{"icons: logo@2x.png logo@3x.png", ""},
	{"npm i react@18.2.0 lodash@4.17.21", ""},
	{"@property\ndef x(self):", ""},
	{"https://alice:pw123@host.lab.fr/x", ""},
	{"admin@localhost", ""},
	{"image@sha256:abcdef", ""},
}

var cases1 = []detCase{
	{"tél. 06 12 34 56 78.", "06 12 34 56 78"},
	{"06.12.34.56.78", "06.12.34.56.78"},
	{"06-12-34-56-78", "06-12-34-56-78"},
	{"appeler le 0612345678 demain", "0612345678"},
	{"fixe 01 44 27 12 34", "01 44 27 12 34"},
	{"+33 6 12 34 56 78", "+33 6 12 34 56 78"},
	{"(+33612345678)", "+33612345678"},
	{"+33 (0)6 12 34 56 78", "+33 (0)6 12 34 56 78"},
	{"0033 6 12 34 56 78", "0033 6 12 34 56 78"},
	{"London +44 20 7946 0958", "+44 20 7946 0958"},
	{"+1 415 555 2671", "+1 415 555 2671"},
	{"+1-415-555-2671", "+1-415-555-2671"},
	{"+49 30 12345678", "+49 30 12345678"},
	{"06\u00a012\u00a034\u00a056\u00a078", "06\u00a012\u00a034\u00a056\u00a078"},
	{"00 12 34 56 78", ""},
	{"06 12 34 56", ""},
	{"06 12 34 56 78 90 12", ""},
	{"+2024-06-12", ""},
	{"+33 12 34", ""},
	{"timestamp 1700000000", ""},
	{"pi = 3.0612345678", ""},
	{"id: a0612345678", ""},
	{"C++11 and x+12", ""},
}

var cases2 = []detCase{
	{"IBAN FR76 3000 6000 0112 3456 7890 189", "FR76 3000 6000 0112 3456 7890 189"},
	{"iban: FR7630006000011234567890189.", "FR7630006000011234567890189"},
	{"DE89 3704 0044 0532 0130 00", "DE89 3704 0044 0532 0130 00"},
	{"DE89370400440532013000", "DE89370400440532013000"},
	{"GB29 NWBK 6016 1331 9268 19", "GB29 NWBK 6016 1331 9268 19"},
	{"BE68 5390 0754 7034", "BE68 5390 0754 7034"},
	{"ES91 2100 0418 4502 0005 1332", "ES91 2100 0418 4502 0005 1332"},
	{"IT60 X054 2811 1010 0000 0123 456", "IT60 X054 2811 1010 0000 0123 456"},
	{"NL91ABNA0417164300", "NL91ABNA0417164300"},
	{"FR76 3000 6000 0112 3456 7890 188", ""}, // wrong check digits
	{"FR76 3000 6000 0112 3456 7890 18", ""},  // too short
	{"XX76 3000 6000 0112 3456 7890 189", ""}, // no such country
	{"ABFR7630006000011234567890189", ""},     // inside a token
	{"FR7630006000011234567890189123", ""},    // too long
	{"sha FR76a0006000011234567890189", ""},   // lowercase: not an IBAN
}

var cases3 = []detCase{
	{"NIR 1 85 05 78 006 084 " + k1, "1 85 05 78 006 084 " + k1},
	{"n° SS: 1850578006084" + k1 + ".", "1850578006084" + k1},
	{"1850578006084 " + k1, "1850578006084 " + k1},
	{"2 85 05 2A 006 084 " + kA, "2 85 05 2A 006 084 " + kA},
	{"185072B123456" + kB, "185072B123456" + kB},
	{"1 85 05 78 006 084 " + wrong, ""},                   // wrong key
	{"5 85 05 78 006 084 " + k1, ""},                      // no such sex digit
	{"1 85 13 78 006 084 " + nirKey("1851378006084"), ""}, // month 13
	{"1850578006084" + k1 + "7", ""},                      // longer number
}

var cases4 = []detCase{
	{"SIRET 732 829 320 00074", "732 829 320 00074"},
	{"établissement 732 829 320 00074", "732 829 320 00074"}, // the 3-3-3-5 form needs no context
	{"siret: 73282932000074", "73282932000074"},
	{"N° SIRET : 732829320 00074", "732829320 00074"},
	{"La Poste 356 000 000 00001", "356 000 000 00001"},
	{"SIRET 732 829 320 00075", ""}, // Luhn fails
	{"order 73282932000074", ""},    // bare 14 digits, no context
}

var cases5 = []detCase{
	{"SIREN : 732 829 320", "732 829 320"},
	{"RCS Paris 732829320", "732829320"},
	{"siren=732829320;", "732829320"},
	{"SIREN 732 829 321", ""},                 // Luhn fails
	{"budget de 732 829 320 euros", ""},       // no context
	{"sources: 732829320", ""},                // "rcs" inside a word is no context
	{"arXiv:2301.01234 and 2301.01234v2", ""}, // arXiv ids
	{"population 123 456 789 habitants", ""},
}

var cases6 = []detCase{
	{"card 4111 1111 1111 1111 exp 12/27", "4111 1111 1111 1111"},
	{"4111111111111111", "4111111111111111"},
	{"4111-1111-1111-1111", "4111-1111-1111-1111"},
	{"MC 5555 5555 5555 4444", "5555 5555 5555 4444"},
	{"amex 3782 822463 10005", "3782 822463 10005"},
	{"378282246310005", "378282246310005"},
	{"6011 1111 1111 1117", "6011 1111 1111 1117"},
	{"visa13 4222222222222", "4222222222222"},
	{"2221 0000 0000 0009", "2221 0000 0000 0009"},
	{"4111 1111 1111 1112", ""},       // Luhn fails
	{"ORCID 0000-0002-1825-0097", ""}, // ORCID, not a card
	{"https://orcid.org/0000-0001-5109-3700", ""},
	{"1234 5678 9012 3452", ""},           // Luhn-valid but no issuer starts with 1
	{"4111 1111 1111 1111 1111 1111", ""}, // too long to be one card
	{"4111 11111 111 1111", ""},           // not a card grouping
	{"id 9999999999999995", ""},           // 9: no issuer
	{"ts 1717171717171717171", ""},
}

var cases7 = []detCase{
	{"version 1.2.3, v0.51.2, 2.0.0-beta.3, go1.26.8", ""},
	{"released 2024-03-12, 12/03/2024, 03.04.2024 14:30:00", ""},
	{"hosts 192.168.1.10, 10.0.0.1:8080 and fe80::1ff:fe23:4567:890a", ""},
	{"doi:10.1000/xyz123 https://doi.org/10.1145/3287560.3287596", ""},
	{"arXiv:2301.01234v2, arXiv:1706.03762", ""},
	{"ORCID 0000-0002-1825-0097", ""},
	{"1 234 567,89 € et 12 345 678 documents", ""},
	{"uuid 123e4567-e89b-12d3-a456-426614174000", ""},
	{"port 5432, pid 48213, 4096 tokens, 1e-05", ""},
}

var cases8 = []detCase{
	{"DATABASE_URL=postgres://alice:S3cr3t-p4ss@db.internal:5432/app", "S3cr3t-p4ss"},
	{"mysql://root:p4ss@w0rd@localhost/db", "p4ss@w0rd"},
	{"redis://:r3d1sPass@cache:6379/0", "r3d1sPass"},
	{"amqp://guest:Gu3st-pw9@rabbit:5672/", "Gu3st-pw9"},
	{"git remote add o https://deploy:ghx8Kq2zz@git.lab.fr/repo.git", "ghx8Kq2zz"},
	{"mongodb+srv://app:Zx81-qq@cluster0.mongodb.net/test", "Zx81-qq"},
	{"postgres://user:${DB_PASSWORD}@db:5432/x", ""},
	{"postgres://user:password@localhost/x", ""},
	{`dsn = f"postgresql://{user}:{password}@{host}:{port}/db"`, ""},
	{"https://lab.fr:8080/path@v2", ""},
	{"redis://localhost:6379/0", ""},
}

var cases9 = []detCase{
	{"password: hunter2!", "hunter2!"},
	{"  db_password: \"S3cr3t\"", "S3cr3t"},
	{"DB_PASSWORD=Sup3rS3cret", "Sup3rS3cret"},
	{`{"client_secret": "abcd1234efgh"}`, "abcd1234efgh"},
	{`apiKey := "k3y-abc123"`, "k3y-abc123"},
	{`SECRET_KEY = 'django-insecure-x8#2kq'`, "django-insecure-x8#2kq"},
	{"export GITLAB_TOKEN=x7Hq9LmZ2", "x7Hq9LmZ2"},
	{"passphrase => 'correcthorse42'", "correcthorse42"},
	{"SMTP_PASS=Gm4il-app-pw", "Gm4il-app-pw"},
	{"bypass: 1", ""},
	{"password: ${DB_PASSWORD}", ""},
	{`password = os.environ["DB_PASSWORD"]`, ""},
	{"password: str", ""},
	{"token = tokenizer.encode(x)", ""},
	{"max_tokens = 4096", ""},
	{`if password == "x" {`, ""},
	{`password: "Mot de passe"`, ""},
	{"api_key: Optional[str] = None", ""},
	{"token: ${{ secrets.GITHUB_TOKEN }}", ""},
	{"password = None", ""},
	{"password: required", ""},
	{"secret: true", ""},
	{"token = args.token or HF_TOKEN", ""},
	{"password = user_password", ""},
	{"password = getPassword", ""},
	{"PWD=/home/alice/work", ""},
	{"api_key: YOUR_API_KEY", ""},
	{"password: '********'", ""},
	{"password: [[SECRET_1]]", ""},
	{`token = "[[SECRET_3]]"`, ""},
}

var cases10 = []detCase{
	{"Authorization: Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA=="},
	{`requests.get(url, headers={"Authorization": "Bearer abcDEF123456ghiJKL789mno"})`, "abcDEF123456ghiJKL789mno"},
	{"Authorization: Token 9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b", "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b"},
	{"headers: {bearer: 'x'} ... Bearer Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5", "Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5"},
	{"Authorization: Bearer $TOKEN", ""},
	{"Authorization: Bearer <token>", ""},
	{`h["Authorization"] = "Bearer " + token`, ""},
	{"Bearer authentication is described in RFC 6750", ""},
}

var cases11 = []detCase{
	{"MISTRAL_API_KEY=aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY", "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY"},
	{`client = Mistral(api_key="Zq8rT2vX5yB1nM4kL7pW0sD3fG6hJ9aC")`, "Zq8rT2vX5yB1nM4kL7pW0sD3fG6hJ9aC"},
	{`mistral_api_key: "Qw3Er5Ty7Ui9Op1As3Df5Gh7Jk9Lz1Xc"`, "Qw3Er5Ty7Ui9Op1As3Df5Gh7Jk9Lz1Xc"},
	{"MISTRAL_API_KEY=your-key-here", ""},
	{"mistral_model: abcdefghijklmnopqrstuvwxyzabcdef", ""},
}

var cases12 = []detCase{
	{"commit 3f2a9c1e0b4d5f6a7b8c9d0e1f2a3b4c5d6e7f80", ""},
	{"sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", ""},
	{"sourcegraph mirror at commit 3f2a9c1e0b4d5f6a7b8c9d0e1f2a3b4c5d6e7f80", ""},
	{"request 123e4567-e89b-12d3-a456-426614174000", ""},
	{"golang.org/x/crypto v0.57.0 h1:mDjTgK8fKkC30RUlQqi2CWK9bdt/VHfh8wTRpEiw7QX=\ngolang.org/x/crypto v0.57.0/go.mod h1:4tBm/6ZKMDb18n5FSNAKEY13g7wxIhJ6S+0ZwpLxACt=", ""},
	{`"integrity": "sha512-+mAPIKEYvA0KoSW9SmFVqtX1Jcht9mJg9ALs8s2BqTNOcTHcCDOiD/UxlqVWtL/a2TmTu5+tNAZfYlSCmkr8ZBSZ6Q=="`, ""},
	{"![x](data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==)", ""},
	{"export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE", ""},
	{"aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ""},
	{"password: [[SECRET_1]] and [[EMAIL_2]] and [[PHONE_3]]", ""},
	{"ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", ""},
	{"the key question is which token to use; pass the secret to the next function", ""},
}

var (
	k1    = nirKey("1850578006084")
	kA    = nirKey("285052A006084")
	kB    = nirKey("185072B123456")
	wrong = fmt.Sprintf("%02d", (atoi(k1)+1)%98)
)

// allDetCases seeds the fuzz targets.
var allDetCases = [][]detCase{cases0, cases1, cases2, cases3, cases4, cases5, cases6, cases7, cases8, cases9, cases10, cases11, cases12}
