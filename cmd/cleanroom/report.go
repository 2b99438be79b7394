package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"

	"github.com/spf13/cobra"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/agent"
	"github.com/cleanroom-dev/cleanroom/internal/client"
	"github.com/cleanroom-dev/cleanroom/internal/httpapi"
	"github.com/cleanroom-dev/cleanroom/internal/release"
	"github.com/cleanroom-dev/cleanroom/internal/report"
)

func init() { commands = append(commands, newReportCmd) }

func newReportCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "report",
		Short: "The business view: the dashboard's measures and the quarterly review",
		Long: `'report dashboard' prints a quarter's measures: active partner rooms, match
rates, query runs, revenue, audit incidents, suppression and refusal rates.
'report quarterly' writes the quarterly review as one self-contained HTML
page. Both cover the rooms you may see: every room for the platform admin,
the rooms you are a member of for a party's user. They show metadata and
aggregates only.`,
	}
	cmd.AddCommand(newDashboardCmd(g), newQuarterlyCmd(g))
	return group(cmd)
}

func newDashboardCmd(g *globals) *cobra.Command {
	var quarter string
	cmd := &cobra.Command{
		Use:   "dashboard [--quarter 2026Q4]",
		Short: "Print a quarter's business measures per room",
		Args:  wantArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			q, err := quarterFlag(cmd, quarter, false)
			if err != nil {
				return err
			}
			return g.withClient(cmd.Context(), func(c *client.Client) error {
				d, err := c.Dashboard(cmd.Context(), q)
				if err != nil {
					return err
				}
				if g.json {
					return printJSON(g.stdout, d)
				}
				return printDashboard(g.stdout, d)
			})
		},
	}
	cmd.Flags().StringVar(&quarter, "quarter", "", "the quarter, like 2026Q4 (default: the current one)")
	return cmd
}

func rateText(v *float64) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("%.1f %%", 100**v)
}

func printDashboard(w io.Writer, d *cleanroom.Dashboard) error {
	fmt.Fprintf(w, "%s, %s\n", d.Quarter, report.Scope(d))
	tw := newTable(w)
	row(tw, "active partner rooms:", fmt.Sprint(d.ActiveRooms))
	row(tw, "average match rate:", rateText(d.AverageMatchRate))
	row(tw, "query runs:", fmt.Sprintf("%d (%d requests, %d refused: %s)", d.Queries, d.Attempts, d.Refused, rateText(d.RefusalRate)))
	for _, r := range d.Revenue {
		row(tw, "revenue:", fmt.Sprintf("%s (%s subscriptions, %s for %d runs)", money(r.Total, r.Currency), money(r.Subscription, r.Currency),
			money(r.Runs, r.Currency), r.RunCount))
	}
	row(tw, "audit incidents:", fmt.Sprintf("%d (%d breaches, %d false positives, %d not triaged)", d.Incidents.Total, d.Incidents.Breach,
		d.Incidents.FalsePositive, d.Incidents.Untriaged))
	row(tw, "suppression rate:", fmt.Sprintf("%s (%d of %d groups withheld)", rateText(d.SuppressionRate), d.CellsSuppressed, d.CellsShown+d.CellsSuppressed))
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(d.Rooms) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	tw = newTable(w, "ROOM", "ACTIVE", "MATCH RATE", "RUNS", "REFUSAL RATE", "SUPPRESSION RATE", "REVENUE", "INCIDENTS")
	for _, m := range d.Rooms {
		active := "no"
		if m.Active {
			active = "yes"
		}
		rev := "-"
		if m.Revenue != nil {
			rev = money(m.Revenue.Total, m.Revenue.Currency)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%d\n", m.Room, active, rateText(m.MatchRate), m.Queries, rateText(m.RefusalRate),
			rateText(m.SuppressionRate), rev, m.Incidents.Total)
	}
	return tw.Flush()
}

