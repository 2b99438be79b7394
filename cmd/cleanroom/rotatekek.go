package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/keyfile"
	"github.com/cleanroom-dev/cleanroom/internal/sqlite"
	"github.com/cleanroom-dev/cleanroom/internal/vault"
)

func init() { commands = append(commands, newRotateKEKCmd) }

// actionKEKRotate is recorded when the server's key-encryption key is
// rotated.
const actionKEKRotate cleanroom.Action = "server.kek_rotate"

func newRotateKEKCmd(g *globals) *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "rotate-kek --data DIR",
		Short: "Replace the server's key-encryption key, rewrapping every dataset's key",
		Long: `Rotate-kek replaces the master key-encryption key in DIR/keys/kek.key with a
new random key and rewraps every dataset's own key with it. Dataset files
are not rewritten: their data keys are wrapped by the dataset's key, which
stays the same. Afterwards copies of the data directory taken earlier
(backups, snapshots) open only with the old key: keep backups of keys/
apart from backups of the data, and destroy the old key's copies to put
the old datasets out of reach.

The server must be stopped. A rotation that stops halfway (a crash, ^C)
is finished by running the command again; the server refuses to start
until it is.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if dir == "" {
				return usageError{errors.New("--data is required")}
			}
			dbPath, keyDir, _, _ := dataPaths(dir)
			if _, err := os.Stat(dbPath); err != nil {
				return withHint(fmt.Errorf("%s is not an initialised data directory", dir), "run `cleanroom init --data "+dir+"` first")
			}
			unlock, err := lockDataDir(dir)
			if err != nil {
				return err
			}
			defer unlock()
			keys, err := keyfile.LoadServer(keyDir)
			if err != nil {
				return err
			}
			resumed := keyfile.KEKRotationPending(keyDir)
			next, err := keyfile.BeginKEKRotation(keyDir)
			if err != nil {
				return err
			}
			store, err := vault.Open(filepath.Join(dir, "datasets"), vault.NewLocalWrapper(keys.KEK))
			if err != nil {
				return err
			}
			n, err := store.Rewrap(cmd.Context(), vault.NewLocalWrapper(next), func(done, total int) {
				if !g.json && (done == total || done%100 == 0) {
					fmt.Fprintf(g.stderr, "rewrapped %d of %d dataset keys\n", done, total)
				}
			})
			clear(next[:])
			if err != nil {
				return withHint(err, "run `cleanroom rotate-kek --data "+dir+"` again to finish the rotation")
			}
			if err := keyfile.FinishKEKRotation(keyDir); err != nil {
				return err
			}
			db, err := sqlite.Open(cmd.Context(), dbPath)
			if err != nil {
				return err
			}
			defer db.Close()
			if err := db.Update(cmd.Context(), func(tx *sqlite.Tx) error {
				return tx.AppendAudit(&cleanroom.AuditEntry{Actor: "local", Action: actionKEKRotate, Object: "server", Outcome: cleanroom.OutcomeOK,
					Detail: map[string]string{"rewrapped": strconv.Itoa(n), "resumed": strconv.FormatBool(resumed)}, RequestID: "local"})
			}); err != nil {
				return err
			}
			if g.json {
				return printJSON(g.stdout, map[string]any{"rewrapped": n, "resumed": resumed})
			}
			fmt.Fprintf(g.stdout, "New key-encryption key in %s; %d dataset keys rewrapped.\n", filepath.Join(keyDir, keyfile.KEKFile), n)
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "data", "", "data directory of the stopped server (required)")
	return cmd
}
