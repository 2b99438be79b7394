package main

import (
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/client"
	"github.com/cleanroom-dev/cleanroom/internal/httpapi"
)

func init() { commands = append(commands, newRoomCmd) }

func newRoomCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "room",
		Short: "Create rooms, invite parties, show members and the room's audit log",
		Long: `A room is where parties answer agreed questions over their joined data. It
names its host, the organisation that runs the room server and sees the
pseudonymous join in memory; the host therefore cannot be a provider of the
room. The platform admin creates rooms and invites parties; each party
grants its own users roles in the room ('cleanroom user grant').`,
	}
	cmd.AddCommand(newRoomCreateCmd(g), newRoomListCmd(g), newRoomShowCmd(g), newRoomInviteCmd(g), newRoomAuditCmd(g))
	return group(cmd)
}

func newRoomCreateCmd(g *globals) *cobra.Command {
	var host, desc, matching string
	var parties []string
	cmd := &cobra.Command{
		Use:   "create NAME --host HOST [--party P ...] [--description S]",
		Short: "Create a room hosted by HOST, optionally inviting parties (admin)",
		Example: `  cleanroom room create telco-bank --host neutral-processor --party operator --party bank \
      --description "Premium subscribers and bank products"`,
		Args: wantArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := required(cmd, "host", host); err != nil {
				return withHint(err, "the host is the organisation that runs this server, for example a neutral processor")
			}
			return g.withClient(cmd.Context(), func(c *client.Client) error {
				r, err := c.CreateRoom(cmd.Context(), httpapi.CreateRoomRequest{Name: args[0], Host: host, Description: desc, Parties: parties, Matching: matching})
				if err != nil {
					return err
				}
				if g.json {
					return printJSON(g.stdout, r)
				}
				fmt.Fprintf(g.stdout, "Created room %s, hosted by %s, with parties: %s.\n", r.Name, r.Host, partyList(r.Parties))
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&host, "host", "", "the organisation that runs the room server (required)")
	cmd.Flags().StringSliceVar(&parties, "party", nil, "a party to invite; repeat or separate with commas")
	cmd.Flags().StringVar(&desc, "description", "", "what the room is for, at most 2000 characters")
	cmd.Flags().StringVar(&matching, "matching", "ecdh", "matching mode, fixed for the room's life: ecdh (re-blinding by each peer) or hmac (faster, weaker: a secret the providers share)")
	return cmd
}

func partyList(ps []string) string {
	if len(ps) == 0 {
		return "none"
	}
	return strings.Join(ps, ", ")
}

func newRoomListCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the rooms you may see",
		Long:  `List shows every room to the platform admin, and to a user the rooms it holds a role in.`,
		Args:  wantArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.withClient(cmd.Context(), func(c *client.Client) error {
				l, err := c.ListRooms(cmd.Context())
				if err != nil {
					return err
				}
				if g.json {
					return printJSON(g.stdout, l)
				}
				if len(l.Rooms) == 0 {
					fmt.Fprintln(g.stdout, "No rooms.")
					return nil
				}
				tw := newTable(g.stdout, "NAME", "HOST", "PARTIES", "CREATED")
				for _, r := range l.Rooms {
					row(tw, r.Name, r.Host, orDash(strings.Join(r.Parties, ",")), fmtTime(r.CreatedAt))
				}
				return tw.Flush()
			})
		},
	}
}

func newRoomShowCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "show NAME",
		Short: "Show a room: host, parties, and members with their roles",
		Args:  wantArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withClient(cmd.Context(), func(c *client.Client) error {
				r, err := c.ShowRoom(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				if g.json {
					return printJSON(g.stdout, r)
				}
				printRoom(g, r)
				// Members also see the agreement the room works under; the
				// admin, who is no party to it, does not.
				if l, err := c.ListDUAs(cmd.Context(), r.Name); err == nil {
					fmt.Fprintln(g.stdout)
					switch {
					case l.Active > 0:
						fmt.Fprintf(g.stdout, "Data-use agreement version %d is in force (`cleanroom dua show --room %s`).\n", l.Active, r.Name)
					case len(l.Agreements) == 0:
						fmt.Fprintf(g.stdout, "No data-use agreement: uploads, matching and queries wait for one (`cleanroom dua draft`).\n")
					default:
						b := l.Agreements[len(l.Agreements)-1]
						fmt.Fprintf(g.stdout, "No data-use agreement in force: version %d is %s", b.Version, b.State)
						if len(b.Pending) > 0 {
							fmt.Fprintf(g.stdout, ", waiting for %s", strings.Join(b.Pending, ", "))
						}
						fmt.Fprintln(g.stdout, ".")
					}
				}
				return nil
			})
		},
	}
}

