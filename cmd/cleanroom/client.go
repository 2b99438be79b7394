package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/client"
	"github.com/cleanroom-dev/cleanroom/internal/httpapi"
	"github.com/cleanroom-dev/cleanroom/internal/tlscert"
)

func init() { commands = append(commands, newLoginCmd, newWhoamiCmd) }

// The environment variables the client commands read.
const (
	envServer = "CLEANROOM_SERVER"
	envToken  = "CLEANROOM_TOKEN"
	envCA     = "CLEANROOM_CA"
	envConfig = "CLEANROOM_CONFIG"
)

// clientConfig is the client config file written by `cleanroom login`.
type clientConfig struct {
	Server string `json:"server"`
	Token  string `json:"token"`
	// CA is the absolute path of the PEM file to trust for Server.
	CA string `json:"ca,omitempty"`
}

// configFilePath returns the config file's path: --config, else
// $CLEANROOM_CONFIG, else cleanroom/config.json in the user config
// directory.
func (g *globals) configFilePath() (string, error) {
	if g.configPath != "" {
		return g.configPath, nil
	}
	if p := os.Getenv(envConfig); p != "" {
		return p, nil
	}
	d, err := os.UserConfigDir()
	if err != nil {
		return "", withHint(fmt.Errorf("find the client config file: %w", err),
			"pass --config FILE or set "+envConfig)
	}
	return filepath.Join(d, "cleanroom", "config.json"), nil
}

// readClientConfig reads the config file at path; a missing file is an
// empty config.
func readClientConfig(path string) (*clientConfig, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &clientConfig{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read config %s: %w", path, err)
	}
	var c clientConfig
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, withHint(fmt.Errorf("read config %s: %w", path, err),
			"fix the file or write it again with `cleanroom login`")
	}
	return &c, nil
}

// writeClientConfig writes c to path with mode 0600, in a directory made
// with mode 0700 if missing. It writes a temporary file and renames it, so a
// failure never leaves half a config.
func writeClientConfig(path string, c *clientConfig) error {
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return fmt.Errorf("write config %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("write config %s: %w", path, err)
	}
	f, err := os.CreateTemp(dir, ".config-*.json")
	if err != nil {
		return fmt.Errorf("write config %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("write config %s: %w", path, err)
	}
	if _, err := f.Write(append(data, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("write config %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write config %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write config %s: %w", path, err)
	}
	return nil
}

// settings are the resolved server, token and CA of a client command, where
// the token came from ("flag", "env" or "config"), and what the config file
// holds.
type settings struct {
	server, token, ca       string
	tokenSrc                string
	configPath              string
	configServer, configTok string
}

// pick returns the flag's value, else the environment variable's, and the
// source it came from.
func pick(flag, env string) (string, string) {
	if flag != "" {
		return flag, "flag"
	}
	if v := os.Getenv(env); v != "" {
		return v, "env"
	}
	return "", ""
}

// resolve finds the server, token and CA: each from its flag, else its
// environment variable, else the config file. The config file's token and
// CA belong to the config file's server: they are used only when the
// resolved server is that one, so a token is never sent to a server it was
// not saved for.
func (g *globals) resolve() (*settings, error) {
	s := &settings{}
	s.server, _ = pick(g.server, envServer)
	s.token, s.tokenSrc = pick(g.token, envToken)
	s.ca, _ = pick(g.ca, envCA)
	path, err := g.configFilePath()
	if err != nil {
		return nil, err
	}
	s.configPath = path
	cfg, err := readClientConfig(path)
	if err != nil {
		if s.server == "" || s.token == "" {
			return nil, err
		}
		// Flags or the environment say everything the config file
		// would; a broken file must not stop a login that rewrites it.
		cfg = &clientConfig{}
	}
	s.configServer, s.configTok = cfg.Server, cfg.Token
	if s.server == "" && cfg.Server != "" {
		s.server = cfg.Server
	}
	if sameServer(s.server, cfg.Server) {
		if s.token == "" && cfg.Token != "" {
			s.token, s.tokenSrc = cfg.Token, "config"
		}
		if s.ca == "" {
			s.ca = cfg.CA
		}
	}
	return s, nil
}

func sameServer(a, b string) bool {
	return a != "" && strings.TrimRight(a, "/") == strings.TrimRight(b, "/")
}

// checkServerURL accepts only https URLs with a host, and perhaps a path
// prefix under which a proxy serves the API: the room server speaks HTTPS
// only, and a token must never travel in clear text.
func checkServerURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return withHint(fmt.Errorf("server URL %q is not valid", s),
			"write it as https://HOST:PORT, for example https://127.0.0.1:8443")
	}
	if u.Scheme != "https" {
		return withHint(fmt.Errorf("server URL %q is not https", s),
			"the room server speaks HTTPS only; write https://"+u.Host)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return withHint(fmt.Errorf("server URL %q has a query, fragment or user name", s),
			"write it as https://"+u.Host+strings.TrimRight(u.Path, "/"))
	}
	return nil
}

