//go:build !beam

package scaleout

import (
	"context"
	"net"

	"github.com/cleanroom-dev/cleanroom/internal/engine"
	"github.com/cleanroom-dev/cleanroom/internal/prepare"
	"github.com/cleanroom-dev/cleanroom/internal/tabular"
)

// Built reports whether this binary can run Beam pipelines.
const Built = false

// Run fails with ErrNotBuilt: this binary was built without Beam.
func Run(ctx context.Context, plan *engine.Plan, inputs []Input, seed uint64, opts Options) (*engine.Result, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	return nil, ErrNotBuilt
}

// Prepare fails with ErrNotBuilt: this binary was built without Beam.
func Prepare(ctx context.Context, pattern string, format tabular.Format, cfg prepare.Config, opts PrepareOptions) (*prepare.Prepared, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	return nil, ErrNotBuilt
}

// ServeWorkers fails with ErrNotBuilt: this binary was built without Beam.
func ServeWorkers(ctx context.Context, lis net.Listener, cfg WorkerConfig) error {
	return ErrNotBuilt
}
