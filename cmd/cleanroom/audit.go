package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/atomicfile"
	"github.com/cleanroom-dev/cleanroom/internal/auditlog"
	"github.com/cleanroom-dev/cleanroom/internal/client"
	"github.com/cleanroom-dev/cleanroom/internal/merkle"
)

func init() { commands = append(commands, newAuditCmd) }

// auditState is what a member keeps of a room's log: the server key it
// pinned and the checkpoints it accepted.
type auditState struct {
	ServerKey   ed25519.PublicKey     `json:"server_key"`
	Checkpoints []auditlog.Checkpoint `json:"checkpoints"`
}

func auditStatePath(dir, server, room string) string {
	return filepath.Join(dir, "audit-"+server+"-"+room+".json")
}

func loadAuditState(path string) (*auditState, error) {
	st := &auditState{}
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(raw, st); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return st, nil
}

func defaultAuditDir() (string, error) {
	d, err := defaultKeysDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(filepath.Dir(d), "audit"), nil
}

func newAuditCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Keep, export and verify a room's audit log without trusting the host",
		Long: `'audit log' lists a room's audit entries. A room's audit entries are the leaves of an RFC 9162 Merkle tree whose
checkpoints the server signs. 'audit checkpoint' fetches the newest checkpoint
and keeps it only if a consistency proof shows it extends the last one you
kept (run it regularly; your party's agent should). 'audit export' writes the
log to a file; 'audit verify' checks a file offline against the checkpoints
you kept, and reports an edited, removed, reordered or inserted entry, a
truncated log, or a fork (the host showing you a history other than the one
it signed before).`,
	}
	var room, dir string
	state := func() (string, error) {
		if dir != "" {
			return dir, nil
		}
		return defaultAuditDir()
	}
	checkpoint := &cobra.Command{
		Use:   "checkpoint --room ROOM [--state DIR]",
		Short: "Fetch, check and keep the room log's newest checkpoint (members)",
		Args:  wantArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := required(cmd, "room", room); err != nil {
				return err
			}
			d, err := state()
			if err != nil {
				return err
			}
			return g.withClient(cmd.Context(), func(c *client.Client) error {
				cp, err := keepCheckpoint(cmd.Context(), c, room, d)
				if err != nil {
					return err
				}
				fmt.Fprintf(g.stdout, "Kept checkpoint of room %s: %d entries, consistent with the last one kept.\n", room, cp.Size)
				return nil
			})
		},
	}
	export := &cobra.Command{
		Use:   "export --room ROOM --out FILE",
		Short: "Write the room's audit log with its signed checkpoint to a file (members)",
		Args:  wantArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			out, _ := cmd.Flags().GetString("out")
			if err := required(cmd, "room", room); err != nil {
				return err
			}
			if err := required(cmd, "out", out); err != nil {
				return err
			}
			return g.withClient(cmd.Context(), func(c *client.Client) error {
				e, err := exportLog(cmd.Context(), c, room)
				if err != nil {
					return err
				}
				raw, err := json.MarshalIndent(e, "", "  ")
				if err != nil {
					return err
				}
				if err := atomicfile.Write(out, raw, 0o600); err != nil {
					return err
				}
				fmt.Fprintf(g.stdout, "Exported %d entries of room %s to %s.\n", len(e.Entries), room, out)
				return nil
			})
		},
	}
	export.Flags().String("out", "", "the file to write (required)")
	verify := &cobra.Command{
		Use:   "verify FILE [--state DIR]",
		Short: "Check an exported log offline against the checkpoints you kept",
		Args:  wantArgs("FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			raw, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			var e auditlog.Export
			if err := json.Unmarshal(raw, &e); err != nil {
				return fmt.Errorf("%s is not an audit export: %w", args[0], err)
			}
			d, err := state()
			if err != nil {
				return err
			}
			st, err := loadAuditState(auditStatePath(d, e.Server, e.Room))
			if err != nil {
				return err
			}
			if st.ServerKey == nil {
				return withHint(fmt.Errorf("no checkpoint of room %s is kept in %s", e.Room, d),
					"run `cleanroom audit checkpoint --room "+e.Room+"` regularly, with the same --state")
			}
			findings := auditlog.Verify(&e, st.ServerKey, st.Checkpoints)
			if len(findings) > 0 {
				for _, f := range findings {
					fmt.Fprintf(g.stdout, "FAIL: %s\n", f)
				}
				return fmt.Errorf("the audit log of room %s does not verify (%d findings)", e.Room, len(findings))
			}
			fmt.Fprintf(g.stdout, "The audit log of room %s verifies: %d entries, consistent with the %d checkpoints you kept.\n",
				e.Room, len(e.Entries), len(st.Checkpoints))
			return nil
		},
	}
	var page client.AuditPage
	list := &cobra.Command{
		Use:   "log --room ROOM [--after SEQ] [--limit N]",
		Short: "Show the room's audit log (members; the same as 'room audit')",
		Args:  wantArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := required(cmd, "room", room); err != nil {
				return err
			}
			return listRoomAudit(cmd, g, room, page, "cleanroom audit log --room "+room)
		},
	}
	list.Flags().Int64Var(&page.After, "after", 0, "show entries after this sequence number")
	list.Flags().IntVar(&page.Limit, "limit", 0, "show at most this many entries (default 1000)")
	for _, c := range []*cobra.Command{list, checkpoint, export} {
		c.Flags().StringVar(&room, "room", "", "the room (required)")
	}
	for _, c := range []*cobra.Command{checkpoint, verify} {
		c.Flags().StringVar(&dir, "state", "", "where your kept checkpoints live (default: audit next to the default key directory)")
	}
	cmd.AddCommand(list, checkpoint, export, verify)
	return group(cmd)
}

