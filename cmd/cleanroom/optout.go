package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/spf13/cobra"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/client"
)

func init() { commands = append(commands, newOptOutCmd) }

func newOptOutCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "optout",
		Short: "Upload your party's consent opt-out list to its rooms",
		Long: `A party's opt-out list names the people who objected to the use of their
data. It is prepared and blinded on the party's side like any dataset, with
the party's key for each room, so the room never sees an identifier. From
the moment a version is committed, the party's rows that carry any of its
identifiers are left out of every match and every query in the room, also
over matches made before; every run's audit entry names the lists applied.
An opt-out list is accepted whatever the state of the room's data-use
agreement, is never matched or read by a template, and is kept until the
room's agreement ends.`,
	}
	cmd.AddCommand(newOptOutUploadCmd(g))
	return cmd
}

func newOptOutUploadCmd(g *globals) *cobra.Command {
	var f uploadFlags
	var rooms []string
	var schemaPath, name string
	cmd := &cobra.Command{
		Use:   "upload --file FILE --schema SCHEMA --keys DIR [--room ROOM]...",
		Short: "Upload the opt-out list to every room your party provides data to, or to --room",
		Long: `Upload registers the opt-out list (--name, "opt-outs" by default) with
SCHEMA in each room where it is missing, then prepares FILE for that room
and uploads it as a new version. SCHEMA is a dataset schema with
"opt_out": true and identifier columns only. Without --room, every room in
which you hold the provider role gets the list.`,
		Args: wantArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, r := range [][2]string{{"file", f.file}, {"schema", schemaPath}} {
				if err := required(cmd, r[0], r[1]); err != nil {
					return err
				}
			}
			raw, err := os.ReadFile(schemaPath)
			if err != nil {
				return err
			}
			schema, err := cleanroom.ParseSchema(raw)
			if err != nil {
				return fmt.Errorf("%s: %w", schemaPath, err)
			}
			if !schema.OptOut {
				return withHint(fmt.Errorf("%s: the schema is not an opt-out list", schemaPath), `add "opt_out": true and keep identifier columns only`)
			}
			keys, err := partyKeys(f.keys)
			if err != nil {
				return err
			}
			if f.keys == "" {
				d, _ := defaultKeysDir()
				f.keys = d
			}
			if f.agentState == "" {
				f.agentState = filepath.Join(filepath.Dir(f.keys), "agent")
			}
			return g.withClient(cmd.Context(), func(c *client.Client) error {
				ctx := cmd.Context()
				targets := rooms
				if len(targets) == 0 {
					me, err := c.Whoami(ctx)
					if err != nil {
						return err
					}
					for room, roles := range me.Rooms {
						if slices.Contains(roles, cleanroom.RoleProvider) {
							targets = append(targets, room)
						}
					}
					slices.Sort(targets)
					if len(targets) == 0 {
						return withHint(fmt.Errorf("you hold the provider role in no room"), "your party grants it with `cleanroom user grant --roles provider`")
					}
				}
				for _, room := range targets {
					if _, err := c.ShowDataset(ctx, room, name); isNotFound(err) {
						if _, err := c.CreateDataset(ctx, room, name, json.RawMessage(raw)); err != nil {
							return fmt.Errorf("room %s: register the opt-out list: %w", room, err)
						}
					} else if err != nil {
						return fmt.Errorf("room %s: %w", room, err)
					}
					rf := f
					rf.room = room
					res, err := uploadDataset(ctx, c, name, rf, keys, g.stderr)
					if err != nil {
						return fmt.Errorf("room %s: %w", room, err)
					}
					if g.json {
						if err := printJSON(g.stdout, res); err != nil {
							return err
						}
						continue
					}
					fmt.Fprintf(g.stdout, "Committed version %d of opt-out list %s in room %s: %d people; they are left out of every later match and query.\n",
						res.Version.Version, name, room, res.Version.Rows)
				}
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&f.file, "file", "", "the CSV or Parquet file of people who objected (required)")
	cmd.Flags().StringVar(&schemaPath, "schema", "", "the list's schema, with \"opt_out\": true (required)")
	cmd.Flags().StringVar(&name, "name", "opt-outs", "the list's dataset name in each room")
	cmd.Flags().StringArrayVar(&rooms, "room", nil, "a room to upload to (repeatable; default: every room where you are a provider)")
	cmd.Flags().StringVar(&f.format, "format", "", "csv or parquet (default: by the file's extension)")
	cmd.Flags().StringVar(&f.keys, "keys", "", "the party's key directory (default $XDG_CONFIG_HOME/cleanroom/keys)")
	cmd.Flags().StringVar(&f.country, "country", "RU", "default country of phone numbers written without a country code")
	cmd.Flags().StringVar(&f.agentState, "agent-state", "", "the party agent's state directory, which holds an hmac room's secret (default next to --keys)")
	cmd.Flags().BoolVar(&f.gmail, "gmail", false, "apply the gmail rules (dots, +tags) to email columns that declare no normalization")
	return cmd
}
