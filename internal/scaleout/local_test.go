package scaleout

import (
	"bytes"
	"context"
	"fmt"
	"testing"
)

// TestLocalMatchesDuckDB runs every shipped plan template's arithmetic
// (the functions the Beam workers call, with in-memory shuffles) and the
// DuckDB executor on the same random data, for several seeds of the L0
// choice, and wants the same exact aggregates.
func TestLocalMatchesDuckDB(t *testing.T) {
	vs := synthRoom(t, 3000, 800, 7)
	for name, plan := range shippedPlans(t) {
		for seed := range uint64(3) {
			t.Run(fmt.Sprintf("%s/seed%d", name, seed), func(t *testing.T) {
				want := runDuckDB(t, plan, vs, seed)
				if len(want.Groups) == 0 {
					t.Fatal("DuckDB found no group: the data exercises nothing")
				}
				j, err := newJob(plan, inputs(vs), 3, seed)
				if err != nil {
					t.Fatal(err)
				}
				defer j.done()
				got, err := j.runLocal(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				sameResult(t, name, got, want)
			})
		}
	}
}

// TestSealedValuesAreBound checks that a shuffled value opens only under
// its own job, shuffle and key, and not once altered.
func TestSealedValuesAreBound(t *testing.T) {
	k := newJobKeys("job1")
	s, err := k.newSealer()
	if err != nil {
		t.Fatal(err)
	}
	plain := []byte("premium|12345")
	key := k.shuffleKey(kindPerson, []byte{0, 0, 0, 7})
	sealed := s.seal(kindPerson, key, plain)
	if bytes.Contains(sealed, plain) || bytes.Contains(sealed, []byte("premium")) {
		t.Fatal("the sealed value holds its plaintext")
	}
	o := &opener{keys: k}
	if got, err := o.open(kindPerson, key, sealed); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("open = %q, %v", got, err)
	}
	other := k.shuffleKey(kindPerson, []byte{0, 0, 0, 8})
	if _, err := o.open(kindPerson, other, sealed); err == nil {
		t.Error("a value moved to another person's key opened")
	}
	if _, err := o.open(kindGroup, key, sealed); err == nil {
		t.Error("a value moved to the other shuffle opened")
	}
	if _, err := (&opener{keys: newJobKeys("job2")}).open(kindPerson, key, sealed); err == nil {
		t.Error("a value opened under another job's keys")
	}
	bad := bytes.Clone(sealed)
	bad[len(bad)-1] ^= 1
	if _, err := o.open(kindPerson, key, bad); err == nil {
		t.Error("an altered value opened")
	}
	if again := s.seal(kindPerson, key, plain); bytes.Equal(again, sealed) {
		t.Error("sealing twice gave the same bytes: the nonce repeated")
	}
}
