package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/atomicfile"
	"github.com/cleanroom-dev/cleanroom/internal/sqlite"
	"github.com/cleanroom-dev/cleanroom/internal/upload"
)

// CreateDatasetRequest registers a dataset of the caller's party in a room.
type CreateDatasetRequest struct {
	Name   string          `json:"name"`
	Schema json.RawMessage `json:"schema"`
}

// DatasetBody is a dataset with its committed versions.
type DatasetBody struct {
	cleanroom.Dataset
	Versions []VersionBody `json:"versions"`
	// Deleted are the versions the room deleted, with the reason.
	Deleted []sqlite.Deletion `json:"deleted"`
	// Budget is the dataset's privacy budget, once a release opened it.
	Budget *BudgetBody `json:"budget,omitempty"`
}

// VersionBody is a committed dataset version.
type VersionBody struct {
	Version     int             `json:"version"`
	Rows        int             `json:"rows"`
	Stats       json.RawMessage `json:"stats"`
	CommittedAt time.Time       `json:"committed_at"`
}

// DatasetList is the response of GET /rooms/{room}/datasets.
type DatasetList struct {
	Datasets []DatasetBody `json:"datasets"`
}

// UploadBody is an upload session: the version it will commit, the chunk
// size and the key its chunks are sealed to.
type UploadBody struct {
	ID        string    `json:"id"`
	Room      string    `json:"room"`
	Dataset   string    `json:"dataset"`
	Version   int       `json:"version"`
	State     string    `json:"state"`
	ChunkSize int       `json:"chunk_size"`
	ServerID  string    `json:"server_id"`
	HPKEKey   []byte    `json:"hpke_key"`
	CreatedAt time.Time `json:"created_at"`
}

// ChunkBody acknowledges a stored chunk.
type ChunkBody struct {
	Index int `json:"index"`
	Bytes int `json:"bytes"`
}

// maxSealedChunk bounds a sealed chunk: a plaintext chunk plus HPKE's
// encapsulated key and tag.
const maxSealedChunk = upload.ChunkSize + 1024

func (s *Server) datasetRoutes() []Route {
	return []Route{
		{Method: "POST", Pattern: "/api/v1/rooms/{room}/datasets", Action: cleanroom.ActionDatasetCreate, Mutates: true,
			decode: decodeInto(func(c *call, v *CreateDatasetRequest) error { c.body = v; return nil }), handle: s.createDataset},
		{Method: "GET", Pattern: "/api/v1/rooms/{room}/datasets", Action: cleanroom.ActionDatasetList, handle: s.listDatasets},
		{Method: "GET", Pattern: "/api/v1/rooms/{room}/datasets/{dataset}", Action: cleanroom.ActionDatasetShow, handle: s.showDataset},
		{Method: "POST", Pattern: "/api/v1/rooms/{room}/datasets/{dataset}/uploads", Action: cleanroom.ActionUploadOpen, Mutates: true,
			handle: s.openUpload},
		{Method: "PUT", Pattern: "/api/v1/rooms/{room}/datasets/{dataset}/uploads/{upload}/chunks/{index}", Action: cleanroom.ActionUploadChunk,
			Mutates: true, MaxBody: maxSealedChunk, decode: decodeChunk, handle: s.putChunk},
		s.commitRoute(),
		{Method: "DELETE", Pattern: "/api/v1/rooms/{room}/datasets/{dataset}/uploads/{upload}", Action: cleanroom.ActionUploadAbort, Mutates: true,
			handle: s.abortUpload},
	}
}

