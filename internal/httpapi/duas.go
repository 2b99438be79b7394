package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/sqlite"
	"github.com/cleanroom-dev/cleanroom/internal/statement"
)

// DUABody is a data-use agreement as the API shows it. Document is the
// canonical encoding every party signs; Pending lists the parties whose
// valid signature is missing.
type DUABody struct {
	Room         string             `json:"room"`
	Version      int                `json:"version"`
	State        cleanroom.DUAState `json:"state"`
	Digest       string             `json:"digest"`
	Document     json.RawMessage    `json:"document"`
	Signatures   []DUASignatureBody `json:"signatures"`
	Pending      []string           `json:"pending"`
	DraftedBy    string             `json:"drafted_by"`
	DraftedAt    time.Time          `json:"drafted_at"`
	TerminatedBy string             `json:"terminated_by,omitempty"`
	TerminatedAt *time.Time         `json:"terminated_at,omitempty"`
	// Termination is the terminating party's signed statement.
	Termination *statement.Envelope `json:"termination,omitempty"`
}

// DUASignatureBody is one party's signature of an agreement; Valid says
// whether it verifies with the party's registered key now.
type DUASignatureBody struct {
	Party     string    `json:"party"`
	Signature []byte    `json:"signature"`
	SignedBy  string    `json:"signed_by"`
	SignedAt  time.Time `json:"signed_at"`
	Valid     bool      `json:"valid"`
}

// DUAList is a room's agreements, oldest first; Active is the version in
// force (0 for none).
type DUAList struct {
	Agreements []DUABody `json:"agreements"`
	Active     int       `json:"active"`
}

// DUASignRequest carries a party's Ed25519 signature over an agreement's
// canonical document (see internal/statement).
type DUASignRequest struct {
	Signature []byte `json:"signature"`
}

func (s *Server) duaRoutes() []Route {
	return []Route{
		{Method: "POST", Pattern: "/api/v1/rooms/{room}/duas", Action: cleanroom.ActionDUADraft, Mutates: true,
			decode: decodeInto(func(c *call, v *cleanroom.DUA) error { c.body = v; return nil }), handle: s.draftDUA},
		{Method: "GET", Pattern: "/api/v1/rooms/{room}/duas", Action: cleanroom.ActionDUAList, handle: s.listDUAs},
		{Method: "GET", Pattern: "/api/v1/rooms/{room}/duas/{version}", Action: cleanroom.ActionDUAShow, handle: s.showDUA},
		{Method: "POST", Pattern: "/api/v1/rooms/{room}/duas/{version}/signatures", Action: cleanroom.ActionDUASign, Mutates: true,
			decode: decodeInto(func(c *call, v *DUASignRequest) error { c.body = v; return nil }), handle: s.signDUA},
		{Method: "POST", Pattern: "/api/v1/rooms/{room}/duas/{version}/termination", Action: cleanroom.ActionDUATerminate, Mutates: true,
			decode: decodeInto(func(c *call, v *statement.Envelope) error { c.body = v; return nil }), handle: s.terminateDUA},
	}
}

// agreement is a stored agreement evaluated now: its document, which
// signatures verify with the parties' registered keys, and its state.
type agreement struct {
	rec     sqlite.DUARecord
	doc     cleanroom.DUA
	valid   map[string]bool
	missing []string // parties with no signature
	invalid []string // parties whose signature does not verify
	state   cleanroom.DUAState
}

