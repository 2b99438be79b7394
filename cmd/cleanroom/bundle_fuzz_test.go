package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/ed25519"
	"encoding/json"
	"maps"
	"testing"
	"time"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/auditlog"
	"github.com/cleanroom-dev/cleanroom/internal/httpapi"
	"github.com/cleanroom-dev/cleanroom/internal/statement"
	"github.com/cleanroom-dev/cleanroom/internal/template"
)

// fuzzBundleMembers are the members verifyBundle decodes.
var fuzzBundleMembers = []string{bundleServer, bundleParties, bundleDUAs, bundleTemplates, bundleLog, bundleCosigned, bundleKept}

// FuzzBundle replaces one member of a regulator bundle with fuzzed bytes
// and verifies the bundle offline, as `cleanroom audit verify` does, and
// reads fuzzed archives as bundles. Neither panics. A bundle that still
// verifies without findings, under the keys of the original (whose
// fingerprints the regulator compares out of band), says what the
// original said: the same log entries, and for every agreement and
// template it holds the original's document and digest.
func FuzzBundle(f *testing.F) {
	files, orig := fuzzBundleFiles(f)
	if _, findings, err := verifyBundle(files); err != nil || len(findings) > 0 {
		f.Fatalf("the untouched bundle: %v, findings %q", err, findings)
	}
	for i, name := range fuzzBundleMembers {
		f.Add(uint8(i), files[name], false)
	}
	f.Add(uint8(4), []byte(`{"entries":[],"checkpoint":{"size":-1}}`), false)
	f.Add(uint8(6), []byte(`{"receipts":[{"index":-1,"proof":[""]}],"checkpoints":[{"size":99}]}`), false)
	f.Add(uint8(0), fuzzTarGz(f, files), true)

	f.Fuzz(func(t *testing.T, member uint8, data []byte, archive bool) {
		if archive {
			// A whole archive as the regulator receives it.
			if fs, err := readBundle(data); err == nil {
				verifyBundle(fs)
			}
			return
		}
		tampered := maps.Clone(files)
		tampered[fuzzBundleMembers[int(member)%len(fuzzBundleMembers)]] = data
		_, findings, err := verifyBundle(tampered)
		if err != nil || len(findings) > 0 {
			return
		}
		var got fuzzBundle
		if err := got.decode(tampered); err != nil {
			t.Fatalf("verified a bundle that does not decode: %v", err)
		}
		if !got.server.Equal(orig.server) || len(got.keys) != len(orig.keys) {
			return // other keys: the regulator sees other fingerprints
		}
		for p, k := range got.keys {
			if !k.Equal(orig.keys[p]) {
				return
			}
		}
		if len(got.log.Entries) != len(orig.log.Entries) {
			t.Fatalf("verified a log of %d entries, the original has %d", len(got.log.Entries), len(orig.log.Entries))
		}
		for i := range got.log.Entries {
			if !bytes.Equal(auditlog.Leaf(&got.log.Entries[i]), auditlog.Leaf(&orig.log.Entries[i])) {
				t.Fatalf("verified an edited log entry %d: %+v", i, got.log.Entries[i])
			}
		}
		for _, a := range got.duas.Agreements {
			canon, _, err := statement.Canonical(json.RawMessage(a.Document))
			if err != nil || !bytes.Equal(canon, orig.duas[a.Digest]) {
				t.Fatalf("verified agreement version %d with document %s", a.Version, a.Document)
			}
		}
		for _, tb := range got.templates {
			if !orig.templates[tb.Digest] || template.Digest(&tb.Template) != tb.Digest {
				t.Fatalf("verified template %s version %d with digest %s", tb.Template.Name, tb.Template.Version, tb.Digest)
			}
		}
	})
}

// fuzzBundle is what a bundle establishes under its keys.
type fuzzBundle struct {
	server    ed25519.PublicKey
	keys      bundleKeys
	log       auditlog.Export
	duas      httpapi.DUAList
	templates []httpapi.TemplateBody
}

func (b *fuzzBundle) decode(files map[string][]byte) error {
	var server bundleServerInfo
	for name, v := range map[string]any{bundleServer: &server, bundleParties: &b.keys, bundleLog: &b.log, bundleDUAs: &b.duas, bundleTemplates: &b.templates} {
		if err := json.Unmarshal(files[name], v); err != nil {
			return err
		}
	}
	b.server = server.SigningKey
	return nil
}

// fuzzOriginal is what the untouched bundle says: its keys, its log, its
// agreements' canonical documents by digest and its templates' digests.
type fuzzOriginal struct {
	server    ed25519.PublicKey
	keys      bundleKeys
	log       auditlog.Export
	duas      map[string][]byte
	templates map[string]bool
}

