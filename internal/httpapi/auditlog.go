package httpapi

import (
	"bytes"
	"errors"
	"net/http"
	"slices"
	"strconv"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/auditlog"
	"github.com/cleanroom-dev/cleanroom/internal/merkle"
	"github.com/cleanroom-dev/cleanroom/internal/sqlite"
)

// CheckpointBody is a room log's signed checkpoint and, when asked for
// with ?old=N, the consistency proof from size N to it.
type CheckpointBody struct {
	Checkpoint auditlog.Checkpoint `json:"checkpoint"`
	Proof      [][]byte            `json:"proof"`
	// Cosignatures are each party's cosignature of the largest checkpoint
	// it cosigned; FinalSize is the largest size every party of the room
	// has cosigned (0 while one has not).
	Cosignatures []auditlog.Cosignature `json:"cosignatures"`
	FinalSize    int                    `json:"final_size"`
	// Changed says whether the log holds entries other than cosignatures
	// past the largest checkpoint the caller's party cosigned: an agent
	// cosigns only then, so that cosigning an idle room does not grow it.
	Changed bool `json:"changed"`
}

func (s *Server) auditLogRoutes() []Route {
	return []Route{
		{Method: "GET", Pattern: "/api/v1/rooms/{room}/audit/checkpoint", Action: cleanroom.ActionRoomAudit, handle: s.checkpoint},
		{Method: "GET", Pattern: "/api/v1/rooms/{room}/audit/receipt", Action: cleanroom.ActionRoomAudit, handle: s.receipt},
		{Method: "POST", Pattern: "/api/v1/rooms/{room}/audit/cosignatures", Action: cleanroom.ActionAuditCosign, Mutates: true,
			decode: decodeInto(func(c *call, v *auditlog.Cosignature) error { c.body = v; return nil }), handle: s.cosign},
	}
}

// cosign keeps the caller's party's cosignature of a checkpoint of the
// room's log. A root that is not this log's at that size is refused: the
// party saw another history.
func (s *Server) cosign(c *call) (int, any, error) {
	cs := c.body.(*auditlog.Cosignature)
	cs.Party = c.p.Party
	entries, err := roomEntries(c)
	if err != nil {
		return 0, nil, err
	}
	if cs.Size < 1 || cs.Size > len(entries) {
		return 0, nil, cleanroom.Errorf(cleanroom.EInvalid, "field \"size\" must be a log size between 1 and %d, not %d", len(entries), cs.Size)
	}
	root, err := auditlog.Tree(entries).Root(cs.Size)
	if err != nil {
		return 0, nil, err
	}
	if !bytes.Equal(root[:], cs.Root) {
		return 0, nil, cleanroom.Errorf(cleanroom.EConflict, "the root you cosign is not this room's log at size %d", cs.Size).
			WithHint("your party was shown another history of the log: keep the checkpoints you hold and raise it with the other parties")
	}
	party, err := c.tx.Party(cs.Party)
	if err != nil {
		return 0, nil, err
	}
	if err := cs.Verify(s.serverID, c.target.Room, party.SigningKey); err != nil {
		return 0, nil, cleanroom.Errorf(cleanroom.EInvalid, "%v", err).
			WithHint("cosign with the key directory of party %s", cs.Party)
	}
	if err := c.tx.PutCosignature(c.target.Room, *cs, c.p.String()); err != nil {
		return 0, nil, err
	}
	c.object = "checkpoint:" + strconv.Itoa(cs.Size)
	return http.StatusCreated, cs, nil
}

// roomEntries reads the room's whole log in order.
func roomEntries(c *call) ([]cleanroom.AuditEntry, error) {
	var entries []cleanroom.AuditEntry
	after := int64(0)
	for {
		page, err := c.tx.Audit(sqlite.AuditFilter{Room: c.target.Room, After: after, Limit: 1000})
		if err != nil {
			return nil, err
		}
		entries = append(entries, page...)
		if len(page) < 1000 {
			return entries, nil
		}
		after = page[len(page)-1].Seq
	}
}

