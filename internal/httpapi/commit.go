package httpapi

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/gtank/ristretto255"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/blind"
	"github.com/cleanroom-dev/cleanroom/internal/sqlite"
	"github.com/cleanroom-dev/cleanroom/internal/statement"
	"github.com/cleanroom-dev/cleanroom/internal/tabular"
	"github.com/cleanroom-dev/cleanroom/internal/upload"
	"github.com/cleanroom-dev/cleanroom/internal/vault"
)

// CommitUploadRequest closes an upload: how many chunks were sent, and the
// party's signed manifest of each identifier class's token set.
type CommitUploadRequest struct {
	Chunks    int                  `json:"chunks"`
	Manifests []statement.Envelope `json:"manifests"`
}

// ClassStats counts one identifier column of a committed version.
type ClassStats struct {
	Class   cleanroom.IdentifierClass `json:"class"`
	Present int                       `json:"present"` // rows with a token
	Missing int                       `json:"missing"` // rows without (missing or invalid on the party's side)
	Tokens  int                       `json:"tokens"`  // distinct tokens of the class, over all its columns
}

// VersionStats is what the room computed of a version at commit.
type VersionStats struct {
	Identifiers []ClassStats `json:"identifiers"`
}

// maxCommitErrors is how many row errors a refused commit reports.
const maxCommitErrors = 20

func (s *Server) commitRoute() Route {
	return Route{Method: "POST", Pattern: "/api/v1/rooms/{room}/datasets/{dataset}/uploads/{upload}/commit",
		Action: cleanroom.ActionUploadCommit, Mutates: true,
		decode:  decodeInto(func(c *call, v *CommitUploadRequest) error { c.body = &commitWork{req: v}; return nil }),
		prepare: s.prepareCommit, handle: s.commitUpload}
}

// commitWork carries a commit from its preparation, outside the database
// transaction, to its recording inside it.
type commitWork struct {
	req       *CommitUploadRequest
	upload    *sqlite.UploadRecord
	writer    *vault.VersionWriter
	rows      int
	stats     VersionStats
	manifests []sqlite.ManifestRecord
}

// vaultID names a dataset in the vault: room and dataset names cannot
// contain '.', so the pair is unambiguous.
func vaultID(room, dataset string) string { return room + "." + dataset }

