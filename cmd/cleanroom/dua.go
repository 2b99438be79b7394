package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/client"
	"github.com/cleanroom-dev/cleanroom/internal/httpapi"
	"github.com/cleanroom-dev/cleanroom/internal/keyfile"
	"github.com/cleanroom-dev/cleanroom/internal/statement"
)

func init() { commands = append(commands, newDUACmd) }

func newDUACmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dua",
		Short: "Draft, show, sign and terminate a room's data-use agreement",
		Long: `A room's data-use agreement (DUA) says what the parties agreed the room may
do with their data: purposes, permitted templates, data categories, legal
basis, declared disclosures, privacy budgets, retention and expiry, and per
party a consent attestation. A member drafts it from a YAML file; every
party then signs its RFC 8785 canonical encoding with the party's key, on
the party's side. Uploads, matching and queries run only while an agreement
is in force, and only the templates it permits.

Lifecycle: draft -> signed -> active -> expired | terminated. A later
version every party has signed supersedes the earlier one when it takes
effect. When an agreement ends without a successor, the room deletes its
datasets.`,
	}
	cmd.AddCommand(newDUADraftCmd(g), newDUAListCmd(g), newDUAShowCmd(g), newDUASignCmd(g), newDUATerminateCmd(g))
	return cmd
}

// readDUAFile parses an agreement written in YAML (or JSON), rejecting
// unknown fields with their line.
func readDUAFile(path string) (*cleanroom.DUA, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	d, err := readDUABytes(raw)
	if err != nil {
		return nil, withHint(fmt.Errorf("%s: %v", path, err), "see docs/governance.md for the fields of an agreement")
	}
	return d, nil
}

// readDUABytes parses an agreement's YAML strictly.
func readDUABytes(raw []byte) (*cleanroom.DUA, error) {
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	var d cleanroom.DUA
	if err := dec.Decode(&d); err != nil {
		if err == io.EOF {
			return nil, fmt.Errorf("the agreement is empty")
		}
		return nil, err
	}
	return &d, nil
}