// agreements evaluates room's agreements, oldest first. Signatures are
// verified on every evaluation, like grants, so a signature altered in
// the database or a party's changed key takes the agreement out of force.
func agreements(tx *sqlite.Tx, room string) ([]*agreement, error) {
	recs, err := tx.DUAs(room)
	if err != nil {
		return nil, err
	}
	out := make([]*agreement, len(recs))
	for i, rec := range recs {
		a := &agreement{rec: rec, valid: map[string]bool{}}
		if err := json.Unmarshal(rec.Document, &a.doc); err != nil {
			return nil, err
		}
		for _, name := range a.doc.PartyNames() {
			j := slices.IndexFunc(rec.Signatures, func(s sqlite.DUASignature) bool { return s.Party == name })
			if j < 0 {
				a.missing = append(a.missing, name)
				continue
			}
			p, err := tx.Party(name)
			if err != nil {
				return nil, err
			}
			var d cleanroom.DUA
			if statement.Verify(p.SigningKey, statement.Envelope{Statement: rec.Document, Signature: rec.Signatures[j].Signature}, &d) == nil {
				a.valid[name] = true
			} else {
				a.invalid = append(a.invalid, name)
			}
		}
		out[i] = a
	}
	now := tx.Now()
	for i, a := range out {
		signed := len(a.missing) == 0 && len(a.invalid) == 0
		superseded := false
		for _, b := range out[i+1:] {
			bSigned := len(b.missing) == 0 && len(b.invalid) == 0
			if !signed || (bSigned && b.rec.TerminatedBy == "" && !now.Before(b.doc.StartsAt)) {
				// A later version replaces a draft at once, and a signed
				// agreement once the later one takes effect.
				superseded = true
				break
			}
		}
		a.state = cleanroom.DUAStateAt(&a.doc, signed, a.rec.TerminatedBy != "", superseded, now)
	}
	return out, nil
}

// admitted reports whether party is admitted to room (cleanroom.Admitted),
// with the room's agreements as their signatures verify now.
func admitted(tx *sqlite.Tx, room, party string) (bool, error) {
	all, err := agreements(tx, room)
	if err != nil {
		return false, err
	}
	var signed []*cleanroom.DUA
	for _, a := range all {
		if len(a.missing) == 0 && len(a.invalid) == 0 {
			signed = append(signed, &a.doc)
		}
	}
	return cleanroom.Admitted(party, signed), nil
}

// activeAgreement returns the agreement in force in room, or nil.
func activeAgreement(tx *sqlite.Tx, room string) (*agreement, []*agreement, error) {
	all, err := agreements(tx, room)
	if err != nil {
		return nil, nil, err
	}
	for _, a := range slices.Backward(all) {
		if a.state == cleanroom.DUAActive {
			return a, all, nil
		}
	}
	return nil, all, nil
}

// requireDUA returns the agreement in force in room, refusing, with a
// message that says which party must do what, when there is none or when
// it does not name every party in parties.
func requireDUA(tx *sqlite.Tx, room string, parties ...string) (*cleanroom.DUA, error) {
	a, all, err := activeAgreement(tx, room)
	if err != nil {
		return nil, err
	}
	if a == nil {
		return nil, notInForce(room, all)
	}
	for _, p := range parties {
		if !a.doc.HasParty(p) {
			return nil, cleanroom.Errorf(cleanroom.EForbidden, "party %q is not a party to data-use agreement version %d of room %q", p, a.doc.Version, room).
				WithHint("a member drafts a new agreement naming every party of the room (`cleanroom dua draft`), and every party signs it")
		}
	}
	return &a.doc, nil
}

