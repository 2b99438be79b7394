package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/dp"
	"github.com/cleanroom-dev/cleanroom/internal/match"
	"github.com/cleanroom-dev/cleanroom/internal/sqlite"
	"github.com/cleanroom-dev/cleanroom/internal/vault"
)

var errVaultExist = vault.ErrExist

// noisePadding is the fixed time a pair's noisy counts take to draw: far
// above the samplers' microseconds, so it is never overrun in practice. (A
// variable so tests can make a report overrun it.)
var noisePadding = 50 * time.Millisecond

// runInput is what resolving a run reads from the database.
type runInput struct {
	schema    cleanroom.Schema
	manifests []sqlite.ManifestRecord
}

// resolve matches a run's datasets and builds its report: exact counts of
// each party's own datasets, and for every pair of datasets the number of
// people each waterfall step matched, with discrete Gaussian noise.
func (s *Server) resolve(ctx context.Context, run *sqlite.MatchRun) (*MatchReport, *match.Assignment, error) {
	var ds []RunDataset
	if err := json.Unmarshal(run.Datasets, &ds); err != nil {
		return nil, nil, err
	}
	inputs := make([]runInput, len(ds))
	var hmacRoom bool
	err := s.db.View(ctx, func(tx *sqlite.Tx) error {
		r, err := tx.Room(run.Room)
		if err != nil {
			return err
		}
		hmacRoom = r.Matching == cleanroom.MatchingHMAC
		for i, d := range ds {
			rec, err := tx.Dataset(run.Room, d.Dataset)
			if err != nil {
				return err
			}
			if err := json.Unmarshal(rec.Schema, &inputs[i].schema); err != nil {
				return err
			}
			if inputs[i].manifests, err = tx.Manifests(run.Room, d.Dataset, d.Version); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}

	var applied []string
	versions := make([]*versionData, len(ds))
	locals := make([]*match.Local, len(ds))
	people := make([]int, len(ds))
	for i, d := range ds {
		v, err := s.readVersion(ctx, run.Room, d.Dataset, d.Version, &inputs[i].schema)
		if err != nil {
			return nil, nil, err
		}
		// Rows of people on the party's opt-out list take no part.
		out, err := s.optOuts(ctx, run.Room, d.Party)
		if err != nil {
			return nil, nil, err
		}
		for _, row := range out.rows(v) {
			for c := range v.columns {
				v.columns[c].Tokens[row] = nil
			}
		}
		if len(out.applied) > 0 {
			applied = append(applied, d.Party+": "+strings.Join(out.applied, ", "))
		}
		versions[i] = v
		if locals[i], err = match.People(&match.Dataset{Name: d.Dataset, Rows: v.rows, Columns: v.columns}, match.JunkLimit); err != nil {
			return nil, nil, err
		}
		people[i] = locals[i].People
	}

	slices.Sort(applied)
	report := &MatchReport{Parties: map[string]*PartyReport{}, OptOuts: slices.Compact(applied)}
	for i, d := range ds {
		pr := report.Parties[d.Party]
		if pr == nil {
			pr = &PartyReport{Datasets: []DatasetReport{}, Pairs: []PairReport{}}
			report.Parties[d.Party] = pr
		}
		pr.Datasets = append(pr.Datasets, datasetReport(d.Dataset, versions[i], locals[i]))
	}
	pairs := map[match.PairKey]*match.Pair{}
	for i := range ds {
		for j := i + 1; j < len(ds); j++ {
			a, err := s.side(ctx, run.Room, hmacRoom, ds, inputs, versions, locals, i, j)
			if err != nil {
				return nil, nil, err
			}
			b, err := s.side(ctx, run.Room, hmacRoom, ds, inputs, versions, locals, j, i)
			if err != nil {
				return nil, nil, err
			}
			p := match.MatchPair(a, b)
			pairs[match.PairKey{A: i, B: j}] = p
			// Drawing noise takes a time that depends on the noise; the
			// release is padded to a deadline fixed from the plan.
			var rep PairReport
			var rec dp.Record
			err = dp.PadTo(ctx, time.Now().Add(noisePadding), func() (err error) {
				rep, rec, err = pairReport(p, ds[i], ds[j])
				return err
			})
			if err != nil {
				return nil, nil, err
			}
			report.Noise = rec
			for _, k := range []int{i, j} {
				own := rep
				own.MatchRate = map[string]float64{}
				if rep.Matched >= 0 && people[k] > 0 {
					own.MatchRate[ds[k].Dataset] = min(1, float64(rep.Matched)/float64(people[k]))
				}
				pr := report.Parties[ds[k].Party]
				if k == j && ds[i].Party == ds[j].Party {
					// A party's two datasets: one entry is enough.
					pr.Pairs[len(pr.Pairs)-1].MatchRate[ds[k].Dataset] = own.MatchRate[ds[k].Dataset]
					continue
				}
				pr.Pairs = append(pr.Pairs, own)
			}
		}
	}
	// The room's people, joined across all pairs: kept, encrypted, for the
	// query engine, never released.
	res, err := match.Resolve(people, pairs)
	if err != nil {
		return nil, nil, err
	}
	a := &match.Assignment{Run: run.ID, People: res.People}
	for d, rows := range match.Assign(res, locals) {
		a.Datasets = append(a.Datasets, match.AssignedDataset{Dataset: ds[d].Dataset, Version: ds[d].Version, Rows: rows})
	}
	return report, a, nil
}

// side builds dataset i's side of its pair with dataset j: its own tokens
// mapped to tokens comparable with j's.
func (s *Server) side(ctx context.Context, room string, hmacRoom bool, ds []RunDataset, in []runInput, vs []*versionData, ls []*match.Local, i, j int) (*match.Side, error) {
	side := &match.Side{Local: ls[i], Comparable: map[cleanroom.IdentifierClass]map[match.Token]match.Token{},
		Priority: map[cleanroom.IdentifierClass]int{}}
	for _, c := range in[i].schema.Identifiers {
		if p, ok := side.Priority[c.Class]; !ok || c.Priority < p {
			side.Priority[c.Class] = c.Priority
		}
	}
	for class, set := range vs[i].sets {
		if _, ok := vs[j].sets[class]; !ok {
			continue
		}
		m := make(map[match.Token]match.Token, len(set))
		if ds[i].Party == ds[j].Party || hmacRoom {
			// One party's datasets share its key, and an hmac room's
			// parties share the secret: tokens compare as they are.
			for _, t := range set {
				m[match.Token(t)] = match.Token(t)
			}
			side.Comparable[class] = m
			continue
		}
		k := slices.IndexFunc(in[i].manifests, func(r sqlite.ManifestRecord) bool { return r.Class == string(class) })
		if k < 0 {
			return nil, fmt.Errorf("dataset %s has no manifest of class %s", ds[i].Dataset, class)
		}
		pairs, err := s.readReblinded(ctx, room, in[i].manifests[k].Digest, ds[j].Party)
		if err != nil {
			return nil, err
		}
		for p := 0; p+64 <= len(pairs); p += 64 {
			var own, cmp match.Token
			copy(own[:], pairs[p:p+32])
			copy(cmp[:], pairs[p+32:p+64])
			m[own] = cmp
		}
		side.Comparable[class] = m
	}
	return side, nil
}

func (s *Server) readReblinded(ctx context.Context, room, digest, party string) ([]byte, error) {
	var rb *sqlite.Reblinded
	err := s.db.View(ctx, func(tx *sqlite.Tx) (err error) {
		rb, err = tx.GetReblinded(room, digest, party)
		return err
	})
	if err != nil {
		return nil, err
	}
	if rb == nil {
		return nil, fmt.Errorf("no set re-blinded by party %s for manifest %s", party, digest)
	}
	rc, err := s.vault.OpenVersion(ctx, reblindedVault(room), rb.VaultVersion)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

func datasetReport(name string, v *versionData, l *match.Local) DatasetReport {
	r := DatasetReport{Dataset: name, Rows: v.rows, People: l.People}
	byClass := map[cleanroom.IdentifierClass]*ClassReport{}
	var order []cleanroom.IdentifierClass
	for _, c := range v.columns {
		cr := byClass[c.Class]
		if cr == nil {
			cr = &ClassReport{Class: c.Class, JunkRows: l.Junk[c.Class].Rows, JunkValue: l.Junk[c.Class].Values}
			byClass[c.Class] = cr
			order = append(order, c.Class)
		}
		for _, t := range c.Tokens {
			if t == nil {
				cr.Missing++
			} else {
				cr.Present++
			}
		}
	}
	for _, c := range order {
		r.Classes = append(r.Classes, *byClass[c])
	}
	return r
}

// pairReport releases a pair's waterfall through the privacy core: one
// noisy count per step. One person is matched in at most one step of a
// pair (L0 = the number of steps) and changes a step's count by at most 2:
// its own match, and one other person's that its presence makes ambiguous.
func pairReport(p *match.Pair, a, b RunDataset) (PairReport, dp.Record, error) {
	rep := PairReport{Datasets: [2]string{a.Dataset, b.Dataset}, Parties: [2]string{a.Party, b.Party},
		Steps: []StepReport{}, MinReported: matchMinReported}
	if len(p.Steps) == 0 {
		return rep, dp.Record{}, nil
	}
	var rec dp.Record
	for _, st := range p.Steps {
		c, err := dp.NewCount(dp.Params{Rho: matchPairRho, MaxGroups: int64(len(p.Steps)), MaxRowsPerGroup: 2})
		if err != nil {
			return rep, rec, err
		}
		if err := c.Add(int64(st.Added)); err != nil {
			return rep, rec, err
		}
		noisy, err := c.Result()
		if err != nil {
			return rep, rec, err
		}
		rec = c.Record()
		noisy = max(0, noisy)
		rep.Steps = append(rep.Steps, StepReport{Class: st.Class, Added: noisy})
		rep.Matched += noisy
	}
	rep.StdDev, rep.Interval95 = rec.StdDev, rec.Interval95
	if rep.Matched < matchMinReported {
		rep.Matched = -1
	}
	return rep, rec, nil
}
