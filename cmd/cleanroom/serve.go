package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/cleanroom-dev/cleanroom/internal/httpapi"
	"github.com/cleanroom-dev/cleanroom/internal/keyfile"
	"github.com/cleanroom-dev/cleanroom/internal/scaleout"
	"github.com/cleanroom-dev/cleanroom/internal/sqlite"
	"github.com/cleanroom-dev/cleanroom/internal/tlscert"
	"github.com/cleanroom-dev/cleanroom/internal/vault"
	"github.com/cleanroom-dev/cleanroom/internal/webui"
)

func init() { commands = append(commands, newServeCmd) }

// The layout of a data directory.
const (
	dbFile  = "cleanroom.db"
	keysDir = "keys"
	tlsDir  = "tls"
)

func dataPaths(dir string) (db, keys, cert, key string) {
	return filepath.Join(dir, dbFile), filepath.Join(dir, keysDir),
		filepath.Join(dir, tlsDir, "cert.pem"), filepath.Join(dir, tlsDir, "key.pem")
}

// ServeConfig configures the room server.
type ServeConfig struct {
	DataDir string
	Addr    string
	// TLSCert and TLSKey name a certificate and key to serve instead of the
	// self-signed pair made by init.
	TLSCert, TLSKey string
	// ShutdownTimeout bounds how long in-flight requests may take to finish
	// after the server is told to stop.
	ShutdownTimeout time.Duration
	// RetentionInterval is how often the server deletes what its rooms'
	// agreements no longer allow it to keep; 0 means every minute.
	RetentionInterval time.Duration
	// OIDC names the web UI's identity provider file (webui.ReadProviders);
	// Providers, when set, are used instead.
	OIDC      string
	Providers []webui.Provider
	// Engine is the engine that runs plans when a run names none: duckdb
	// or beam. ScaleOut says where Beam runs (docs/scale-out.md).
	Engine   string
	ScaleOut scaleout.Options
}

// Validate checks the configuration before anything is opened.
func (c *ServeConfig) Validate() error {
	if c.DataDir == "" {
		return withHint(usageError{errors.New("--data is required")}, "pass the directory `cleanroom init --data DIR` created")
	}
	if c.Addr == "" {
		return usageError{errors.New("--addr is required")}
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return usageError{errors.New("--tls-cert and --tls-key go together")}
	}
	db, _, _, _ := dataPaths(c.DataDir)
	if _, err := os.Stat(db); err != nil {
		return withHint(fmt.Errorf("%s is not an initialised data directory", c.DataDir),
			"run `cleanroom init --data "+c.DataDir+"` first")
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = 15 * time.Second
	}
	return nil
}

// Main is the room server process. Tests start it on a temporary data
// directory and port 0.
type Main struct {
	Config ServeConfig
	Logger *slog.Logger

	ready chan struct{}
	addr  string
}

// NewMain returns a Main for cfg that logs to logger.
func NewMain(cfg ServeConfig, logger *slog.Logger) *Main {
	return &Main{Config: cfg, Logger: logger, ready: make(chan struct{})}
}

// Ready is closed once the server listens.
func (m *Main) Ready() <-chan struct{} { return m.ready }

// URL returns the server's base URL; valid after Ready.
func (m *Main) URL() string { return "https://" + m.addr }