// notInForce is the refusal of an action in a room with no agreement in
// force, explaining the newest agreement's state.
func notInForce(room string, all []*agreement) error {
	if len(all) == 0 {
		return cleanroom.Errorf(cleanroom.EForbidden, "room %q has no data-use agreement; uploads, matching and queries wait for one", room).
			WithHint("a member drafts one with `cleanroom dua draft FILE --room %s`, then every party signs it with `cleanroom dua sign --room %s --keys DIR`", room, room)
	}
	a := all[len(all)-1]
	v := a.doc.Version
	switch a.state {
	case cleanroom.DUADraft:
		if len(a.invalid) > 0 {
			return cleanroom.Errorf(cleanroom.EForbidden, "data-use agreement version %d of room %q is not in force: the signature of %s does not verify with the party's key",
				v, room, partyList(a.invalid)).
				WithHint("%s must sign it again with `cleanroom dua sign --room %s --version %d --keys DIR`", partyList(a.invalid), room, v)
		}
		return cleanroom.Errorf(cleanroom.EForbidden, "data-use agreement version %d of room %q is not in force: %s has not signed it", v, room, partyList(a.missing)).
			WithHint("%s must sign it with `cleanroom dua sign --room %s --version %d --keys DIR`", partyList(a.missing), room, v)
	case cleanroom.DUASigned:
		return cleanroom.Errorf(cleanroom.EForbidden, "data-use agreement version %d of room %q takes effect at %s", v, room, a.doc.StartsAt.Format(time.RFC3339)).
			WithHint("wait until then")
	case cleanroom.DUATerminated:
		return cleanroom.Errorf(cleanroom.EForbidden, "data-use agreement version %d of room %q was terminated by party %q at %s", v, room,
			a.rec.TerminatedBy, a.rec.TerminatedAt.Format(time.RFC3339)).
			WithHint("the parties draft and sign a new agreement to use the room again")
	}
	return cleanroom.Errorf(cleanroom.EForbidden, "data-use agreement version %d of room %q expired at %s", v, room, a.doc.ExpiresAt.Format(time.RFC3339)).
		WithHint("the parties draft and sign a new agreement (`cleanroom dua draft`, `cleanroom dua sign`)")
}

func partyList(ps []string) string {
	q := make([]string, len(ps))
	for i, p := range ps {
		q[i] = strconv.Quote(p)
	}
	if len(q) == 1 {
		return "party " + q[0]
	}
	return "parties " + strings.Join(q, ", ")
}

// requireTemplatePermitted refuses a template version the agreement does
// not permit.
func requireTemplatePermitted(d *cleanroom.DUA, name string, version int) error {
	if d.Permits(name, version) {
		return nil
	}
	return cleanroom.Errorf(cleanroom.EForbidden, "template %q version %d is not permitted by data-use agreement version %d of room %q (it permits %s)",
		name, version, d.Version, d.Room, d.PermittedTemplates()).
		WithHint("the parties amend the agreement: draft a new version that lists the template and every party signs it")
}

func (s *Server) draftDUA(c *call) (int, any, error) {
	d := c.body.(*cleanroom.DUA)
	room, err := c.tx.Room(c.target.Room)
	if err != nil {
		return 0, nil, err
	}
	if d.Type == "" {
		d.Type = cleanroom.DUAType
	}
	if d.Server == "" {
		d.Server = s.serverID
	}
	if d.Room == "" {
		d.Room = room.Name
	}
	if d.Server != s.serverID || d.Room != room.Name {
		return 0, nil, cleanroom.Errorf(cleanroom.EInvalid, "agreement names room %q on server %s, not room %q on this server (%s)", d.Room, d.Server, room.Name, s.serverID)
	}
	all, err := agreements(c.tx, room.Name)
	if err != nil {
		return 0, nil, err
	}
	d.Version = len(all) + 1
	d.StartsAt, d.ExpiresAt = d.StartsAt.UTC(), d.ExpiresAt.UTC()
	if err := d.Validate(); err != nil {
		return 0, nil, err
	}
	if err := d.CheckRoom(room); err != nil {
		return 0, nil, err
	}
	if !d.ExpiresAt.After(c.tx.Now()) {
		return 0, nil, cleanroom.Errorf(cleanroom.EInvalid, "agreement expires at %s, which has passed", d.ExpiresAt.Format(time.RFC3339))
	}
	canon, digest, err := statement.Canonical(d)
	if err != nil {
		return 0, nil, err
	}
	rec := &sqlite.DUARecord{Room: room.Name, Version: d.Version, Document: canon, Digest: digest, DraftedBy: c.p.String()}
	if err := c.tx.PutDUA(rec); err != nil {
		return 0, nil, err
	}
	c.object = "dua:" + strconv.Itoa(d.Version)
	c.detail["digest"] = digest
	c.detail["expires_at"] = d.ExpiresAt.Format(time.RFC3339)
	return s.duaResponse(c, http.StatusCreated, d.Version)
}

