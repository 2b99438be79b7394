package httpapi

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/crashpoint"
	"github.com/cleanroom-dev/cleanroom/internal/sqlite"
)

// ActionDatasetDelete is recorded when the room deletes dataset versions
// on its own: at the end of its data-use agreement, or when a version is
// past the agreement's retention period. It is not an API route.
const ActionDatasetDelete cleanroom.Action = "dataset.delete"

// Deletion reports what the room deleted of one dataset.
type Deletion struct {
	Room    string `json:"room"`
	Dataset string `json:"dataset"`
	Reason  string `json:"reason"`
	// Versions are the dataset versions deleted: their ciphertext is
	// overwritten and removed, with the data keys in their headers.
	Versions []int `json:"versions"`
	// KEKDestroyed says the dataset's key-encryption key was destroyed,
	// so no copy of any of its versions can be decrypted again.
	KEKDestroyed bool `json:"kek_destroyed"`
	// Derived artefacts deleted with them.
	Manifests   int `json:"manifests"`
	TokenSets   int `json:"token_sets"`
	Jobs        int `json:"jobs"`
	Resolutions int `json:"pseudonym_maps"`
}

// Ended is what the room removed when its agreement ended, beyond its
// datasets.
type Ended struct {
	Room    string   `json:"room"`
	Reason  string   `json:"reason"`
	Results []string `json:"withdrawn_results"`
	Uploads []string `json:"aborted_uploads"`
}

// RetentionReport is what one sweep deleted.
type RetentionReport struct {
	Deletions []Deletion `json:"deletions"`
	Ended     []Ended    `json:"ended"`
}

// Wake asks the retention loop to sweep now, for example after an
// agreement was terminated.
func (s *Server) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// RunRetention sweeps every interval, and when woken, until ctx ends.
// Errors are logged and the sweep is tried again at the next tick.
func (s *Server) RunRetention(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := s.SweepRetention(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("retention sweep failed; trying again at the next tick", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.wake:
		}
	}
}

// SweepRetention deletes, in every room, what must no longer be kept:
// all the room's datasets and what was derived from them when its
// data-use agreement ended (expired or terminated with no successor in
// force or signed), and the dataset versions past the retention period of
// the agreement in force. Keys and ciphertext go first (destroying a key
// is idempotent, so a sweep cut short is finished by the next), then the
// rows with one audit entry per dataset, then the database is scrubbed.
func (s *Server) SweepRetention(ctx context.Context) (*RetentionReport, error) {
	s.sweepMu.Lock()
	defer s.sweepMu.Unlock()
	var rooms []cleanroom.Room
	if err := s.db.View(ctx, func(tx *sqlite.Tx) (err error) {
		rooms, err = tx.Rooms()
		return err
	}); err != nil {
		return nil, err
	}
	report := &RetentionReport{Deletions: []Deletion{}, Ended: []Ended{}}
	for _, r := range rooms {
		if err := s.sweepRoom(ctx, r.Name, report); err != nil {
			return report, fmt.Errorf("room %q: %w", r.Name, err)
		}
	}
	if len(report.Deletions) > 0 || len(report.Ended) > 0 {
		if err := s.db.Checkpoint(ctx); err != nil {
			return report, err
		}
	}
	return report, nil
}

// plan is one dataset's deletion, worked out before anything is deleted.
type plan struct {
	artefacts *sqlite.Artefacts
	destroy   bool // the whole dataset: destroy its KEK
}