// prepareCommit opens every sealed chunk, validates the payload against the
// dataset's schema and the party's manifests, and writes it encrypted into
// a new vault version that is not yet visible.
func (s *Server) prepareCommit(c *call) (err error) {
	w := c.body.(*commitWork)
	c.object = "upload:" + c.r.PathValue("upload")
	ctx := c.r.Context()
	var ds *sqlite.DatasetRecord
	var party *cleanroom.Party
	var room *cleanroom.Room
	err = s.db.View(ctx, func(tx *sqlite.Tx) (err error) {
		if w.upload, err = tx.Upload(c.r.PathValue("upload")); err != nil {
			return err
		}
		if room, err = tx.Room(w.upload.Room); err != nil {
			return err
		}
		if ds, err = tx.Dataset(w.upload.Room, w.upload.Dataset); err != nil {
			return err
		}
		party, err = tx.Party(ds.Party)
		return err
	})
	if err != nil {
		return err
	}
	u := w.upload
	c.detail["dataset"] = u.Dataset
	c.detail["version"] = strconv.Itoa(u.Version)
	if u.State != "open" {
		return cleanroom.Errorf(cleanroom.EConflict, "upload %s is %s", u.ID, u.State)
	}
	if w.req.Chunks < 1 || w.req.Chunks > 1<<20 {
		return cleanroom.Errorf(cleanroom.EInvalid, "field \"chunks\" must be at least 1, not %d", w.req.Chunks)
	}
	for i := range w.req.Chunks + 1 {
		_, err := os.Stat(s.chunkPath(u.ID, i))
		switch {
		case i < w.req.Chunks && errors.Is(err, os.ErrNotExist):
			return cleanroom.Errorf(cleanroom.EInvalid, "chunk %d of %d was never received", i, w.req.Chunks).
				WithHint("send it again, then commit")
		case i == w.req.Chunks && err == nil:
			return cleanroom.Errorf(cleanroom.EInvalid, "chunk %d was received but the commit names only %d chunks", i, w.req.Chunks)
		case err != nil && !errors.Is(err, os.ErrNotExist):
			return err
		}
	}
	var schema cleanroom.Schema
	if err := json.Unmarshal(ds.Schema, &schema); err != nil {
		return fmt.Errorf("stored schema: %w", err)
	}

	if err := s.vault.CreateDataset(ctx, vaultID(u.Room, u.Dataset)); err != nil && !errors.Is(err, vault.ErrExist) {
		return err
	}
	vw, err := s.vault.NewVersion(ctx, vaultID(u.Room, u.Dataset), u.Version)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			vw.Abort()
		}
	}()
	// The opened chunks go both into the vault and into the validating
	// reader; plaintext stays in memory.
	pr, pw := io.Pipe()
	opened := make(chan error, 1)
	go func() {
		err := s.openChunks(ctx, u, w.req.Chunks, io.MultiWriter(pw, vw))
		pw.CloseWithError(err)
		opened <- err
	}()
	tokens, err := validatePayload(pr, u, &schema, room.Matching == cleanroom.MatchingHMAC, w)
	// Validation may stop before the end of the payload (a header for
	// another version, a bad row): the chunks still being opened then fail
	// to write with io.ErrClosedPipe, which is no error of theirs.
	pr.Close()
	// A chunk that does not open explains a broken payload better than the
	// payload's own error does.
	if openErr := <-opened; openErr != nil && !errors.Is(openErr, io.ErrClosedPipe) {
		return openErr
	}
	if err != nil {
		return err
	}
	if err := s.checkManifests(u, party.SigningKey, tokens, w); err != nil {
		return err
	}
	w.writer = vw
	c.onFail = append(c.onFail, func() { vw.Abort() })
	return nil
}

// openChunks opens the sealed chunks in order and writes their plaintext
// to dst. The last chunk is sealed as final, so a dropped tail is detected.
func (s *Server) openChunks(ctx context.Context, u *sqlite.UploadRecord, n int, dst io.Writer) error {
	for i := range n {
		if err := ctx.Err(); err != nil {
			return err
		}
		sealed, err := os.ReadFile(s.chunkPath(u.ID, i))
		if err != nil {
			return err
		}
		plain, err := s.opener.Open(upload.SealInfo(u.Room, u.Dataset, u.ID, i, i == n-1), sealed)
		if err != nil {
			return cleanroom.Errorf(cleanroom.EInvalid, "chunk %d of %d does not open: it was not sealed to this server for this upload at this position", i, n).
				WithHint("prepare the upload again with `cleanroom dataset upload`")
		}
		if _, err := dst.Write(plain); err != nil {
			return err
		}
	}
	return nil
}