// Run serves until ctx is done, then shuts down gracefully.
func (m *Main) Run(ctx context.Context) error {
	cfg := m.Config
	if err := cfg.Validate(); err != nil {
		return err
	}
	dbPath, keyDir, certPath, keyPath := dataPaths(cfg.DataDir)
	if cfg.TLSCert != "" {
		certPath, keyPath = cfg.TLSCert, cfg.TLSKey
	}
	// One server per data directory, and none while a command that needs
	// it stopped runs.
	unlock, err := lockDataDir(cfg.DataDir)
	if err != nil {
		return err
	}
	defer unlock()
	if keyfile.KEKRotationPending(keyDir) {
		return withHint(fmt.Errorf("a rotation of the key-encryption key in %s did not finish", keyDir),
			"run `cleanroom rotate-kek --data "+cfg.DataDir+"` to finish it, then start the server")
	}
	keys, err := keyfile.LoadServer(keyDir)
	if err != nil {
		return err
	}
	tlsConfig, err := tlscert.ServerConfig(certPath, keyPath)
	if err != nil {
		return err
	}
	db, err := sqlite.Open(ctx, dbPath)
	if err != nil {
		return err
	}
	defer db.Close()
	// Datasets are encrypted at rest under per-dataset keys wrapped by the
	// server's key-encryption key; sealed upload chunks wait in uploads/.
	store, err := vault.Open(filepath.Join(cfg.DataDir, "datasets"), vault.NewLocalWrapper(keys.KEK))
	if err != nil {
		return err
	}
	uploadDir := filepath.Join(cfg.DataDir, "uploads")
	if err := os.MkdirAll(uploadDir, 0o700); err != nil {
		return err
	}
	scaleOut := cfg.ScaleOut
	if scaleOut.Workers != "" {
		// Workers in other processes read jobs from the data directory.
		scaleOut.JobDir = scaleOutJobDir(cfg.DataDir)
		if err := os.MkdirAll(scaleOut.JobDir, 0o700); err != nil {
			return err
		}
		if scaleOut.ZoneSecret, err = zoneSecret(keys.KEK[:]); err != nil {
			return err
		}
	}
	api, err := httpapi.New(httpapi.Config{
		DB: db, Logger: m.Logger, Version: version,
		SigningKey: keys.SigningPublic(), HPKEKey: keys.HPKEPublic(),
		Opener: keys, Vault: store, UploadDir: uploadDir, Signer: keys.Signing,
		Engine: cfg.Engine, ScaleOut: scaleOut,
	})
	if err != nil {
		return err
	}
	if err := api.Reconcile(ctx); err != nil {
		return fmt.Errorf("reconcile uploads: %w", err)
	}

	providers := cfg.Providers
	if cfg.OIDC != "" && providers == nil {
		if providers, err = webui.ReadProviders(cfg.OIDC); err != nil {
			return withHint(err, "see docs/operations.md, \"Web UI and single sign-on\"")
		}
	}
	ui, err := webui.New(webui.Config{API: api.Handler(), Accounts: api, Providers: providers, Logger: m.Logger})
	if err != nil {
		return err
	}
	// The web UI under /ui/, the API everywhere else; a browser at the
	// root goes to the UI.
	root := http.NewServeMux()
	root.Handle("/ui/", ui)
	root.Handle("GET /{$}", http.RedirectHandler("/ui/", http.StatusFound))
	root.Handle("/", api.Handler())

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return withHint(fmt.Errorf("listen on %s: %w", cfg.Addr, err), "choose another --addr, or stop what uses the port")
	}
	m.addr = ln.Addr().String()
	srv := &http.Server{
		Handler:           root,
		TLSConfig:         tlsConfig,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       5 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(m.Logger.Handler(), slog.LevelWarn),
	}
	interval := cfg.RetentionInterval
	if interval <= 0 {
		interval = time.Minute
	}
	rctx, stopRetention := context.WithCancel(ctx)
	retentionDone := make(chan struct{})
	go func() { api.RunRetention(rctx, interval); close(retentionDone) }()
	defer func() { stopRetention(); <-retentionDone }()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(tls.NewListener(ln, tlsConfig)) }()
	m.Logger.Info("serving", "url", m.URL(), "data", cfg.DataDir, "server_id", api.ServerID(), "version", version)
	close(m.ready)

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	m.Logger.Info("shutting down", "timeout", cfg.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	m.Logger.Info("stopped")
	return nil
}

func newLogger(w interface{ Write([]byte) (int, error) }, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, usageError{fmt.Errorf("--log-level %q: want debug, info, warn or error", level)}
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, usageError{fmt.Errorf("--log-format %q: want text or json", format)}
}

func newServeCmd(g *globals) *cobra.Command {
	var cfg ServeConfig
	var logFormat, logLevel string
	cmd := &cobra.Command{
		Use:   "serve --data DIR --addr HOST:PORT",
		Short: "Run the room server (HTTPS API, /healthz, /metrics)",
		Long: `Serve runs the room server over HTTPS (TLS 1.3 only) with the data directory
made by 'cleanroom init'. It uses the self-signed certificate from the data
directory unless --tls-cert and --tls-key name real ones. SIGINT or SIGTERM
stops it gracefully: in-flight requests finish, then it exits.

A scheduler in the server deletes, without an operator, what the rooms'
data-use agreements no longer allow it to keep: every dataset of a room
whose agreement expired or was terminated, and dataset versions past the
agreement's retention period (see docs/governance.md).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			logger, err := newLogger(g.stderr, logFormat, logLevel)
			if err != nil {
				return err
			}
			m := NewMain(cfg, logger)
			go func() {
				select {
				case <-m.Ready():
					fmt.Fprintf(g.stdout, "cleanroom: serving %s (health: %s/healthz)\n", m.URL(), m.URL())
				case <-cmd.Context().Done():
				}
			}()
			return m.Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.DataDir, "data", "", "data directory made by `cleanroom init` (required)")
	f.StringVar(&cfg.Addr, "addr", "127.0.0.1:8443", "address to listen on")
	f.StringVar(&cfg.TLSCert, "tls-cert", "", "PEM certificate chain to serve instead of the self-signed one")
	f.StringVar(&cfg.TLSKey, "tls-key", "", "PEM private key of --tls-cert")
	f.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", 15*time.Second, "how long to let requests finish on shutdown")
	f.DurationVar(&cfg.RetentionInterval, "retention-interval", time.Minute, "how often to delete data past its agreement or retention period")
	f.StringVar(&cfg.OIDC, "oidc", "", "JSON file of the parties' OpenID Connect identity providers for web sign-in (docs/operations.md)")
	f.StringVar(&cfg.Engine, "engine", "duckdb", "engine that runs approved plans when a run names none: duckdb or beam (docs/scale-out.md)")
	f.StringVar(&cfg.ScaleOut.Runner, "runner", "prism", "where the beam engine runs: prism (in this process) or universal (a job server named by --endpoint)")
	f.StringVar(&cfg.ScaleOut.Endpoint, "endpoint", "", "the Flink, Spark or Prism job server (host:port) of the universal runner; each room's agreement must name it under scale_out")
	f.StringVar(&cfg.ScaleOut.Workers, "workers", "", "a worker pool (cleanroom scaleout-worker, host:port) that runs the beam engine's steps instead of this process; each room's agreement must name it under scale_out")
	f.IntVar(&cfg.ScaleOut.Shards, "shards", 0, "parts each dataset version is read in on the beam engine (default 4)")
	f.StringVar(&logFormat, "log-format", "text", "log format: text or json")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	return cmd
}
