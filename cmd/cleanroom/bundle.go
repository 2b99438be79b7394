package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"time"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/auditlog"
	"github.com/cleanroom-dev/cleanroom/internal/client"
	"github.com/cleanroom-dev/cleanroom/internal/httpapi"
	"github.com/cleanroom-dev/cleanroom/internal/statement"
	"github.com/cleanroom-dev/cleanroom/internal/template"
)

// A regulator bundle is a gzip-compressed tar archive of JSON files, all a
// regulator needs to check a room offline: the data-use agreements with
// their signatures, the approved templates with their approvals, the log
// with its signed checkpoint and the parties' cosignatures, the exporting
// member's kept checkpoints and receipts, and the public keys.
const (
	bundleServer    = "server.json"
	bundleParties   = "parties.json"
	bundleDUAs      = "agreements.json"
	bundleTemplates = "templates.json"
	bundleLog       = "log.json"
	bundleCosigned  = "cosignatures.json"
	bundleKept      = "kept.json"
	bundleReadme    = "README.txt"
)

// bundleKeys are public keys by name.
type bundleKeys map[string]ed25519.PublicKey

// bundleKeptState is what the exporting member kept of the log.
type bundleKeptState struct {
	Party       string                `json:"party"`
	Checkpoints []auditlog.Checkpoint `json:"checkpoints"`
	Receipts    []auditlog.Receipt    `json:"receipts"`
}

type bundleServerInfo struct {
	ServerID   string            `json:"server_id"`
	SigningKey ed25519.PublicKey `json:"signing_key"`
}

const bundleReadmeText = `Regulator bundle of a Cleanroom room.

server.json        the room server's ID and Ed25519 key, which signs log checkpoints
parties.json       each party's Ed25519 key, which signs agreements, approvals and cosignatures
agreements.json    every data-use agreement of the room: the RFC 8785 canonical document,
                   its SHA-256 digest and each party's signature over it
templates.json     every approved template version with the parties' signed approvals
log.json           the room's audit log and the server-signed checkpoint of it
cosignatures.json  the parties' latest cosignatures of checkpoints of the log
kept.json          the checkpoints and receipts the exporting member kept

Check it offline with:  cleanroom audit verify BUNDLE.tar.gz
Compare the key fingerprints it prints with those the parties give you out of band.
`