// duaResponse evaluates room's agreements again and returns one.
func (s *Server) duaResponse(c *call, status, version int) (int, any, error) {
	all, err := agreements(c.tx, c.target.Room)
	if err != nil {
		return 0, nil, err
	}
	for _, a := range all {
		if a.doc.Version == version {
			return status, duaBody(a), nil
		}
	}
	return 0, nil, cleanroom.Errorf(cleanroom.ENotFound, "room %q has no data-use agreement version %d", c.target.Room, version)
}

func duaBody(a *agreement) DUABody {
	b := DUABody{Room: a.rec.Room, Version: a.rec.Version, State: a.state, Digest: a.rec.Digest, Document: a.rec.Document,
		Signatures: []DUASignatureBody{}, Pending: slices.Concat(a.missing, a.invalid), DraftedBy: a.rec.DraftedBy, DraftedAt: a.rec.DraftedAt}
	slices.Sort(b.Pending)
	if b.Pending == nil {
		b.Pending = []string{}
	}
	for _, sg := range a.rec.Signatures {
		b.Signatures = append(b.Signatures, DUASignatureBody{Party: sg.Party, Signature: sg.Signature, SignedBy: sg.SignedBy,
			SignedAt: sg.SignedAt, Valid: a.valid[sg.Party]})
	}
	if a.rec.TerminatedBy != "" {
		at := a.rec.TerminatedAt
		b.TerminatedBy, b.TerminatedAt = a.rec.TerminatedBy, &at
		var env statement.Envelope
		if json.Unmarshal(a.rec.Termination, &env) == nil {
			b.Termination = &env
		}
	}
	return b
}

func (s *Server) listDUAs(c *call) (int, any, error) {
	all, err := agreements(c.tx, c.target.Room)
	if err != nil {
		return 0, nil, err
	}
	out := DUAList{Agreements: []DUABody{}}
	for _, a := range all {
		out.Agreements = append(out.Agreements, duaBody(a))
		if a.state == cleanroom.DUAActive {
			out.Active = a.doc.Version
		}
	}
	return http.StatusOK, out, nil
}

func duaVersion(c *call) (int, error) {
	v, err := strconv.Atoi(c.r.PathValue("version"))
	if err != nil || v < 1 {
		return 0, cleanroom.Errorf(cleanroom.EInvalid, "agreement version %q is not a positive number", c.r.PathValue("version"))
	}
	return v, nil
}

func (s *Server) showDUA(c *call) (int, any, error) {
	v, err := duaVersion(c)
	if err != nil {
		return 0, nil, err
	}
	return s.duaResponse(c, http.StatusOK, v)
}

func (s *Server) signDUA(c *call) (int, any, error) {
	req := c.body.(*DUASignRequest)
	v, err := duaVersion(c)
	if err != nil {
		return 0, nil, err
	}
	c.object = "dua:" + strconv.Itoa(v)
	all, err := agreements(c.tx, c.target.Room)
	if err != nil {
		return 0, nil, err
	}
	if v > len(all) {
		return 0, nil, cleanroom.Errorf(cleanroom.ENotFound, "room %q has no data-use agreement version %d", c.target.Room, v)
	}
	a := all[v-1]
	if a.state != cleanroom.DUADraft {
		return 0, nil, cleanroom.Errorf(cleanroom.EConflict, "data-use agreement version %d of room %q is %s; only a draft is signed", v, c.target.Room, a.state)
	}
	party, err := c.tx.Party(c.p.Party)
	if err != nil {
		return 0, nil, err
	}
	if !a.doc.HasParty(party.Name) {
		return 0, nil, cleanroom.Errorf(cleanroom.EForbidden, "party %q is not a party to data-use agreement version %d", party.Name, v)
	}
	if a.valid[party.Name] {
		return 0, nil, cleanroom.Errorf(cleanroom.EConflict, "party %q already signed data-use agreement version %d of room %q", party.Name, v, c.target.Room)
	}
	var d cleanroom.DUA
	if err := statement.Verify(party.SigningKey, statement.Envelope{Statement: a.rec.Document, Signature: req.Signature}, &d); err != nil {
		return 0, nil, cleanroom.Errorf(cleanroom.EInvalid, "signature does not verify with the key of party %q over agreement version %d (digest %s)", party.Name, v, a.rec.Digest).
			WithHint("sign on the party's side with `cleanroom dua sign --keys DIR`, which signs the document the room holds")
	}
	if err := c.tx.PutDUASignature(c.target.Room, v, sqlite.DUASignature{Party: party.Name, Signature: req.Signature, SignedBy: c.p.String()}); err != nil {
		return 0, nil, err
	}
	c.detail["digest"] = a.rec.Digest
	c.detail["party"] = party.Name
	status, body, err := s.duaResponse(c, http.StatusOK, v)
	if err == nil {
		c.detail["state"] = string(body.(DUABody).State)
	}
	return status, body, err
}

