package audit

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"timon.dev/timon/core/store"
	"timon.dev/timon/core/store/storetest"
)

// TestRotateKey: after a rotation, the checkpoints of the old key and of
// the new one verify with the key set; the chain records the rotation
// under the old key; a key outside the set, or used outside its period,
// fails, naming the key.
func TestRotateKey(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		oldKey := testKey()
		_, newKey, _ := ed25519.GenerateKey(nil)
		newPub := newKey.Public().(ed25519.PublicKey)

		fill(t, openJournal(t, st, Options{SigningKey: oldKey, CheckpointEvery: 2}), 5)
		rot, err := Rotate(ctx, st, oldKey, newPub, "local:root")
		if err != nil {
			t.Fatal(err)
		}
		if rot.Entry.NextKey != KeyID(newPub) || rot.Entry.Task != "rotate-key" || rot.Checkpoint.KeyID != KeyID(testPub()) || rot.Checkpoint.Seq != rot.Entry.Seq {
			t.Fatalf("rotation %+v", rot)
		}
		es, err := List(ctx, st, Filter{})
		if err != nil || es[len(es)-1].NextKey != KeyID(newPub) {
			t.Fatalf("the rotation entry is not in the journal: %v", err)
		}
		j := openJournal(t, st, Options{SigningKey: newKey, CheckpointEvery: 2})
		for i := range 3 {
			if err := j.Append(ctx, sample(10+i), nil); err != nil {
				t.Fatal(err)
			}
		}
		j.Close()

		// The key set as rotate-key keeps it, through its file format.
		set := &KeySet{}
		set.Add(rot.OldKey)
		set.Add(rot.NewKey)
		data, err := json.Marshal(set)
		if err != nil {
			t.Fatal(err)
		}
		set, err = ParseKeySet(data, "keys.json")
		if err != nil || len(set.Keys) != 2 || !set.Lookup(KeyID(testPub())).NotAfter.Equal(rot.Checkpoint.Time) {
			t.Fatalf("key set round trip: %+v %v\n%s", set, err, data)
		}
		r, err := VerifyKeys(ctx, st, set, nil)
		if err != nil || !r.OK || r.SignedBy[KeyID(testPub())] < 3 || r.SignedBy[KeyID(newPub)] < 1 {
			t.Fatalf("verify with the key set: %+v %v", r, err)
		}

		// Only the new key: the old checkpoints name an unknown key.
		r, err = VerifyKeys(ctx, st, mustKeySet(t, newPub), nil)
		oldID := KeyID(testPub())
		if err != nil || r.OK || !strings.Contains(r.Problem, "unknown key "+oldID) || strings.Count(r.Problem, oldID) != 1 {
			t.Fatalf("verify with the new key only: %+v %v", r, err)
		}
		// Only the old key (as before rotations): the new checkpoints fail.
		r, err = Verify(ctx, st, testPub())
		if err != nil || r.OK || !strings.Contains(r.Problem, "unknown key "+KeyID(newPub)) || r.FirstBad <= rot.Entry.Seq {
			t.Fatalf("verify with the old key only: %+v %v", r, err)
		}

		// The old key signing after its retirement is refused.
		late := signCheckpoint(oldKey, es[len(es)-1].Seq+2, strings.Repeat("0", 64), time.Now())
		var h string
		st.QueryRow(ctx, `SELECT hash FROM audit_entries WHERE seq = ?`, late.Seq).Scan(&h)
		late = signCheckpoint(oldKey, late.Seq, h, time.Now())
		r, err = VerifyKeys(ctx, st, set, []Checkpoint{late})
		if err != nil || r.OK || !strings.Contains(r.Problem, "outside its period") {
			t.Fatalf("a checkpoint of the retired key after its retirement: %+v %v", r, err)
		}

		// Checkpoints kept from elsewhere without a key id (older exports)
		// verify with any key in use at their time.
		cps, err := Checkpoints(ctx, st)
		if err != nil {
			t.Fatal(err)
		}
		for i := range cps {
			cps[i].KeyID = ""
		}
		if r, err := VerifyKeys(ctx, st, set, cps); err != nil || !r.OK {
			t.Fatalf("checkpoints without a key id: %+v %v", r, err)
		}
		cps[0].Signature = cps[len(cps)-1].Signature
		if r, err := VerifyKeys(ctx, st, set, cps); err != nil || r.OK || !strings.Contains(r.Problem, "names no key") {
			t.Fatalf("a forged checkpoint without a key id: %+v %v", r, err)
		}
	})
}

func mustKeySet(t *testing.T, pubs ...ed25519.PublicKey) *KeySet {
	t.Helper()
	s := &KeySet{}
	for _, p := range pubs {
		if err := s.Add(TrustedKey{Public: p}); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func TestParseKeySet(t *testing.T) {
	pem, _ := PublicKeyPEM(testPub())
	s, err := ParseKeySet(pem, "audit.pub")
	if err != nil || len(s.Keys) != 1 || s.Keys[0].KeyID != KeyID(testPub()) || s.Keys[0].Source != "audit.pub" {
		t.Fatalf("a PEM public key as a key set: %+v %v", s, err)
	}
	if _, err := ParseKeySet([]byte(`{"keys":[{"key_id":"0011223344556677","public_key":"`+
		strings.Repeat("A", 43)+`="}]}`), "x"); err == nil || !strings.Contains(err.Error(), "key_id") {
		t.Fatalf("a key set whose key id does not match: %v", err)
	}
	if _, err := ParseKeySet([]byte(`{"keys":[{"public_key":"eHl6"}]}`), "x"); err == nil {
		t.Fatal("a 3-byte public key was accepted")
	}
}
