package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/client"
	"github.com/cleanroom-dev/cleanroom/internal/keyfile"
	"github.com/cleanroom-dev/cleanroom/internal/library"
	"github.com/cleanroom-dev/cleanroom/internal/statement"
	"github.com/cleanroom-dev/cleanroom/internal/template"
)

func init() { commands = append(commands, newTemplateCmd) }

func newTemplateCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "template",
		Short: "Propose, approve, list and show a room's query templates",
		Long: `A template is a question agreed upfront, written in YAML (docs/templates.md):
the datasets it joins, filters, dimensions over declared public domains,
metrics, typed parameters and output controls. The room checks every column
use against its owner's column policy when the template is proposed. Every
party whose data it reads then approves it by signing, on its own side, the
SHA-256 of the template's canonical encoding, computed from the content it
reviewed. A change is a new version that needs new approvals.`,
	}
	cmd.AddCommand(newTemplateProposeCmd(g), newTemplateLibraryCmd(g), newTemplateApproveCmd(g), newTemplateListCmd(g), newTemplateShowCmd(g), newTemplateRetireCmd(g))
	return group(cmd)
}

func newTemplateProposeCmd(g *globals) *cobra.Command {
	var room, lib string
	cmd := &cobra.Command{
		Use:   "propose (FILE | --library NAME) --room ROOM",
		Short: "Propose a template from a YAML file or the shipped library (analyst or provider)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := required(cmd, "room", room); err != nil {
				return err
			}
			if (len(args) == 1) == (lib != "") {
				return withHint(usageError{fmt.Errorf("give a FILE or --library NAME")}, "usage: "+cmd.UseLine(), "the library's templates are listed by `cleanroom template library`")
			}
			var raw []byte
			source := lib
			if lib != "" {
				e, err := library.Get(lib)
				if err != nil {
					return err
				}
				raw = e.YAML
			} else {
				var err error
				if raw, err = os.ReadFile(args[0]); err != nil {
					return fmt.Errorf("read template: %w", err)
				}
				source = args[0]
			}
			// Parse locally first: a malformed file is refused with its
			// line before anything is sent.
			if _, err := template.Parse(raw); err != nil {
				return withHint(fmt.Errorf("%s: %w", source, err), "the format is described in docs/templates.md")
			}
			return g.withClient(cmd.Context(), func(c *client.Client) error {
				b, err := c.ProposeTemplate(cmd.Context(), room, string(raw))
				if err != nil {
					return err
				}
				if g.json {
					return printJSON(g.stdout, b)
				}
				fmt.Fprintf(g.stdout, "Proposed template %s version %d (digest %s); waiting for the approval of %s.\n",
					b.Template.Name, b.Template.Version, b.Digest, strings.Join(b.Pending, ", "))
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&room, "room", "", "the room (required)")
	cmd.Flags().StringVar(&lib, "library", "", "propose this template of the shipped library instead of a file")
	return cmd
}

func newTemplateLibraryCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "library [NAME]",
		Short: "List the templates shipped in the binary, or print one's YAML",
		Long: `The template library holds the use cases' approved questions, ready to
propose in a new room as they are ('cleanroom template propose --library
NAME'): the parties then review known text. Each must still be approved by
every party whose data it reads, and permitted by the room's data-use
agreement. The datasets it joins must exist in the room under the names it
uses (subscribers, customers).`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				e, err := library.Get(args[0])
				if err != nil {
					return err
				}
				_, err = g.stdout.Write(e.YAML)
				return err
			}
			all, err := library.All()
			if err != nil {
				return err
			}
			if g.json {
				out := []any{}
				for _, e := range all {
					out = append(out, map[string]any{"name": e.Name, "question": e.Template.Question, "digest": template.Digest(e.Template), "template": e.Template})
				}
				return printJSON(g.stdout, out)
			}
			tw := newTable(g.stdout, "NAME", "JOINS", "QUESTION")
			for _, e := range all {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", e.Name, strings.Join(e.Template.Join, ", "), e.Template.Question)
			}
			return tw.Flush()
		},
	}
}