func (s *Server) createDataset(c *call) (int, any, error) {
	req := c.body.(*CreateDatasetRequest)
	c.object = "dataset:" + c.target.Room + "/" + req.Name
	if len(req.Schema) == 0 {
		return 0, nil, cleanroom.Errorf(cleanroom.EInvalid, "field \"schema\" is required").
			WithHint("a schema is a JSON object with \"identifiers\" and \"attributes\" lists")
	}
	schema, err := cleanroom.ParseSchema(req.Schema)
	if err != nil {
		return 0, nil, err
	}
	d := &cleanroom.Dataset{Name: req.Name, Party: c.p.Party, Room: c.target.Room, Schema: *schema, CreatedAt: c.tx.Now()}
	if err := d.Validate(); err != nil {
		return 0, nil, err
	}
	canonical, err := json.Marshal(d.Schema)
	if err != nil {
		return 0, nil, err
	}
	c.detail["party"] = d.Party
	if err := c.tx.CreateDataset(sqlite.DatasetRecord{Room: d.Room, Name: d.Name, Party: d.Party, Schema: canonical, CreatedAt: d.CreatedAt}); err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, DatasetBody{Dataset: *d, Versions: []VersionBody{}}, nil
}

func datasetBody(tx *sqlite.Tx, rec *sqlite.DatasetRecord) (DatasetBody, error) {
	var schema cleanroom.Schema
	if err := json.Unmarshal(rec.Schema, &schema); err != nil {
		return DatasetBody{}, fmt.Errorf("stored schema of %s/%s: %w", rec.Room, rec.Name, err)
	}
	vs, err := tx.Versions(rec.Room, rec.Name)
	if err != nil {
		return DatasetBody{}, err
	}
	out := DatasetBody{Dataset: cleanroom.Dataset{Name: rec.Name, Party: rec.Party, Room: rec.Room, Schema: schema, CreatedAt: rec.CreatedAt},
		Versions: []VersionBody{}}
	for _, v := range vs {
		out.Versions = append(out.Versions, VersionBody{Version: v.Version, Rows: v.Rows, Stats: v.Stats, CommittedAt: v.CommittedAt})
	}
	if out.Deleted, err = tx.Deletions(rec.Room, rec.Name); err != nil {
		return DatasetBody{}, err
	}
	if out.Deleted == nil {
		out.Deleted = []sqlite.Deletion{}
	}
	if out.Budget, err = budgetBody(tx, rec.Room, rec.Name); err != nil {
		return DatasetBody{}, err
	}
	return out, nil
}

func (s *Server) listDatasets(c *call) (int, any, error) {
	recs, err := c.tx.Datasets(c.target.Room)
	if err != nil {
		return 0, nil, err
	}
	out := DatasetList{Datasets: []DatasetBody{}}
	for i := range recs {
		d, err := datasetBody(c.tx, &recs[i])
		if err != nil {
			return 0, nil, err
		}
		out.Datasets = append(out.Datasets, d)
	}
	return http.StatusOK, out, nil
}

func (s *Server) showDataset(c *call) (int, any, error) {
	rec, err := c.tx.Dataset(c.target.Room, c.target.Dataset)
	if err != nil {
		return 0, nil, err
	}
	d, err := datasetBody(c.tx, rec)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, d, nil
}

func (s *Server) uploadBody(u *sqlite.UploadRecord) UploadBody {
	return UploadBody{ID: u.ID, Room: u.Room, Dataset: u.Dataset, Version: u.Version, State: u.State,
		ChunkSize: upload.ChunkSize, ServerID: s.serverID, HPKEKey: s.info.HPKEKey, CreatedAt: u.CreatedAt}
}

func (s *Server) openUpload(c *call) (int, any, error) {
	if s.vault == nil || s.opener == nil || s.uploadDir == "" {
		return 0, nil, errors.New("uploads are not configured on this server")
	}
	if err := requireDUAForUpload(c.tx, c.target.Room, c.target.Dataset, c.p.Party); err != nil {
		return 0, nil, err
	}
	if s.vault.Destroyed(vaultID(c.target.Room, c.target.Dataset)) {
		return 0, nil, cleanroom.Errorf(cleanroom.EConflict, "dataset %q of room %q was deleted when an earlier agreement ended; its key is destroyed and its name is not reused",
			c.target.Dataset, c.target.Room).WithHint("register the data as a new dataset with `cleanroom dataset register`")
	}
	id, _ := cleanroom.NewTokenSecret()
	u := &sqlite.UploadRecord{ID: id, Room: c.target.Room, Dataset: c.target.Dataset, Party: c.p.Party, User: c.p.User, CreatedAt: c.tx.Now()}
	if err := c.tx.OpenUpload(u); err != nil {
		return 0, nil, err
	}
	c.object = "upload:" + id
	c.detail["dataset"] = u.Dataset
	c.detail["version"] = strconv.Itoa(u.Version)
	if err := os.MkdirAll(filepath.Join(s.uploadDir, id), 0o700); err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, s.uploadBody(u), nil
}