// tlsConfig returns the TLS configuration trusting the CA file, or the
// system's roots when there is none.
func tlsConfig(ca string) (*tls.Config, error) {
	if ca == "" {
		return nil, nil
	}
	c, err := tlscert.ClientConfig(ca)
	if err != nil {
		return nil, withHint(err, "pass the server's certificate with --ca (for a self-signed server, DATA/tls/cert.pem in its data directory)")
	}
	return c, nil
}

// newClient builds a client for the resolved settings, which must name a
// server and a token.
func (s *settings) newClient() (*client.Client, error) {
	if s.server == "" {
		return nil, withHint(errors.New("no room server is configured"),
			"run `cleanroom login --server URL --token TOKEN`, pass --server URL, or set "+envServer)
	}
	if err := checkServerURL(s.server); err != nil {
		return nil, err
	}
	if s.token == "" {
		hints := []string{"run `cleanroom login --server " + s.server + " --token TOKEN`, pass --token, or set " + envToken}
		if s.configTok != "" && !sameServer(s.server, s.configServer) {
			hints = append(hints, fmt.Sprintf("the token in %s is for %s, not %s", s.configPath, s.configServer, s.server))
		}
		return nil, withHint(errors.New("no API token is configured"), hints...)
	}
	tc, err := tlsConfig(s.ca)
	if err != nil {
		return nil, err
	}
	return client.New(s.server, s.token, tc), nil
}

// explain turns an API or connection error into a message with hints for
// the user. The API's message and hint are shown as they are.
func (s *settings) explain(err error) error {
	if err == nil {
		return nil
	}
	var h hinter
	if errors.As(err, &h) {
		return err
	}
	var ae *client.APIError
	if errors.As(err, &ae) {
		hints := []string{ae.Hint}
		if ae.Code == cleanroom.EUnauthenticated && s.tokenSrc == "config" {
			hints = append(hints, "the token comes from "+s.configPath+"; run `cleanroom login` again with a valid one")
		}
		return withHint(ae, hints...)
	}
	if errors.Is(err, client.ErrUntrustedCertificate) {
		if s.ca == "" {
			return withHint(err, "a self-signed server is trusted with --ca DATA/tls/cert.pem (DATA is its data directory), or set "+envCA)
		}
		return withHint(err, "the certificate in "+s.ca+" is not the server's: pass the right one with --ca DATA/tls/cert.pem")
	}
	var ce *client.ConnError
	if errors.As(err, &ce) {
		return withHint(err, "check the server URL (--server, "+envServer+" or `cleanroom login`) and that `cleanroom serve` runs there")
	}
	return err
}

// withClient runs fn with a client of the configured server and turns its
// errors into messages with hints.
func (g *globals) withClient(ctx context.Context, fn func(c *client.Client) error) error {
	s, err := g.resolve()
	if err != nil {
		return err
	}
	c, err := s.newClient()
	if err != nil {
		return err
	}
	return s.explain(fn(c))
}

// flagUsage makes the command's flag parsing errors, and its
// subcommands', usage errors (exit status 2).
func flagUsage(cmd *cobra.Command) *cobra.Command {
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	return cmd
}

// group finishes a command that only groups subcommands: flag parsing
// errors become usage errors (exit status 2), an unknown subcommand is a
// usage error naming the known ones, and no subcommand shows the help.
func group(cmd *cobra.Command) *cobra.Command {
	flagUsage(cmd)
	cmd.Args = cobra.ArbitraryArgs
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return cmd.Help()
		}
		var names []string
		for _, c := range cmd.Commands() {
			if c.IsAvailableCommand() {
				names = append(names, c.Name())
			}
		}
		return withHint(usageError{fmt.Errorf("unknown command %q for %q", args[0], cmd.CommandPath())},
			"the commands are "+strings.Join(names, ", ")+"; see `"+cmd.CommandPath()+" --help`")
	}
	return cmd
}

// args checks a command's positional arguments, naming them in the error.
func wantArgs(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) == len(names) {
			return nil
		}
		if len(args) < len(names) {
			return withHint(usageError{fmt.Errorf("%s is required", names[len(args)])}, "usage: "+cmd.UseLine())
		}
		return withHint(usageError{fmt.Errorf("unexpected argument %q", args[len(names)])}, "usage: "+cmd.UseLine())
	}
}

// required returns a usage error if a required flag is empty.
func required(cmd *cobra.Command, flag, value string) error {
	if value != "" {
		return nil
	}
	return withHint(usageError{fmt.Errorf("--%s is required", flag)}, "usage: "+cmd.UseLine())
}

// newTable returns a writer of aligned columns; Flush it when done.
func newTable(w io.Writer, header ...string) *tabwriter.Writer {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if len(header) > 0 {
		row(tw, header...)
	}
	return tw
}

// row writes one row of a table.
func row(w io.Writer, cols ...string) {
	fmt.Fprintln(w, strings.Join(cols, "\t"))
}

// fmtTime formats a time for tables: UTC, to the second.
func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

// fmtDate formats a time as its UTC date.
func fmtDate(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.DateOnly)
}