// writeBundle gathers a room's bundle through the API.
func writeBundle(ctx context.Context, c *client.Client, room string, st *auditState) ([]byte, error) {
	info, err := c.ServerInfo(ctx)
	if err != nil {
		return nil, err
	}
	me, err := c.Whoami(ctx)
	if err != nil {
		return nil, err
	}
	r, err := c.ShowRoom(ctx, room)
	if err != nil {
		return nil, err
	}
	keys := bundleKeys{}
	for _, p := range r.Parties {
		if keys[p], err = partyKey(ctx, c, p); err != nil {
			return nil, err
		}
	}
	duas, err := c.ListDUAs(ctx, room)
	if err != nil {
		return nil, err
	}
	tl, err := c.ListTemplates(ctx, room)
	if err != nil {
		return nil, err
	}
	var approved []httpapi.TemplateBody
	for _, t := range tl.Templates {
		if t.State == cleanroom.TemplateApproved || t.State == cleanroom.TemplateRetired && len(t.Approvals) > 0 {
			approved = append(approved, t)
		}
	}
	log, err := exportLog(ctx, c, room)
	if err != nil {
		return nil, err
	}
	cp, err := c.AuditCheckpoint(ctx, room, -1)
	if err != nil {
		return nil, err
	}
	kept := bundleKeptState{Party: me.Party, Checkpoints: []auditlog.Checkpoint{}, Receipts: []auditlog.Receipt{}}
	if st != nil {
		kept.Checkpoints, kept.Receipts = append(kept.Checkpoints, st.Checkpoints...), append(kept.Receipts, st.Receipts...)
	}
	files := []struct {
		name string
		v    any
	}{
		{bundleServer, bundleServerInfo{ServerID: info.ServerID, SigningKey: info.SigningKey}},
		{bundleParties, keys},
		{bundleDUAs, duas},
		{bundleTemplates, approved},
		{bundleLog, log},
		{bundleCosigned, cp.Cosignatures},
		{bundleKept, kept},
	}
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	now := time.Now().UTC()
	add := func(name string, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: now, Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	if err := add(bundleReadme, []byte(bundleReadmeText)); err != nil {
		return nil, err
	}
	for _, f := range files {
		raw, err := json.MarshalIndent(f.v, "", "  ")
		if err != nil {
			return nil, err
		}
		if err := add(f.name, raw); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// isBundle reports whether raw is a gzip stream.
func isBundle(raw []byte) bool { return len(raw) > 2 && raw[0] == 0x1f && raw[1] == 0x8b }

// readBundle reads a bundle's files, refusing unknown or repeated names
// and oversized members.
func readBundle(raw []byte) (map[string][]byte, error) {
	gz, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	tr := tar.NewReader(gz)
	known := []string{bundleServer, bundleParties, bundleDUAs, bundleTemplates, bundleLog, bundleCosigned, bundleKept, bundleReadme}
	out := map[string][]byte{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if !slices.Contains(known, h.Name) || out[h.Name] != nil {
			return nil, fmt.Errorf("unexpected member %q", h.Name)
		}
		data, err := io.ReadAll(io.LimitReader(tr, 1<<30))
		if err != nil {
			return nil, err
		}
		out[h.Name] = data
	}
	for _, n := range known {
		if out[n] == nil {
			return nil, fmt.Errorf("member %q is missing", n)
		}
	}
	return out, nil
}

// verifyBundle checks a bundle offline and returns what it establishes,
// line by line, and its findings (none when everything verifies).
func verifyBundle(files map[string][]byte) (report, findings []string, err error) {
	var server bundleServerInfo
	var keys bundleKeys
	var duas httpapi.DUAList
	var templates []httpapi.TemplateBody
	var log auditlog.Export
	var cosigned []auditlog.Cosignature
	var kept bundleKeptState
	for name, v := range map[string]any{bundleServer: &server, bundleParties: &keys, bundleDUAs: &duas, bundleTemplates: &templates,
		bundleLog: &log, bundleCosigned: &cosigned, bundleKept: &kept} {
		if err := json.Unmarshal(files[name], v); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	fail := func(format string, args ...any) { findings = append(findings, fmt.Sprintf(format, args...)) }
	if cleanroom.KeyFingerprint(server.SigningKey) != server.ServerID {
		fail("the server key does not have the server ID's fingerprint")
	}
	report = append(report, fmt.Sprintf("server %s (key fingerprint %s)", server.ServerID, cleanroom.KeyFingerprint(server.SigningKey)))
	names := make([]string, 0, len(keys))
	for p := range keys {
		names = append(names, p)
	}
	sort.Strings(names)
	for _, p := range names {
		report = append(report, fmt.Sprintf("party %s (key fingerprint %s)", p, cleanroom.KeyFingerprint(keys[p])))
	}

	// The agreements: canonical documents, digests, signatures.
	for _, b := range duas.Agreements {
		var d cleanroom.DUA
		if err := json.Unmarshal(b.Document, &d); err != nil {
			fail("agreement version %d: %v", b.Version, err)
			continue
		}
		_, digest, err := statement.Canonical(json.RawMessage(b.Document))
		if err != nil || digest != b.Digest {
			fail("agreement version %d: its document does not hash to its digest %s", b.Version, b.Digest)
		}
		if d.Server != server.ServerID || d.Room != log.Room {
			fail("agreement version %d is for room %s on server %s", b.Version, d.Room, d.Server)
		}
		var signed []string
		for _, p := range d.PartyNames() {
			i := slices.IndexFunc(b.Signatures, func(s httpapi.DUASignatureBody) bool { return s.Party == p })
			if i < 0 {
				continue
			}
			var got cleanroom.DUA
			if keys[p] == nil || statement.Verify(keys[p], statement.Envelope{Statement: b.Document, Signature: b.Signatures[i].Signature}, &got) != nil {
				fail("agreement version %d: the signature of party %s does not verify", b.Version, p)
				continue
			}
			signed = append(signed, p)
		}
		if b.Termination != nil {
			var t cleanroom.DUATermination
			if keys[b.TerminatedBy] == nil || statement.Verify(keys[b.TerminatedBy], *b.Termination, &t) != nil || t.Digest != b.Digest {
				fail("agreement version %d: the termination by party %s does not verify", b.Version, b.TerminatedBy)
			}
		}
		report = append(report, fmt.Sprintf("agreement version %d (%s, %s to %s): signed by %s; permits %s", b.Version, b.State,
			d.StartsAt.Format(time.DateOnly), d.ExpiresAt.Format(time.DateOnly), dashIfEmpty(signed), d.PermittedTemplates()))
	}

	// The templates: content, digest, approvals.
	for _, t := range templates {
		digest := template.Digest(&t.Template)
		if digest != t.Digest {
			fail("template %s version %d: its content hashes to %s, not %s", t.Template.Name, t.Template.Version, digest, t.Digest)
		}
		var by []string
		for _, env := range t.Approvals {
			var a cleanroom.TemplateApproval
			ok := false
			for _, p := range names {
				if statement.Verify(keys[p], env, &a) == nil {
					ok = a.Digest == digest && a.Name == t.Template.Name && a.Version == t.Template.Version && a.Room == log.Room
					if ok {
						by = append(by, p)
					}
					break
				}
			}
			if !ok {
				fail("template %s version %d: an approval does not verify with a party's key or names another template", t.Template.Name, t.Template.Version)
			}
		}
		for _, p := range t.Readers {
			if !slices.Contains(by, p) {
				fail("template %s version %d: party %s, whose data it reads, has no valid approval", t.Template.Name, t.Template.Version, p)
			}
		}
		report = append(report, fmt.Sprintf("template %s version %d (%s): approved by %s", t.Template.Name, t.Template.Version, t.State, dashIfEmpty(by)))
	}

	// The log: against the server's checkpoint, the exporter's kept
	// checkpoints and receipts, and the parties' cosignatures, each of
	// which is checked here first.
	var held []auditlog.Checkpoint
	for _, cp := range kept.Checkpoints {
		if cp.Verify(server.SigningKey) != nil {
			fail("a kept checkpoint (%s) is not signed by the server", &cp)
			continue
		}
		held = append(held, cp)
	}
	var receipts []auditlog.Receipt
	for _, r := range kept.Receipts {
		if r.Verify(server.SigningKey) != nil {
			fail("a kept receipt of entry %d does not verify", r.Entry.Seq)
			continue
		}
		receipts = append(receipts, r)
	}
	var cos []auditlog.Cosignature
	final := map[string]int{}
	for _, cs := range cosigned {
		if keys[cs.Party] == nil || cs.Verify(server.ServerID, log.Room, keys[cs.Party]) != nil {
			fail("the cosignature of party %s does not verify", cs.Party)
			continue
		}
		cos = append(cos, cs)
		final[cs.Party] = cs.Size
	}
	findings = append(findings, auditlog.Verify(&log, server.SigningKey, held, receipts, cos)...)
	finalSize := log.Checkpoint.Size
	for _, p := range names {
		finalSize = min(finalSize, final[p])
	}
	report = append(report, fmt.Sprintf("log: %d entries under the server's checkpoint; the first %d cosigned by every party; %d checkpoints and %d receipts kept by %s",
		len(log.Entries), finalSize, len(held), len(receipts), dashIfEmpty([]string{kept.Party})))
	return report, findings, nil
}

// printBundleVerification checks a bundle and prints what it establishes.
func printBundleVerification(g *globals, path string, raw []byte) error {
	files, err := readBundle(raw)
	if err != nil {
		return fmt.Errorf("%s is not a regulator bundle: %w", path, err)
	}
	report, findings, err := verifyBundle(files)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	for _, l := range report {
		fmt.Fprintln(g.stdout, l)
	}
	if len(findings) > 0 {
		for _, f := range findings {
			fmt.Fprintf(g.stdout, "FAIL: %s\n", f)
		}
		return fmt.Errorf("the bundle %s does not verify (%d findings)", path, len(findings))
	}
	fmt.Fprintln(g.stdout, "The bundle verifies: agreements, approvals, log, checkpoints and cosignatures are consistent and signed by the keys above.")
	fmt.Fprintln(g.stdout, "Compare the key fingerprints with those the parties give you out of band.")
	return nil
}
