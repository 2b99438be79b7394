package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/client"
	"github.com/cleanroom-dev/cleanroom/internal/httpapi"
	"github.com/cleanroom-dev/cleanroom/internal/keyfile"
)

func init() { commands = append(commands, newTokenCmd) }

func newTokenCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Create, list and revoke API tokens",
		Long: `An API token authenticates a user of a party (or the platform admin) to the
room server. Its secret is shown once, when it is created; the server keeps
only its hash. A token by itself opens no room: the user's party must also
grant the user roles ('cleanroom user grant').

The platform admin creates tokens for any user; a user with a role in some
room creates tokens for itself.`,
	}
	cmd.AddCommand(newTokenCreateCmd(g), newTokenListCmd(g), newTokenRevokeCmd(g))
	return group(cmd)
}

func newTokenCreateCmd(g *globals) *cobra.Command {
	var party, user, ttl, desc, keys string
	cmd := &cobra.Command{
		Use:   "create --party P --user U [--keys DIR] [--ttl 720h] [--description S]",
		Short: "Create a token for a user of a party; its secret is shown once",
		Long: `Create makes a token for a user of a party. With --keys, the party's signing
key signs the request and the secret comes back sealed to a key made for
this request, so the platform admin can relay it without seeing the
secret: such a token carries the roles the party granted the user. A token
the admin mints without the party's request authenticates the user but
carries none of its grants. A user creates further tokens for itself
with its own token.`,
		Example: `  cleanroom token create --party bank --user alice --keys ~/.config/cleanroom/keys --ttl 720h --description "alice's laptop"
  cleanroom token create --party bank --user alice --keys bank/keys --json   # the secret is in "secret"`,
		Args: wantArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := required(cmd, "party", party); err != nil {
				return err
			}
			if err := required(cmd, "user", user); err != nil {
				return err
			}
			if ttl != "" {
				if _, err := time.ParseDuration(ttl); err != nil {
					return withHint(usageError{fmt.Errorf("--ttl %q is not a duration", ttl)}, "write durations like 720h or 90m")
				}
			}
			return g.withClient(cmd.Context(), func(c *client.Client) error {
				req := httpapi.CreateTokenRequest{Party: party, User: user, TTL: ttl, Description: desc}
				var t *httpapi.TokenCreated
				var err error
				if keys != "" {
					pk, lerr := keyfile.LoadParty(keys)
					if lerr != nil {
						return lerr
					}
					t, err = c.CreatePartyToken(cmd.Context(), req, pk.Signing)
				} else {
					t, err = c.CreateToken(cmd.Context(), req)
				}
				if err != nil {
					return err
				}
				if g.json {
					return printJSON(g.stdout, t)
				}
				fmt.Fprintf(g.stdout, "Token %s for %s/%s, expires %s:\n\n  %s\n\n", t.ID, t.Party, t.User, fmtTime(t.ExpiresAt), t.Secret)
				fmt.Fprintln(g.stdout, "The secret is shown once and cannot be retrieved again: hand it to the user now.")
				if t.AdminMinted {
					fmt.Fprintln(g.stdout, "Minted without the party's signed request, it carries none of the user's grants (pass --keys).")
				}
				fmt.Fprintf(g.stdout, "The user logs in with `cleanroom login --server URL --token SECRET`.\n")
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&party, "party", "", "the user's party (required)")
	cmd.Flags().StringVar(&user, "user", "", "the user's name (required)")
	cmd.Flags().StringVar(&ttl, "ttl", "", "lifetime of the token, at most 8784h (default 720h)")
	cmd.Flags().StringVar(&desc, "description", "", "what the token is for, at most 200 characters")
	cmd.Flags().StringVar(&keys, "keys", "", "the party's key directory: sign the request, so the token carries the user's grants")
	return cmd
}

// tokenStatus says whether a token can be used now.
func tokenStatus(t *cleanroom.Token, now time.Time) string {
	switch {
	case t.RevokedAt != nil:
		return "revoked"
	case !now.Before(t.ExpiresAt):
		return "expired"
	}
	return "active"
}

func tokenOwner(t *cleanroom.Token) string {
	if t.Kind == cleanroom.User {
		return t.Party + "/" + t.User
	}
	return t.Kind.String()
}

func newTokenListCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List your tokens, or every token for the platform admin",
		Args:  wantArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.withClient(cmd.Context(), func(c *client.Client) error {
				l, err := c.ListTokens(cmd.Context())
				if err != nil {
					return err
				}
				if g.json {
					return printJSON(g.stdout, l)
				}
				if len(l.Tokens) == 0 {
					fmt.Fprintln(g.stdout, "No tokens.")
					return nil
				}
				now := time.Now()
				tw := newTable(g.stdout, "ID", "OWNER", "STATUS", "CREATED", "EXPIRES", "DESCRIPTION")
				for i := range l.Tokens {
					t := &l.Tokens[i]
					row(tw, t.ID, tokenOwner(t), tokenStatus(t, now), fmtTime(t.CreatedAt), fmtTime(t.ExpiresAt), orDash(t.Description))
				}
				return tw.Flush()
			})
		},
	}
}

func newTokenRevokeCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke a token by its ID; it stops working at once",
		Long: `Revoke revokes a token by its ID (shown by 'cleanroom token list', never the
secret). The platform admin revokes any token; a user revokes its own.`,
		Args: wantArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withClient(cmd.Context(), func(c *client.Client) error {
				t, err := c.RevokeToken(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				if g.json {
					return printJSON(g.stdout, t)
				}
				fmt.Fprintf(g.stdout, "Revoked token %s of %s.\n", t.ID, tokenOwner(t))
				return nil
			})
		},
	}
}