// orDash returns s, or "-" when it is empty, so table columns stay aligned.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// roleList formats roles as "analyst,receiver".
func roleList(rs []cleanroom.Role) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = string(r)
	}
	return orDash(strings.Join(s, ","))
}

func newLoginCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "login --server URL --token TOKEN [--ca FILE]",
		Short: "Check a token against a room server and save both in the config file",
		Long: `Login checks the API token with the server (whoami) and, if it is valid,
saves the server URL, the token and the CA file in the client config file
(mode 0600), so later commands need no flags.

The server, token and CA come from --server, --token and --ca, else from
CLEANROOM_SERVER, CLEANROOM_TOKEN and CLEANROOM_CA; the server and CA may
also come from the config file, to log in again with a new token. Pass
--token - to read the token from standard input, keeping it out of the
shell history. The config file is --config, else CLEANROOM_CONFIG, else
cleanroom/config.json in the user configuration directory.`,
		Example: `  cleanroom login --server https://127.0.0.1:8443 --ca ./data/tls/cert.pem --token crt_...
  pass show cleanroom | cleanroom login --server https://room.example.com --token -`,
		Args: wantArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := g.resolve()
			if err != nil {
				return err
			}
			// Only a token given now is logged in with, never the one
			// already saved.
			s.token, s.tokenSrc = pick(g.token, envToken)
			if s.token == "-" {
				if s.token, err = readTokenLine(g.stdin); err != nil {
					return err
				}
			}
			if s.server == "" {
				return withHint(usageError{errors.New("--server is required")},
					"for example: cleanroom login --server https://127.0.0.1:8443 --ca DATA/tls/cert.pem --token TOKEN")
			}
			if s.token == "" {
				return withHint(usageError{errors.New("--token is required")},
					"pass the token printed by `cleanroom init` or `cleanroom token create`, or --token - to read it from standard input")
			}
			if s.ca != "" {
				if s.ca, err = filepath.Abs(s.ca); err != nil {
					return fmt.Errorf("login: %w", err)
				}
			}
			c, err := s.newClient()
			if err != nil {
				return err
			}
			who, err := c.Whoami(cmd.Context())
			if err != nil {
				return s.explain(err)
			}
			cfg := &clientConfig{Server: strings.TrimRight(s.server, "/"), Token: s.token, CA: s.ca}
			if err := writeClientConfig(s.configPath, cfg); err != nil {
				return err
			}
			if g.json {
				return printJSON(g.stdout, who)
			}
			fmt.Fprintf(g.stdout, "Logged in to %s as %s (token %s, expires %s).\n",
				cfg.Server, principalName(who), who.TokenID, fmtDate(who.TokenExpiresAt))
			fmt.Fprintf(g.stdout, "Saved to %s.\n", s.configPath)
			return nil
		},
	}
	return flagUsage(cmd)
}

// readTokenLine reads a token from the first line of r.
func readTokenLine(r io.Reader) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read token from standard input: %w", err)
	}
	tok := strings.TrimSpace(line)
	if tok == "" {
		return "", withHint(usageError{errors.New("no token on standard input")}, "pipe the token in, or pass --token TOKEN")
	}
	return tok, nil
}

// principalName names the caller as audit entries do: "admin" or
// "party/user".
func principalName(w *httpapi.Whoami) string {
	if w.Kind == cleanroom.User.String() {
		return w.Party + "/" + w.User
	}
	return w.Kind
}

func newWhoamiCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "whoami",
		Short: "Show who the configured token authenticates, and its rooms and roles",
		Long: `Whoami asks the server who the API token belongs to: the platform admin or
a user of a party, with the rooms in which the party has granted the user
roles (grants whose signatures verify now).`,
		Args: wantArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.withClient(cmd.Context(), func(c *client.Client) error {
				who, err := c.Whoami(cmd.Context())
				if err != nil {
					return err
				}
				if g.json {
					return printJSON(g.stdout, who)
				}
				printWhoami(g.stdout, who)
				return nil
			})
		},
	}
	return flagUsage(cmd)
}

func printWhoami(w io.Writer, who *httpapi.Whoami) {
	tw := newTable(w)
	if who.Kind == cleanroom.User.String() {
		row(tw, "user:", who.Party+"/"+who.User)
	} else {
		row(tw, "kind:", who.Kind)
	}
	row(tw, "token:", who.TokenID+" (expires "+fmtTime(who.TokenExpiresAt)+")")
	tw.Flush()
	if who.Kind != cleanroom.User.String() {
		return
	}
	if len(who.Rooms) == 0 {
		fmt.Fprintln(w, "rooms:  none (the party has granted no roles yet: `cleanroom user grant`)")
		return
	}
	fmt.Fprintln(w)
	rooms := make([]string, 0, len(who.Rooms))
	for r := range who.Rooms {
		rooms = append(rooms, r)
	}
	sort.Strings(rooms)
	tw = newTable(w, "ROOM", "ROLES")
	for _, r := range rooms {
		row(tw, r, roleList(who.Rooms[r]))
	}
	tw.Flush()
}
