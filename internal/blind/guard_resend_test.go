package blind

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/cleanroom-dev/cleanroom"
)

// TestGuardResend: a result the room did not record (it stopped first) is
// sent again as it was, in the order the room asks in, until delivered;
// the set is never re-blinded a second time.
func TestGuardResend(t *testing.T) {
	ctx := context.Background()
	f := newGuardFixture(t)
	g := f.guard(t)
	if _, err := g.Resend(f.env, f.tokens); !errors.Is(err, ErrNotHeld) {
		t.Fatalf("Resend before ReBlind = %v, want ErrNotHeld", err)
	}
	want, err := g.ReBlind(ctx, f.operatorKey, f.env, f.tokens)
	if err != nil {
		t.Fatal(err)
	}
	// After a restart, with the set in another order.
	reversed := slices.Clone(f.tokens)
	slices.Reverse(reversed)
	got, err := f.guard(t).Resend(f.env, reversed)
	if err != nil {
		t.Fatalf("Resend after a restart = %v", err)
	}
	for i := range reversed {
		if got[i] != want[len(want)-1-i] {
			t.Fatalf("Resend of the reversed set: token %d differs from ReBlind's", i)
		}
	}
	if _, err := g.ReBlind(ctx, f.operatorKey, f.env, f.tokens); !errors.Is(err, ErrReplay) {
		t.Errorf("ReBlind of a held set = %v, want ErrReplay", err)
	}
	// Only the manifest's own set is sent again.
	other := mustBlind(t, f.bankKey, "r1", cleanroom.ClassPhone, digests(phones("h", 50)...))
	if _, err := g.Resend(f.env, other); !errors.Is(err, ErrSetMismatch) {
		t.Errorf("Resend of another set = %v, want ErrSetMismatch", err)
	}
	if err := g.Delivered(f.env); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Resend(f.env, f.tokens); !errors.Is(err, ErrNotHeld) {
		t.Errorf("Resend after Delivered = %v, want ErrNotHeld", err)
	}
	if err := g.Delivered(f.env); err != nil {
		t.Errorf("Delivered twice = %v", err)
	}
}
