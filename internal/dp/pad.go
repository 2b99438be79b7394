package dp

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrOverrun is returned by PadTo when the work finished after its
// deadline: the release's latency then depends on the work, which may
// depend on the sampled noise, so the result must be withheld.
var ErrOverrun = errors.New("release work overran its padded deadline")

// PadTo runs fn and then waits until deadline, so that the time at which
// the caller returns does not depend on how long fn took.
//
// The samplers loop a random number of times, so their running time is
// correlated with the noise they draw, and a receiver who could time a
// release could learn something about the noise. The protection relied on
// is this padding of the whole release path (drawing noise, building the
// response) to a fixed deadline chosen from the plan, never from the data:
// when fn finishes in time the observable latency is the deadline. If fn
// overruns, PadTo returns ErrOverrun (wrapped, joined with fn's error if
// any) and the caller must not release the result; pick the deadline with
// generous headroom, for example from the benchmarks of the samplers times
// the number of cells. If ctx is cancelled while waiting, PadTo returns
// ctx.Err() and the result must not be released either.
func PadTo(ctx context.Context, deadline time.Time, fn func() error) error {
	err := fn()
	if time.Now().After(deadline) {
		return errors.Join(fmt.Errorf("pad release: %w", ErrOverrun), err)
	}
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return fmt.Errorf("pad release: %w", ctx.Err())
	case <-t.C:
	}
	return err
}
