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
	var dataDir, listen string
	cmd := &cobra.Command{
		Use:   "scaleout-worker --data DIR --listen HOST:PORT",
		Short: "Run Beam workers for a room server on this machine (host)",
		Long: `scaleout-worker serves a pool of Apache Beam SDK workers: a runner started
by a room server with --engine beam --workers HOST:PORT starts its workers here
(Beam's EXTERNAL environment). Each worker reads a job's sealed material and
the dataset versions it reads from the room server's data directory, which
this machine shares (--data), and writes the sealed totals back there. It
holds the room server's key-encryption key, so it runs in the room's
isolated zone, and each room's agreement must name its address under
scale_out. It needs a binary built with 'make build-beam' (docs/scale-out.md).`,
		Example: `  cleanroom-beam scaleout-worker --data /var/lib/cleanroom --listen 10.0.0.12:50000`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, r := range [][2]string{{"data", dataDir}, {"listen", listen}} {
				if err := required(cmd, r[0], r[1]); err != nil {
					return err
				}
			}
			_, keyDir, _, _ := dataPaths(dataDir)
			keys, err := keyfile.LoadServer(keyDir)
			if err != nil {
				return err
			}
			zone, err := zoneSecret(keys.KEK[:])
			if err != nil {
				return err
			}
			store, err := vault.OpenReadOnly(filepath.Join(dataDir, "datasets"), vault.NewLocalWrapper(keys.KEK))
			if err != nil {
				return err
			}
			l, err := net.Listen("tcp", listen)
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "cleanroom: scale-out workers on %s\n", l.Addr())
			return scaleout.ServeWorkers(cmd.Context(), l, scaleout.WorkerConfig{
				JobDir: scaleOutJobDir(dataDir), ZoneSecret: zone,
				Open: func(ctx context.Context, s scaleout.Source) (io.ReadCloser, error) {
					if s.Vault == "" {
						return nil, fmt.Errorf("scale-out source %+v is not a vault version", s)
					}
					return store.OpenVersion(ctx, s.Vault, s.Version)
				},
			})
		},
	}
	cmd.Flags().StringVar(&dataDir, "data", "", "the room server's data directory, shared with this machine (required)")
	cmd.Flags().StringVar(&listen, "listen", "", "address the worker pool listens on, host:port (required)")
	return cmd
}
