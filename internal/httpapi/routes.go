package httpapi

import (
	_ "embed"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/keyfile"
	"github.com/cleanroom-dev/cleanroom/internal/sqlite"
	"github.com/cleanroom-dev/cleanroom/internal/statement"
)

//go:embed openapi.json
var openapiDoc []byte

func (s *Server) buildRoutes() []Route {
	return []Route{
		{Method: "GET", Pattern: "/healthz", handle: s.healthz},
		{Method: "GET", Pattern: "/api/v1/openapi.json", handle: s.openapi},
		{Method: "GET", Pattern: "/api/v1/server", handle: s.serverInfo},
		{Method: "GET", Pattern: "/api/v1/whoami", Action: cleanroom.ActionWhoami, handle: s.whoami},

		{Method: "POST", Pattern: "/api/v1/parties", Action: cleanroom.ActionPartyCreate, Mutates: true,
			decode: decodeInto(func(c *call, v *CreatePartyRequest) error { c.body = v; return nil }), handle: s.createParty},
		{Method: "GET", Pattern: "/api/v1/parties", Action: cleanroom.ActionPartyList, handle: s.listParties},
		{Method: "GET", Pattern: "/api/v1/parties/{party}", Action: cleanroom.ActionPartyShow, handle: s.showParty},
		{Method: "POST", Pattern: "/api/v1/parties/{party}/grants", Action: cleanroom.ActionGrantSubmit, Mutates: true,
			decode: decodeInto(func(c *call, v *statement.Envelope) error { c.body = v; return nil }), handle: s.submitGrant},
		{Method: "GET", Pattern: "/api/v1/parties/{party}/grants", Action: cleanroom.ActionGrantList, handle: s.listGrants},

		{Method: "POST", Pattern: "/api/v1/tokens", Action: cleanroom.ActionTokenCreate, Mutates: true,
			decode: decodeInto(s.decodeCreateToken), handle: s.createToken},
		{Method: "GET", Pattern: "/api/v1/tokens", Action: cleanroom.ActionTokenList, handle: s.listTokens},
		{Method: "DELETE", Pattern: "/api/v1/tokens/{id}", Action: cleanroom.ActionTokenRevoke, Mutates: true, handle: s.revokeToken},

		{Method: "POST", Pattern: "/api/v1/rooms", Action: cleanroom.ActionRoomCreate, Mutates: true,
			decode: decodeInto(func(c *call, v *CreateRoomRequest) error { c.body = v; return nil }), handle: s.createRoom},
		{Method: "GET", Pattern: "/api/v1/rooms", Action: cleanroom.ActionRoomList, handle: s.listRooms},
		{Method: "GET", Pattern: "/api/v1/rooms/{room}", Action: cleanroom.ActionRoomShow, handle: s.showRoom},
		{Method: "POST", Pattern: "/api/v1/rooms/{room}/parties", Action: cleanroom.ActionRoomInvite, Mutates: true,
			decode: decodeInto(func(c *call, v *InviteRequest) error { c.body = v; return nil }), handle: s.invite},
		{Method: "GET", Pattern: "/api/v1/rooms/{room}/audit", Action: cleanroom.ActionRoomAudit, handle: s.roomAudit},
		{Method: "GET", Pattern: "/api/v1/audit", Action: cleanroom.ActionAuditList, handle: s.platformAudit},
	}
}

func (s *Server) healthz(c *call) (int, any, error) {
	if _, err := c.tx.Count("parties"); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]string{"status": "ok"}, nil
}

func (s *Server) openapi(c *call) (int, any, error) {
	return http.StatusOK, rawJSON(openapiDoc), nil
}

func (s *Server) serverInfo(c *call) (int, any, error) { return http.StatusOK, s.info, nil }

func (s *Server) whoami(c *call) (int, any, error) {
	tok, err := c.tx.Token(c.p.TokenID)
	if err != nil {
		return 0, nil, err
	}
	w := Whoami{Kind: c.p.Kind.String(), Party: c.p.Party, User: c.p.User, TokenID: c.p.TokenID, Rooms: c.p.Rooms}
	if tok != nil {
		w.TokenExpiresAt = tok.ExpiresAt
	}
	if w.Rooms == nil {
		w.Rooms = map[string][]cleanroom.Role{}
	}
	return http.StatusOK, w, nil
}

