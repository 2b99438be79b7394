package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/agent"
	"github.com/cleanroom-dev/cleanroom/internal/client"
	"github.com/cleanroom-dev/cleanroom/internal/httpapi"
	"github.com/cleanroom-dev/cleanroom/internal/keyfile"
	"github.com/cleanroom-dev/cleanroom/internal/prepare"
	"github.com/cleanroom-dev/cleanroom/internal/scaleout"
	"github.com/cleanroom-dev/cleanroom/internal/tabular"
	"github.com/cleanroom-dev/cleanroom/internal/upload"
)

func init() { commands = append(commands, newDatasetCmd) }

func newDatasetCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dataset",
		Short: "Register datasets in a room and upload versions of them",
		Long: `A provider registers a dataset in a room with its schema: the identifier
columns with their class and match priority, and every other column with the
owner's column policy. Uploading a file prepares it on the party's own
machine: every row is validated against the schema, identifiers are
normalised, hashed and blinded with the party's per-room key, and one token
manifest per identifier class is signed with the party's key. Only blinded
tokens, attribute values and the manifests leave the machine, sealed to the
room server's HPKE key, and the room commits the version all at once or not
at all.`,
	}
	cmd.AddCommand(newDatasetRegisterCmd(g), newDatasetListCmd(g), newDatasetShowCmd(g), newDatasetUploadCmd(g))
	return group(cmd)
}

