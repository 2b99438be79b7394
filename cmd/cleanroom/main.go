// Command cleanroom is the Cleanroom data clean room: the room server, the
// party's agent and key tools, the command-line client of the room's API,
// and the synthetic data generator. Run `cleanroom help` for the commands.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// commands holds the constructors of the top-level subcommands. Each
// command's file appends its own in an init function.
var commands []func(*globals) *cobra.Command

// globals are the flags every client command shares. They are resolved
// against the environment and the config file by the client commands (see
// client.go), never by library packages.
type globals struct {
	server     string
	token      string
	ca         string
	configPath string
	json       bool

	stdout io.Writer
	stderr io.Writer
	stdin  io.Reader
}

func newRootCmd(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:           "cleanroom",
		Short:         "A self-hosted data clean room",
		Long:          "Cleanroom lets partners answer agreed questions over their joined customer data\nwithout any party seeing another's personal data.",
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(g.stdout)
	root.SetErr(g.stderr)
	root.SetIn(g.stdin)
	pf := root.PersistentFlags()
	pf.StringVar(&g.server, "server", "", "room server URL (env CLEANROOM_SERVER; default from the config file)")
	pf.StringVar(&g.token, "token", "", "API token (env CLEANROOM_TOKEN; default from the config file)")
	pf.StringVar(&g.ca, "ca", "", "PEM file of the CA or certificate to trust for the server (env CLEANROOM_CA)")
	pf.StringVar(&g.configPath, "config", "", "client config file (env CLEANROOM_CONFIG; default in the user config directory)")
	pf.BoolVar(&g.json, "json", false, "print JSON for scripts instead of tables")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	for _, c := range commands {
		root.AddCommand(c(g))
	}
	return root
}

// run executes the command line and returns the process exit code: 0 on
// success, 1 on error, 2 on usage errors.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	g := &globals{stdin: stdin, stdout: stdout, stderr: stderr}
	root := newRootCmd(g)
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		printError(stderr, err)
		var u usageError
		if errors.As(err, &u) || strings.HasPrefix(err.Error(), "unknown command") ||
			strings.HasPrefix(err.Error(), "unknown flag") || strings.HasPrefix(err.Error(), "unknown shorthand flag") {
			return 2
		}
		return 1
	}
	return 0
}

// usageError marks an error in how the command was called.
type usageError struct{ error }

func (u usageError) Unwrap() error { return u.error }

// hinter is an error that carries hints for the user.
type hinter interface{ Hints() []string }

// hintError adds hint lines to an error.
type hintError struct {
	err   error
	hints []string
}

func (h *hintError) Error() string   { return h.err.Error() }
func (h *hintError) Unwrap() error   { return h.err }
func (h *hintError) Hints() []string { return h.hints }

// withHint returns err with hint lines attached.
func withHint(err error, hints ...string) error {
	if err == nil {
		return nil
	}
	return &hintError{err: err, hints: hints}
}

// printError writes "cleanroom: message" and one "hint: ..." line per hint.
func printError(w io.Writer, err error) {
	fmt.Fprintf(w, "cleanroom: %v\n", err)
	var h hinter
	if errors.As(err, &h) {
		for _, l := range h.Hints() {
			if l != "" {
				fmt.Fprintf(w, "hint: %s\n", l)
			}
		}
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// printJSON writes v as indented JSON, the --json output of every command.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