func newTemplateApproveCmd(g *globals) *cobra.Command {
	var room, keysDir string
	var version int
	cmd := &cobra.Command{
		Use:   "approve NAME --version N --room ROOM --keys DIR",
		Short: "Approve a template version with your party's key (provider of a party whose data it reads)",
		Long: `Approve fetches the template version, shows what it asks, recomputes its
digest here from its content, and signs that digest with the party's key.
The room records the approval only if the digest is the one it holds.`,
		Args: wantArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := required(cmd, "room", room); err != nil {
				return err
			}
			if version < 1 {
				return usageError{fmt.Errorf("--version is required")}
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
			return g.withClient(cmd.Context(), func(c *client.Client) error {
				info, err := c.ServerInfo(cmd.Context())
				if err != nil {
					return err
				}
				b, err := c.ShowTemplate(cmd.Context(), room, args[0], version)
				if err != nil {
					return err
				}
				digest := template.Digest(&b.Template)
				if digest != b.Digest {
					return fmt.Errorf("the room says template %s version %d has digest %s, but its content hashes to %s: not approving", args[0], version, b.Digest, digest)
				}
				env, err := statement.Sign(keys.Signing, cleanroom.TemplateApproval{Type: cleanroom.ApprovalType, Server: info.ServerID,
					Room: room, Name: args[0], Version: version, Digest: digest, IssuedAt: time.Now().UTC()})
				if err != nil {
					return err
				}
				got, err := c.ApproveTemplate(cmd.Context(), room, args[0], env)
				if err != nil {
					return err
				}
				if g.json {
					return printJSON(g.stdout, got)
				}
				fmt.Fprintf(g.stdout, "Approved template %s version %d (digest %s, signed with key %s): %s.\n",
					args[0], version, digest, keys.Fingerprint(), got.State)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&room, "room", "", "the room (required)")
	cmd.Flags().IntVar(&version, "version", 0, "the version to approve (required)")
	cmd.Flags().StringVar(&keysDir, "keys", "", "the party's key directory (default $XDG_CONFIG_HOME/cleanroom/keys)")
	return cmd
}

func newTemplateListCmd(g *globals) *cobra.Command {
	var room string
	cmd := &cobra.Command{
		Use:   "list --room ROOM",
		Short: "List a room's templates and their approval state (members)",
		Args:  wantArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := required(cmd, "room", room); err != nil {
				return err
			}
			return g.withClient(cmd.Context(), func(c *client.Client) error {
				l, err := c.ListTemplates(cmd.Context(), room)
				if err != nil {
					return err
				}
				if g.json {
					return printJSON(g.stdout, l)
				}
				tw := newTable(g.stdout, "TEMPLATE", "VERSION", "STATE", "APPROVED BY", "PENDING", "QUESTION")
				for _, t := range l.Templates {
					fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\n", t.Template.Name, t.Template.Version, t.State,
						dashIfEmpty(t.ApprovedBy), dashIfEmpty(t.Pending), t.Template.Question)
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().StringVar(&room, "room", "", "the room (required)")
	return cmd
}

func dashIfEmpty(s []string) string {
	if len(s) == 0 {
		return "-"
	}
	return strings.Join(s, ",")
}

func newTemplateShowCmd(g *globals) *cobra.Command {
	var room string
	var version int
	cmd := &cobra.Command{
		Use:   "show NAME --room ROOM [--version N]",
		Short: "Show a template version (members)",
		Args:  wantArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := required(cmd, "room", room); err != nil {
				return err
			}
			return g.withClient(cmd.Context(), func(c *client.Client) error {
				b, err := c.ShowTemplate(cmd.Context(), room, args[0], version)
				if err != nil {
					return err
				}
				if g.json {
					return printJSON(g.stdout, b)
				}
				t := b.Template
				fmt.Fprintf(g.stdout, "template:  %s version %d (%s)\nquestion:  %s\njoins:     %s\ndigest:    %s\nreaders:   %s\napproved:  %s\npending:   %s\n",
					t.Name, t.Version, b.State, t.Question, strings.Join(t.Join, ", "), b.Digest,
					dashIfEmpty(b.Readers), dashIfEmpty(b.ApprovedBy), dashIfEmpty(b.Pending))
				fmt.Fprintf(g.stdout, "runs:      %d (%d refused), %d groups shown, %d withheld\n",
					b.Stats.Runs, b.Stats.Refused, b.Stats.Cells, b.Stats.Suppressed)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&room, "room", "", "the room (required)")
	cmd.Flags().IntVar(&version, "version", 0, "the version (default the newest)")
	return cmd
}

func newTemplateRetireCmd(g *globals) *cobra.Command {
	var room string
	var version int
	cmd := &cobra.Command{
		Use:   "retire NAME --version N --room ROOM",
		Short: "Retire a template version for good (provider of a party whose data it reads)",
		Args:  wantArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := required(cmd, "room", room); err != nil {
				return err
			}
			if version < 1 {
				return usageError{fmt.Errorf("--version is required")}
			}
			return g.withClient(cmd.Context(), func(c *client.Client) error {
				b, err := c.RetireTemplate(cmd.Context(), room, args[0], version)
				if err != nil {
					return err
				}
				if g.json {
					return printJSON(g.stdout, b)
				}
				fmt.Fprintf(g.stdout, "Retired template %s version %d.\n", args[0], version)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&room, "room", "", "the room (required)")
	cmd.Flags().IntVar(&version, "version", 0, "the version to retire (required)")
	return cmd
}
