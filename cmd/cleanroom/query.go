package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/agent"
	"github.com/cleanroom-dev/cleanroom/internal/client"
	"github.com/cleanroom-dev/cleanroom/internal/httpapi"
	"github.com/cleanroom-dev/cleanroom/internal/release"
)

func init() { commands = append(commands, newQueryCmd, newReviewCmd) }

func newQueryCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "query",
		Short: "Run approved templates and read their results",
		Long: `An analyst runs an approved template with its typed parameters over the people
the latest match run found. The room reserves the privacy budget of every
dataset the template reads before anything runs, computes the aggregates with
each person's contribution bounded, and releases them through the output
controls: groups below the minimum size are never shown, every number carries
noise and its error bars. A result goes to the template's receivers, after its
reviewers approve it if the template names any. The same request over the same
data returns the stored result and spends nothing.`,
	}
	cmd.AddCommand(newQueryRunCmd(g), newQueryExplainCmd(g), newQueryListCmd(g), newQueryStatusCmd(g), newQueryResultCmd(g))
	return group(cmd)
}

func newQueryRunCmd(g *globals) *cobra.Command {
	var room, state, engine string
	var version int
	var params []string
	var wait time.Duration
	cmd := &cobra.Command{
		Use:     "run TEMPLATE --room ROOM [--param name=value ...] [--version N] [--wait 10m]",
		Short:   "Run an approved template (analyst)",
		Example: `  cleanroom query run tier-by-default-flag --room operator-bank --param flag=true --param since=2020-01-01`,
		Args:    wantArgs("TEMPLATE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := required(cmd, "room", room); err != nil {
				return err
			}
			ps, err := parseParams(params)
			if err != nil {
				return err
			}
			return g.withClient(cmd.Context(), func(c *client.Client) error {
				q, err := c.RunQuery(cmd.Context(), room, httpapi.RunQueryRequest{Template: args[0], Version: version, Params: ps, Engine: engine})
				if err != nil {
					return err
				}
				// A result waiting for review: wait for the decision.
				for deadline := time.Now().Add(wait); q.State == cleanroom.QueryPendingReview && time.Now().Before(deadline); {
					select {
					case <-cmd.Context().Done():
						return cmd.Context().Err()
					case <-time.After(time.Second):
					}
					if q, err = c.ShowQuery(cmd.Context(), room, q.ID); err != nil {
						return err
					}
				}
				return showQuery(cmd.Context(), g, c, room, q, state)
			})
		},
	}
	cmd.Flags().StringVar(&room, "room", "", "the room (required)")
	cmd.Flags().IntVar(&version, "version", 0, "the template version (default the newest)")
	cmd.Flags().StringArrayVar(&params, "param", nil, "a parameter as name=value; repeat for each")
	cmd.Flags().StringVar(&state, "agent-state", "", "your party agent's state directory, whose key opens results sealed to your party (default: agent next to the default key directory)")
	cmd.Flags().DurationVar(&wait, "wait", 0, "wait this long for the review of a result that needs one")
	cmd.Flags().StringVar(&engine, "engine", "", "the engine that computes the aggregates: duckdb or beam (default: the server's --engine)")
	return cmd
}

// showQuery prints a run, opening its result with the party's agent key
// when the room sealed one to the caller's party.
func showQuery(ctx context.Context, g *globals, c *client.Client, room string, q *httpapi.QueryBody, state string) error {
	var r *release.Release
	if q.Sealed != nil {
		info, err := c.ServerInfo(ctx)
		if err != nil {
			return err
		}
		who, err := c.Whoami(ctx)
		if err != nil {
			return err
		}
		if state == "" {
			d, err := defaultKeysDir()
			if err != nil {
				return err
			}
			state = filepath.Join(filepath.Dir(d), "agent")
		}
		raw, digest, err := agent.OpenRelease(state, info.ServerID, room, q.ID, who.Party, q.Sealed)
		if err != nil {
			return withHint(fmt.Errorf("open the result sealed to party %s: %w", who.Party, err), "pass your party agent's state directory with --agent-state DIR")
		}
		// The run's audit entry shows the result only as a digest under a
		// key this party alone can export: it must be this result's.
		e, err := runEntry(ctx, c, room, q.ID)
		if err != nil {
			return err
		}
		if logged := e.Detail["digest."+who.Party]; logged != digest {
			return fmt.Errorf("the result sealed to party %s is not the one the audit log recorded (entry %d): digest %s, logged %q",
				who.Party, e.Seq, digest, logged)
		}
		r = new(release.Release)
		if err := json.Unmarshal(raw, r); err != nil {
			return err
		}
		fmt.Fprintf(g.stderr, "The result's digest matches audit entry %d.\n", e.Seq)
	}
	if g.json {
		return printJSON(g.stdout, struct {
			*httpapi.QueryBody
			Result *release.Release `json:"result,omitempty"`
		}{q, r})
	}
	return printQuery(g.stdout, q, r)
}