func newDatasetRegisterCmd(g *globals) *cobra.Command {
	var room, schemaPath string
	cmd := &cobra.Command{
		Use:   "register NAME --room ROOM --schema FILE",
		Short: "Register a dataset of your party with its schema (provider)",
		Example: `  cleanroom dataset register subscribers --room telco-bank --schema subscribers.schema.json
  # subscribers.schema.json:
  # {"identifiers": [{"column": "phone", "class": "phone", "priority": 1}],
  #  "attributes":  [{"column": "tier", "type": "string", "policy": "dimension",
  #                   "categories": ["basic", "standard", "premium"]}]}`,
		Args: wantArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := required(cmd, "room", room); err != nil {
				return err
			}
			if err := required(cmd, "schema", schemaPath); err != nil {
				return err
			}
			raw, err := os.ReadFile(schemaPath)
			if err != nil {
				return withHint(fmt.Errorf("read schema: %w", err), "pass the schema's JSON file with --schema FILE")
			}
			return g.withClient(cmd.Context(), func(c *client.Client) error {
				d, err := c.CreateDataset(cmd.Context(), room, args[0], json.RawMessage(raw))
				if err != nil {
					return err
				}
				if g.json {
					return printJSON(g.stdout, d)
				}
				fmt.Fprintf(g.stdout, "Registered dataset %s of party %s in room %s: %d identifier and %d attribute columns.\n",
					d.Name, d.Party, d.Room, len(d.Schema.Identifiers), len(d.Schema.Attributes))
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&room, "room", "", "the room (required)")
	cmd.Flags().StringVar(&schemaPath, "schema", "", "the schema's JSON file (required)")
	return cmd
}

func newDatasetListCmd(g *globals) *cobra.Command {
	var room string
	cmd := &cobra.Command{
		Use:   "list --room ROOM",
		Short: "List a room's datasets (members)",
		Args:  wantArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := required(cmd, "room", room); err != nil {
				return err
			}
			return g.withClient(cmd.Context(), func(c *client.Client) error {
				l, err := c.ListDatasets(cmd.Context(), room)
				if err != nil {
					return err
				}
				if g.json {
					return printJSON(g.stdout, l)
				}
				tw := newTable(g.stdout, "DATASET", "PARTY", "COLUMNS", "VERSION", "ROWS", "COMMITTED")
				for _, d := range l.Datasets {
					version, rows, when := "-", "-", "-"
					if n := len(d.Versions); n > 0 {
						v := d.Versions[n-1]
						version, rows, when = fmt.Sprint(v.Version), fmt.Sprint(v.Rows), v.CommittedAt.Format(tableTime)
					}
					fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", d.Name, d.Party, len(d.Schema.Identifiers)+len(d.Schema.Attributes), version, rows, when)
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().StringVar(&room, "room", "", "the room (required)")
	return cmd
}

const tableTime = "2006-01-02 15:04:05Z07:00"

func newDatasetShowCmd(g *globals) *cobra.Command {
	var room string
	cmd := &cobra.Command{
		Use:   "show NAME --room ROOM",
		Short: "Show a dataset's schema and versions (members)",
		Args:  wantArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := required(cmd, "room", room); err != nil {
				return err
			}
			return g.withClient(cmd.Context(), func(c *client.Client) error {
				d, err := c.ShowDataset(cmd.Context(), room, args[0])
				if err != nil {
					return err
				}
				if g.json {
					return printJSON(g.stdout, d)
				}
				fmt.Fprintf(g.stdout, "dataset:  %s\nparty:    %s\nroom:     %s\n\n", d.Name, d.Party, d.Room)
				tw := newTable(g.stdout, "COLUMN", "KIND", "TYPE/CLASS", "POLICY", "DOMAIN")
				for _, c := range d.Schema.Identifiers {
					fmt.Fprintf(tw, "%s\tidentifier\t%s\tjoin\tpriority %d, %s\n", c.Column, c.Class, c.Priority, c.NormalizationRule())
				}
				for _, c := range d.Schema.Attributes {
					domain := ""
					switch {
					case len(c.Categories) > 0:
						domain = strings.Join(c.Categories, ", ")
					case len(c.Buckets) > 0:
						domain = fmt.Sprint(c.Buckets)
					case c.Clamp != nil:
						domain = fmt.Sprintf("clamp [%g, %g]", c.Clamp[0], c.Clamp[1])
					}
					fmt.Fprintf(tw, "%s\tattribute\t%s\t%s\t%s\n", c.Column, c.Type, c.Policy, domain)
				}
				if err := tw.Flush(); err != nil {
					return err
				}
				fmt.Fprintln(g.stdout)
				tw = newTable(g.stdout, "VERSION", "ROWS", "COMMITTED")
				for _, v := range d.Versions {
					fmt.Fprintf(tw, "%d\t%d\t%s\n", v.Version, v.Rows, v.CommittedAt.Format(tableTime))
				}
				if err := tw.Flush(); err != nil {
					return err
				}
				for _, v := range d.Deleted {
					fmt.Fprintf(g.stdout, "version %d (%d rows) deleted at %s: %s\n", v.Version, v.Rows, v.DeletedAt.Format(tableTime), v.Reason)
				}
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&room, "room", "", "the room (required)")
	return cmd
}

// uploadFlags are the flags of `dataset upload`.
type uploadFlags struct {
	room, file, format, keys, country string
	gmail                             bool
	// agentState is the party agent's state directory, which holds an
	// hmac room's secret.
	agentState string
	// engine prepares the file in this process ("local") or as a Beam
	// pipeline over every file --file matches ("beam"), on runner.
	engine   string
	scaleOut scaleout.PrepareOptions
}

func newDatasetUploadCmd(g *globals) *cobra.Command {
	var f uploadFlags
	cmd := &cobra.Command{
		Use:   "upload NAME --room ROOM --file FILE --keys DIR",
		Short: "Prepare a file on this machine and upload it as a new version (provider)",
		Long: `Upload validates every row of FILE (CSV with a header, or Parquet) against the
dataset's schema and stops at the first invalid rows, naming file, row,
column and reason. It then normalises every identifier (phones to E.164 with
--country, emails trimmed and lower-cased, device IDs as lower-case UUIDs),
hashes it, blinds it with the party's key for this room (--keys, made by
'cleanroom keys init'), signs one manifest per identifier class, seals the
payload to the room server in chunks and uploads them. The room commits the
new version atomically: all rows or none. The report counts valid, invalid
and missing identifiers per column; it never shows a value.

With --engine beam, FILE is a glob (quote it) and the preparation runs as an
Apache Beam pipeline, one file per worker, on Prism in this process or on
your own Flink or Spark job server (--runner universal --endpoint); the files
become one version, with the same tokens as a local preparation. It needs a
binary built with 'make build-beam' (docs/scale-out.md).`,
		Example: `  cleanroom dataset upload subscribers --room telco-bank --file subscribers.csv --keys ~/.config/cleanroom/keys
  cleanroom dataset upload events --room telco-bank --file 'exports/events-*.parquet' --engine beam --runner universal --endpoint flink-js:8099`,
		Args: wantArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, r := range [][2]string{{"room", f.room}, {"file", f.file}} {
				if err := required(cmd, r[0], r[1]); err != nil {
					return err
				}
			}
			if f.keys == "" {
				d, err := defaultKeysDir()
				if err != nil {
					return err
				}
				f.keys = d
			}
			keys, err := keyfile.LoadParty(f.keys)
			if err != nil {
				return withHint(err, "pass the party's key directory with --keys DIR (made by `cleanroom keys init`)")
			}
			if f.agentState == "" {
				f.agentState = filepath.Join(filepath.Dir(f.keys), "agent")
			}
			return g.withClient(cmd.Context(), func(c *client.Client) error {
				return runUpload(cmd.Context(), g, c, args[0], f, keys)
			})
		},
	}
	cmd.Flags().StringVar(&f.room, "room", "", "the room (required)")
	cmd.Flags().StringVar(&f.file, "file", "", "the CSV or Parquet file (required)")
	cmd.Flags().StringVar(&f.format, "format", "", "csv or parquet (default: by the file's extension)")
	cmd.Flags().StringVar(&f.keys, "keys", "", "the party's key directory (default $XDG_CONFIG_HOME/cleanroom/keys)")
	cmd.Flags().StringVar(&f.country, "country", "RU", "default country of phone numbers written without a country code")
	cmd.Flags().StringVar(&f.agentState, "agent-state", "", "the party agent's state directory, which holds an hmac room's secret (default next to --keys)")
	cmd.Flags().BoolVar(&f.gmail, "gmail", false, "apply the gmail rules (dots, +tags) to email columns that declare no normalization")
	cmd.Flags().StringVar(&f.engine, "engine", "local", "prepare on this machine (local) or as an Apache Beam pipeline over every file --file matches (beam; docs/scale-out.md)")
	cmd.Flags().StringVar(&f.scaleOut.Runner, "runner", "prism", "with --engine beam: prism (in this process) or universal (your Flink or Spark job server at --endpoint)")
	cmd.Flags().StringVar(&f.scaleOut.Endpoint, "endpoint", "", "with --runner universal: the job server's host:port")
	cmd.Flags().StringVar(&f.scaleOut.Workers, "workers", "", "with --engine beam: your worker pool (cleanroom scaleout-worker --keys), host:port")
	cmd.Flags().StringVar(&f.scaleOut.JobDir, "job-dir", "", "with --workers: the job directory the worker pool shares (its --jobs)")
	cmd.Flags().StringVar(&f.scaleOut.ShardDir, "shard-dir", "", "with --engine beam: keep the sealed shards here (default: a temporary directory, removed)")
	return cmd
}

// uploadResult is what `dataset upload --json` prints.
type uploadResult struct {
	Version httpapi.VersionBody `json:"version"`
	Report  prepare.Report      `json:"report"`
}

func runUpload(ctx context.Context, g *globals, c *client.Client, dataset string, f uploadFlags, keys *keyfile.PartyKeys) error {
	res, err := uploadDataset(ctx, c, dataset, f, keys, g.stderr)
	if err != nil {
		return err
	}
	if g.json {
		return printJSON(g.stdout, res)
	}
	v, p := res.Version, res.Report
	fmt.Fprintf(g.stdout, "Committed version %d of dataset %s in room %s: %d rows from %s.\n\n", v.Version, dataset, f.room, v.Rows, p.File)
	tw := newTable(g.stdout, "IDENTIFIER", "CLASS", "VALID", "INVALID", "MISSING", "DISTINCT")
	for _, r := range p.Identifiers {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\n", r.Column, r.Class, r.Valid, r.Invalid, r.Missing, r.Distinct)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range p.Identifiers {
		for reason, count := range r.Reasons {
			fmt.Fprintf(g.stdout, "  %s: %d invalid: %s\n", r.Column, count, reason)
		}
	}
	if len(p.Ignored) > 0 {
		fmt.Fprintf(g.stdout, "Columns not in the schema, not uploaded: %s\n", strings.Join(p.Ignored, ", "))
	}
	return nil
}

// uploadDataset prepares a file on this machine and uploads it as a new
// version; progress bars go to stderr when it is a terminal.
func uploadDataset(ctx context.Context, c *client.Client, dataset string, f uploadFlags, keys *keyfile.PartyKeys, stderr io.Writer) (res *uploadResult, err error) {
	info, err := c.ServerInfo(ctx)
	if err != nil {
		return nil, err
	}
	d, err := c.ShowDataset(ctx, f.room, dataset)
	if err != nil {
		return nil, err
	}
	if d.Party == "" {
		return nil, fmt.Errorf("dataset %s names no party", dataset)
	}
	switch f.engine {
	case "", "local":
		// A file with invalid rows is refused before a session reserves a
		// version number for it.
		if err := validateFile(f.file, tabular.Format(f.format), &d.Schema); err != nil {
			return nil, withHint(err, "nothing was uploaded; fix the file and run the upload again")
		}
	case "beam":
		// The pipeline validates every file; the session is abandoned if
		// one is refused.
		if _, err := scaleout.Files(f.file); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("--engine %q, want local or beam", f.engine)
	}
	sess, err := c.OpenUpload(ctx, f.room, dataset)
	if err != nil {
		return nil, err
	}
	// A failed upload leaves no version; the session is abandoned so the
	// room does not keep its chunks.
	defer func() {
		if err != nil {
			actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			c.AbortUpload(actx, f.room, dataset, sess.ID)
		}
	}()
	room, err := c.ShowRoom(ctx, f.room)
	if err != nil {
		return nil, err
	}
	var secret []byte
	if room.Matching == cleanroom.MatchingHMAC {
		if secret, err = agent.LoadSecret(f.agentState, f.room); err != nil {
			return nil, withHint(err, "room "+f.room+" matches with hmac: run `cleanroom agent --room "+f.room+" --once` first, and pass its --state with --agent-state")
		}
	}
	progress := newProgress(stderr)
	pcfg := prepare.Config{
		Server: info.ServerID, Room: f.room, Party: d.Party, Dataset: dataset, Version: sess.Version,
		Schema: &d.Schema, Keys: keys, Region: f.country, Gmail: f.gmail, HMACSecret: secret,
		Progress: progress.stage,
	}
	var p *prepare.Prepared
	if f.engine == "beam" {
		opts := f.scaleOut
		if opts.Workers != "" {
			if opts.JobDir == "" {
				return nil, fmt.Errorf("--workers needs --job-dir, the job directory the worker pool shares")
			}
			if opts.ZoneSecret, err = scaleout.PartyZoneSecret(keys); err != nil {
				return nil, err
			}
		}
		p, err = scaleout.Prepare(ctx, f.file, tabular.Format(f.format), pcfg, opts)
	} else {
		p, err = prepare.Prepare(ctx, f.file, tabular.Format(f.format), pcfg)
	}
	progress.done()
	if err != nil {
		return nil, withHint(err, "nothing was uploaded; fix the file and run the upload again")
	}
	chunk := sess.ChunkSize
	if chunk <= 0 || chunk > upload.ChunkSize {
		chunk = upload.ChunkSize
	}
	n := max(1, (len(p.Payload)+chunk-1)/chunk)
	bar := progress.bytes("upload", len(p.Payload))
	for i := range n {
		part := p.Payload[i*chunk : min(len(p.Payload), (i+1)*chunk)]
		sealed, err := keyfile.SealTo(sess.HPKEKey, upload.SealInfo(f.room, dataset, sess.ID, i, i == n-1), part)
		if err != nil {
			return nil, err
		}
		if _, err := c.PutChunk(ctx, f.room, dataset, sess.ID, i, sealed); err != nil {
			return nil, err
		}
		bar(len(part))
	}
	progress.done()
	v, err := c.CommitUpload(ctx, f.room, dataset, sess.ID, httpapi.CommitUploadRequest{Chunks: n, Manifests: p.Manifests})
	if err != nil {
		return nil, err
	}
	return &uploadResult{Version: *v, Report: p.Report}, nil
}

func validateFile(path string, format tabular.Format, schema *cleanroom.Schema) error {
	r, err := tabular.Open(path, format, nil)
	if err != nil {
		return err
	}
	defer r.Close()
	_, err = tabular.Validate(schema, r)
	return err
}

// progress shows progress bars on a terminal and nothing otherwise.
type progress struct {
	w     io.Writer
	tty   bool
	bar   *progressbar.ProgressBar
	label string
}

func newProgress(w io.Writer) *progress {
	f, ok := w.(*os.File)
	return &progress{w: w, tty: ok && term.IsTerminal(int(f.Fd()))}
}

// stage reports progress of a counted stage; total 0 means unknown.
func (p *progress) stage(label string, done, total int) {
	if !p.tty {
		return
	}
	if p.bar == nil || p.label != label {
		p.done()
		p.label = label
		p.bar = progressbar.NewOptions(max(total, -1), progressbar.OptionSetWriter(p.w), progressbar.OptionSetDescription(label),
			progressbar.OptionShowCount(), progressbar.OptionClearOnFinish())
	}
	if total > 0 {
		p.bar.ChangeMax(total)
	}
	p.bar.Set(done)
}

// bytes starts a byte-counting bar and returns the function that adds to
// it.
func (p *progress) bytes(label string, total int) func(int) {
	p.done()
	if !p.tty {
		return func(int) {}
	}
	p.label = label
	p.bar = progressbar.DefaultBytes(int64(total), label)
	return func(n int) { p.bar.Add(n) }
}

func (p *progress) done() {
	if p.bar != nil {
		p.bar.Finish()
		p.bar = nil
	}
}
