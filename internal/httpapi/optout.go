package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/match"
	"github.com/cleanroom-dev/cleanroom/internal/sqlite"
	"github.com/cleanroom-dev/cleanroom/internal/upload"
)

// isOptOut reports whether a stored dataset is a consent opt-out list.
func isOptOut(d *sqlite.DatasetRecord) bool {
	var s cleanroom.Schema
	return json.Unmarshal(d.Schema, &s) == nil && s.OptOut
}

// optOutSet is the union of a party's opt-out lists in a room: the tokens
// of the people who objected, per identifier class. The lists are blinded
// with the party's room key like its datasets, so the tokens compare as
// they are with the party's own rows.
type optOutSet struct {
	tokens map[cleanroom.IdentifierClass]map[match.Token]bool
	// applied names the list versions, as "dataset vN", for the log.
	applied []string
}

// optOuts reads the newest version of each of party's opt-out lists in
// room.
func (s *Server) optOuts(ctx context.Context, room, party string) (*optOutSet, error) {
	out := &optOutSet{tokens: map[cleanroom.IdentifierClass]map[match.Token]bool{}}
	type list struct {
		name    string
		version int
	}
	var lists []list
	err := s.db.View(ctx, func(tx *sqlite.Tx) error {
		ds, err := tx.Datasets(room)
		if err != nil {
			return err
		}
		for i := range ds {
			if ds[i].Party != party || !isOptOut(&ds[i]) {
				continue
			}
			vs, err := tx.Versions(room, ds[i].Name)
			if err != nil {
				return err
			}
			if len(vs) > 0 {
				lists = append(lists, list{ds[i].Name, vs[len(vs)-1].Version})
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, l := range lists {
		rc, err := s.vault.OpenVersion(ctx, vaultID(room, l.name), l.version)
		if err != nil {
			return nil, fmt.Errorf("read opt-out list %s: %w", l.name, err)
		}
		rd, err := upload.NewReader(rc)
		if err != nil {
			rc.Close()
			return nil, fmt.Errorf("read opt-out list %s: %w", l.name, err)
		}
		for {
			r, err := rd.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				rc.Close()
				return nil, fmt.Errorf("read opt-out list %s: %w", l.name, err)
			}
			for i, t := range r.Tokens {
				if t == nil {
					continue
				}
				class := rd.Header.Identifiers[i].Class
				if out.tokens[class] == nil {
					out.tokens[class] = map[match.Token]bool{}
				}
				out.tokens[class][match.Token(*t)] = true
			}
		}
		rc.Close()
		out.applied = append(out.applied, fmt.Sprintf("%s v%d", l.name, l.version))
	}
	return out, nil
}

// rows returns the rows of v that carry an identifier on the list.
func (o *optOutSet) rows(v *versionData) []int {
	if len(o.tokens) == 0 {
		return nil
	}
	var out []int
	for row := range v.rows {
		for _, c := range v.columns {
			if t := c.Tokens[row]; t != nil && o.tokens[c.Class][*t] {
				out = append(out, row)
				break
			}
		}
	}
	return out
}

// withoutOptOuts returns the room people of a query's datasets with the
// rows of people on their party's opt-out lists taken out, so a list
// applies from the moment it is committed, also to a match made before.
// It also returns the lists applied, for the run's audit entry.
func (s *Server) withoutOptOuts(ctx context.Context, room string, reads map[string]match.AssignedDataset, ds []RunDataset) (map[string]match.AssignedDataset, string, error) {
	out := make(map[string]match.AssignedDataset, len(reads))
	for k, v := range reads {
		out[k] = v
	}
	var applied []string
	for _, d := range ds {
		o, err := s.optOuts(ctx, room, d.Party)
		if err != nil {
			return nil, "", err
		}
		if len(o.applied) == 0 {
			continue
		}
		applied = append(applied, d.Party+": "+strings.Join(o.applied, ", "))
		var schema cleanroom.Schema
		if err := s.db.View(ctx, func(tx *sqlite.Tx) error {
			rec, err := tx.Dataset(room, d.Dataset)
			if err != nil {
				return err
			}
			return json.Unmarshal(rec.Schema, &schema)
		}); err != nil {
			return nil, "", err
		}
		ad := out[d.Dataset]
		v, err := s.readVersion(ctx, room, d.Dataset, ad.Version, &schema)
		if err != nil {
			return nil, "", err
		}
		ad.Rows = slices.Clone(ad.Rows)
		for _, row := range o.rows(v) {
			if row < len(ad.Rows) {
				ad.Rows[row] = -1
			}
		}
		out[d.Dataset] = ad
	}
	slices.Sort(applied)
	applied = slices.Compact(applied)
	return out, strings.Join(applied, "; "), nil
}