func parseParams(params []string) (map[string]string, error) {
	ps := map[string]string{}
	for _, p := range params {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return nil, withHint(usageError{fmt.Errorf("--param %q is not name=value", p)}, "for example: --param flag=true")
		}
		ps[k] = v
	}
	return ps, nil
}

func newQueryExplainCmd(g *globals) *cobra.Command {
	var room string
	var version int
	var params []string
	cmd := &cobra.Command{
		Use:   "explain TEMPLATE --room ROOM [--param name=value ...]",
		Short: "Show a run's plan, controls and utility preview before running it",
		Long: `Explain shows what a run would do without reading data or spending budget:
the compiled plan, the noise each cell will carry (standard deviation and 95 %
interval), the probability that a group of n people is shown, and the privacy
cost. So a result that would be "too noisy" or mostly suppressed is seen first.`,
		Args: wantArgs("TEMPLATE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := required(cmd, "room", room); err != nil {
				return err
			}
			ps, err := parseParams(params)
			if err != nil {
				return err
			}
			return g.withClient(cmd.Context(), func(c *client.Client) error {
				e, err := c.ExplainQuery(cmd.Context(), room, httpapi.RunQueryRequest{Template: args[0], Version: version, Params: ps})
				if err != nil {
					return err
				}
				if g.json {
					return printJSON(g.stdout, e)
				}
				fmt.Fprintf(g.stdout, "%s\n", strings.TrimRight(e.Plan, "\n"))
				fmt.Fprintln(g.stdout)
				tw := newTable(g.stdout, "METRIC", "KIND", "NOISE STD DEV", "95 % INTERVAL")
				for _, m := range e.Preview.Metrics {
					fmt.Fprintf(tw, "%s\t%s\t%s\t± %s\n", m.Name, m.Kind, num(m.Noise.StdDev), num(m.Noise.Interval95))
				}
				tw.Flush()
				fmt.Fprintln(g.stdout)
				tw = newTable(g.stdout, "GROUP SIZE", "P(SHOWN)")
				for _, k := range e.Preview.Keep {
					fmt.Fprintf(tw, "%d\t%.3f\n", k.N, k.P)
				}
				tw.Flush()
				fmt.Fprintf(g.stdout, "\nprivacy cost: ρ %g, selection ε %g, δ %g\n", e.Preview.Loss.Rho, e.Preview.Loss.Epsilon, e.Preview.Loss.Delta)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&room, "room", "", "the room (required)")
	cmd.Flags().IntVar(&version, "version", 0, "the template version (default the newest)")
	cmd.Flags().StringArrayVar(&params, "param", nil, "a parameter as name=value; repeat for each")
	return cmd
}

func newQueryListCmd(g *globals) *cobra.Command {
	var room string
	cmd := &cobra.Command{
		Use:   "list --room ROOM",
		Short: "List a room's query runs (members)",
		Args:  wantArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := required(cmd, "room", room); err != nil {
				return err
			}
			return g.withClient(cmd.Context(), func(c *client.Client) error {
				l, err := c.ListQueries(cmd.Context(), room)
				if err != nil {
					return err
				}
				if g.json {
					return printJSON(g.stdout, l)
				}
				tw := newTable(g.stdout, "QUERY", "TEMPLATE", "VERSION", "STATE", "ANALYST", "RECEIVERS", "CREATED")
				for _, q := range l.Queries {
					fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\n", q.ID, q.Template, q.Version, q.State, q.Analyst,
						dashIfEmpty(q.Receivers), q.CreatedAt.Format(tableTime))
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().StringVar(&room, "room", "", "the room (required)")
	return cmd
}

func newQueryStatusCmd(g *globals) *cobra.Command {
	var room string
	cmd := &cobra.Command{
		Use:   "status QUERY --room ROOM",
		Short: "Show a query run's state, without its result (members)",
		Args:  wantArgs("QUERY"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := required(cmd, "room", room); err != nil {
				return err
			}
			return g.withClient(cmd.Context(), func(c *client.Client) error {
				q, err := c.ShowQuery(cmd.Context(), room, args[0])
				if err != nil {
					return err
				}
				q.Sealed = nil
				if g.json {
					return printJSON(g.stdout, q)
				}
				fmt.Fprintf(g.stdout, "query %s: template %s version %d, %s; %d groups shown, %d withheld; run by %s at %s\n",
					q.ID, q.Template, q.Version, q.State, q.Cells, q.Suppressed, q.Analyst, q.CreatedAt.Format(tableTime))
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&room, "room", "", "the room (required)")
	return cmd
}

func newQueryResultCmd(g *globals) *cobra.Command {
	var room, state, receipts string
	cmd := &cobra.Command{
		Use:   "result QUERY --room ROOM",
		Short: "Show a query run and, if you may see it, its result",
		Args:  wantArgs("QUERY"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := required(cmd, "room", room); err != nil {
				return err
			}
			return g.withClient(cmd.Context(), func(c *client.Client) error {
				q, err := c.ShowQuery(cmd.Context(), room, args[0])
				if err != nil {
					return err
				}
				if err := showQuery(cmd.Context(), g, c, room, q, state); err != nil {
					return err
				}
				if receipts == "" || q.State != cleanroom.QueryReleased {
					return nil
				}
				seq, err := releaseEntry(cmd.Context(), c, room, q.ID)
				if err != nil {
					return err
				}
				r, err := keepReceipt(cmd.Context(), c, room, seq, receipts)
				if err != nil {
					return err
				}
				fmt.Fprintf(g.stderr, "Kept a receipt of the release (audit entry %d, entry %d of the %d-entry log) in %s.\n",
					seq, r.Index+1, r.Checkpoint.Size, receipts)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&room, "room", "", "the room (required)")
	cmd.Flags().StringVar(&state, "agent-state", "", "your party agent's state directory, whose key opens results sealed to your party")
	cmd.Flags().StringVar(&receipts, "receipt", "", "keep an audit receipt of the release in this audit state directory (see 'audit receipt')")
	return cmd
}

// runEntry finds the audit entry of query id's run.
func runEntry(ctx context.Context, c *client.Client, room, id string) (*cleanroom.AuditEntry, error) {
	page := client.AuditPage{}
	for {
		l, err := c.RoomAudit(ctx, room, page)
		if err != nil {
			return nil, err
		}
		for _, e := range l.Entries {
			if e.Object == "query:"+id && e.Action == cleanroom.ActionQueryRun && e.Outcome == cleanroom.OutcomeOK && e.Detail["repeat_of"] == "" {
				return &e, nil
			}
		}
		if l.Next == 0 {
			return nil, fmt.Errorf("the room's audit log has no entry of query %s's run", id)
		}
		page.After = l.Next
	}
}

// releaseEntry finds the audit entry that released query id: its run, or
// the review that approved it.
func releaseEntry(ctx context.Context, c *client.Client, room, id string) (int64, error) {
	page := client.AuditPage{}
	for {
		l, err := c.RoomAudit(ctx, room, page)
		if err != nil {
			return 0, err
		}
		for _, e := range l.Entries {
			if e.Object != "query:"+id || e.Outcome != cleanroom.OutcomeOK {
				continue
			}
			if e.Action == cleanroom.ActionQueryRun && e.Detail["state"] == cleanroom.QueryReleased ||
				e.Action == cleanroom.ActionQueryReview && e.Detail["decision"] == "approve" {
				return e.Seq, nil
			}
		}
		if l.Next == 0 {
			return 0, fmt.Errorf("the room's audit log has no entry releasing query %s", id)
		}
		page.After = l.Next
	}
}

// printQuery prints a run and its result (nil if the caller may not see
// it) as a table with error bars.
func printQuery(w io.Writer, q *httpapi.QueryBody, r *release.Release) error {
	repeat := ""
	if q.Repeat {
		repeat = " (a repeat: the stored result, nothing spent)"
	}
	fmt.Fprintf(w, "query %s: template %s version %d, %s%s\n", q.ID, q.Template, q.Version, q.State, repeat)
	if r == nil {
		switch q.State {
		case "pending_review":
			fmt.Fprintf(w, "waiting for the review of %s\n", strings.Join(q.ReviewBy, ", "))
		case "released":
			fmt.Fprintf(w, "released to %s\n", strings.Join(q.Receivers, ", "))
		}
		return nil
	}
	header := []string{"GROUP"}
	for _, m := range r.Metrics {
		header = append(header, strings.ToUpper(m.Name)+" (±95 %)")
	}
	tw := newTable(w, header...)
	for _, c := range r.Cells {
		label := strings.Join(c.Key, " / ")
		if len(c.Key) == 0 {
			label = "all"
		}
		fmt.Fprint(tw, label)
		for i, v := range c.Values {
			fmt.Fprintf(tw, "\t%s ± %s", num(v), num(c.Interval95[i]))
		}
		fmt.Fprintln(tw)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "%d groups not shown (fewer than %d people, or not selected)\n", r.Suppressed, r.MinGroupSize)
	for _, m := range r.Metrics {
		if m.Total != nil {
			fmt.Fprintf(w, "total %s over shown groups: %s\n", m.Name, num(*m.Total))
		}
	}
	if len(r.Lift) > 0 {
		fmt.Fprintln(w)
		tw := newTable(w, "CAMPAIGN", "EXPOSED RATE", "HOLDOUT RATE", "LIFT (±95 %)", "RELATIVE")
		for _, l := range r.Lift {
			fmt.Fprintf(tw, "%s\t%.2f %%\t%.2f %%\t%+.2f ± %.2f pp\t%+.0f %%\n", l.Campaign, 100*l.ExposedRate, 100*l.HoldoutRate,
				100*l.Lift, 100*l.Interval95, 100*l.Relative)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintln(w, "lift: exposed minus holdout conversion rate; the interval includes sampling and the DP noise")
	}
	if r.Seed != nil {
		fmt.Fprintf(w, "\nmatched seed: about %d people (noisy, ±%.0f)\n", r.Seed.Count, r.Seed.Interval95)
	}
	if len(r.Reach) > 0 {
		tw := newTable(w, "SCORE AT LEAST", "REACH (±95 %)")
		for _, p := range r.Reach {
			fmt.Fprintf(tw, "%g\t%s ± %s\n", p.Threshold, num(p.People), num(p.Interval95))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if sg := r.Segment; sg != nil {
		fmt.Fprintf(w, "activation segment (declared disclosure %s): %d rows of your dataset %s version %d score at least %g; --json lists them\n",
			sg.Disclosure, len(sg.Rows), sg.Dataset, sg.Version, sg.Threshold)
	}
	for _, m := range r.Models {
		e := m.Evaluation
		fmt.Fprintf(w, "\nmodel %s: AUC %.3f, KS %.3f, positive rate %.2f %% on %d people (noisy counts, σ %.1f per cell)\n",
			m.Name, e.AUC, e.KS, 100*e.DefaultRate, e.Total, e.CellStdDev)
		tw := newTable(w, "SCORE", "POSITIVES", "NEGATIVES", "POSITIVE RATE")
		for _, b := range e.Bins {
			fmt.Fprintf(tw, "[%.2f, %.2f)\t%d\t%d\t%.2f %%\n", b.Lo, b.Hi, b.Positives, b.Negatives, 100*b.DefaultRate)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(w, "model card: %s, ε %g, λ %g, trained %s; intercept %.3f\n", m.Card.Method, m.Card.Epsilon, m.Card.Lambda,
			m.Card.TrainedAt.Format(time.RFC3339), m.Card.Intercept)
		tw = newTable(w, "INPUT", "DATASET", "COEFFICIENT", "IMPORTANCE")
		for _, in := range m.Card.Inputs {
			coef := "(partner's: not shown)"
			if in.Coefficient != nil {
				coef = fmt.Sprintf("%+.3f", *in.Coefficient)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%.3f\n", in.Name, in.Dataset, coef, in.Importance)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	fmt.Fprintf(w, "privacy cost: ρ %g, selection ε %g, δ %g\n", r.Loss.Rho, r.Loss.Epsilon, r.Loss.Delta)
	return nil
}

func num(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

func newReviewCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "review",
		Short: "Approve or reject results waiting for your party's review (reviewer)",
	}
	var room string
	decide := func(decision string) *cobra.Command {
		c := &cobra.Command{
			Use:   decision + " QUERY --room ROOM",
			Short: strings.ToUpper(decision[:1]) + decision[1:] + " a result waiting for review",
			Args:  wantArgs("QUERY"),
			RunE: func(cmd *cobra.Command, args []string) error {
				if err := required(cmd, "room", room); err != nil {
					return err
				}
				return g.withClient(cmd.Context(), func(c *client.Client) error {
					q, err := c.ReviewQuery(cmd.Context(), room, args[0], decision)
					if err != nil {
						return err
					}
					if g.json {
						return printJSON(g.stdout, q)
					}
					fmt.Fprintf(g.stdout, "Query %s is %s.\n", q.ID, q.State)
					return nil
				})
			},
		}
		c.Flags().StringVar(&room, "room", "", "the room (required)")
		return c
	}
	list := &cobra.Command{
		Use:   "list --room ROOM",
		Short: "List results waiting for review",
		Args:  wantArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := required(cmd, "room", room); err != nil {
				return err
			}
			return g.withClient(cmd.Context(), func(c *client.Client) error {
				l, err := c.ListQueries(cmd.Context(), room)
				if err != nil {
					return err
				}
				tw := newTable(g.stdout, "QUERY", "TEMPLATE", "VERSION", "REVIEW BY", "CREATED")
				for _, q := range l.Queries {
					if q.State == "pending_review" {
						fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", q.ID, q.Template, q.Version, strings.Join(q.ReviewBy, ","), q.CreatedAt.Format(tableTime))
					}
				}
				return tw.Flush()
			})
		},
	}
	list.Flags().StringVar(&room, "room", "", "the room (required)")
	cmd.AddCommand(list, decide("approve"), decide("reject"))
	return group(cmd)
}
