package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"maps"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/client"
	"github.com/cleanroom-dev/cleanroom/internal/httpapi"
	"github.com/cleanroom-dev/cleanroom/internal/keyfile"
	"github.com/cleanroom-dev/cleanroom/internal/library"
	"github.com/cleanroom-dev/cleanroom/internal/statement"
	"github.com/cleanroom-dev/cleanroom/internal/template"
	"github.com/cleanroom-dev/cleanroom/internal/tlscert"
)

// bundleRoom sets up a room with two parties, a signed agreement, an
// approved template and checkpoints cosigned by both, and returns the
// bank's client and the audit state directory its checkpoints are in.
func bundleRoom(t *testing.T) (*client.Client, string) {
	ctx := context.Background()
	m, res := startServer(t)
	tc, err := tlscert.ClientConfig(res.TLSCert)
	if err != nil {
		t.Fatal(err)
	}
	admin := client.New(m.URL(), res.AdminToken, tc)
	info, err := admin.ServerInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CreateRoom(ctx, httpapi.CreateRoomRequest{Name: "r", Host: "neutral"}); err != nil {
		t.Fatal(err)
	}
	signers := map[string]signer{}
	for _, party := range []string{"operator", "bank"} {
		k, err := keyfile.CreateParty(filepath.Join(t.TempDir(), party))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := admin.CreateParty(ctx, httpapi.CreatePartyRequest{Name: party, SigningKey: cleanroom.EncodeKey(k.Public())}); err != nil {
			t.Fatal(err)
		}
		if _, err := admin.Invite(ctx, "r", party); err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC()
		env, _ := statement.Sign(k.Signing, cleanroom.GrantStatement{Type: cleanroom.GrantType, Server: info.ServerID, Party: party,
			User: "u", Room: "r", Roles: []cleanroom.Role{cleanroom.RoleProvider, cleanroom.RoleAnalyst}, IssuedAt: now, ExpiresAt: now.Add(time.Hour)})
		if _, err := admin.SubmitGrant(ctx, party, env); err != nil {
			t.Fatal(err)
		}
		tok, err := admin.CreatePartyToken(ctx, httpapi.CreateTokenRequest{Party: party, User: "u"}, k.Signing)
		if err != nil {
			t.Fatal(err)
		}
		signers[party] = signer{admin.WithToken(tok.Secret), k}
	}
	agree(t, ctx, info.ServerID, "r", "neutral", signers)
	for _, d := range demoDatasets {
		s, ok := signers[d.party]
		if !ok {
			continue // the room has two of the demo's parties
		}
		schema, _ := demoSchemas.ReadFile("demodata/" + d.name + ".schema.json")
		if _, err := s.c.CreateDataset(ctx, "r", d.name, schema); err != nil {
			t.Fatal(err)
		}
	}
	e, err := library.Get("spend-by-tier")
	if err != nil {
		t.Fatal(err)
	}
	b, err := signers["operator"].c.ProposeTemplate(ctx, "r", string(e.YAML))
	if err != nil {
		t.Fatal(err)
	}
	for _, party := range []string{"operator", "bank"} {
		env, _ := statement.Sign(signers[party].keys.Signing, cleanroom.TemplateApproval{Type: cleanroom.ApprovalType, Server: info.ServerID,
			Room: "r", Name: b.Template.Name, Version: b.Template.Version, Digest: template.Digest(&b.Template), IssuedAt: time.Now().UTC()})
		if _, err := signers[party].c.ApproveTemplate(ctx, "r", b.Template.Name, env); err != nil {
			t.Fatal(err)
		}
	}
	dir := filepath.Join(t.TempDir(), "audit")
	for _, party := range []string{"operator", "bank"} {
		if _, _, err := cosignCheckpoint(ctx, signers[party].c, "r", signers[party].keys, filepath.Join(t.TempDir(), party)); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := keepCheckpoint(ctx, signers["bank"].c, "r", dir); err != nil {
		t.Fatal(err)
	}
	return signers["bank"].c, dir
}

func TestRegulatorBundle(t *testing.T) {
	ctx := context.Background()
	c, dir := bundleRoom(t)
	info, _ := c.ServerInfo(ctx)
	st, err := loadAuditState(auditStatePath(dir, info.ServerID, "r"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := writeBundle(ctx, c, "r", st)
	if err != nil {
		t.Fatal(err)
	}
	if !isBundle(raw) {
		t.Fatal("the bundle is not gzip")
	}
	files, err := readBundle(raw)
	if err != nil {
		t.Fatal(err)
	}
	report, findings, err := verifyBundle(files)
	if err != nil || len(findings) > 0 {
		t.Fatalf("untouched bundle: %v, findings %v", err, findings)
	}
	joined := strings.Join(report, "\n")
	for _, want := range []string{"agreement version 1 (active", "signed by bank,operator", "template spend-by-tier version 1 (approved): approved by bank,operator",
		"party bank (key fingerprint"} {
		if !strings.Contains(joined, want) {
			t.Errorf("report lacks %q:\n%s", want, joined)
		}
	}

	other, _, _ := ed25519.GenerateKey(nil)
	for _, tc := range []struct {
		name, file string
		edit       func([]byte) []byte
		want       string
	}{
		{"agreement edited", bundleDUAs, func(b []byte) []byte {
			return bytes.Replace(b, []byte(`segment sizing`), []byte(`segment sizing and resale`), 1)
		}, "does not hash to its digest"},
		{"agreement signature dropped", bundleDUAs, func(b []byte) []byte {
			var l httpapi.DUAList
			json.Unmarshal(b, &l)
			l.Agreements[0].Signatures[0].Signature[5] ^= 1
			out, _ := json.Marshal(l)
			return out
		}, "signature of party bank does not verify"},
		{"template edited", bundleTemplates, func(b []byte) []byte {
			return bytes.Replace(b, []byte(`"rho": 0.1`), []byte(`"rho": 0.9`), 1)
		}, "template spend-by-tier version 1: its content hashes to"},
		{"party key swapped", bundleParties, func(b []byte) []byte {
			var k bundleKeys
			json.Unmarshal(b, &k)
			k["operator"] = other
			out, _ := json.Marshal(k)
			return out
		}, "signature of party operator does not verify"},
		{"log entry edited", bundleLog, func(b []byte) []byte {
			return bytes.Replace(b, []byte(`"actor": "bank/u"`), []byte(`"actor": "operator/u"`), 1)
		}, ""},
		{"cosignature forged", bundleCosigned, func(b []byte) []byte {
			var cs []map[string]any
			json.Unmarshal(b, &cs)
			cs[0]["size"] = cs[0]["size"].(float64) + 1
			out, _ := json.Marshal(cs)
			return out
		}, "cosignature of party"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tampered := maps.Clone(files)
			tampered[tc.file] = tc.edit(files[tc.file])
			if bytes.Equal(tampered[tc.file], files[tc.file]) {
				t.Fatal("the edit changed nothing")
			}
			_, findings, err := verifyBundle(tampered)
			if err != nil {
				t.Fatal(err)
			}
			if len(findings) == 0 || !strings.Contains(strings.Join(findings, "\n"), tc.want) {
				t.Errorf("findings %q, want one saying %q", findings, tc.want)
			}
		})
	}
}
