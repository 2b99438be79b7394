package main

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/atomicfile"
	"github.com/cleanroom-dev/cleanroom/internal/auditlog"
	"github.com/cleanroom-dev/cleanroom/internal/client"
	"github.com/cleanroom-dev/cleanroom/internal/keyfile"
	"github.com/cleanroom-dev/cleanroom/internal/merkle"
)

func init() { commands = append(commands, newAuditCmd) }

// auditState is what a member keeps of a room's log: the server key it
// pinned and the checkpoints it accepted.
type auditState struct {
	ServerKey   ed25519.PublicKey     `json:"server_key"`
	Checkpoints []auditlog.Checkpoint `json:"checkpoints"`
	Receipts    []auditlog.Receipt    `json:"receipts,omitempty"`
	// Cosigned are the parties' cosignatures collected with checkpoints,
	// each checked under the party key pinned in PartyKeys.
	Cosigned  []auditlog.Cosignature       `json:"cosigned,omitempty"`
	PartyKeys map[string]ed25519.PublicKey `json:"party_keys,omitempty"`
}

func auditStatePath(dir, server, room string) string {
	return filepath.Join(dir, "audit-"+server+"-"+room+".json")
}

// checkLogName checks the server ID and room that name a log's state file
// when they come from outside (a server's answer, an export file): a key
// fingerprint and a room name, so that neither leads the file's path out
// of the state directory.
func checkLogName(server, room string) error {
	if b, err := hex.DecodeString(server); err != nil || len(b) != 16 {
		return fmt.Errorf("server ID %q is not a key fingerprint (32 hex digits)", server)
	}
	return cleanroom.ValidateName("room name", room)
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
	var room, dir, keysDir string
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
			var keys *keyfile.PartyKeys
			if keysDir != "" {
				if keys, err = keyfile.LoadParty(keysDir); err != nil {
					return err
				}
			}
			return g.withClient(cmd.Context(), func(c *client.Client) error {
				cp, _, err := keepCheckpoint(cmd.Context(), c, room, d)
				if err != nil {
					return err
				}
				fmt.Fprintf(g.stdout, "Kept checkpoint of room %s: %d entries, consistent with the last one kept.\n", room, cp.Size)
				if keys == nil {
					return nil
				}
				party, err := cosign(cmd.Context(), c, room, cp, keys)
				if err != nil {
					return err
				}
				fmt.Fprintf(g.stdout, "Cosigned it for party %s.\n", party)
				return nil
			})
		},
	}
	export := &cobra.Command{
		Use:   "export --room ROOM (--out FILE | --bundle FILE)",
		Short: "Write the room's audit log with its signed checkpoint to a file, or a regulator bundle (members)",
		Long: `Export writes the room's audit log with the server-signed checkpoint of it
to --out. With --bundle it writes instead one archive (tar.gz) with
everything a regulator needs to check the room offline: the data-use
agreements with every party's signature, the approved templates with their
signed approvals, the log with its checkpoint and the parties'
cosignatures, the checkpoints and receipts you kept (--state), and the
public keys. 'cleanroom audit verify BUNDLE' checks it.`,
		Args: wantArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			out, _ := cmd.Flags().GetString("out")
			bundle, _ := cmd.Flags().GetString("bundle")
			if err := required(cmd, "room", room); err != nil {
				return err
			}
			if (out == "") == (bundle == "") {
				return withHint(usageError{errors.New("give one of --out and --bundle")}, "usage: "+cmd.UseLine())
			}
			if bundle != "" {
				return g.withClient(cmd.Context(), func(c *client.Client) error {
					d, err := state()
					if err != nil {
						return err
					}
					info, err := c.ServerInfo(cmd.Context())
					if err != nil {
						return err
					}
					if err := checkLogName(info.ServerID, room); err != nil {
						return err
					}
					st, err := loadAuditState(auditStatePath(d, info.ServerID, room))
					if err != nil {
						return err
					}
					raw, err := writeBundle(cmd.Context(), c, room, st)
					if err != nil {
						return err
					}
					if err := atomicfile.Write(bundle, raw, 0o600); err != nil {
						return err
					}
					fmt.Fprintf(g.stdout, "Wrote the regulator bundle of room %s to %s (%d checkpoints and %d receipts you kept).\n",
						room, bundle, len(st.Checkpoints), len(st.Receipts))
					return nil
				})
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
	export.Flags().String("out", "", "the file to write the log to")
	export.Flags().String("bundle", "", "write a regulator bundle (tar.gz) to this file instead")
	verify := &cobra.Command{
		Use:   "verify FILE [--state DIR]",
		Short: "Check an exported log against the checkpoints you kept, or a regulator bundle, offline",
		Args:  wantArgs("FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			raw, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			if isBundle(raw) {
				return printBundleVerification(g, args[0], raw)
			}
			var e auditlog.Export
			if err := json.Unmarshal(raw, &e); err != nil {
				return fmt.Errorf("%s is not an audit export: %w", args[0], err)
			}
			if err := checkLogName(e.Server, e.Room); err != nil {
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
			findings := auditlog.Verify(&e, st.ServerKey, st.Checkpoints, st.Receipts, st.Cosigned)
			if len(findings) > 0 {
				for _, f := range findings {
					fmt.Fprintf(g.stdout, "FAIL: %s\n", f)
				}
				return fmt.Errorf("the audit log of room %s does not verify (%d findings)", e.Room, len(findings))
			}
			fmt.Fprintf(g.stdout, "The audit log of room %s verifies: %d entries, consistent with the %d checkpoints and %d receipts you kept and %d cosignatures you collected.\n",
				e.Room, len(e.Entries), len(st.Checkpoints), len(st.Receipts), len(st.Cosigned))
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
	receipt := &cobra.Command{
		Use:   "receipt SEQ --room ROOM [--state DIR]",
		Short: "Keep a receipt proving entry SEQ is in the room's log (members)",
		Long: `Receipt keeps a checkpoint as 'audit checkpoint' does, then fetches and
checks the inclusion proof of entry SEQ under it, and keeps the entry with
its proof. 'audit verify' then reports an export in which that entry was
edited, dropped or moved. Take one for every release you receive.`,
		Args: wantArgs("SEQ"),
		RunE: func(cmd *cobra.Command, args []string) error {
			seq, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || seq < 1 {
				return usageError{fmt.Errorf("entry %q is not a sequence number", args[0])}
			}
			if err := required(cmd, "room", room); err != nil {
				return err
			}
			d, err := state()
			if err != nil {
				return err
			}
			return g.withClient(cmd.Context(), func(c *client.Client) error {
				r, err := keepReceipt(cmd.Context(), c, room, seq, d)
				if err != nil {
					return err
				}
				fmt.Fprintf(g.stdout, "Kept receipt of entry %d (%s %s, %s) in room %s: entry %d of the %d-entry log.\n",
					seq, r.Entry.Action, r.Entry.Object, r.Entry.Outcome, room, r.Index+1, r.Checkpoint.Size)
				return nil
			})
		},
	}
	for _, c := range []*cobra.Command{list, checkpoint, export, receipt} {
		c.Flags().StringVar(&room, "room", "", "the room (required)")
	}
	checkpoint.Flags().StringVar(&keysDir, "keys", "", "also cosign the checkpoint with this party key directory")
	for _, c := range []*cobra.Command{checkpoint, receipt, verify, export} {
		c.Flags().StringVar(&dir, "state", "", "where your kept checkpoints live (default: audit next to the default key directory)")
	}
	cmd.AddCommand(list, checkpoint, receipt, export, verify)
	return group(cmd)
}

// keepCheckpoint fetches the newest checkpoint, checks its signature with
// the pinned server key and its consistency with the last one kept, and
// keeps it. It also says whether the log changed, other than by
// cosignatures, since the caller's party last cosigned.
func keepCheckpoint(ctx context.Context, c *client.Client, room, dir string) (*auditlog.Checkpoint, bool, error) {
	info, err := c.ServerInfo(ctx)
	if err != nil {
		return nil, false, err
	}
	if err := checkLogName(info.ServerID, room); err != nil {
		return nil, false, err
	}
	path := auditStatePath(dir, info.ServerID, room)
	st, err := loadAuditState(path)
	if err != nil {
		return nil, false, err
	}
	if st.ServerKey == nil {
		st.ServerKey = info.SigningKey // pinned on first use
	} else if !st.ServerKey.Equal(ed25519.PublicKey(info.SigningKey)) {
		return nil, false, fmt.Errorf("the server's signing key changed since %s was written", path)
	}
	old := 0
	var last *auditlog.Checkpoint
	if n := len(st.Checkpoints); n > 0 {
		last = &st.Checkpoints[n-1]
		old = last.Size
	}
	body, err := c.AuditCheckpoint(ctx, room, old)
	if err != nil {
		return nil, false, err
	}
	cp := body.Checkpoint
	if err := cp.Verify(st.ServerKey); err != nil {
		return nil, false, err
	}
	if cp.Server != info.ServerID || cp.Room != room {
		return nil, false, fmt.Errorf("the checkpoint is for %s/%s", cp.Server, cp.Room)
	}
	if last != nil {
		proof, err := auditlog.ParseProof(body.Proof)
		if err != nil {
			return nil, false, err
		}
		if err := merkle.VerifyConsistency(last.Size, cp.Size, last.Root32(), cp.Root32(), proof); err != nil {
			return nil, false, fmt.Errorf("the room's log of %d entries is not an extension of the %d-entry log you kept: %w (the host rewrote or forked it)",
				cp.Size, last.Size, err)
		}
	}
	st.Checkpoints = append(st.Checkpoints, cp)
	if err := collectCosignatures(ctx, c, st, info.ServerID, room, body.Cosignatures); err != nil {
		return nil, false, err
	}
	return &cp, body.Changed, saveAuditState(dir, path, st)
}

// cosign sends the caller's party's cosignature of cp.
func cosign(ctx context.Context, c *client.Client, room string, cp *auditlog.Checkpoint, keys *keyfile.PartyKeys) (string, error) {
	who, err := c.Whoami(ctx)
	if err != nil {
		return "", err
	}
	cs, err := cp.Cosign(who.Party, keys.Signing)
	if err != nil {
		return "", err
	}
	if _, err := c.Cosign(ctx, room, cs); err != nil {
		return "", err
	}
	return who.Party, nil
}

// cosignCheckpoint keeps the newest checkpoint in dir if it extends the
// last one kept, and cosigns it: what a party's agent does periodically.
// It does not cosign when the log grew only by cosignatures since its
// party's last one (party is then empty), so an idle room stays idle.
func cosignCheckpoint(ctx context.Context, c *client.Client, room string, keys *keyfile.PartyKeys, dir string) (*auditlog.Checkpoint, string, error) {
	cp, changed, err := keepCheckpoint(ctx, c, room, dir)
	if err != nil || !changed {
		return cp, "", err
	}
	party, err := cosign(ctx, c, room, cp, keys)
	return cp, party, err
}

// collectCosignatures checks each party's cosignature under the party's
// key (pinned on first use) and keeps the new ones, for 'audit verify' to
// hold the log against: a host that shows parties different histories is
// caught by whichever member collects the other's cosignature.
func collectCosignatures(ctx context.Context, c *client.Client, st *auditState, server, room string, served []auditlog.Cosignature) error {
	if st.PartyKeys == nil {
		st.PartyKeys = map[string]ed25519.PublicKey{}
	}
	for _, cs := range served {
		if slices.ContainsFunc(st.Cosigned, func(h auditlog.Cosignature) bool { return h.Party == cs.Party && h.Size == cs.Size }) {
			continue
		}
		pub, ok := st.PartyKeys[cs.Party]
		if !ok {
			var err error
			if pub, err = partyKey(ctx, c, cs.Party); err != nil {
				return err
			}
			st.PartyKeys[cs.Party] = pub
		}
		if err := cs.Verify(server, room, pub); err != nil {
			return err
		}
		st.Cosigned = append(st.Cosigned, cs)
	}
	return nil
}

// partyKey returns the signing key of a party of one of the caller's
// rooms, as the room server lists it.
func partyKey(ctx context.Context, c *client.Client, party string) (ed25519.PublicKey, error) {
	l, err := c.ListParties(ctx)
	if err != nil {
		return nil, err
	}
	for _, p := range l.Parties {
		if p.Name == party {
			return p.SigningKey, nil
		}
	}
	return nil, fmt.Errorf("party %q is not a party of any of your rooms", party)
}

func saveAuditState(dir, path string, st *auditState) error {
	raw, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return atomicfile.Write(path, raw, 0o600)
}

// keepReceipt keeps a checkpoint, then checks and keeps the receipt of
// entry seq under it.
func keepReceipt(ctx context.Context, c *client.Client, room string, seq int64, dir string) (*auditlog.Receipt, error) {
	cp, _, err := keepCheckpoint(ctx, c, room, dir)
	if err != nil {
		return nil, err
	}
	r, err := c.AuditReceipt(ctx, room, seq, cp.Size)
	if err != nil {
		return nil, err
	}
	path := auditStatePath(dir, cp.Server, room)
	st, err := loadAuditState(path)
	if err != nil {
		return nil, err
	}
	if err := r.Verify(st.ServerKey); err != nil {
		return nil, err
	}
	if r.Checkpoint.Server != cp.Server || r.Checkpoint.Room != room || r.Checkpoint.Size != cp.Size || r.Checkpoint.Root32() != cp.Root32() {
		return nil, fmt.Errorf("the receipt's checkpoint (%s) is not the checkpoint just kept (%s): the host forked the log", &r.Checkpoint, cp)
	}
	if r.Entry.Seq != seq || r.Entry.Room != room {
		return nil, fmt.Errorf("the receipt is for entry %d of room %q, not entry %d", r.Entry.Seq, r.Entry.Room, seq)
	}
	st.Receipts = append(st.Receipts, *r)
	return r, saveAuditState(dir, path, st)
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
