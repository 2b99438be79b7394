package httpapi

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gtank/ristretto255"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/blind"
	"github.com/cleanroom-dev/cleanroom/internal/keyfile"
	"github.com/cleanroom-dev/cleanroom/internal/statement"
	"github.com/cleanroom-dev/cleanroom/internal/upload"
)

// testPayload is a payload of the fixture's dataset (phone, tier) with n
// rows, its distinct phone tokens and the bank's manifest of them.
func (f *fixture) testPayload(uploadID string, version, n int, edit func(h *upload.Header, rows []upload.Row)) ([]byte, statement.Envelope) {
	f.t.Helper()
	var wide [64]byte
	rand.Read(wide[:])
	key := ristretto255.NewScalar()
	key.FromUniformBytes(wide[:])
	digests := make([][32]byte, n)
	for i := range digests {
		digests[i] = sha256.Sum256([]byte{byte(i), byte(i >> 8)})
	}
	tokens, err := blind.Blind(key, "r1", cleanroom.ClassPhone, digests)
	if err != nil {
		f.t.Fatal(err)
	}
	h := upload.Header{Room: "r1", Dataset: "bank-customers", Version: version, Rows: n,
		Identifiers: []upload.IdentifierField{{Column: "phone", Class: cleanroom.ClassPhone}},
		Attributes:  []upload.AttributeField{{Column: "tier", Type: "string"}}}
	rows := make([]upload.Row, n)
	for i := range rows {
		t := upload.Token(tokens[i])
		rows[i] = upload.Row{Tokens: []*upload.Token{&t}, Values: []string{"premium"}}
	}
	if edit != nil {
		edit(&h, rows)
	}
	var buf bytes.Buffer
	w, err := upload.NewWriter(&buf, h)
	if err != nil {
		f.t.Fatal(err)
	}
	for _, r := range rows {
		if err := w.Write(r); err != nil {
			f.t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		f.t.Fatal(err)
	}
	m, err := blind.NewManifest(f.srv.ServerID(), "r1", "bank", "bank-customers", version, cleanroom.ClassPhone, tokens, f.now)
	if err != nil {
		f.t.Fatal(err)
	}
	env, err := blind.SignManifest(f.keys["bank"], m)
	if err != nil {
		f.t.Fatal(err)
	}
	return buf.Bytes(), env
}

// seal cuts a payload into chunks sealed for an upload and stores them as
// if they had been sent.
func (f *fixture) seal(uploadID string, payload []byte, chunkSize int) int {
	f.t.Helper()
	dir := filepath.Join(f.uploadDir, uploadID)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		f.t.Fatal(err)
	}
	n := (len(payload) + chunkSize - 1) / chunkSize
	for i := range n {
		part := payload[i*chunkSize : min(len(payload), (i+1)*chunkSize)]
		sealed, err := keyfile.SealTo(f.srv.info.HPKEKey, upload.SealInfo("r1", "bank-customers", uploadID, i, i == n-1), part)
		if err != nil {
			f.t.Fatal(err)
		}
		if err := os.WriteFile(f.srv.chunkPath(uploadID, i), sealed, 0o600); err != nil {
			f.t.Fatal(err)
		}
	}
	return n
}

// stageUpload puts a valid payload of n rows in place for the fixture's
// open upload and returns the commit request.
func (f *fixture) stageUpload(uploadID string, n int) CommitUploadRequest {
	payload, env := f.testPayload(uploadID, 1, n, nil)
	chunks := f.seal(uploadID, payload, 200)
	return CommitUploadRequest{Chunks: chunks, Manifests: []statement.Envelope{env}}
}

func TestUploadCommit(t *testing.T) {
	f := newFixture(t)
	path := "/api/v1/rooms/r1/datasets/bank-customers/uploads/up1/commit"
	status, resp := f.do("provider", "POST", path, f.stageUpload("up1", 25))
	if status != 201 {
		t.Fatalf("commit = %d %s", status, resp)
	}
	var v VersionBody
	json.Unmarshal(resp, &v)
	if v.Version != 1 || v.Rows != 25 || !strings.Contains(string(v.Stats), `"tokens": 25`) {
		t.Fatalf("committed version = %+v, stats %s", v, v.Stats)
	}
	// The version reads back from the vault as the payload that was sent.
	rc, err := f.srv.vault.OpenVersion(t.Context(), vaultID("r1", "bank-customers"), 1)
	if err != nil {
		t.Fatal(err)
	}
	rd, err := upload.NewReader(rc)
	if err != nil || rd.Header.Rows != 25 {
		t.Fatalf("stored payload: %v, %+v", err, rd)
	}
	rc.Close()
	if _, err := os.Stat(filepath.Join(f.uploadDir, "up1")); !os.IsNotExist(err) {
		t.Errorf("sealed chunks left behind after commit: %v", err)
	}
	// A committed session cannot be committed again.
	if status, resp := f.do("provider", "POST", path, CommitUploadRequest{Chunks: 1}); status != 409 {
		t.Fatalf("second commit = %d %s, want 409", status, resp)
	}
	status, resp = f.do("analyst", "GET", "/api/v1/rooms/r1/datasets/bank-customers", nil)
	if status != 200 || !strings.Contains(string(resp), `"rows": 25`) {
		t.Fatalf("dataset after commit = %d %s", status, resp)
	}
}