func (s *Server) createParty(c *call) (int, any, error) {
	req := c.body.(*CreatePartyRequest)
	c.object = "party:" + req.Name
	c.detail["display_name"] = req.DisplayName
	if err := requestedField("signing_key", req.SigningKey); err != nil {
		return 0, nil, err
	}
	key, err := cleanroom.DecodeKey(req.SigningKey)
	if err != nil {
		return 0, nil, cleanroom.Errorf(cleanroom.EInvalid, "field \"signing_key\" is not standard base64").
			WithHint("pass the public key printed by `cleanroom keys init`")
	}
	p := &cleanroom.Party{Name: req.Name, DisplayName: req.DisplayName, SigningKey: key, CreatedAt: c.tx.Now()}
	if p.DisplayName == "" {
		p.DisplayName = p.Name
	}
	if err := p.Validate(); err != nil {
		return 0, nil, err
	}
	c.detail["key_fingerprint"] = cleanroom.KeyFingerprint(key)
	if err := c.tx.CreateParty(p); err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, partyBody(p), nil
}

func partyBody(p *cleanroom.Party) PartyBody {
	return PartyBody{Party: *p, Fingerprint: cleanroom.KeyFingerprint(p.SigningKey)}
}

func (s *Server) listParties(c *call) (int, any, error) {
	all, err := c.tx.Parties()
	if err != nil {
		return 0, nil, err
	}
	visible := map[string]bool{}
	if c.p.Kind == cleanroom.User {
		// A user sees its own party and the parties of its rooms.
		visible[c.p.Party] = true
		for room := range c.p.Rooms {
			r, err := c.tx.Room(room)
			if err != nil {
				return 0, nil, err
			}
			for _, p := range r.Parties {
				visible[p] = true
			}
		}
	}
	out := PartyList{Parties: []PartyBody{}}
	for i := range all {
		if c.p.Kind == cleanroom.Admin || visible[all[i].Name] {
			out.Parties = append(out.Parties, partyBody(&all[i]))
		}
	}
	return http.StatusOK, out, nil
}

func (s *Server) showParty(c *call) (int, any, error) {
	p, err := c.tx.Party(c.target.Party)
	if err != nil {
		return 0, nil, err
	}
	if p.Rooms, err = c.tx.PartyRooms(p.Name); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, partyBody(p), nil
}

// verifyGrant verifies a stored statement against its party's registered
// key and decides its status now. A signature that fails here means the
// database was altered: the statement counts for nothing and the failure
// is logged.
func (s *Server) verifyGrant(tx *sqlite.Tx, sg sqlite.StoredGrant) (*cleanroom.GrantStatement, string, error) {
	party, err := tx.Party(sg.Party)
	if err != nil {
		return nil, "", err
	}
	var env statement.Envelope
	var g cleanroom.GrantStatement
	if err := jsonUnmarshal(sg.Envelope, &env); err != nil {
		s.log.Error("stored grant is corrupt", "party", sg.Party, "user", sg.User, "room", sg.Room, "err", err)
		return nil, "invalid", nil
	}
	if err := statement.Verify(party.SigningKey, env, &g); err != nil || g.Party != sg.Party || g.User != sg.User || g.Room != sg.Room {
		s.log.Error("stored grant does not verify", "party", sg.Party, "user", sg.User, "room", sg.Room, "err", err)
		return nil, "invalid", nil
	}
	room, err := tx.Room(g.Room)
	if err != nil {
		return nil, "", err
	}
	now := tx.Now()
	switch {
	case g.Revokes():
		return &g, "revoked", nil
	case !g.ExpiresAt.After(now):
		return &g, "expired", nil
	case !g.ActiveIn(room, now):
		return &g, "inactive", nil
	}
	return &g, "active", nil
}