// fuzzBundleFiles builds the bundle of room r on a server with a fixed key:
// parties bank and operator, an agreement both signed, a template both
// approved, a log of twelve entries with the server's checkpoint, both
// parties' cosignatures, and the bank's kept checkpoint and receipt.
func fuzzBundleFiles(f *testing.F) (map[string][]byte, fuzzOriginal) {
	key := func(b byte) ed25519.PrivateKey {
		return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{b}, ed25519.SeedSize))
	}
	serverKey := key(1)
	serverID := cleanroom.KeyFingerprint(serverKey.Public().(ed25519.PublicKey))
	parties := map[string]ed25519.PrivateKey{"bank": key(2), "operator": key(3)}
	keys := bundleKeys{}
	for p, k := range parties {
		keys[p] = k.Public().(ed25519.PublicKey)
	}
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	orig := fuzzOriginal{server: serverKey.Public().(ed25519.PublicKey), keys: keys, duas: map[string][]byte{}, templates: map[string]bool{}}

	d := cleanroom.DUA{Type: cleanroom.DUAType, Server: serverID, Room: "r", Version: 1, Host: "neutral",
		Parties:  []cleanroom.DUAParty{{Name: "bank", Consent: "customers were told"}, {Name: "operator", Consent: "notice; opt-outs honoured"}},
		Purposes: []string{"segment sizing"}, DataCategories: []string{"contact identifiers"}, LegalBasis: "GDPR Art. 6(1)(f)",
		Templates: []cleanroom.DUATemplate{{Name: "tiers", MinVersion: 1}}, Budget: cleanroom.DUABudget{Rho: 1, Epsilon: 20, Renewal: "never"},
		RetentionDays: 90, StartsAt: now, ExpiresAt: now.AddDate(1, 0, 0)}
	canon, digest, err := statement.Canonical(d)
	if err != nil {
		f.Fatal(err)
	}
	orig.duas[digest] = canon
	agreement := httpapi.DUABody{Room: "r", Version: 1, State: cleanroom.DUAState("active"), Digest: digest, Document: canon, DraftedBy: "operator/u", DraftedAt: now}
	for _, p := range []string{"bank", "operator"} {
		env, err := statement.Sign(parties[p], d)
		if err != nil {
			f.Fatal(err)
		}
		agreement.Signatures = append(agreement.Signatures, httpapi.DUASignatureBody{Party: p, Signature: env.Signature, SignedBy: p + "/u", SignedAt: now, Valid: true})
	}

	tpl, err := template.Parse([]byte("name: tiers\nquestion: How many customers are there per tier?\njoin: [bank-customers]\n" +
		"group_by:\n  - bank-customers.tier\nmetrics:\n  - people: count_distinct_person\ncontrols:\n  rho: 0.1\n  receivers: [bank]\n"))
	if err != nil {
		f.Fatal(err)
	}
	tpl.Version = 1
	tb := httpapi.TemplateBody{Template: *tpl, Digest: template.Digest(tpl), State: cleanroom.TemplateApproved, ProposedBy: "operator/u", ProposedAt: now,
		Readers: []string{"bank"}, ApprovedBy: []string{"bank", "operator"}}
	orig.templates[tb.Digest] = true
	for _, p := range []string{"bank", "operator"} {
		env, err := statement.Sign(parties[p], cleanroom.TemplateApproval{Type: cleanroom.ApprovalType, Server: serverID, Room: "r",
			Name: tpl.Name, Version: tpl.Version, Digest: tb.Digest, IssuedAt: now})
		if err != nil {
			f.Fatal(err)
		}
		tb.Approvals = append(tb.Approvals, env)
	}

	var entries []cleanroom.AuditEntry
	for i := range 12 {
		entries = append(entries, cleanroom.AuditEntry{Seq: int64(i + 1), Time: now.Add(time.Duration(i) * time.Minute), Actor: "bank/u",
			Action: cleanroom.ActionQueryRun, Object: "template:tiers", Room: "r", Outcome: cleanroom.OutcomeOK,
			Detail: map[string]string{"i": string(rune('a' + i))}, RequestID: "req"})
	}
	checkpoint := func(n int) auditlog.Checkpoint {
		tr := auditlog.Tree(entries[:n])
		root, _ := tr.Root(n)
		cp := auditlog.Checkpoint{Server: serverID, Room: "r", Size: n, Root: root[:]}
		if err := cp.Sign(serverKey); err != nil {
			f.Fatal(err)
		}
		return cp
	}
	log := auditlog.Export{Server: serverID, Room: "r", Entries: entries, Checkpoint: checkpoint(len(entries))}
	var cosigned []auditlog.Cosignature
	for _, p := range []string{"bank", "operator"} {
		cs, err := log.Checkpoint.Cosign(p, parties[p])
		if err != nil {
			f.Fatal(err)
		}
		cosigned = append(cosigned, cs)
	}
	kept := bundleKeptState{Party: "bank", Checkpoints: []auditlog.Checkpoint{checkpoint(7)}}
	proof, err := auditlog.Tree(entries[:7]).InclusionProof(3, 7)
	if err != nil {
		f.Fatal(err)
	}
	kept.Receipts = []auditlog.Receipt{{Entry: entries[3], Index: 3, Checkpoint: kept.Checkpoints[0], Proof: auditlog.ProofBytes(proof)}}

	files := map[string][]byte{bundleReadme: []byte(bundleReadmeText)}
	for name, v := range map[string]any{
		bundleServer: bundleServerInfo{ServerID: serverID, SigningKey: orig.server}, bundleParties: keys,
		bundleDUAs: httpapi.DUAList{Agreements: []httpapi.DUABody{agreement}, Active: 1}, bundleTemplates: []httpapi.TemplateBody{tb},
		bundleLog: log, bundleCosigned: cosigned, bundleKept: kept,
	} {
		raw, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			f.Fatal(err)
		}
		files[name] = raw
	}
	if err := json.Unmarshal(files[bundleLog], &orig.log); err != nil {
		f.Fatal(err)
	}
	return files, orig
}

// fuzzTarGz packs files as writeBundle does.
func fuzzTarGz(f *testing.F, files map[string][]byte) []byte {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, name := range append([]string{bundleReadme}, fuzzBundleMembers...) {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(files[name])), Typeflag: tar.TypeReg}); err != nil {
			f.Fatal(err)
		}
		tw.Write(files[name])
	}
	if err := tw.Close(); err != nil {
		f.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		f.Fatal(err)
	}
	return buf.Bytes()
}