// TestUploadCommitRefusals: every way a commit can be wrong is refused with
// a precise message, and leaves no version behind.
func TestUploadCommitRefusals(t *testing.T) {
	path := "/api/v1/rooms/r1/datasets/bank-customers/uploads/up1/commit"
	cases := []struct {
		name  string
		stage func(f *fixture) CommitUploadRequest
		want  string
	}{
		{"missing chunk", func(f *fixture) CommitUploadRequest {
			req := f.stageUpload("up1", 10)
			os.Remove(f.srv.chunkPath("up1", 1))
			return req
		}, "chunk 1 of"},
		{"extra chunk", func(f *fixture) CommitUploadRequest {
			req := f.stageUpload("up1", 10)
			req.Chunks--
			return req
		}, "commit names only"},
		{"tail dropped", func(f *fixture) CommitUploadRequest {
			payload, env := f.testPayload("up1", 1, 10, nil)
			n := f.seal("up1", payload, 200)
			os.Remove(f.srv.chunkPath("up1", n-1))
			return CommitUploadRequest{Chunks: n - 1, Manifests: []statement.Envelope{env}}
		}, "does not open"},
		{"chunks swapped", func(f *fixture) CommitUploadRequest {
			req := f.stageUpload("up1", 10)
			a, b := f.srv.chunkPath("up1", 0), f.srv.chunkPath("up1", 1)
			os.Rename(a, a+".x")
			os.Rename(b, a)
			os.Rename(a+".x", b)
			return req
		}, "chunk 0 of"},
		{"no manifest", func(f *fixture) CommitUploadRequest {
			req := f.stageUpload("up1", 10)
			req.Manifests = nil
			return req
		}, "no manifest for the tokens of class phone"},
		{"manifest of another set", func(f *fixture) CommitUploadRequest {
			req := f.stageUpload("up1", 10)
			_, other := f.testPayload("up1", 1, 10, nil)
			req.Manifests[0] = other
			return req
		}, "does not match its manifest"},
		{"manifest by another party", func(f *fixture) CommitUploadRequest {
			payload, _ := f.testPayload("up1", 1, 3, nil)
			var m blind.Manifest
			req := CommitUploadRequest{Chunks: f.seal("up1", payload, 1<<20)}
			m = blind.Manifest{Type: blind.ManifestType, Server: f.srv.ServerID(), Room: "r1", Party: "bank", Dataset: "bank-customers",
				Version: 1, Class: cleanroom.ClassPhone, Count: 3, Digest: strings.Repeat("0", 64), CreatedAt: f.now}
			env, _ := blind.SignManifest(f.keys["operator"], m)
			req.Manifests = []statement.Envelope{env}
			return req
		}, "does not verify with the key of party"},
		{"payload for another version", func(f *fixture) CommitUploadRequest {
			payload, env := f.testPayload("up1", 2, 3, nil)
			return CommitUploadRequest{Chunks: f.seal("up1", payload, 1<<20), Manifests: []statement.Envelope{env}}
		}, "version 2, the upload session for r1/bank-customers version 1"},
		{"value outside the domain", func(f *fixture) CommitUploadRequest {
			payload, env := f.testPayload("up1", 1, 3, func(h *upload.Header, rows []upload.Row) { rows[1].Values[0] = "gold" })
			return CommitUploadRequest{Chunks: f.seal("up1", payload, 1<<20), Manifests: []statement.Envelope{env}}
		}, `row 2, column tier: value \"gold\" is not a declared category`},
		{"identity token", func(f *fixture) CommitUploadRequest {
			payload, env := f.testPayload("up1", 1, 3, func(h *upload.Header, rows []upload.Row) { rows[0].Tokens[0] = &upload.Token{} })
			return CommitUploadRequest{Chunks: f.seal("up1", payload, 1<<20), Manifests: []statement.Envelope{env}}
		}, "row 1, column phone: token is the identity element"},
		{"non-canonical token", func(f *fixture) CommitUploadRequest {
			payload, env := f.testPayload("up1", 1, 3, func(h *upload.Header, rows []upload.Row) {
				bad := upload.Token{}
				for i := range bad {
					bad[i] = 0xff
				}
				rows[2].Tokens[0] = &bad
			})
			return CommitUploadRequest{Chunks: f.seal("up1", payload, 1<<20), Manifests: []statement.Envelope{env}}
		}, "row 3, column phone: token is not a canonical"},
		{"schema mismatch", func(f *fixture) CommitUploadRequest {
			payload, env := f.testPayload("up1", 1, 3, func(h *upload.Header, rows []upload.Row) { h.Attributes[0].Column = "segment" })
			return CommitUploadRequest{Chunks: f.seal("up1", payload, 1<<20), Manifests: []statement.Envelope{env}}
		}, "attribute column 1 is segment"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			req := tc.stage(f)
			before := f.counts()
			status, resp := f.do("provider", "POST", path, req)
			if status != 400 || !strings.Contains(string(resp), tc.want) {
				t.Fatalf("commit = %d %s, want 400 containing %q", status, resp, tc.want)
			}
			after := f.counts()
			if after["dataset_versions"] != before["dataset_versions"] || after["manifests"] != before["manifests"] {
				t.Errorf("refused commit recorded a version: %v -> %v", before, after)
			}
			if _, err := f.srv.vault.OpenVersion(t.Context(), vaultID("r1", "bank-customers"), 1); err == nil {
				t.Error("refused commit left a readable vault version")
			}
			// The session stays open: the same upload, done right, succeeds.
			os.RemoveAll(filepath.Join(f.uploadDir, "up1"))
			if status, resp := f.do("provider", "POST", path, f.stageUpload("up1", 5)); status != 201 {
				t.Fatalf("corrected commit = %d %s", status, resp)
			}
		})
	}
}