func (s *Server) submitGrant(c *call) (int, any, error) {
	env := c.body.(*statement.Envelope)
	party, err := c.tx.Party(c.target.Party)
	if err != nil {
		return 0, nil, err
	}
	var g cleanroom.GrantStatement
	if err := statement.Verify(party.SigningKey, *env, &g); err != nil {
		return 0, nil, cleanroom.Errorf(cleanroom.EInvalid, "grant statement does not verify with the registered key of party %q", party.Name).
			WithHint("sign it on the party's side with `cleanroom user grant --keys DIR`, using the key registered for the party")
	}
	c.object = "grant:" + g.Party + "/" + g.User
	c.detail["roles"] = roleString(g.Roles)
	c.detail["signed_by"] = cleanroom.KeyFingerprint(party.SigningKey)
	if g.Party != party.Name {
		return 0, nil, cleanroom.Errorf(cleanroom.EInvalid, "grant statement is by party %q but was sent to party %q", g.Party, party.Name)
	}
	room, err := c.tx.Room(g.Room)
	if cleanroom.ErrorCode(err) == cleanroom.EInternal {
		return 0, nil, err
	}
	if err == nil && room.HasParty(party.Name) {
		c.room = room.Name
	} else {
		room = nil
	}
	var prev *cleanroom.GrantStatement
	if sg, err := c.tx.Grant(g.Party, g.User, g.Room); err != nil {
		return 0, nil, err
	} else if sg != nil && room != nil {
		var pe statement.Envelope
		var pg cleanroom.GrantStatement
		if jsonUnmarshal(sg.Envelope, &pe) == nil && statement.Verify(party.SigningKey, pe, &pg) == nil {
			prev = &pg
		}
	}
	if err := cleanroom.CheckGrant(&g, s.serverID, room, prev, c.tx.Now()); err != nil {
		return 0, nil, err
	}
	raw, err := jsonMarshal(env)
	if err != nil {
		return 0, nil, err
	}
	if err := c.tx.PutGrant(sqlite.StoredGrant{Party: g.Party, User: g.User, Room: g.Room, Envelope: raw, IssuedAt: g.IssuedAt}); err != nil {
		return 0, nil, err
	}
	status := "active"
	if g.Revokes() {
		status = "revoked"
	}
	return http.StatusCreated, grantBody(&g, status), nil
}

func grantBody(g *cleanroom.GrantStatement, status string) GrantBody {
	roles := g.Roles
	if roles == nil {
		roles = []cleanroom.Role{}
	}
	return GrantBody{Party: g.Party, User: g.User, Room: g.Room, Roles: roles, IssuedAt: g.IssuedAt, ExpiresAt: g.ExpiresAt, Status: status}
}

func (s *Server) listGrants(c *call) (int, any, error) {
	stored, err := c.tx.GrantsOfParty(c.target.Party)
	if err != nil {
		return 0, nil, err
	}
	out := GrantList{Grants: []GrantBody{}}
	for _, sg := range stored {
		g, status, err := s.verifyGrant(c.tx, sg)
		if err != nil {
			return 0, nil, err
		}
		if g == nil {
			out.Grants = append(out.Grants, GrantBody{Party: sg.Party, User: sg.User, Room: sg.Room, Roles: []cleanroom.Role{}, IssuedAt: sg.IssuedAt, Status: status})
			continue
		}
		out.Grants = append(out.Grants, grantBody(g, status))
	}
	return http.StatusOK, out, nil
}

func (s *Server) decodeCreateToken(c *call, v *CreateTokenRequest) error {
	c.body = v
	if err := requestedField("party", v.Party); err != nil {
		return err
	}
	if err := requestedField("user", v.User); err != nil {
		return err
	}
	if err := cleanroom.ValidateName("party name", v.Party); err != nil {
		return err
	}
	if err := cleanroom.ValidateName("user name", v.User); err != nil {
		return err
	}
	if len(v.Description) > 200 {
		return cleanroom.Errorf(cleanroom.EInvalid, "field \"description\" is longer than 200 characters")
	}
	c.target.Party, c.target.User = v.Party, v.User
	return nil
}