func printRoom(g *globals, r *cleanroom.Room) {
	tw := newTable(g.stdout)
	row(tw, "room:", r.Name)
	row(tw, "host:", r.Host)
	row(tw, "matching:", r.Matching)
	if r.Description != "" {
		row(tw, "description:", r.Description)
	}
	row(tw, "created:", fmtTime(r.CreatedAt))
	row(tw, "parties:", partyList(r.Parties))
	tw.Flush()
	fmt.Fprintln(g.stdout)
	if len(r.Members) == 0 {
		fmt.Fprintln(g.stdout, "No members: each party grants its users roles with `cleanroom user grant`.")
		return
	}
	ms := append([]cleanroom.Member(nil), r.Members...)
	sort.Slice(ms, func(i, j int) bool {
		if ms[i].Party != ms[j].Party {
			return ms[i].Party < ms[j].Party
		}
		return ms[i].User < ms[j].User
	})
	tw = newTable(g.stdout, "MEMBER", "ROLES", "EXPIRES")
	for _, m := range ms {
		row(tw, m.Party+"/"+m.User, roleList(m.Roles), fmtTime(m.ExpiresAt))
	}
	tw.Flush()
}

func newRoomInviteCmd(g *globals) *cobra.Command {
	var party string
	cmd := &cobra.Command{
		Use:   "invite NAME --party P",
		Short: "Invite a party to a room (admin)",
		Args:  wantArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := required(cmd, "party", party); err != nil {
				return err
			}
			return g.withClient(cmd.Context(), func(c *client.Client) error {
				r, err := c.Invite(cmd.Context(), args[0], party)
				if err != nil {
					return err
				}
				if g.json {
					return printJSON(g.stdout, r)
				}
				fmt.Fprintf(g.stdout, "Invited party %s to room %s; its parties are now: %s.\n", party, r.Name, partyList(r.Parties))
				fmt.Fprintf(g.stdout, "Next: the party grants its users roles with `cleanroom user grant USER --party %s --room %s --roles ... --keys DIR`.\n", party, r.Name)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&party, "party", "", "the party to invite (required)")
	return cmd
}

func newRoomAuditCmd(g *globals) *cobra.Command {
	var page client.AuditPage
	cmd := &cobra.Command{
		Use:   "audit NAME [--after SEQ] [--limit N]",
		Short: "Show a room's audit log (members)",
		Long: `Audit lists the room's audit entries, refused requests included: sequence
number, time, actor, action, object and outcome. Only the room's members
read it; the platform admin does not. At most --limit entries are shown
(1000 at most); --after continues after an entry's sequence number.`,
		Args: wantArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return listRoomAudit(cmd, g, args[0], page, "cleanroom room audit "+args[0])
		},
	}
	cmd.Flags().Int64Var(&page.After, "after", 0, "show entries after this sequence number")
	cmd.Flags().IntVar(&page.Limit, "limit", 0, "show at most this many entries (default 1000)")
	return cmd
}

// listRoomAudit prints one page of a room's audit entries; more names the
// command that shows the next page.
func listRoomAudit(cmd *cobra.Command, g *globals, room string, page client.AuditPage, more string) error {
	if err := checkPage(page); err != nil {
		return err
	}
	return g.withClient(cmd.Context(), func(c *client.Client) error {
		l, err := c.RoomAudit(cmd.Context(), room, page)
		if err != nil {
			return err
		}
		if g.json {
			return printJSON(g.stdout, l)
		}
		printAudit(g, l)
		if l.Next != 0 {
			fmt.Fprintf(g.stderr, "More entries follow: %s --after %d\n", more, l.Next)
		}
		return nil
	})
}

// checkPage checks --after and --limit.
func checkPage(page client.AuditPage) error {
	if page.After < 0 {
		return usageError{fmt.Errorf("--after %d is negative", page.After)}
	}
	if page.Limit < 0 || page.Limit > 1000 {
		return usageError{fmt.Errorf("--limit %d is not between 1 and 1000", page.Limit)}
	}
	return nil
}

// printAudit prints audit entries as a table.
func printAudit(g *globals, l *httpapi.AuditList) {
	if len(l.Entries) == 0 {
		fmt.Fprintln(g.stdout, "No audit entries.")
		return
	}
	tw := newTable(g.stdout, "SEQ", "TIME", "ACTOR", "ACTION", "OBJECT", "OUTCOME")
	for _, e := range l.Entries {
		outcome := e.Outcome
		if e.Code != "" {
			outcome += " (" + e.Code + ")"
		}
		row(tw, fmt.Sprint(e.Seq), fmtTime(e.Time), e.Actor, string(e.Action), orDash(e.Object), outcome)
	}
	tw.Flush()
}