// keepCheckpoint fetches the newest checkpoint, checks its signature with
// the pinned server key and its consistency with the last one kept, and
// keeps it.
func keepCheckpoint(ctx context.Context, c *client.Client, room, dir string) (*auditlog.Checkpoint, error) {
	info, err := c.ServerInfo(ctx)
	if err != nil {
		return nil, err
	}
	path := auditStatePath(dir, info.ServerID, room)
	st, err := loadAuditState(path)
	if err != nil {
		return nil, err
	}
	if st.ServerKey == nil {
		st.ServerKey = info.SigningKey // pinned on first use
	} else if !st.ServerKey.Equal(ed25519.PublicKey(info.SigningKey)) {
		return nil, fmt.Errorf("the server's signing key changed since %s was written", path)
	}
	old := 0
	var last *auditlog.Checkpoint
	if n := len(st.Checkpoints); n > 0 {
		last = &st.Checkpoints[n-1]
		old = last.Size
	}
	body, err := c.AuditCheckpoint(ctx, room, old)
	if err != nil {
		return nil, err
	}
	cp := body.Checkpoint
	if err := cp.Verify(st.ServerKey); err != nil {
		return nil, err
	}
	if cp.Server != info.ServerID || cp.Room != room {
		return nil, fmt.Errorf("the checkpoint is for %s/%s", cp.Server, cp.Room)
	}
	if last != nil {
		proof := make([][32]byte, len(body.Proof))
		for i, p := range body.Proof {
			if len(p) != 32 {
				return nil, errors.New("consistency proof has a hash that is not 32 bytes")
			}
			copy(proof[i][:], p)
		}
		if err := merkle.VerifyConsistency(last.Size, cp.Size, last.Root32(), cp.Root32(), proof); err != nil {
			return nil, fmt.Errorf("the room's log of %d entries is not an extension of the %d-entry log you kept: %w (the host rewrote or forked it)",
				cp.Size, last.Size, err)
		}
	}
	st.Checkpoints = append(st.Checkpoints, cp)
	raw, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	return &cp, atomicfile.Write(path, raw, 0o600)
}

// exportLog downloads the checkpoint and then the entries it covers.
func exportLog(ctx context.Context, c *client.Client, room string) (*auditlog.Export, error) {
	body, err := c.AuditCheckpoint(ctx, room, -1)
	if err != nil {
		return nil, err
	}
	e := &auditlog.Export{Server: body.Checkpoint.Server, Room: room, Checkpoint: body.Checkpoint, Entries: []cleanroom.AuditEntry{}}
	var after int64
	for len(e.Entries) < body.Checkpoint.Size {
		page, err := c.RoomAudit(ctx, room, client.AuditPage{After: after, Limit: 1000})
		if err != nil {
			return nil, err
		}
		if len(page.Entries) == 0 {
			break
		}
		for _, en := range page.Entries {
			if len(e.Entries) < body.Checkpoint.Size {
				e.Entries = append(e.Entries, en)
			}
		}
		after = page.Entries[len(page.Entries)-1].Seq
	}
	return e, nil
}