func (s *Server) terminateDUA(c *call) (int, any, error) {
	env := c.body.(*statement.Envelope)
	v, err := duaVersion(c)
	if err != nil {
		return 0, nil, err
	}
	c.object = "dua:" + strconv.Itoa(v)
	party, err := c.tx.Party(c.p.Party)
	if err != nil {
		return 0, nil, err
	}
	var t cleanroom.DUATermination
	if err := statement.Verify(party.SigningKey, *env, &t); err != nil {
		return 0, nil, cleanroom.Errorf(cleanroom.EInvalid, "termination does not verify with the key of party %q", party.Name).
			WithHint("terminate on the party's side with `cleanroom dua terminate --keys DIR`")
	}
	if err := t.Validate(); err != nil {
		return 0, nil, err
	}
	if t.Server != s.serverID || t.Room != c.target.Room || t.Version != v || t.Party != party.Name {
		return 0, nil, cleanroom.Errorf(cleanroom.EInvalid, "termination is by party %q of agreement version %d of room %q on server %s", t.Party, t.Version, t.Room, t.Server)
	}
	if d := c.tx.Now().Sub(t.IssuedAt); d > 5*time.Minute || d < -5*time.Minute {
		return 0, nil, cleanroom.Errorf(cleanroom.EInvalid, "termination was issued at %s, too far from the server's time", t.IssuedAt.Format(time.RFC3339)).
			WithHint("check the clock of the signing machine")
	}
	all, err := agreements(c.tx, c.target.Room)
	if err != nil {
		return 0, nil, err
	}
	if v > len(all) {
		return 0, nil, cleanroom.Errorf(cleanroom.ENotFound, "room %q has no data-use agreement version %d", c.target.Room, v)
	}
	a := all[v-1]
	if a.state.Ended() {
		return 0, nil, cleanroom.Errorf(cleanroom.EConflict, "data-use agreement version %d of room %q is already %s", v, c.target.Room, a.state)
	}
	if !a.doc.HasParty(party.Name) {
		return 0, nil, cleanroom.Errorf(cleanroom.EForbidden, "party %q is not a party to data-use agreement version %d", party.Name, v)
	}
	if t.Digest != a.rec.Digest {
		return 0, nil, cleanroom.Errorf(cleanroom.EInvalid, "termination names digest %s, but agreement version %d has digest %s", t.Digest, v, a.rec.Digest)
	}
	raw, _ := json.Marshal(env)
	if err := c.tx.TerminateDUA(c.target.Room, v, party.Name, raw); err != nil {
		return 0, nil, err
	}
	c.detail["party"] = party.Name
	c.detail["reason"] = t.Reason
	c.detail["previous_state"] = string(a.state)
	// The room deletes what the agreement covered at once (the scheduler
	// would within its interval); a failure is retried by the scheduler.
	c.afterCommit = append(c.afterCommit, func() {
		if _, err := s.SweepRetention(context.WithoutCancel(c.r.Context())); err != nil {
			s.log.Error("deletion after termination failed; the scheduler retries", "room", c.target.Room, "err", err)
		}
	})
	return s.duaResponse(c, http.StatusOK, v)
}
