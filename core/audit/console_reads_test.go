package audit

import (
	"context"
	"testing"
	"time"

	"timon.dev/timon/core/store/storetest"
)

func TestSeqBefore(t *testing.T) {
	st := storetest.SQLite(t)
	j := openJournal(t, st, Options{SigningKey: testKey()})
	ctx := context.Background()
	now := time.Now().UTC()
	if s, err := SeqBefore(ctx, st, now); err != nil || s != 0 {
		t.Fatalf("empty journal: %d %v", s, err)
	}
	for i, ago := range []time.Duration{3 * time.Hour, 2*time.Hour + 10*time.Minute, 30 * time.Minute, 0} {
		e := sample(i)
		e.Time = now.Add(-ago)
		if err := j.Append(ctx, e, nil); err != nil {
			t.Fatal(err)
		}
	}
	since := now.Add(-time.Hour)
	s, err := SeqBefore(ctx, st, since)
	if err != nil || s != 2 {
		t.Fatalf("SeqBefore: %d %v", s, err)
	}
	es, err := List(ctx, st, Filter{Since: since, AfterSeq: s})
	if err != nil || len(es) != 2 || es[0].Seq != 3 {
		t.Fatalf("the entries of the last hour from there: %v %v", es, err)
	}
}