func newQuarterlyCmd(g *globals) *cobra.Command {
	var quarter, out, state string
	cmd := &cobra.Command{
		Use:   "quarterly --quarter 2026Q4 [--out FILE] [--agent-state DIR]",
		Short: "Write the quarterly review as a self-contained HTML page",
		Long: `Quarterly writes the review of a quarter across the active rooms you may see:
utilisation (query runs per room), business value (revenue per room, match
rates, and the lift and model uplift of results released to your party in the
quarter), and regulatory items (incidents, agreements expiring within 90 days
of the quarter's end, privacy budgets over 80 % used). The page has inline
styles and SVG charts only: no script, font, image or link to load.

Results are sealed to your party's agent key: the review opens the attribution
and model results released to your party with the agent's state directory
(--agent-state, default: agent next to the default key directory), as
'query result' does, and checks each against the digest the audit log
recorded. Each is fetched like any result, and audited. Results it cannot open
are counted on the page and left out.`,
		Example: `  cleanroom report quarterly --quarter 2026Q4 --out review-2026Q4.html --agent-state operator/agent`,
		Args:    wantArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			q, err := quarterFlag(cmd, quarter, true)
			if err != nil {
				return err
			}
			return g.withClient(cmd.Context(), func(c *client.Client) error {
				d, err := c.Dashboard(cmd.Context(), q)
				if err != nil {
					return err
				}
				rq := &report.Quarterly{Dashboard: d}
				if d.Scope != "all" {
					if err := openResults(cmd.Context(), g, c, rq, state); err != nil {
						return err
					}
				}
				var buf bytes.Buffer
				if err := report.Render(&buf, rq); err != nil {
					return err
				}
				if wrote, err := writeOutput(g, out, buf.Bytes(), "write the quarterly review"); err != nil || !wrote {
					return err
				}
				active := 0
				for _, m := range d.Rooms {
					if m.Active {
						active++
					}
				}
				fmt.Fprintf(g.stderr, "Wrote the %s review of %d active rooms to %s.\n", q, active, out)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&quarter, "quarter", "", "the quarter, like 2026Q4 (required)")
	cmd.Flags().StringVar(&out, "out", "", "write the page to this file (mode 0600) instead of standard output")
	cmd.Flags().StringVar(&state, "agent-state", "", "your party agent's state directory, whose key opens results sealed to your party (default: agent next to the default key directory)")
	return cmd
}

// openResults adds to rq the lift and model uplift of the attribution and
// model results released to the caller's party in rq's quarter, in the
// active rooms where the caller holds the receiver role, opened with the
// party's agent key from stateDir. A result that does not open is counted
// in rq.Unopened; one whose digest differs from the audit log's is an
// error.
func openResults(ctx context.Context, g *globals, c *client.Client, rq *report.Quarterly, stateDir string) error {
	d := rq.Dashboard
	who, err := c.Whoami(ctx)
	if err != nil {
		return err
	}
	var info *httpapi.ServerInfo
	warned := false
	for _, m := range d.Rooms {
		if !m.Active || !slices.Contains(who.Rooms[m.Room], cleanroom.RoleReceiver) {
			continue
		}
		tl, err := c.ListTemplates(ctx, m.Room)
		if err != nil {
			return err
		}
		kinds := map[string]bool{} // "name vN" of attribution and model templates
		for _, t := range tl.Templates {
			if t.Template.Attribution != nil || t.Template.Model != nil {
				kinds[fmt.Sprintf("%s v%d", t.Template.Name, t.Template.Version)] = true
			}
		}
		ql, err := c.ListQueries(ctx, m.Room)
		if err != nil {
			return err
		}
		for _, sum := range slices.Backward(ql.Queries) {
			if sum.State != cleanroom.QueryReleased || !kinds[fmt.Sprintf("%s v%d", sum.Template, sum.Version)] ||
				!slices.Contains(sum.Receivers, who.Party) || sum.CreatedAt.Before(d.Start) || !sum.CreatedAt.Before(d.End) {
				continue
			}
			r, err := openResult(ctx, c, &info, m.Room, sum.ID, who.Party, stateDir)
			if err != nil {
				var mismatch *digestMismatch
				if errors.As(err, &mismatch) {
					return err
				}
				rq.Unopened++
				if !warned {
					fmt.Fprintf(g.stderr, "cleanroom: warning: a result released to party %s could not be opened (%v); the review leaves it out\n", who.Party, err)
					fmt.Fprintln(g.stderr, "hint: pass your party agent's state directory with --agent-state DIR")
					warned = true
				}
				continue
			}
			lifts, up := report.ResultsOf(m.Room, sum.Template, sum.CreatedAt, r)
			rq.Lifts = append(rq.Lifts, lifts...)
			if up != nil {
				rq.Uplifts = append(rq.Uplifts, *up)
			}
		}
	}
	return nil
}

// digestMismatch is a result that is not the one the audit log recorded.
type digestMismatch struct{ error }

// openResult fetches query id's result sealed to party and opens it with
// the agent key in stateDir, checking it against the run's audit entry.
func openResult(ctx context.Context, c *client.Client, info **httpapi.ServerInfo, room, id, party, stateDir string) (*release.Release, error) {
	q, err := c.ShowQuery(ctx, room, id)
	if err != nil {
		return nil, err
	}
	if q.Sealed == nil {
		return nil, fmt.Errorf("the room sealed no copy of the result to party %s", party)
	}
	if *info == nil {
		if *info, err = c.ServerInfo(ctx); err != nil {
			return nil, err
		}
	}
	if stateDir == "" {
		d, err := defaultKeysDir()
		if err != nil {
			return nil, err
		}
		stateDir = filepath.Join(filepath.Dir(d), "agent")
	}
	raw, digest, err := agent.OpenRelease(stateDir, (*info).ServerID, room, id, party, q.Sealed)
	if err != nil {
		return nil, err
	}
	e, err := runEntry(ctx, c, room, id)
	if err != nil {
		return nil, err
	}
	if logged := e.Detail["digest."+party]; logged != digest {
		return nil, &digestMismatch{fmt.Errorf("the result of query %s in room %s sealed to party %s is not the one the audit log recorded (entry %d): digest %s, logged %q",
			id, room, party, e.Seq, digest, logged)}
	}
	var r release.Release
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("open the result of query %s in room %s: %w", id, room, err)
	}
	return &r, nil
}
