package httpapi

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/auditlog"
	"github.com/cleanroom-dev/cleanroom/internal/sqlite"
)

// CheckpointBody is a room log's signed checkpoint and, when asked for
// with ?old=N, the consistency proof from size N to it.
type CheckpointBody struct {
	Checkpoint auditlog.Checkpoint `json:"checkpoint"`
	Proof      [][]byte            `json:"proof"`
}

func (s *Server) checkpointRoute() Route {
	return Route{Method: "GET", Pattern: "/api/v1/rooms/{room}/audit/checkpoint", Action: cleanroom.ActionRoomAudit, handle: s.checkpoint}
}

func (s *Server) checkpoint(c *call) (int, any, error) {
	if s.signer == nil {
		return 0, nil, errors.New("checkpoints are not configured on this server")
	}
	old := 0
	if v := c.r.URL.Query().Get("old"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return 0, nil, cleanroom.Errorf(cleanroom.EInvalid, "query parameter \"old\" must be a log size, not %q", v)
		}
		old = n
	}
	var entries []cleanroom.AuditEntry
	after := int64(0)
	for {
		page, err := c.tx.Audit(sqlite.AuditFilter{Room: c.target.Room, After: after, Limit: 1000})
		if err != nil {
			return 0, nil, err
		}
		entries = append(entries, page...)
		if len(page) < 1000 {
			break
		}
		after = page[len(page)-1].Seq
	}
	t := auditlog.Tree(entries)
	root, err := t.Root(t.Size())
	if err != nil {
		return 0, nil, err
	}
	out := CheckpointBody{Checkpoint: auditlog.Checkpoint{Server: s.serverID, Room: c.target.Room, Size: t.Size(), Root: root[:]},
		Proof: [][]byte{}}
	if err := out.Checkpoint.Sign(s.signer); err != nil {
		return 0, nil, err
	}
	if c.r.URL.Query().Has("old") {
		if old > t.Size() {
			return 0, nil, cleanroom.Errorf(cleanroom.EInvalid, "the log has %d entries, fewer than the %d asked for", t.Size(), old)
		}
		proof, err := t.ConsistencyProof(old, t.Size())
		if err != nil {
			return 0, nil, err
		}
		for _, h := range proof {
			out.Proof = append(out.Proof, append([]byte(nil), h[:]...))
		}
	}
	return http.StatusOK, out, nil
}
