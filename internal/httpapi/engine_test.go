package httpapi

import (
	"net"
	"strings"
	"testing"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/scaleout"
	"github.com/cleanroom-dev/cleanroom/internal/sqlite"
)

// TestEngineChoice runs the same template on each engine this binary has
// and wants the same shown groups; a run that asks for an unknown engine,
// or for an engine on a template that runs on none, is refused before
// anything is spent.
func TestEngineChoice(t *testing.T) {
	f := newFixture(t)
	f.queryReady("  receivers: [bank]\n")
	engines := []string{EngineDuckDB}
	if scaleout.Built {
		engines = append(engines, EngineBeam)
	}
	for _, e := range engines {
		out, err := f.srv.RunQuery(t.Context(), "r1", "tiers", 0, nil, e)
		if err != nil {
			t.Fatalf("%s: %v", e, err)
		}
		if want := map[string]string{EngineDuckDB: "duckdb", EngineBeam: "beam/prism"}[e]; out.Engine != want {
			t.Errorf("engine %s recorded as %q", e, out.Engine)
		}
		if r := out.Release; len(r.Cells) != 1 || r.Cells[0].Key[0] != "premium" || r.Suppressed != 1 {
			t.Errorf("%s: release = %+v, want only the premium cell shown", e, r)
		}
	}
	before := f.rhoUsed("bank-customers")
	if _, err := f.srv.RunQuery(t.Context(), "r1", "tiers", 0, nil, "spark-sql"); err == nil || !strings.Contains(err.Error(), "engine") {
		t.Errorf("an unknown engine = %v", err)
	}
	if !scaleout.Built {
		_, err := f.srv.RunQuery(t.Context(), "r1", "tiers", 0, nil, EngineBeam)
		if err == nil || !strings.Contains(err.Error(), "built without Apache Beam") {
			t.Errorf("beam in a binary without it = %v", err)
		}
	}
	if after := f.rhoUsed("bank-customers"); after != before {
		t.Errorf("refused runs charged ρ %v → %v", before, after)
	}
}

// TestEngineFailure: a Beam run on a job server the room's agreement
// does not name is refused; one on a named job server that fails charges
// nothing.
func TestEngineFailure(t *testing.T) {
	f := newFixture(t)
	f.queryReady("  receivers: [bank]\n")
	if !scaleout.Built {
		// make test runs this package with -tags beam too.
		if _, err := f.srv.RunQuery(t.Context(), "r1", "tiers", 0, nil, EngineBeam); err == nil || !strings.Contains(err.Error(), "built without Apache Beam") {
			t.Fatalf("beam in a binary without it = %v", err)
		}
		return
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	endpoint := l.Addr().String()
	l.Close() // nothing listens there any more
	f.srv.scaleOut = scaleout.Options{Runner: scaleout.RunnerUniversal, Endpoint: endpoint}
	before := f.rhoUsed("bank-customers")
	_, err = f.srv.RunQuery(t.Context(), "r1", "tiers", 0, nil, EngineBeam)
	if cleanroom.ErrorCode(err) != cleanroom.EForbidden || !strings.Contains(err.Error(), "scale_out") {
		t.Fatalf("a job server the agreement does not name = %v", err)
	}
	f.db.Update(t.Context(), func(tx *sqlite.Tx) error {
		d := f.testDUA("r1", 2, "bank", "operator")
		d.ScaleOut = []string{endpoint}
		f.putDUA(tx, d, "bank", "operator")
		return nil
	})
	if _, err = f.srv.RunQuery(t.Context(), "r1", "tiers", 0, nil, EngineBeam); err == nil {
		t.Fatal("a run on a job server that is down succeeded")
	}
	if after := f.rhoUsed("bank-customers"); after != before {
		t.Errorf("failed runs charged ρ %v → %v", before, after)
	}
}
