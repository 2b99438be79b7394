package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/keyfile"
	"github.com/cleanroom-dev/cleanroom/internal/sqlite"
	"github.com/cleanroom-dev/cleanroom/internal/tlscert"
)

func init() { commands = append(commands, newInitCmd, newAdminTokenCmd) }

// adminTokenTTL is the lifetime of the platform admin's token.
const adminTokenTTL = 90 * 24 * time.Hour

// initResult is what init made.
type initResult struct {
	DataDir     string    `json:"data_dir"`
	Database    string    `json:"database"`
	TLSCert     string    `json:"tls_cert"`
	ServerID    string    `json:"server_id"`
	AdminToken  string    `json:"admin_token"`
	TokenID     string    `json:"admin_token_id"`
	TokenExpiry time.Time `json:"admin_token_expires_at"`
}

// initDataDir creates a data directory: the metadata database, the server's
// keys, a self-signed TLS certificate for hosts, and the first admin token.
func initDataDir(ctx context.Context, dir string, hosts []string) (*initResult, error) {
	dbPath, keyDir, certPath, keyPath := dataPaths(dir)
	if _, err := os.Stat(dbPath); err == nil {
		return nil, withHint(fmt.Errorf("%s is already initialised", dir),
			"serve it with `cleanroom serve --data "+dir+"`, or choose another --data directory",
			"a new admin token: `cleanroom admin-token --data "+dir+"`")
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("init %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("init %s: %w", dir, err)
	}
	keys, err := keyfile.CreateServer(keyDir)
	if err != nil {
		return nil, fmt.Errorf("init %s: %w", dir, err)
	}
	if err := os.MkdirAll(filepath.Dir(certPath), 0o700); err != nil {
		return nil, fmt.Errorf("init %s: %w", dir, err)
	}
	if err := tlscert.Generate(certPath, keyPath, hosts, 365*24*time.Hour); err != nil {
		return nil, fmt.Errorf("init %s: %w", dir, err)
	}
	db, err := sqlite.Open(ctx, dbPath)
	if err != nil {
		return nil, fmt.Errorf("init %s: %w", dir, err)
	}
	defer db.Close()
	tok, secret, err := mintAdminToken(ctx, db, "created by cleanroom init")
	if err != nil {
		return nil, fmt.Errorf("init %s: %w", dir, err)
	}
	return &initResult{
		DataDir: dir, Database: dbPath, TLSCert: certPath,
		ServerID:   cleanroom.KeyFingerprint(keys.SigningPublic()),
		AdminToken: secret, TokenID: tok.ID, TokenExpiry: tok.ExpiresAt,
	}, nil
}

// mintAdminToken creates a platform admin token and audits it.
func mintAdminToken(ctx context.Context, db *sqlite.DB, description string) (*cleanroom.Token, string, error) {
	id, secret := cleanroom.NewTokenSecret()
	var tok *cleanroom.Token
	err := db.Update(ctx, func(tx *sqlite.Tx) error {
		now := tx.Now()
		tok = &cleanroom.Token{ID: id, Kind: cleanroom.Admin, Description: description, CreatedAt: now, ExpiresAt: now.Add(adminTokenTTL)}
		if err := tx.CreateToken(tok, cleanroom.HashToken(secret)); err != nil {
			return err
		}
		return tx.AppendAudit(&cleanroom.AuditEntry{
			Actor: "local", Action: cleanroom.ActionAdminToken, Object: "token:" + id, Outcome: cleanroom.OutcomeOK,
			Detail: map[string]string{"description": description}, RequestID: "local",
		})
	})
	return tok, secret, err
}

func newInitCmd(g *globals) *cobra.Command {
	var dir string
	var hosts []string
	cmd := &cobra.Command{
		Use:   "init --data DIR",
		Short: "Create a room server's data directory, keys and first admin token",
		Long: `Init creates the data directory of a room server: the SQLite metadata
database, the server's Ed25519 signing key and HPKE key, the key-encryption
key (mode 0600), a self-signed TLS certificate for local use, and the
platform admin's API token, which is printed once and stored only as a hash.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if dir == "" {
				return withHint(usageError{errors.New("--data is required")}, "for example: cleanroom init --data ./cleanroom-data")
			}
			res, err := initDataDir(cmd.Context(), dir, hosts)
			if err != nil {
				return err
			}
			if g.json {
				return printJSON(g.stdout, res)
			}
			fmt.Fprintf(g.stdout, "Initialised %s\n", res.DataDir)
			fmt.Fprintf(g.stdout, "  database:        %s\n", res.Database)
			fmt.Fprintf(g.stdout, "  TLS certificate: %s (self-signed; clients pass it with --ca)\n", res.TLSCert)
			fmt.Fprintf(g.stdout, "  server ID:       %s\n", res.ServerID)
			fmt.Fprintf(g.stdout, "\nPlatform admin token (shown once, expires %s):\n\n  %s\n\n", res.TokenExpiry.Format(time.DateOnly), res.AdminToken)
			fmt.Fprintf(g.stdout, "Next: cleanroom serve --data %s\n", res.DataDir)
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "data", "", "data directory to create (required)")
	cmd.Flags().StringSliceVar(&hosts, "host", nil, "extra host names or IPs for the self-signed certificate (localhost is always included)")
	return cmd
}

func newAdminTokenCmd(g *globals) *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "admin-token --data DIR",
		Short: "Mint a new platform admin token on the server's machine",
		Long: `Admin-token mints a new platform admin token directly in the data directory,
for when the token printed by init is lost or expired. Whoever can read the
data directory is the platform admin; the token is audited like any other.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if dir == "" {
				return usageError{errors.New("--data is required")}
			}
			dbPath, _, _, _ := dataPaths(dir)
			if _, err := os.Stat(dbPath); err != nil {
				return withHint(fmt.Errorf("%s is not an initialised data directory", dir), "run `cleanroom init --data "+dir+"` first")
			}
			db, err := sqlite.Open(cmd.Context(), dbPath)
			if err != nil {
				return err
			}
			defer db.Close()
			tok, secret, err := mintAdminToken(cmd.Context(), db, "created by cleanroom admin-token")
			if err != nil {
				return err
			}
			if g.json {
				return printJSON(g.stdout, map[string]any{"id": tok.ID, "secret": secret, "expires_at": tok.ExpiresAt})
			}
			fmt.Fprintf(g.stdout, "Platform admin token %s (shown once, expires %s):\n\n  %s\n", tok.ID, tok.ExpiresAt.Format(time.DateOnly), secret)
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "data", "", "data directory of the server (required)")
	return cmd
}