// validatePayload reads the payload and checks it against the session and
// the schema. It returns the distinct tokens of each identifier column.
//
// In an ecdh room every token must be a canonical, non-identity ristretto255
// element; in an hmac room tokens are HMAC outputs, and only the all-zero
// value is refused.
func validatePayload(r io.Reader, u *sqlite.UploadRecord, schema *cleanroom.Schema, hmacRoom bool, w *commitWork) (map[cleanroom.IdentifierClass][]blind.Token, error) {
	rd, err := upload.NewReader(r)
	if err != nil {
		return nil, payloadError(err)
	}
	h := rd.Header
	if h.Room != u.Room || h.Dataset != u.Dataset || h.Version != u.Version {
		return nil, cleanroom.Errorf(cleanroom.EInvalid, "payload is for %s/%s version %d, the upload session for %s/%s version %d",
			h.Room, h.Dataset, h.Version, u.Room, u.Dataset, u.Version)
	}
	if len(h.Identifiers) != len(schema.Identifiers) || len(h.Attributes) != len(schema.Attributes) {
		return nil, cleanroom.Errorf(cleanroom.EInvalid, "payload has %d identifier and %d attribute columns, the schema %d and %d",
			len(h.Identifiers), len(h.Attributes), len(schema.Identifiers), len(schema.Attributes))
	}
	for i, f := range h.Identifiers {
		if want := schema.Identifiers[i]; f.Column != want.Column || f.Class != want.Class {
			return nil, cleanroom.Errorf(cleanroom.EInvalid, "payload identifier column %d is %s (%s), the schema's is %s (%s)",
				i+1, f.Column, f.Class, want.Column, want.Class)
		}
	}
	for i, f := range h.Attributes {
		if want := schema.Attributes[i]; f.Column != want.Column || f.Type != string(want.Type) {
			return nil, cleanroom.Errorf(cleanroom.EInvalid, "payload attribute column %d is %s (%s), the schema's is %s (%s)",
				i+1, f.Column, f.Type, want.Column, want.Type)
		}
	}
	// Columns of one class (a mobile and a home phone) share one token set
	// and one manifest: the same identifier is the same token in either.
	seen := map[cleanroom.IdentifierClass]map[blind.Token]bool{}
	stats := make([]ClassStats, len(h.Identifiers))
	for i, f := range h.Identifiers {
		stats[i].Class = f.Class
		if seen[f.Class] == nil {
			seen[f.Class] = map[blind.Token]bool{}
		}
	}
	var rowErrs []string
	total := 0
	addErr := func(row int, column, reason string) {
		total++
		if len(rowErrs) < maxCommitErrors {
			rowErrs = append(rowErrs, fmt.Sprintf("row %d, column %s: %s", row, column, reason))
		}
	}
	checkers := make([]*tabular.ValueChecker, len(schema.Attributes))
	for i := range schema.Attributes {
		checkers[i] = tabular.NewValueChecker(&schema.Attributes[i])
	}
	identity := ristretto255.NewElement()
	for row := 1; ; row++ {
		rr, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, payloadError(err)
		}
		w.rows++
		for i, t := range rr.Tokens {
			if t == nil {
				stats[i].Missing++
				continue
			}
			if hmacRoom {
				if *t == (upload.Token{}) {
					addErr(row, h.Identifiers[i].Column, "token is all zeros")
					continue
				}
				stats[i].Present++
				seen[h.Identifiers[i].Class][blind.Token(*t)] = true
				continue
			}
			e := ristretto255.NewElement()
			if e.Decode(t[:]) != nil {
				addErr(row, h.Identifiers[i].Column, "token is not a canonical ristretto255 encoding")
				continue
			}
			if e.Equal(identity) == 1 {
				addErr(row, h.Identifiers[i].Column, "token is the identity element")
				continue
			}
			stats[i].Present++
			seen[h.Identifiers[i].Class][blind.Token(*t)] = true
		}
		for i, v := range rr.Values {
			if _, err := checkers[i].Parse(v); err != nil {
				addErr(row, h.Attributes[i].Column, err.Error())
			}
		}
	}
	if total > 0 {
		more := ""
		if total > len(rowErrs) {
			more = fmt.Sprintf(" (first %d shown)", len(rowErrs))
		}
		return nil, cleanroom.Errorf(cleanroom.EInvalid, "payload has %d invalid values%s: %s", total, more, strings.Join(rowErrs, "; ")).
			WithHint("nothing was committed; fix the file and upload again")
	}
	out := map[cleanroom.IdentifierClass][]blind.Token{}
	for class, set := range seen {
		ts := make([]blind.Token, 0, len(set))
		for t := range set {
			ts = append(ts, t)
		}
		blind.SortTokens(ts)
		out[class] = ts
	}
	for i := range stats {
		stats[i].Tokens = len(out[stats[i].Class])
	}
	w.stats = VersionStats{Identifiers: stats}
	return out, nil
}

