package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/spf13/cobra"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/client"
	"github.com/cleanroom-dev/cleanroom/internal/keyfile"
	"github.com/cleanroom-dev/cleanroom/internal/statement"
)

func init() { commands = append(commands, newUserCmd) }

// defaultGrantTTL is how long a grant lasts unless --expires says
// otherwise.
const defaultGrantTTL = 365 * 24 * time.Hour

func newUserCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "user",
		Short: "Grant a party's users roles in rooms, revoke them, list them",
		Long: `A party decides which of its users hold which roles in a room. It signs that
decision, a grant statement, with its own signing key on its own machine
(--keys, the directory made by 'cleanroom keys init'); only the signed
statement is sent. The room server verifies the signature against the key
registered for the party every time the grant is used, so neither the
platform admin nor the room host can give anyone a role the party did not
grant.

Roles: provider, analyst, receiver, reviewer, payer. The room's host cannot
be a provider of it.`,
	}
	cmd.AddCommand(newUserGrantCmd(g), newUserRevokeCmd(g), newUserListCmd(g))
	return group(cmd)
}

// grantFlags are the flags of `user grant` and `user revoke`.
type grantFlags struct {
	party, room, keys string
}

func (f *grantFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.party, "party", "", "the party whose user it is (required)")
	cmd.Flags().StringVar(&f.room, "room", "", "the room (required)")
	cmd.Flags().StringVar(&f.keys, "keys", "", "the party's key directory, made by `cleanroom keys init` (default $XDG_CONFIG_HOME/cleanroom/keys)")
}

func (f *grantFlags) check(cmd *cobra.Command) error {
	if err := required(cmd, "party", f.party); err != nil {
		return err
	}
	return required(cmd, "room", f.room)
}