func (s *Server) createToken(c *call) (int, any, error) {
	req := c.body.(*CreateTokenRequest)
	c.object = "user:" + req.Party + "/" + req.User
	ttl := cleanroom.DefaultTokenTTL
	if req.TTL != "" {
		d, err := time.ParseDuration(req.TTL)
		if err != nil {
			return 0, nil, cleanroom.Errorf(cleanroom.EInvalid, "field \"ttl\" is not a duration: %q", req.TTL).
				WithHint("write durations like 720h or 90m")
		}
		ttl = d
	}
	if err := cleanroom.ValidateTTL(ttl); err != nil {
		return 0, nil, err
	}
	if err := c.tx.EnsureUser(req.Party, req.User); err != nil {
		return 0, nil, err
	}
	id, secret := cleanroom.NewTokenSecret()
	now := c.tx.Now()
	t := &cleanroom.Token{ID: id, Kind: cleanroom.User, Party: req.Party, User: req.User,
		Description: req.Description, CreatedAt: now, ExpiresAt: now.Add(ttl)}
	var sealTo []byte
	switch {
	case req.Request != nil:
		r, err := s.tokenRequest(c.tx, req)
		if err != nil {
			return 0, nil, err
		}
		sealTo = r.SealTo
	case c.p.Kind == cleanroom.Admin:
		// Without the party's request the admin's token opens nothing of
		// the party's: the admin must not be able to act as its users.
		t.AdminMinted = true
	}
	if err := c.tx.CreateToken(t, cleanroom.HashToken(secret)); err != nil {
		return 0, nil, err
	}
	c.detail["token_id"] = id
	c.detail["expires_at"] = t.ExpiresAt.Format(time.RFC3339)
	c.detail["party_request"] = strconv.FormatBool(sealTo != nil)
	out := TokenCreated{Token: *t, Secret: secret}
	if sealTo != nil {
		sealed, err := keyfile.SealTo(sealTo, cleanroom.TokenSealInfo(s.serverID, req.Party, req.User), []byte(secret))
		if err != nil {
			return 0, nil, err
		}
		out.Secret, out.SealedSecret = "", sealed
	}
	return http.StatusCreated, out, nil
}

