package httpapi

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/sqlite"
)

// UploadTTL is how long an upload session may stay open. Older sessions
// are aborted by Reconcile and their sealed chunks removed.
const UploadTTL = 24 * time.Hour

// ActionUploadExpire is recorded when the room aborts an upload session
// that stayed open longer than UploadTTL.
const ActionUploadExpire cleanroom.Action = "upload.expire"

// Reconcile brings the server's state in line after a crash or a long
// stop: it releases the budget reservations of query runs that never
// finished (a run commits its reservation as soon as noise is drawn, before
// its result is recorded, so an open one means no result left the room),
// removes vault versions whose commit never reached the database, finishes
// the match runs that wait for no job (their last job result, or their
// start, was recorded and the run was not resolved), removes the chunks of
// upload sessions that are no longer open, and aborts sessions open for
// longer than UploadTTL. The server calls it at start.
func (s *Server) Reconcile(ctx context.Context) error {
	err := s.db.Update(ctx, func(tx *sqlite.Tx) error {
		open, err := tx.OpenReservations()
		if err != nil {
			return err
		}
		for _, r := range open {
			if !strings.HasPrefix(r.ID, "query:") {
				continue // match runs keep theirs until they finish
			}
			if err := tx.ReleaseReservation(r.ID); err != nil {
				return err
			}
			s.log.Info("released the budget of an unfinished query run", "reservation", r.ID)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := s.removeOrphanVersions(ctx); err != nil {
		return err
	}
	if err := s.resumeMatchRuns(ctx); err != nil {
		return err
	}
	if s.uploadDir == "" {
		return nil
	}
	entries, err := os.ReadDir(s.uploadDir)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	var open []sqlite.UploadRecord
	if err := s.db.View(ctx, func(tx *sqlite.Tx) (err error) {
		open, err = tx.OpenUploads()
		return err
	}); err != nil {
		return err
	}
	isOpen := map[string]bool{}
	for _, u := range open {
		isOpen[u.ID] = true
	}
	for _, e := range entries {
		if !isOpen[e.Name()] {
			s.removeUploadDir(e.Name())
		}
	}
	for _, u := range open {
		if s.db.Now().Sub(u.CreatedAt) < UploadTTL {
			continue
		}
		err := s.db.Update(ctx, func(tx *sqlite.Tx) error {
			if err := tx.SetUploadState(u.ID, "aborted", 0); err != nil {
				return err
			}
			return tx.AppendAudit(&cleanroom.AuditEntry{Actor: "room", Action: ActionUploadExpire, Object: "upload:" + u.ID,
				Room: u.Room, Outcome: cleanroom.OutcomeOK, RequestID: "reconcile",
				Detail: map[string]string{"dataset": u.Dataset, "opened_by": u.Party + "/" + u.User}})
		})
		if err != nil {
			return err
		}
		s.removeUploadDir(u.ID)
		s.log.Info("expired upload session", "upload", u.ID, "room", u.Room, "dataset", u.Dataset)
	}
	return nil
}

// uploadDirOf returns the directory of a session's sealed chunks.
func (s *Server) uploadDirOf(id string) string { return filepath.Join(s.uploadDir, id) }

// removeOrphanVersions deletes every vault version the database does not
// record. A commit writes its version into the vault just before its
// transaction commits; a crash between the two leaves a file no record
// names, which would otherwise block the retried commit (versions are
// immutable) and hold data nothing accounts for. It must run before the
// server takes requests.
func (s *Server) removeOrphanVersions(ctx context.Context) error {
	if s.vault == nil {
		return nil
	}
	var stored []sqlite.StoredVersion
	if err := s.db.View(ctx, func(tx *sqlite.Tx) (err error) {
		stored, err = tx.StoredVersions()
		return err
	}); err != nil {
		return err
	}
	recorded := map[string]map[int]bool{}
	for _, v := range stored {
		id := vaultID(v.Room, v.Dataset)
		switch v.Kind {
		case sqlite.StoredReblinded:
			id = reblindedVault(v.Room)
		case sqlite.StoredResolution:
			id = resolutionVault(v.Room)
		case sqlite.StoredModel:
			id = modelsVault(v.Room)
		}
		if recorded[id] == nil {
			recorded[id] = map[int]bool{}
		}
		recorded[id][v.Version] = true
	}
	inVault, err := s.vault.Versions()
	if err != nil {
		return err
	}
	for id, versions := range inVault {
		for _, v := range versions {
			if recorded[id][v] {
				continue
			}
			if err := s.vault.DeleteVersion(ctx, id, v); err != nil {
				return err
			}
			s.log.Info("removed a vault version whose commit did not finish", "vault", id, "version", v)
		}
	}
	return nil
}

// resumeMatchRuns resolves every match run still waiting, as the arrival of
// its last job result would have: resolveReady does nothing for a run
// with pending jobs, and records a run that fails as failed. It runs after
// removeOrphanVersions, which frees the resolution number an interrupted
// resolution had taken.
func (s *Server) resumeMatchRuns(ctx context.Context) error {
	type waiting struct{ room, run string }
	var runs []waiting
	err := s.db.View(ctx, func(tx *sqlite.Tx) error {
		rooms, err := tx.Rooms()
		if err != nil {
			return err
		}
		for _, r := range rooms {
			ids, err := tx.MatchRunIDs(r.Name)
			if err != nil {
				return err
			}
			for _, id := range ids {
				run, err := tx.MatchRun(r.Name, id)
				if err != nil {
					return err
				}
				if run.State == "waiting" {
					runs = append(runs, waiting{r.Name, id})
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, w := range slices.Backward(runs) { // oldest first
		s.resolveReady(ctx, w.room, w.run)
	}
	return nil
}