func newUserGrantCmd(g *globals) *cobra.Command {
	var f grantFlags
	var roles string
	var expires time.Duration
	cmd := &cobra.Command{
		Use:   "grant USER --party P --room R --roles ROLE,... --keys DIR [--expires 8760h]",
		Short: "Sign and send a grant of roles in a room to a party's user",
		Long: `Grant signs, with the party's signing key in --keys, a statement giving USER
of --party the --roles in --room until --expires from now, and sends it to
the server. A new grant replaces the user's earlier one in the room. The
private key never leaves this machine.

The token used may be the platform admin's or any user's of the party: the
signature, not the token, is the authority.`,
		Example: `  cleanroom user grant alice --party bank --room telco-bank --roles analyst,receiver --keys ./bankkeys`,
		Args:    wantArgs("USER"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.check(cmd); err != nil {
				return err
			}
			if err := required(cmd, "roles", roles); err != nil {
				return withHint(err, "to take a user's roles away, use `cleanroom user revoke`")
			}
			rs, err := cleanroom.ParseRoles(roles)
			if err != nil {
				return usageError{domainError(err)}
			}
			if len(rs) == 0 {
				return withHint(usageError{errors.New("--roles names no role")}, "roles are provider, analyst, receiver, reviewer, payer")
			}
			if expires <= 0 {
				return withHint(usageError{fmt.Errorf("--expires %s is not a positive duration", expires)}, "write durations like 8760h or 720h")
			}
			return g.signGrant(cmd.Context(), f, args[0], rs, expires)
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&roles, "roles", "", "comma-separated roles: provider, analyst, receiver, reviewer, payer (required)")
	cmd.Flags().DurationVar(&expires, "expires", defaultGrantTTL, "how long the grant lasts")
	return cmd
}

func newUserRevokeCmd(g *globals) *cobra.Command {
	var f grantFlags
	cmd := &cobra.Command{
		Use:   "revoke USER --party P --room R --keys DIR",
		Short: "Sign and send a revocation of a party's user's roles in a room",
		Long: `Revoke signs, with the party's signing key in --keys, a statement that gives
USER of --party no role in --room, replacing every earlier grant, and sends
it to the server. The user loses access to the room at once.`,
		Example: `  cleanroom user revoke alice --party bank --room telco-bank --keys ./bankkeys`,
		Args:    wantArgs("USER"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.check(cmd); err != nil {
				return err
			}
			return g.signGrant(cmd.Context(), f, args[0], []cleanroom.Role{}, 0)
		},
	}
	f.register(cmd)
	return cmd
}

// signGrant signs a grant statement (a revocation when roles is empty) with
// the party's local key and submits it.
func (g *globals) signGrant(ctx context.Context, f grantFlags, user string, roles []cleanroom.Role, ttl time.Duration) error {
	dir := f.keys
	if dir == "" {
		d, err := defaultKeysDir()
		if err != nil {
			return err
		}
		dir = d
	}
	keys, err := keyfile.LoadParty(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return withHint(err, "pass the party's key directory with --keys DIR; keys are made on the party's side with `cleanroom keys init --dir DIR`")
	case errors.Is(err, keyfile.ErrMode):
		return withHint(err, "the private key files must be readable by their owner only: chmod 600 them")
	case err != nil:
		return err
	}
	return g.withClient(ctx, func(c *client.Client) error {
		info, err := c.ServerInfo(ctx)
		if err != nil {
			return err
		}
		now := time.Now().UTC()
		st := cleanroom.GrantStatement{
			Type: cleanroom.GrantType, Server: info.ServerID,
			Party: f.party, User: user, Room: f.room, Roles: roles,
			IssuedAt: now, ExpiresAt: now.Add(ttl),
		}
		if err := st.Validate(); err != nil {
			return domainError(err)
		}
		env, err := statement.Sign(keys.Signing, st)
		if err != nil {
			return err
		}
		gb, err := c.SubmitGrant(ctx, f.party, env)
		if err != nil {
			return err
		}
		if g.json {
			return printJSON(g.stdout, gb)
		}
		if len(roles) == 0 {
			fmt.Fprintf(g.stdout, "Revoked every role of %s/%s in room %s (signed with key %s).\n",
				gb.Party, gb.User, gb.Room, keys.Fingerprint())
			return nil
		}
		fmt.Fprintf(g.stdout, "Granted %s/%s %s in room %s until %s (signed with key %s).\n",
			gb.Party, gb.User, roleList(gb.Roles), gb.Room, fmtTime(gb.ExpiresAt), keys.Fingerprint())
		return nil
	})
}

func newUserListCmd(g *globals) *cobra.Command {
	var party string
	cmd := &cobra.Command{
		Use:   "list --party P",
		Short: "List a party's grants and their status",
		Long: `List shows the party's grant statements as the server judges them now:
active, revoked, expired, or inactive (the party has left the room, or the
server refuses the statement).`,
		Args: wantArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := required(cmd, "party", party); err != nil {
				return err
			}
			return g.withClient(cmd.Context(), func(c *client.Client) error {
				l, err := c.ListGrants(cmd.Context(), party)
				if err != nil {
					return err
				}
				if g.json {
					return printJSON(g.stdout, l)
				}
				if len(l.Grants) == 0 {
					fmt.Fprintf(g.stdout, "Party %s has granted no roles. Grant some with `cleanroom user grant`.\n", party)
					return nil
				}
				tw := newTable(g.stdout, "USER", "ROOM", "ROLES", "STATUS", "ISSUED", "EXPIRES")
				for _, gb := range l.Grants {
					expires := fmtTime(gb.ExpiresAt)
					if len(gb.Roles) == 0 {
						expires = "-"
					}
					row(tw, gb.User, gb.Room, roleList(gb.Roles), gb.Status, fmtTime(gb.IssuedAt), expires)
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().StringVar(&party, "party", "", "the party (required)")
	return cmd
}

// domainError shows a domain error's message and hint the way the CLI
// shows every error: the message, then a hint line.
func domainError(err error) error {
	var e *cleanroom.Error
	if errors.As(err, &e) {
		return withHint(errors.New(e.Message), e.Hint)
	}
	return err
}