// chunk is a decoded chunk upload.
type chunk struct {
	index int
	data  []byte
}

func decodeChunk(c *call) error {
	n, err := strconv.Atoi(c.r.PathValue("index"))
	if err != nil || n < 0 || n > 1<<20 {
		return cleanroom.Errorf(cleanroom.EInvalid, "chunk index %q is not a number from 0", c.r.PathValue("index"))
	}
	data, err := io.ReadAll(c.r.Body)
	var maxErr *http.MaxBytesError
	if errors.As(err, &maxErr) {
		return cleanroom.Errorf(cleanroom.ETooLarge, "chunk is larger than %d bytes", maxErr.Limit)
	}
	if err != nil {
		return cleanroom.Errorf(cleanroom.EInvalid, "reading chunk %d: %v", n, err)
	}
	if len(data) == 0 {
		return cleanroom.Errorf(cleanroom.EInvalid, "chunk %d is empty", n)
	}
	c.body = &chunk{index: n, data: data}
	return nil
}

func (s *Server) putChunk(c *call) (int, any, error) {
	ch := c.body.(*chunk)
	u, err := c.tx.Upload(c.r.PathValue("upload"))
	if err != nil {
		return 0, nil, err
	}
	if u.State != "open" {
		return 0, nil, cleanroom.Errorf(cleanroom.EConflict, "upload %s is %s", u.ID, u.State)
	}
	c.detail["index"] = strconv.Itoa(ch.index)
	c.detail["bytes"] = strconv.Itoa(len(ch.data))
	// Chunks stay sealed to the server's key on disk until the commit
	// opens them; a chunk sent again replaces the earlier copy.
	if err := os.MkdirAll(filepath.Join(s.uploadDir, u.ID), 0o700); err != nil {
		return 0, nil, err
	}
	if err := writeFileAtomic(s.chunkPath(u.ID, ch.index), ch.data); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, ChunkBody{Index: ch.index, Bytes: len(ch.data)}, nil
}

func (s *Server) chunkPath(upload string, index int) string {
	return filepath.Join(s.uploadDir, upload, fmt.Sprintf("%08d.sealed", index))
}

func (s *Server) abortUpload(c *call) (int, any, error) {
	u, err := c.tx.Upload(c.r.PathValue("upload"))
	if err != nil {
		return 0, nil, err
	}
	if err := c.tx.SetUploadState(u.ID, "aborted", 0); err != nil {
		return 0, nil, err
	}
	u.State = "aborted"
	c.afterCommit = append(c.afterCommit, func() { s.removeUploadDir(u.ID) })
	return http.StatusOK, s.uploadBody(u), nil
}

func (s *Server) removeUploadDir(id string) {
	if err := os.RemoveAll(filepath.Join(s.uploadDir, id)); err != nil {
		s.log.Warn("remove upload directory", "upload", id, "err", err)
	}
}

func writeFileAtomic(path string, data []byte) error {
	return atomicfile.Write(path, data, 0o600)
}

// requireDUAForUpload refuses an upload outside an agreement in force,
// except of an opt-out list: an objection is honoured whatever the state
// of the agreement.
func requireDUAForUpload(tx *sqlite.Tx, room, dataset, party string) error {
	d, err := tx.Dataset(room, dataset)
	if err != nil {
		return err
	}
	if isOptOut(d) {
		return nil
	}
	_, err = requireDUA(tx, room, party)
	return err
}
