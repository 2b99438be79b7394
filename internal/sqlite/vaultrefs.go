package sqlite

import "fmt"

// Kinds of vault content the database records, besides datasets.
const (
	StoredReblinded  = "reblinded"  // a room's re-blinded token sets
	StoredResolution = "resolution" // a room's room people per match run
	StoredModel      = "model"      // a room's kept scoring models
)

// StoredVersion names one vault version the database records: a dataset
// version (Kind empty, Dataset set) or a room's re-blinded set, resolution
// or kept model (Kind set).
type StoredVersion struct {
	Room, Dataset, Kind string
	Version             int
}

// StoredVersions returns every vault version the database records. A vault
// file outside this list was written by a commit whose transaction never
// committed; the server removes such files at start.
func (tx *Tx) StoredVersions() ([]StoredVersion, error) {
	rows, err := tx.tx.QueryContext(tx.ctx, `
		SELECT room, dataset, '', version FROM dataset_versions
		UNION ALL SELECT room, '', 'reblinded', vault_version FROM reblinded
		UNION ALL SELECT room, '', 'resolution', resolution FROM match_runs WHERE resolution IS NOT NULL AND resolution > 0
		UNION ALL SELECT room, '', 'model', vault_version FROM scoring_models`)
	if err != nil {
		return nil, fmt.Errorf("list stored versions: %w", err)
	}
	defer rows.Close()
	var out []StoredVersion
	for rows.Next() {
		var v StoredVersion
		if err := rows.Scan(&v.Room, &v.Dataset, &v.Kind, &v.Version); err != nil {
			return nil, fmt.Errorf("list stored versions: %w", err)
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
