package main

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/cleanroom-dev/cleanroom/internal/client"
	"github.com/cleanroom-dev/cleanroom/internal/httpapi"
)

func init() { commands = append(commands, newIncidentCmd) }

func newIncidentCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "incident",
		Short: "List a room's incidents and triage them (members; reviewers triage)",
		Long: `Every refused request in a room — a wrong role, a wrong room, a policy or
budget refusal, a failed verification — is an incident. Members list them
with the room's counts; a reviewer triages each once, as a confirmed breach
or a false positive, and the triage is itself audited.`,
	}
	var room string
	var page client.AuditPage
	list := &cobra.Command{
		Use:   "list --room ROOM [--untriaged] [--after SEQ] [--limit N]",
		Short: "List the room's incidents and their counts",
		Args:  wantArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			untriaged, _ := cmd.Flags().GetBool("untriaged")
			if err := required(cmd, "room", room); err != nil {
				return err
			}
			if err := checkPage(page); err != nil {
				return err
			}
			return g.withClient(cmd.Context(), func(c *client.Client) error {
				l, err := c.Incidents(cmd.Context(), room, page)
				if err != nil {
					return err
				}
				if g.json {
					return printJSON(g.stdout, l)
				}
				fmt.Fprintf(g.stdout, "Incidents in room %s: %d (%d confirmed breaches, %d false positives, %d untriaged).\n",
					room, l.Counts.Total, l.Counts.Breach, l.Counts.FalsePositive, l.Counts.Untriaged)
				tw := newTable(g.stdout, "SEQ", "TIME", "ACTOR", "ACTION", "OBJECT", "REFUSAL", "TRIAGE")
				for _, in := range l.Incidents {
					if untriaged && in.Verdict != "" {
						continue
					}
					triage := "-"
					if in.Verdict != "" {
						triage = in.Verdict + " by " + in.TriagedBy
					}
					fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", in.Entry.Seq, in.Entry.Time.Format(tableTime),
						in.Entry.Actor, in.Entry.Action, in.Entry.Object, in.Entry.Code, triage)
				}
				if err := tw.Flush(); err != nil {
					return err
				}
				if l.Next != 0 {
					fmt.Fprintf(g.stderr, "More incidents follow: cleanroom incident list --room %s --after %d\n", room, l.Next)
				}
				return nil
			})
		},
	}
	list.Flags().Bool("untriaged", false, "show only incidents no reviewer has triaged")
	list.Flags().Int64Var(&page.After, "after", 0, "show incidents after this sequence number")
	list.Flags().IntVar(&page.Limit, "limit", 0, "look at most at this many incidents (default 1000)")
	triage := &cobra.Command{
		Use:   "triage SEQ --room ROOM --verdict breach|false-positive [--note TEXT]",
		Short: "Triage an incident as a confirmed breach or a false positive (reviewer)",
		Args:  wantArgs("SEQ"),
		RunE: func(cmd *cobra.Command, args []string) error {
			verdict, _ := cmd.Flags().GetString("verdict")
			note, _ := cmd.Flags().GetString("note")
			if err := required(cmd, "room", room); err != nil {
				return err
			}
			if err := required(cmd, "verdict", verdict); err != nil {
				return err
			}
			seq, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || seq < 1 {
				return usageError{fmt.Errorf("incident %q is not a sequence number", args[0])}
			}
			return g.withClient(cmd.Context(), func(c *client.Client) error {
				counts, err := c.TriageIncident(cmd.Context(), room, seq, httpapi.TriageRequest{Verdict: verdict, Note: note})
				if err != nil {
					return err
				}
				if g.json {
					return printJSON(g.stdout, counts)
				}
				fmt.Fprintf(g.stdout, "Incident %d triaged as %s. Room %s: %d confirmed breaches, %d false positives, %d untriaged.\n",
					seq, verdict, room, counts.Breach, counts.FalsePositive, counts.Untriaged)
				return nil
			})
		},
	}
	triage.Flags().String("verdict", "", "breach or false-positive (required)")
	triage.Flags().String("note", "", "why, for the other members")
	for _, c := range []*cobra.Command{list, triage} {
		c.Flags().StringVar(&room, "room", "", "the room (required)")
	}
	cmd.AddCommand(list, triage)
	return group(cmd)
}