func newDUADraftCmd(g *globals) *cobra.Command {
	var room string
	var days int
	cmd := &cobra.Command{
		Use:   "draft FILE --room ROOM [--days N]",
		Short: "Draft an agreement from a YAML file (members)",
		Long: `Draft sends the agreement in FILE to the room, which checks it against the
room (its host and exactly its parties) and numbers it. starts_at defaults
to now and expires_at to --days after the start. Every party then signs it
with ` + "`cleanroom dua sign`" + `.`,
		Args: wantArgs("FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := required(cmd, "room", room); err != nil {
				return err
			}
			d, err := readDUAFile(args[0])
			if err != nil {
				return err
			}
			if d.StartsAt.IsZero() {
				d.StartsAt = time.Now().UTC().Truncate(time.Second)
			}
			if d.ExpiresAt.IsZero() {
				if days < 1 {
					return usageError{fmt.Errorf("--days must be at least 1")}
				}
				d.ExpiresAt = d.StartsAt.AddDate(0, 0, days)
			}
			return g.withClient(cmd.Context(), func(c *client.Client) error {
				info, err := c.ServerInfo(cmd.Context())
				if err != nil {
					return err
				}
				d.Type, d.Server, d.Room = cleanroom.DUAType, info.ServerID, room
				b, err := c.DraftDUA(cmd.Context(), room, d)
				if err != nil {
					return err
				}
				if g.json {
					return printJSON(g.stdout, b)
				}
				fmt.Fprintf(g.stdout, "Drafted data-use agreement version %d of room %s (digest %s).\n", b.Version, room, b.Digest)
				fmt.Fprintf(g.stdout, "It comes into force once %s sign it: cleanroom dua sign --room %s --version %d --keys DIR\n",
					strings.Join(b.Pending, ", "), room, b.Version)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&room, "room", "", "the room (required)")
	cmd.Flags().IntVar(&days, "days", 365, "the agreement's term when the file gives no expires_at")
	return cmd
}

func newDUAListCmd(g *globals) *cobra.Command {
	var room string
	cmd := &cobra.Command{
		Use:   "list --room ROOM",
		Short: "List a room's agreements and their states (members)",
		Args:  wantArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := required(cmd, "room", room); err != nil {
				return err
			}
			return g.withClient(cmd.Context(), func(c *client.Client) error {
				l, err := c.ListDUAs(cmd.Context(), room)
				if err != nil {
					return err
				}
				if g.json {
					return printJSON(g.stdout, l)
				}
				tw := newTable(g.stdout, "VERSION", "STATE", "STARTS", "EXPIRES", "SIGNED BY", "PENDING", "DIGEST")
				for _, b := range l.Agreements {
					var d cleanroom.DUA
					if err := json.Unmarshal(b.Document, &d); err != nil {
						return err
					}
					fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", b.Version, b.State, d.StartsAt.Format(tableTime), d.ExpiresAt.Format(tableTime),
						dashIfEmpty(validSigners(b)), dashIfEmpty(b.Pending), b.Digest[:16])
				}
				if err := tw.Flush(); err != nil {
					return err
				}
				if l.Active == 0 {
					fmt.Fprintf(g.stdout, "No agreement is in force in room %s: uploads, matching and queries are refused.\n", room)
				}
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&room, "room", "", "the room (required)")
	return cmd
}

func validSigners(b httpapi.DUABody) []string {
	var out []string
	for _, s := range b.Signatures {
		if s.Valid {
			out = append(out, s.Party)
		}
	}
	return out
}

// pickDUA returns version, or else the agreement in force, or else the
// newest.
func pickDUA(ctx context.Context, c *client.Client, room string, version int) (*httpapi.DUABody, error) {
	if version > 0 {
		return c.ShowDUA(ctx, room, version)
	}
	l, err := c.ListDUAs(ctx, room)
	if err != nil {
		return nil, err
	}
	if len(l.Agreements) == 0 {
		return nil, withHint(fmt.Errorf("room %q has no data-use agreement", room), "a member drafts one with `cleanroom dua draft FILE --room "+room+"`")
	}
	for _, b := range l.Agreements {
		if b.Version == l.Active {
			return &b, nil
		}
	}
	return &l.Agreements[len(l.Agreements)-1], nil
}

func newDUAShowCmd(g *globals) *cobra.Command {
	var room string
	var version int
	cmd := &cobra.Command{
		Use:   "show --room ROOM [--version N]",
		Short: "Show an agreement: its terms, signatures and state (members)",
		Long:  `Show prints the agreement in force, or else the newest one, or --version N.`,
		Args:  wantArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := required(cmd, "room", room); err != nil {
				return err
			}
			return g.withClient(cmd.Context(), func(c *client.Client) error {
				b, err := pickDUA(cmd.Context(), c, room, version)
				if err != nil {
					return err
				}
				if g.json {
					return printJSON(g.stdout, b)
				}
				return printDUA(g.stdout, b)
			})
		},
	}
	cmd.Flags().StringVar(&room, "room", "", "the room (required)")
	cmd.Flags().IntVar(&version, "version", 0, "the version to show")
	return cmd
}

func printDUA(w io.Writer, b *httpapi.DUABody) error {
	var d cleanroom.DUA
	if err := json.Unmarshal(b.Document, &d); err != nil {
		return err
	}
	fmt.Fprintf(w, "agreement:   version %d of room %s (server %s)\nstate:       %s\ndigest:      %s\n", d.Version, d.Room, d.Server, b.State, b.Digest)
	fmt.Fprintf(w, "in force:    %s to %s\nhost:        %s\n", d.StartsAt.Format(time.RFC3339), d.ExpiresAt.Format(time.RFC3339), d.Host)
	fmt.Fprintf(w, "purposes:    %s\ncategories:  %s\nlegal basis: %s\n", strings.Join(d.Purposes, "; "), strings.Join(d.DataCategories, "; "), d.LegalBasis)
	fmt.Fprintf(w, "templates:   %s\n", d.PermittedTemplates())
	fmt.Fprintf(w, "budget:      rho %g, epsilon %g per dataset, renewal %s\nretention:   %d days\n", d.Budget.Rho, d.Budget.Epsilon, d.Budget.Renewal, d.RetentionDays)
	if len(d.Disclosures) == 0 {
		fmt.Fprintln(w, "disclosures: none; only aggregates under the output controls leave the room")
	}
	for _, x := range d.Disclosures {
		fmt.Fprintf(w, "disclosure:  %s to %s for %s: %s\n", x.Name, x.To, x.Purpose, x.Description)
	}
	if len(d.ScaleOut) > 0 {
		// Machines outside the room server that hold the room's sealed rows.
		fmt.Fprintf(w, "scale-out:   %s\n", strings.Join(d.ScaleOut, ", "))
	}
	for _, p := range d.Parties {
		fmt.Fprintf(w, "party:       %s — consent attestation: %s\n", p.Name, p.Consent)
	}
	tw := newTable(w, "SIGNATURE", "VALID", "SIGNED AT", "SUBMITTED BY")
	for _, s := range b.Signatures {
		valid := "yes"
		if !s.Valid {
			valid = "NO: does not verify with the party's key"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Party, valid, s.SignedAt.Format(tableTime), s.SignedBy)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(b.Pending) > 0 {
		fmt.Fprintf(w, "waiting for: %s\n", strings.Join(b.Pending, ", "))
	}
	if b.TerminatedBy != "" {
		reason := ""
		if b.Termination != nil {
			var t cleanroom.DUATermination
			if json.Unmarshal(b.Termination.Statement, &t) == nil {
				reason = ": " + t.Reason
			}
		}
		fmt.Fprintf(w, "terminated:  by %s at %s%s\n", b.TerminatedBy, b.TerminatedAt.Format(time.RFC3339), reason)
	}
	return nil
}

// partyKeys loads the party's keys from --keys or the default directory.
func partyKeys(dir string) (*keyfile.PartyKeys, error) {
	if dir == "" {
		d, err := defaultKeysDir()
		if err != nil {
			return nil, err
		}
		dir = d
	}
	keys, err := keyfile.LoadParty(dir)
	if err != nil {
		return nil, withHint(err, "pass the party's key directory with --keys DIR")
	}
	return keys, nil
}

func newDUASignCmd(g *globals) *cobra.Command {
	var room, keysDir, digest string
	var version int
	cmd := &cobra.Command{
		Use:   "sign --room ROOM --keys DIR [--version N] [--digest HEX]",
		Short: "Sign an agreement with your party's key",
		Long: `Sign fetches the agreement (the newest draft unless --version is given),
checks that it is for this server and room, prints its terms, and signs its
RFC 8785 canonical encoding with the party's key. --digest makes sure the
document signed is the one your legal team reviewed.`,
		Args: wantArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := required(cmd, "room", room); err != nil {
				return err
			}
			keys, err := partyKeys(keysDir)
			if err != nil {
				return err
			}
			return g.withClient(cmd.Context(), func(c *client.Client) error {
				ctx := cmd.Context()
				info, err := c.ServerInfo(ctx)
				if err != nil {
					return err
				}
				b, err := pickDUA(ctx, c, room, version)
				if err != nil {
					return err
				}
				var d cleanroom.DUA
				if err := json.Unmarshal(b.Document, &d); err != nil {
					return err
				}
				_, sum, err := statement.Canonical(json.RawMessage(b.Document))
				if err != nil {
					return err
				}
				switch {
				case sum != b.Digest:
					return fmt.Errorf("the room says agreement version %d has digest %s, but its document hashes to %s: not signing", b.Version, b.Digest, sum)
				case d.Server != info.ServerID || d.Room != room:
					return fmt.Errorf("agreement version %d names room %q on server %s, not room %q on this server (%s): not signing", b.Version, d.Room, d.Server, room, info.ServerID)
				case digest != "" && digest != sum:
					return fmt.Errorf("agreement version %d has digest %s, not the %s you reviewed: not signing", b.Version, sum, digest)
				}
				if !g.json {
					if err := printDUA(g.stdout, b); err != nil {
						return err
					}
				}
				env, err := statement.Sign(keys.Signing, json.RawMessage(b.Document))
				if err != nil {
					return err
				}
				got, err := c.SignDUA(ctx, room, b.Version, env.Signature)
				if err != nil {
					return err
				}
				if g.json {
					return printJSON(g.stdout, got)
				}
				fmt.Fprintf(g.stdout, "Signed data-use agreement version %d (digest %s) with key %s: %s.\n", got.Version, got.Digest, keys.Fingerprint(), got.State)
				if len(got.Pending) > 0 {
					fmt.Fprintf(g.stdout, "Still waiting for: %s.\n", strings.Join(got.Pending, ", "))
				}
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&room, "room", "", "the room (required)")
	cmd.Flags().IntVar(&version, "version", 0, "the version to sign (default: the newest)")
	cmd.Flags().StringVar(&keysDir, "keys", "", "the party's key directory (default $XDG_CONFIG_HOME/cleanroom/keys)")
	cmd.Flags().StringVar(&digest, "digest", "", "refuse unless the agreement has this digest")
	return cmd
}

func newDUATerminateCmd(g *globals) *cobra.Command {
	var room, keysDir, reason string
	var version int
	cmd := &cobra.Command{
		Use:   "terminate --room ROOM --keys DIR --reason TEXT [--version N]",
		Short: "Terminate the agreement in force with your party's key",
		Long: `Terminate signs a termination of the agreement (the one in force unless
--version is given) with the party's key. Uploads, matching and queries stop
at once; the room then deletes its datasets and everything derived from
them, and keeps the audit entries.`,
		Args: wantArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := required(cmd, "room", room); err != nil {
				return err
			}
			if err := required(cmd, "reason", reason); err != nil {
				return err
			}
			keys, err := partyKeys(keysDir)
			if err != nil {
				return err
			}
			return g.withClient(cmd.Context(), func(c *client.Client) error {
				ctx := cmd.Context()
				info, err := c.ServerInfo(ctx)
				if err != nil {
					return err
				}
				me, err := c.Whoami(ctx)
				if err != nil {
					return err
				}
				b, err := pickDUA(ctx, c, room, version)
				if err != nil {
					return err
				}
				env, err := statement.Sign(keys.Signing, cleanroom.DUATermination{Type: cleanroom.DUATerminationType, Server: info.ServerID,
					Room: room, Version: b.Version, Digest: b.Digest, Party: me.Party, Reason: reason, IssuedAt: time.Now().UTC()})
				if err != nil {
					return err
				}
				got, err := c.TerminateDUA(ctx, room, b.Version, env)
				if err != nil {
					return err
				}
				if g.json {
					return printJSON(g.stdout, got)
				}
				fmt.Fprintf(g.stdout, "Terminated data-use agreement version %d of room %s on behalf of party %s.\n", got.Version, room, me.Party)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&room, "room", "", "the room (required)")
	cmd.Flags().IntVar(&version, "version", 0, "the version to terminate (default: the one in force)")
	cmd.Flags().StringVar(&keysDir, "keys", "", "the party's key directory (default $XDG_CONFIG_HOME/cleanroom/keys)")
	cmd.Flags().StringVar(&reason, "reason", "", "why the agreement ends (required; kept in the audit log)")
	return cmd
}