// receipt proves entry ?seq=N is in the room's log: an inclusion proof
// under a signed checkpoint of the first ?size=M entries (all if absent).
func (s *Server) receipt(c *call) (int, any, error) {
	if s.signer == nil {
		return 0, nil, errors.New("checkpoints are not configured on this server")
	}
	q := c.r.URL.Query()
	seq, err := strconv.ParseInt(q.Get("seq"), 10, 64)
	if err != nil || seq < 1 {
		return 0, nil, cleanroom.Errorf(cleanroom.EInvalid, "query parameter \"seq\" must be an entry's sequence number, not %q", q.Get("seq"))
	}
	entries, err := roomEntries(c)
	if err != nil {
		return 0, nil, err
	}
	size := len(entries)
	if v := q.Get("size"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > len(entries) {
			return 0, nil, cleanroom.Errorf(cleanroom.EInvalid, "query parameter \"size\" must be a log size between 1 and %d, not %q", len(entries), v)
		}
		size = n
	}
	index := slices.IndexFunc(entries[:size], func(e cleanroom.AuditEntry) bool { return e.Seq == seq })
	if index < 0 {
		return 0, nil, cleanroom.Errorf(cleanroom.ENotFound, "entry %d is not in the first %d entries of room %q's log", seq, size, c.target.Room)
	}
	t := auditlog.Tree(entries[:size])
	cp, err := s.signedCheckpoint(c.target.Room, t)
	if err != nil {
		return 0, nil, err
	}
	proof, err := t.InclusionProof(index, size)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, auditlog.Receipt{Entry: entries[index], Index: index, Proof: auditlog.ProofBytes(proof), Checkpoint: cp}, nil
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
	entries, err := roomEntries(c)
	if err != nil {
		return 0, nil, err
	}
	t := auditlog.Tree(entries)
	cp, err := s.signedCheckpoint(c.target.Room, t)
	if err != nil {
		return 0, nil, err
	}
	out := CheckpointBody{Checkpoint: cp, Proof: [][]byte{}}
	if out.Cosignatures, err = c.tx.LatestCosignatures(c.target.Room); err != nil {
		return 0, nil, err
	}
	room, err := c.tx.Room(c.target.Room)
	if err != nil {
		return 0, nil, err
	}
	out.FinalSize = finalSize(room.Parties, out.Cosignatures)
	out.Changed = changedSince(entries, out.Cosignatures, c.p.Party)
	if c.r.URL.Query().Has("old") {
		if old > t.Size() {
			return 0, nil, cleanroom.Errorf(cleanroom.EInvalid, "the log has %d entries, fewer than the %d asked for", t.Size(), old)
		}
		proof, err := t.ConsistencyProof(old, t.Size())
		if err != nil {
			return 0, nil, err
		}
		out.Proof = auditlog.ProofBytes(proof)
	}
	return http.StatusOK, out, nil
}

// signedCheckpoint is the server's signed checkpoint of tree t of room's
// log.
func (s *Server) signedCheckpoint(room string, t *merkle.Tree) (auditlog.Checkpoint, error) {
	root, err := t.Root(t.Size())
	if err != nil {
		return auditlog.Checkpoint{}, err
	}
	cp := auditlog.Checkpoint{Server: s.serverID, Room: room, Size: t.Size(), Root: root[:]}
	return cp, cp.Sign(s.signer)
}

// finalSize is the largest log size every party has cosigned.
func finalSize(parties []string, cosigned []auditlog.Cosignature) int {
	latest := map[string]int{}
	for _, cs := range cosigned {
		latest[cs.Party] = cs.Size
	}
	final := 0
	for i, p := range parties {
		if i == 0 || latest[p] < final {
			final = latest[p]
		}
	}
	return final
}

// changedSince reports whether entries past party's latest cosigned size
// include anything but cosignatures.
func changedSince(entries []cleanroom.AuditEntry, cosigned []auditlog.Cosignature, party string) bool {
	from := 0
	for _, cs := range cosigned {
		if cs.Party == party {
			from = cs.Size
		}
	}
	if from == 0 || from > len(entries) {
		return true
	}
	return slices.ContainsFunc(entries[from:], func(e cleanroom.AuditEntry) bool { return e.Action != cleanroom.ActionAuditCosign })
}
