package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/cleanroom-dev/cleanroom/internal/agent"
	"github.com/cleanroom-dev/cleanroom/internal/client"
	"github.com/cleanroom-dev/cleanroom/internal/httpapi"
	"github.com/cleanroom-dev/cleanroom/internal/keyfile"
)

func init() { commands = append(commands, newMatchCmd, newAgentCmd) }

func newMatchCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "match",
		Short: "Match the people of a room's datasets and read the match report",
		Long: `Match runs pairwise matching over the latest version of every dataset in a
room. The room relays each party's blinded token set to the other parties'
agents ('cleanroom agent'), which re-blind a set only under a manifest its
owner signed, once; then the room resolves people and releases a match
report whose counts about other parties carry discrete Gaussian noise and
are charged to the datasets' privacy budgets. Each party sees only the pairs
it belongs to.`,
	}
	cmd.AddCommand(newMatchRunCmd(g), newMatchReportCmd(g))
	return group(cmd)
}

func newMatchRunCmd(g *globals) *cobra.Command {
	var room string
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "run --room ROOM [--wait 10m]",
		Short: "Start a match run (provider)",
		Args:  wantArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := required(cmd, "room", room); err != nil {
				return err
			}
			return g.withClient(cmd.Context(), func(c *client.Client) error {
				run, err := c.StartMatch(cmd.Context(), room)
				if err != nil {
					return err
				}
				if wait > 0 {
					if run, err = waitMatch(cmd.Context(), c, room, run.ID, wait); err != nil {
						return err
					}
				}
				if g.json {
					return printJSON(g.stdout, run)
				}
				return printMatch(g.stdout, run)
			})
		},
	}
	cmd.Flags().StringVar(&room, "room", "", "the room (required)")
	cmd.Flags().DurationVar(&wait, "wait", 0, "wait this long for the parties' agents and print the report")
	return cmd
}

