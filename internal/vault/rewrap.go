package vault

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
)

// Rewrap wraps the key-encryption key of every dataset that exists and was
// not destroyed with next instead of the Store's KeyWrapper, one dataset at
// a time, each kek file replaced atomically; progress, if not nil, is told
// after each dataset. Version files are not touched: their data keys are
// wrapped by the dataset's key, which stays the same.
//
// A dataset whose key next already unwraps is left as it is, so a Rewrap
// that stopped (a crash, a cancelled ctx) is finished by running it again
// with the same next. Once it returns nil, every dataset opens with next
// only; reopen the Store with it. It returns how many keys it rewrapped.
func (s *Store) Rewrap(ctx context.Context, next KeyWrapper, progress func(done, total int)) (int, error) {
	if next == nil {
		return 0, fmt.Errorf("rewrap: no key wrapper")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return 0, fmt.Errorf("rewrap: %w", err)
	}
	var ids []string
	for _, e := range ents {
		if e.IsDir() && ValidateID(e.Name()) == nil && !s.destroyed(e.Name()) && exists(filepath.Join(s.dir, e.Name(), kekName)) {
			ids = append(ids, e.Name())
		}
	}
	n := 0
	for i, id := range ids {
		if err := ctx.Err(); err != nil {
			return n, fmt.Errorf("rewrap: %w", err)
		}
		done, err := s.rewrap(ctx, id, next)
		if err != nil {
			return n, fmt.Errorf("rewrap dataset %q: %w", id, err)
		}
		if done {
			n++
		}
		if progress != nil {
			progress(i+1, len(ids))
		}
	}
	return n, nil
}

// rewrap moves one dataset's key from the Store's wrapper to next. It
// reports false if next already unwraps it.
func (s *Store) rewrap(ctx context.Context, id string, next KeyWrapper) (bool, error) {
	p := filepath.Join(s.datasetDir(id), kekName)
	b, err := os.ReadFile(p)
	if err != nil {
		return false, err
	}
	if len(b) > maxKEKFile || !bytes.HasPrefix(b, []byte(kekMagic)) {
		return false, fmt.Errorf("%s: not a vault key file: %w", p, ErrCorrupt)
	}
	aad := kekAAD(id)
	if kek, err := next.Unwrap(ctx, b[len(kekMagic):], aad); err == nil {
		clear(kek)
		return false, nil
	}
	kek, err := s.w.Unwrap(ctx, b[len(kekMagic):], aad)
	if err != nil {
		return false, fmt.Errorf("unwrap with the current key: %w", err)
	}
	defer clear(kek)
	wrapped, err := next.Wrap(ctx, kek, aad)
	if err != nil {
		return false, fmt.Errorf("wrap with the new key: %w", err)
	}
	back, err := next.Unwrap(ctx, wrapped, aad)
	if err != nil {
		return false, fmt.Errorf("check the new wrapping: %w", err)
	}
	same := bytes.Equal(back, kek)
	clear(back)
	if !same {
		return false, fmt.Errorf("the new key wrapper returned another key than it wrapped")
	}
	if err := writeFileAtomic(p, append([]byte(kekMagic), wrapped...)); err != nil {
		return false, err
	}
	return true, nil
}