// tokenRequest verifies a party's signed request for a token of req's
// user: signed with the party's registered key, for this server, party and
// user, and issued within cleanroom.TokenRequestMaxAge of now.
func (s *Server) tokenRequest(tx *sqlite.Tx, req *CreateTokenRequest) (*cleanroom.TokenRequest, error) {
	party, err := tx.Party(req.Party)
	if err != nil {
		return nil, err
	}
	var r cleanroom.TokenRequest
	if err := statement.Verify(party.SigningKey, *req.Request, &r); err != nil {
		return nil, cleanroom.Errorf(cleanroom.EInvalid, "token request does not verify with the key of party %q", party.Name)
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	if r.Server != s.serverID || r.Party != req.Party || r.User != req.User {
		return nil, cleanroom.Errorf(cleanroom.EInvalid, "token request is for %s/%s on server %s, not %s/%s on this server", r.Party, r.User, r.Server, req.Party, req.User)
	}
	if age := tx.Now().Sub(r.IssuedAt); age > cleanroom.TokenRequestMaxAge || age < -cleanroom.TokenRequestMaxAge {
		return nil, cleanroom.Errorf(cleanroom.EInvalid, "token request was issued at %s, more than %s from the server's clock", r.IssuedAt.Format(time.RFC3339), cleanroom.TokenRequestMaxAge).
			WithHint("sign a new request (`cleanroom token create --keys`)")
	}
	return &r, nil
}

func (s *Server) listTokens(c *call) (int, any, error) {
	party, user := c.p.Party, c.p.User
	if c.p.Kind == cleanroom.Admin {
		party, user = "", ""
	}
	ts, err := c.tx.Tokens(party, user)
	if err != nil {
		return 0, nil, err
	}
	if ts == nil {
		ts = []cleanroom.Token{}
	}
	return http.StatusOK, TokenList{Tokens: ts}, nil
}

func (s *Server) revokeToken(c *call) (int, any, error) {
	id := c.r.PathValue("id")
	if err := c.tx.RevokeToken(id); err != nil {
		return 0, nil, err
	}
	t, err := c.tx.Token(id)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, t, nil
}

func (s *Server) createRoom(c *call) (int, any, error) {
	req := c.body.(*CreateRoomRequest)
	c.object = "room:" + req.Name
	c.detail["host"] = req.Host
	c.detail["parties"] = strings.Join(req.Parties, ",")
	c.detail["matching"] = req.Matching
	r := &cleanroom.Room{Name: req.Name, Host: req.Host, Description: req.Description, Parties: req.Parties, Matching: req.Matching,
		CreatedAt: c.tx.Now()}
	if r.Parties == nil {
		r.Parties = []string{}
	}
	if err := r.Validate(); err != nil {
		return 0, nil, err
	}
	slices.Sort(r.Parties)
	if err := c.tx.CreateRoom(r); err != nil {
		return 0, nil, err
	}
	c.room = r.Name
	return http.StatusCreated, r, nil
}

func (s *Server) listRooms(c *call) (int, any, error) {
	all, err := c.tx.Rooms()
	if err != nil {
		return 0, nil, err
	}
	out := RoomList{Rooms: []cleanroom.Room{}}
	for _, r := range all {
		if c.p.Kind == cleanroom.Admin || len(c.p.RolesIn(r.Name)) > 0 {
			out.Rooms = append(out.Rooms, r)
		}
	}
	return http.StatusOK, out, nil
}

func (s *Server) showRoom(c *call) (int, any, error) {
	r, err := s.roomWithMembers(c.tx, c.target.Room)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, r, nil
}

func (s *Server) roomWithMembers(tx *sqlite.Tx, name string) (*cleanroom.Room, error) {
	r, err := tx.Room(name)
	if err != nil {
		return nil, err
	}
	stored, err := tx.GrantsInRoom(name)
	if err != nil {
		return nil, err
	}
	r.Members = []cleanroom.Member{}
	for _, sg := range stored {
		g, status, err := s.verifyGrant(tx, sg)
		if err != nil {
			return nil, err
		}
		if status == "active" {
			r.Members = append(r.Members, cleanroom.Member{Party: g.Party, User: g.User, Roles: g.Roles, ExpiresAt: g.ExpiresAt})
		}
	}
	return r, nil
}

func (s *Server) invite(c *call) (int, any, error) {
	req := c.body.(*InviteRequest)
	c.detail["party"] = req.Party
	if err := requestedField("party", req.Party); err != nil {
		return 0, nil, err
	}
	if err := cleanroom.ValidateName("party name", req.Party); err != nil {
		return 0, nil, err
	}
	if err := c.tx.InviteParty(c.target.Room, req.Party); err != nil {
		return 0, nil, err
	}
	r, err := s.roomWithMembers(c.tx, c.target.Room)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, r, nil
}

func (s *Server) roomAudit(c *call) (int, any, error) {
	return s.audit(c, sqlite.AuditFilter{Room: c.target.Room})
}

func (s *Server) platformAudit(c *call) (int, any, error) {
	return s.audit(c, sqlite.AuditFilter{PlatformOnly: true})
}

func (s *Server) audit(c *call, f sqlite.AuditFilter) (int, any, error) {
	var err error
	if f.After, f.Limit, err = pageParams(c); err != nil {
		return 0, nil, err
	}
	limit := f.Limit
	f.Limit++ // one more tells whether another page follows
	es, err := c.tx.Audit(f)
	if err != nil {
		return 0, nil, err
	}
	out := AuditList{Entries: es}
	if len(es) > limit {
		out.Entries = es[:limit]
		out.Next = es[limit-1].Seq
	}
	return http.StatusOK, out, nil
}

// pageParams reads ?after=SEQ&limit=N: after 0 and limit 1000 by default.
func pageParams(c *call) (after int64, limit int, err error) {
	q := c.r.URL.Query()
	limit = 1000
	if v := q.Get("after"); v != "" {
		if after, err = strconv.ParseInt(v, 10, 64); err != nil || after < 0 {
			return 0, 0, cleanroom.Errorf(cleanroom.EInvalid, "query parameter \"after\" must be a sequence number, not %q", v)
		}
	}
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > 1000 {
			return 0, 0, cleanroom.Errorf(cleanroom.EInvalid, "query parameter \"limit\" must be between 1 and 1000, not %q", v)
		}
	}
	return after, limit, nil
}

func roleString(rs []cleanroom.Role) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = string(r)
	}
	return strings.Join(s, ",")
}
