package httpapi

import (
	"context"
	"fmt"
	"slices"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/scaleout"
	"github.com/cleanroom-dev/cleanroom/internal/sqlite"
)

// The engines that run approved plans.
const (
	// EngineDuckDB runs a plan in an in-memory DuckDB in the room server.
	EngineDuckDB = "duckdb"
	// EngineBeam runs a plan as an Apache Beam pipeline (internal/scaleout).
	EngineBeam = "beam"
)

// checkEngine checks a server's engine settings.
func checkEngine(engine string, opts scaleout.Options) error {
	switch engine {
	case "", EngineDuckDB:
	case EngineBeam:
		if !scaleout.Built {
			return scaleout.ErrNotBuilt
		}
	default:
		return fmt.Errorf("engine %q, want %s or %s", engine, EngineDuckDB, EngineBeam)
	}
	return opts.Validate()
}

// requireScaleOut refuses a Beam run that this server cannot make, or
// whose job server the room's agreement in force does not name: the
// runner's workers and shuffle storage hold the room's sealed rows, so
// they are part of the isolated zone only if every party agreed to them.
// Prism in this process needs no naming: it is the room server itself.
// Workers in other processes (Workers) are named the same way.
func (s *Server) requireScaleOut(ctx context.Context, room string) error {
	if !scaleout.Built {
		return cleanroom.Errorf(cleanroom.EInvalid, "%v", scaleout.ErrNotBuilt)
	}
	var named []string
	if s.scaleOut.Runner == scaleout.RunnerUniversal {
		named = append(named, s.scaleOut.Endpoint)
	}
	if s.scaleOut.Workers != "" {
		named = append(named, s.scaleOut.Workers)
	}
	if len(named) == 0 {
		return nil
	}
	return s.db.View(ctx, func(tx *sqlite.Tx) error {
		d, err := requireDUA(tx, room)
		if err != nil {
			return err
		}
		for _, n := range named {
			if !slices.Contains(d.ScaleOut, n) {
				return cleanroom.Errorf(cleanroom.EForbidden, "data-use agreement version %d of room %q does not name %s in scale_out", d.Version, room, n).
					WithHint("the Beam engine runs only on job servers and workers every party agreed to: draft a new agreement that lists it under scale_out, or run on duckdb")
			}
		}
		return nil
	})
}

// engineLabel names the engine of a run for its record: "duckdb",
// "beam/prism" or "beam/universal host:port"; "" for templates that run
// on no engine.
func (s *Server) engineLabel(engine string) string {
	if engine != EngineBeam {
		return engine
	}
	label := EngineBeam + "/" + scaleout.RunnerPrism
	if s.scaleOut.Runner == scaleout.RunnerUniversal {
		label = EngineBeam + "/" + scaleout.RunnerUniversal + " " + s.scaleOut.Endpoint
	}
	if s.scaleOut.Workers != "" {
		label += ", workers " + s.scaleOut.Workers
	}
	return label
}
