package main

import (
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/cleanroom-dev/cleanroom/internal/keyfile"
	"github.com/cleanroom-dev/cleanroom/internal/scaleout"
	"github.com/cleanroom-dev/cleanroom/internal/vault"
)

func init() { commands = append(commands, newScaleOutWorkerCmd) }

// scaleOutJobDir is where the room server writes the sealed material of
// Beam jobs for workers in other processes.
func scaleOutJobDir(dataDir string) string { return filepath.Join(dataDir, "scaleout") }

// zoneSecret is the secret a room server and its scale-out workers seal
// jobs' material under, derived from the key-encryption key they share.
func zoneSecret(kek []byte) ([]byte, error) {
	return hkdf.Key(sha256.New, kek, nil, "cleanroom scale-out zone v1", 32)
}

func newScaleOutWorkerCmd(g *globals) *cobra.Command {
	var dataDir, keysDir, jobDir, listen string
	cmd := &cobra.Command{
		Use:   "scaleout-worker (--data DIR | --keys DIR --jobs DIR) --listen HOST:PORT",
		Short: "Run Beam workers for a room server (host) or for a party's uploads (provider)",
		Long: `scaleout-worker serves a pool of Apache Beam SDK workers. A runner starts its
workers here (Beam's EXTERNAL environment) for one of two kinds of work.

With --data, the workers run a room server's plans (serve --engine beam
--workers HOST:PORT). They read each job's sealed material and the dataset
versions from the room server's data directory, which this machine shares, and
write the sealed totals back there. This pool holds the room server's
key-encryption key, so it runs in the room's isolated zone, and each room's
agreement must name its address under scale_out.

With --keys, the workers prepare a party's uploads (dataset upload --engine
beam --workers HOST:PORT --job-dir DIR). They hold the party's keys, read each
preparation's sealed material from the job directory --jobs and the input
files, all shared with the uploading machine, and write the sealed shards.

Either way, it needs a binary built with 'make build-beam' (docs/scale-out.md).`,
		Example: `  cleanroom-beam scaleout-worker --data /var/lib/cleanroom --listen 10.0.0.12:50000
  cleanroom-beam scaleout-worker --keys ~/.config/cleanroom/keys --jobs /shared/cleanroom-jobs --listen 10.1.0.7:50000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := required(cmd, "listen", listen); err != nil {
				return err
			}
			var cfg scaleout.WorkerConfig
			switch {
			case dataDir != "" && keysDir == "":
				_, keyDir, _, _ := dataPaths(dataDir)
				keys, err := keyfile.LoadServer(keyDir)
				if err != nil {
					return err
				}
				if cfg.ZoneSecret, err = zoneSecret(keys.KEK[:]); err != nil {
					return err
				}
				store, err := vault.OpenReadOnly(filepath.Join(dataDir, "datasets"), vault.NewLocalWrapper(keys.KEK))
				if err != nil {
					return err
				}
				cfg.JobDir = scaleOutJobDir(dataDir)
				if jobDir != "" {
					cfg.JobDir = jobDir
				}
				cfg.Open = func(ctx context.Context, s scaleout.Source) (io.ReadCloser, error) {
					if s.Vault == "" {
						return nil, fmt.Errorf("scale-out source %+v is not a vault version", s)
					}
					return store.OpenVersion(ctx, s.Vault, s.Version)
				}
			case keysDir != "" && dataDir == "":
				if err := required(cmd, "jobs", jobDir); err != nil {
					return err
				}
				keys, err := keyfile.LoadParty(keysDir)
				if err != nil {
					return err
				}
				if cfg.ZoneSecret, err = scaleout.PartyZoneSecret(keys); err != nil {
					return err
				}
				cfg.JobDir, cfg.Party = jobDir, keys
			default:
				return withHint(fmt.Errorf("give either --data (a room server's workers) or --keys (a party's workers)"),
					"see cleanroom help scaleout-worker")
			}
			l, err := net.Listen("tcp", listen)
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "cleanroom: scale-out workers on %s\n", l.Addr())
			return scaleout.ServeWorkers(cmd.Context(), l, cfg)
		},
	}
	cmd.Flags().StringVar(&dataDir, "data", "", "the room server's data directory, shared with this machine")
	cmd.Flags().StringVar(&keysDir, "keys", "", "the party's key directory, for a party's workers")
	cmd.Flags().StringVar(&jobDir, "jobs", "", "the job directory shared with the submitting machine (default DATA/scaleout with --data)")
	cmd.Flags().StringVar(&listen, "listen", "", "address the worker pool listens on, host:port (required)")
	return cmd
}
