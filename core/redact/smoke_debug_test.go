package redact

import (
	"fmt"
	"testing"
)

func TestSmoke(t *testing.T) {
	r, err := New(Profile{Name: "t", Terms: []string{"ProjectX", "Opération Æther"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{
		`github_token = "ghp_R2dqZ8f9XkLmN3pQ7sT1vW4yB6cE0hJ5aF8g"`,
		`aws_access_key_id = AKIAZ3MSJV4WWNKWW5FG`,
		`DATABASE_URL=postgres://alice:S3cr3t-p4ss@db.internal:5432/app`,
		`password: hunter2`,
		`Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.abcdefghijklmnopqrstuvwx`,
		`contact: jean.dupont@cnrs.fr ou 06 12 34 56 78 ou +33 6 12 34 56 78, +44 20 7946 0958`,
		`IBAN FR76 3000 6000 0112 3456 7890 189 and NIR 1 85 05 78 006 084 36`,
		`card 4111 1111 1111 1111; SIRET 732 829 320 00074; SIREN: 732 829 320`,
		`the ProjectX launch and opération æther`,
		`commit 3f2a9c1e0b4d5f6a7b8c9d0e1f2a3b4c5d6e7f80 uuid 123e4567-e89b-12d3-a456-426614174000 ORCID 0000-0002-1825-0097 v0.51.2 arXiv 2301.01234`,
		`MISTRAL_API_KEY=aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY`,
		`-----BEGIN RSA PRIVATE KEY-----
MIIEpAIBAAKCAQEA0Z3VS5JJcds3xfn/ygWyF8PbnGy0AHB7MhgwMbRvI0MBZhpF
MIIEpAIBAAKCAQEA0Z3VS5JJcds3xfn/ygWyF8PbnGy0AHB7MhgwMbRvI0MBZhpF
-----END RSA PRIVATE KEY-----`,
	} {
		fs := r.Scan(s)
		fmt.Printf("%q\n", s)
		for _, f := range fs {
			fmt.Printf("   %s %s %q\n", f.Type, f.Kind, s[f.Start:f.End])
		}
	}
}