func (s *Server) sweepRoom(ctx context.Context, room string, report *RetentionReport) error {
	var plans []plan
	var reason string
	ended := false
	err := s.db.View(ctx, func(tx *sqlite.Tx) error {
		all, err := agreements(tx, room)
		if err != nil {
			return err
		}
		var active *agreement
		for _, a := range all {
			switch a.state {
			case cleanroom.DUAActive:
				active = a
			case cleanroom.DUASigned:
				return nil // a successor is signed and waits to take effect
			}
		}
		if active == nil {
			// The newest agreement that was ever signed tells why the
			// data must go; a room that never had one holds no data.
			for _, a := range slices.Backward(all) {
				if a.state == cleanroom.DUAExpired || a.state == cleanroom.DUATerminated {
					ended, reason = true, endReason(a)
					break
				}
			}
			if !ended {
				return nil
			}
		} else {
			reason = fmt.Sprintf("past the retention period of %d days of data-use agreement version %d", active.doc.RetentionDays, active.doc.Version)
		}
		ds, err := tx.Datasets(room)
		if err != nil {
			return err
		}
		for _, d := range ds {
			if !ended && isOptOut(&d) {
				// An objection is kept as long as the room may use data.
				continue
			}
			vs, err := tx.Versions(room, d.Name)
			if err != nil {
				return err
			}
			var versions []int
			for _, v := range vs {
				if ended || !tx.Now().Before(v.CommittedAt.Add(time.Duration(active.doc.RetentionDays)*24*time.Hour)) {
					versions = append(versions, v.Version)
				}
			}
			// The dataset's key goes when no version is left: at the end
			// of the agreement, or when every version is past retention.
			// A key destroyed by a deletion a crash cut short, before the
			// rows went, is reported by the deletion that finishes it.
			id := vaultID(room, d.Name)
			destroy := len(versions) == len(vs) && (ended || len(vs) > 0) &&
				(s.vault.HasDataset(id) || len(vs) > 0 && s.vault.Destroyed(id))
			if len(versions) == 0 && !destroy {
				continue
			}
			a, err := tx.ArtefactsOf(room, d.Name, versions)
			if err != nil {
				return err
			}
			plans = append(plans, plan{artefacts: a, destroy: destroy})
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, p := range plans {
		if err := s.deleteDataset(ctx, p, reason, report); err != nil {
			return err
		}
	}
	if ended {
		return s.endRoom(ctx, room, reason, report)
	}
	return nil
}

func endReason(a *agreement) string {
	if a.state == cleanroom.DUATerminated {
		return fmt.Sprintf("data-use agreement version %d was terminated by party %q", a.doc.Version, a.rec.TerminatedBy)
	}
	return fmt.Sprintf("data-use agreement version %d expired at %s", a.doc.Version, a.doc.ExpiresAt.Format(time.RFC3339))
}

func (s *Server) deleteDataset(ctx context.Context, p plan, reason string, report *RetentionReport) error {
	a := p.artefacts
	// Scoring indexes hold feature values read from the versions.
	s.scoring.forget(a.Room)
	for _, v := range a.Versions {
		if err := s.vault.DeleteVersion(ctx, vaultID(a.Room, a.Dataset), v); err != nil {
			return err
		}
	}
	if p.destroy {
		if err := s.vault.DestroyDataset(ctx, vaultID(a.Room, a.Dataset)); err != nil {
			return err
		}
		crashpoint.Hit("retention.destroyed")
	}
	for _, v := range a.TokenSets {
		if err := s.vault.DeleteVersion(ctx, reblindedVault(a.Room), v); err != nil {
			return err
		}
	}
	for _, v := range a.Resolutions {
		if err := s.vault.DeleteVersion(ctx, resolutionVault(a.Room), v); err != nil {
			return err
		}
	}
	d := Deletion{Room: a.Room, Dataset: a.Dataset, Reason: reason, Versions: a.Versions, KEKDestroyed: p.destroy,
		Manifests: len(a.Manifests), TokenSets: len(a.TokenSets), Jobs: a.Jobs, Resolutions: len(a.Resolutions)}
	if d.Versions == nil {
		d.Versions = []int{}
	}
	err := s.db.Update(ctx, func(tx *sqlite.Tx) error {
		if err := tx.DeleteArtefacts(a, reason); err != nil {
			return err
		}
		return tx.AppendAudit(&cleanroom.AuditEntry{Actor: "room", Action: ActionDatasetDelete, Object: "dataset:" + a.Dataset, Room: a.Room,
			Outcome: cleanroom.OutcomeOK, Detail: map[string]string{
				"reason": reason, "versions": intList(d.Versions), "kek_destroyed": strconv.FormatBool(d.KEKDestroyed),
				"manifests": strconv.Itoa(d.Manifests), "token_sets": strconv.Itoa(d.TokenSets), "jobs": strconv.Itoa(d.Jobs),
				"pseudonym_maps": strconv.Itoa(d.Resolutions)}})
	})
	if err != nil {
		return err
	}
	s.log.Info("deleted dataset versions", "room", a.Room, "dataset", a.Dataset, "versions", d.Versions, "kek_destroyed", d.KEKDestroyed, "reason", reason)
	report.Deletions = append(report.Deletions, d)
	return nil
}

// endRoom removes what a room keeps beyond its datasets once its
// agreement has ended: results never delivered and open uploads.
func (s *Server) endRoom(ctx context.Context, room, reason string, report *RetentionReport) error {
	e := Ended{Room: room, Reason: reason}
	// Models kept for scoring go with the agreement.
	s.scoring.forget(room)
	var models []sqlite.ScoringModel
	err := s.db.Update(ctx, func(tx *sqlite.Tx) (err error) {
		if models, err = tx.ScoringModels(room); err != nil || len(models) == 0 {
			return err
		}
		ids := make([]string, len(models))
		for i, m := range models {
			ids[i] = m.Query
		}
		if err := tx.DeleteScoringModels(room); err != nil {
			return err
		}
		return tx.AppendAudit(&cleanroom.AuditEntry{Actor: "room", Action: ActionDatasetDelete, Object: "room:" + room, Room: room,
			Outcome: cleanroom.OutcomeOK, Detail: map[string]string{"reason": reason, "scoring_models": strings.Join(ids, ",")}})
	})
	if err != nil {
		return err
	}
	for _, m := range models {
		if err := s.vault.DeleteVersion(ctx, modelsVault(room), m.VaultVersion); err != nil {
			return err
		}
	}
	err = s.db.Update(ctx, func(tx *sqlite.Tx) (err error) {
		if e.Results, err = tx.WithdrawPending(room, "room"); err != nil {
			return err
		}
		if e.Uploads, err = tx.OpenUploadIDs(room); err != nil {
			return err
		}
		for _, id := range e.Uploads {
			if err := tx.SetUploadState(id, "aborted", 0); err != nil {
				return err
			}
		}
		if len(e.Results) == 0 && len(e.Uploads) == 0 {
			return nil
		}
		return tx.AppendAudit(&cleanroom.AuditEntry{Actor: "room", Action: ActionDatasetDelete, Object: "room:" + room, Room: room,
			Outcome: cleanroom.OutcomeOK, Detail: map[string]string{"reason": reason,
				"withdrawn_results": strings.Join(e.Results, ","), "aborted_uploads": strings.Join(e.Uploads, ",")}})
	})
	if err != nil {
		return err
	}
	for _, id := range e.Uploads {
		s.removeUploadDir(id)
	}
	if len(e.Results) > 0 || len(e.Uploads) > 0 {
		report.Ended = append(report.Ended, e)
	}
	return nil
}

func intList(vs []int) string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = strconv.Itoa(v)
	}
	return strings.Join(out, ",")
}