func waitMatch(ctx context.Context, c *client.Client, room, id string, wait time.Duration) (*httpapi.MatchRunBody, error) {
	deadline := time.Now().Add(wait)
	for {
		run, err := c.ShowMatch(ctx, room, id)
		if err != nil || run.State != "waiting" {
			return run, err
		}
		if time.Now().After(deadline) {
			return nil, withHint(fmt.Errorf("match run %s is still waiting after %s", id, wait),
				"each party runs `cleanroom agent --room "+room+"`; read the report later with `cleanroom match report "+id+" --room "+room+"`")
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

func newMatchReportCmd(g *globals) *cobra.Command {
	var room string
	cmd := &cobra.Command{
		Use:   "report RUN --room ROOM",
		Short: "Show a match run and your party's part of its report (members)",
		Args:  wantArgs("RUN"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := required(cmd, "room", room); err != nil {
				return err
			}
			return g.withClient(cmd.Context(), func(c *client.Client) error {
				run, err := c.ShowMatch(cmd.Context(), room, args[0])
				if err != nil {
					return err
				}
				if g.json {
					return printJSON(g.stdout, run)
				}
				return printMatch(g.stdout, run)
			})
		},
	}
	cmd.Flags().StringVar(&room, "room", "", "the room (required)")
	return cmd
}

func printMatch(w io.Writer, run *httpapi.MatchRunBody) error {
	fmt.Fprintf(w, "match run %s in room %s: %s\n", run.ID, run.Room, run.State)
	if run.Error != "" {
		fmt.Fprintf(w, "error: %s\n", run.Error)
	}
	for party, n := range run.PendingJobs {
		fmt.Fprintf(w, "waiting for the agent of %s: %d jobs\n", party, n)
	}
	if run.Report == nil {
		return nil
	}
	fmt.Fprintln(w)
	tw := newTable(w, "DATASET", "ROWS", "PEOPLE", "CLASS", "PRESENT", "MISSING", "JUNK ROWS")
	for _, d := range run.Report.Datasets {
		for _, c := range d.Classes {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%d\t%d\t%d\n", d.Dataset, d.Rows, d.People, c.Class, c.Present, c.Missing, c.JunkRows)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, p := range run.Report.Pairs {
		fmt.Fprintf(w, "\n%s (%s) × %s (%s)\n", p.Datasets[0], p.Parties[0], p.Datasets[1], p.Parties[1])
		tw := newTable(w, "STEP", "CLASS", "PEOPLE ADDED (±95 %)")
		for i, s := range p.Steps {
			fmt.Fprintf(tw, "%d\t%s\t%d ± %.0f\n", i+1, s.Class, s.Added, p.Interval95)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if p.Matched < 0 {
			fmt.Fprintf(w, "matched: fewer than %d people\n", p.MinReported)
			continue
		}
		fmt.Fprintf(w, "matched: %d ± %.0f people", p.Matched, p.Interval95*math.Sqrt(float64(len(p.Steps))))
		for ds, rate := range p.MatchRate {
			fmt.Fprintf(w, "; match rate of %s %.1f %%", ds, 100*rate)
		}
		fmt.Fprintln(w)
	}
	return nil
}

func newAgentCmd(g *globals) *cobra.Command {
	var room, keysDir, state string
	var once, noUIResults bool
	var approvers []string
	var oidcIssuer, oidcClient, oidcClaim string
	var cosignEvery time.Duration
	var poll time.Duration
	cmd := &cobra.Command{
		Use:   "agent --room ROOM --keys DIR",
		Short: "Run your party's agent: re-blind peers' token sets for matching",
		Long: `Agent serves the room's re-blinding jobs for your party, and every
--cosign-every checks the room audit log's newest checkpoint against the
last one it kept and cosigns it for your party. It re-blinds a peer's
token set with your party's per-room key only if the set comes with a
manifest the peer signed for exactly this set, room and server, and only once
per manifest, refusing the identity element, non-canonical encodings and
duplicates: the room cannot use it as an oracle. Peers' keys are pinned in
the state directory on first use. It needs a token of a user holding the
provider role, and runs until interrupted (or once, with --once).`,
		Args: wantArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := required(cmd, "room", room); err != nil {
				return err
			}
			if keysDir == "" {
				d, err := defaultKeysDir()
				if err != nil {
					return err
				}
				keysDir = d
			}
			keys, err := keyfile.LoadParty(keysDir)
			if err != nil {
				return withHint(err, "pass the party's key directory with --keys DIR")
			}
			if state == "" {
				state = filepath.Join(filepath.Dir(keysDir), "agent")
			}
			logger, err := newLogger(g.stderr, "text", "info")
			if err != nil {
				return err
			}
			return g.withClient(cmd.Context(), func(c *client.Client) error {
				a, err := agent.New(cmd.Context(), c, room, keys, state, logger)
				if err != nil {
					return err
				}
				a.NoUIResults = noUIResults
				if len(approvers) > 0 {
					if oidcIssuer == "" || oidcClient == "" {
						return usageError{errors.New("--approvers needs --oidc-issuer and --oidc-client-id: the party's identity provider confirms each approval")}
					}
					a.Approvals = &agent.Approvals{Issuer: oidcIssuer, ClientID: oidcClient, UserClaim: oidcClaim, Approvers: approvers}
				}
				auditDir := filepath.Join(state, "audit")
				if once {
					n, err := a.RunOnce(cmd.Context())
					if err != nil {
						return err
					}
					fmt.Fprintf(g.stdout, "Re-blinded %d token sets.\n", n)
					if cmd.Flags().Changed("cosign-every") && cosignEvery > 0 {
						cp, party, err := cosignCheckpoint(cmd.Context(), c, room, keys, auditDir)
						if err != nil {
							return err
						}
						if party == "" {
							fmt.Fprintf(g.stdout, "Checked the room log's checkpoint of %d entries; only cosignatures since your party's last, not cosigned again.\n", cp.Size)
						} else {
							fmt.Fprintf(g.stdout, "Checked and cosigned the room log's checkpoint of %d entries for party %s.\n", cp.Size, party)
						}
					}
					return nil
				}
				if cosignEvery > 0 {
					go func() {
						for {
							if cp, party, err := cosignCheckpoint(cmd.Context(), c, room, keys, auditDir); err != nil {
								if cmd.Context().Err() != nil {
									return
								}
								logger.Error("audit log checkpoint not cosigned", "room", room, "err", err)
							} else {
								logger.Info("audit log checkpoint checked", "room", room, "size", cp.Size, "cosigned", party != "")
							}
							select {
							case <-cmd.Context().Done():
								return
							case <-time.After(cosignEvery):
							}
						}
					}()
				}
				return a.Run(cmd.Context(), poll)
			})
		},
	}
	cmd.Flags().StringVar(&room, "room", "", "the room (required)")
	cmd.Flags().StringVar(&keysDir, "keys", "", "the party's key directory (default $XDG_CONFIG_HOME/cleanroom/keys)")
	cmd.Flags().StringVar(&state, "state", "", "the agent's state directory: pinned peer keys, manifests used (default next to --keys)")
	cmd.Flags().BoolVar(&once, "once", false, "do the pending jobs and exit")
	cmd.Flags().DurationVar(&poll, "poll", 5*time.Second, "how often to look for new jobs")
	cmd.Flags().BoolVar(&noUIResults, "no-ui-results", false, "do not open your party's results for its users in the room's web UI")
	cmd.Flags().StringSliceVar(&approvers, "approvers", nil, "users whose approvals in the web UI (agreements, templates) the agent signs with the party's key")
	cmd.Flags().StringVar(&oidcIssuer, "oidc-issuer", "", "your party's OpenID Connect provider, which confirms each web UI approval")
	cmd.Flags().StringVar(&oidcClient, "oidc-client-id", "", "the room server's client ID at your party's provider")
	cmd.Flags().StringVar(&oidcClaim, "oidc-user-claim", "preferred_username", "the ID token claim naming the user: preferred_username, email or sub")
	cmd.Flags().DurationVar(&cosignEvery, "cosign-every", time.Minute,
		"how often to check the room log's newest checkpoint against the last one kept (in STATE/audit) and cosign it; 0 never (with --once: only when given)")
	return cmd
}