func payloadError(err error) error {
	if cleanroom.ErrorCode(err) != cleanroom.EInternal {
		return err
	}
	if errors.Is(err, upload.ErrPayload) {
		return cleanroom.Errorf(cleanroom.EInvalid, "%s", err.Error())
	}
	return err
}

// checkManifests requires one manifest per identifier class that has
// tokens, signed by the dataset's party for exactly this server, room,
// dataset, version and token set.
func (s *Server) checkManifests(u *sqlite.UploadRecord, key ed25519.PublicKey, tokens map[cleanroom.IdentifierClass][]blind.Token, w *commitWork) error {
	got := map[cleanroom.IdentifierClass]bool{}
	for i, env := range w.req.Manifests {
		m, err := blind.VerifyManifest(key, env)
		if err != nil {
			return cleanroom.Errorf(cleanroom.EInvalid, "manifest %d does not verify with the key of party %q", i+1, u.Party).
				WithHint("manifests are signed on the party's side by `cleanroom dataset upload --keys DIR`")
		}
		if m.Server != s.serverID || m.Room != u.Room || m.Party != u.Party || m.Dataset != u.Dataset || m.Version != u.Version {
			return cleanroom.Errorf(cleanroom.EInvalid, "manifest %d is for server %s, %s/%s version %d by %s, not this upload's %s, %s/%s version %d by %s",
				i+1, m.Server, m.Room, m.Dataset, m.Version, m.Party, s.serverID, u.Room, u.Dataset, u.Version, u.Party)
		}
		set, ok := tokens[m.Class]
		if !ok || got[m.Class] {
			return cleanroom.Errorf(cleanroom.EInvalid, "manifest %d is for class %s, which the payload has no column of or another manifest covers", i+1, m.Class)
		}
		if err := blind.CheckSet(m, set); err != nil {
			return cleanroom.Errorf(cleanroom.EInvalid, "manifest %d (%s): %s", i+1, m.Class, err.Error())
		}
		got[m.Class] = true
		raw, err := json.Marshal(env)
		if err != nil {
			return err
		}
		w.manifests = append(w.manifests, sqlite.ManifestRecord{Class: string(m.Class), Count: m.Count, Digest: m.Digest, Envelope: raw})
	}
	var classes []string
	for class, set := range tokens {
		if len(set) > 0 && !got[class] {
			classes = append(classes, string(class))
		}
	}
	if len(classes) > 0 {
		slices.Sort(classes)
		return cleanroom.Errorf(cleanroom.EInvalid, "no manifest for the tokens of class %s", strings.Join(classes, ", "))
	}
	return nil
}

func (s *Server) commitUpload(c *call) (int, any, error) {
	w := c.body.(*commitWork)
	u := w.upload
	// The agreement may have ended while the upload was under way.
	if err := requireDUAForUpload(c.tx, u.Room, u.Dataset, u.Party); err != nil {
		return 0, nil, err
	}
	stats, err := json.Marshal(w.stats)
	if err != nil {
		return 0, nil, err
	}
	v := sqlite.VersionRecord{Room: u.Room, Dataset: u.Dataset, Version: u.Version, Rows: w.rows, Stats: stats, CommittedAt: c.tx.Now()}
	if err := c.tx.CommitVersion(v, w.manifests); err != nil {
		return 0, nil, err
	}
	if err := c.tx.SetUploadState(u.ID, "committed", w.req.Chunks); err != nil {
		return 0, nil, err
	}
	c.detail["rows"] = strconv.Itoa(w.rows)
	c.room = u.Room
	// The ciphertext file becomes visible last, inside the transaction; if
	// the transaction then fails, the version number is never reused (each
	// session reserves its own), so an orphaned file is never read.
	c.beforeCommit = append(c.beforeCommit, func() error { return w.writer.Commit() })
	c.afterCommit = append(c.afterCommit, func() { s.removeUploadDir(u.ID) })
	return http.StatusCreated, VersionBody{Version: v.Version, Rows: v.Rows, Stats: stats, CommittedAt: v.CommittedAt}, nil
}
