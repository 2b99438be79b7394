package httpapi

import (
	"encoding/json"
	"net/http"
	"slices"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/sqlite"
	"github.com/cleanroom-dev/cleanroom/internal/statement"
)

// AgentKeyList is the response of GET /rooms/{room}/agent/keys: each
// party's signed agent key statement.
type AgentKeyList struct {
	Keys map[string]statement.Envelope `json:"keys"`
}

// HMACState is a room's hmac secret as the caller's party sees it: the
// creator's signed commitment, the secret sealed to the caller's agent key
// (if it was), and which parties it is sealed to.
type HMACState struct {
	Commitment *statement.Envelope `json:"commitment,omitempty"`
	Sealed     []byte              `json:"sealed,omitempty"`
	SealedTo   []string            `json:"sealed_to"`
}

// HMACRequest creates a room's secret (Commitment is then required) or
// adds the secret sealed to parties that lack it.
type HMACRequest struct {
	Commitment *statement.Envelope `json:"commitment,omitempty"`
	Sealed     map[string][]byte   `json:"sealed"`
}

func (s *Server) hmacRoutes() []Route {
	return []Route{
		{Method: "PUT", Pattern: "/api/v1/rooms/{room}/agent/key", Action: cleanroom.ActionAgentKey, Mutates: true,
			decode: decodeInto(func(c *call, v *statement.Envelope) error { c.body = v; return nil }), handle: s.putAgentKey},
		{Method: "GET", Pattern: "/api/v1/rooms/{room}/agent/keys", Action: cleanroom.ActionAgentKeys, handle: s.listAgentKeys},
		{Method: "GET", Pattern: "/api/v1/rooms/{room}/hmac", Action: cleanroom.ActionHMACGet, Discloses: true, handle: s.getHMAC},
		{Method: "POST", Pattern: "/api/v1/rooms/{room}/hmac", Action: cleanroom.ActionHMACPut, Mutates: true,
			decode: decodeInto(func(c *call, v *HMACRequest) error { c.body = v; return nil }), handle: s.putHMAC},
	}
}

// hmacRoom loads the room and refuses rooms that do not match with hmac.
func hmacRoom(tx *sqlite.Tx, name string) (*cleanroom.Room, error) {
	r, err := tx.Room(name)
	if err != nil {
		return nil, err
	}
	if r.Matching != cleanroom.MatchingHMAC {
		return nil, cleanroom.Errorf(cleanroom.EInvalid, "room %q matches with %s; it has no hmac secret", name, r.Matching)
	}
	return r, nil
}

func (s *Server) putAgentKey(c *call) (int, any, error) {
	env := c.body.(*statement.Envelope)
	party, err := c.tx.Party(c.p.Party)
	if err != nil {
		return 0, nil, err
	}
	var k cleanroom.AgentKey
	if err := statement.Verify(party.SigningKey, *env, &k); err != nil {
		return 0, nil, cleanroom.Errorf(cleanroom.EInvalid, "agent key statement does not verify with the key of party %q", party.Name)
	}
	if err := k.Validate(); err != nil {
		return 0, nil, err
	}
	if k.Party != party.Name || k.Room != c.target.Room || k.Server != s.serverID {
		return 0, nil, cleanroom.Errorf(cleanroom.EInvalid, "agent key statement is for party %q in room %q on server %s", k.Party, k.Room, k.Server)
	}
	raw, _ := json.Marshal(env)
	if err := c.tx.PutAgentKey(c.target.Room, party.Name, raw); err != nil {
		return 0, nil, err
	}
	c.object = "agent-key:" + party.Name
	c.detail["fingerprint"] = cleanroom.KeyFingerprint(k.HPKEKey)
	return http.StatusOK, map[string]string{"party": party.Name, "fingerprint": cleanroom.KeyFingerprint(k.HPKEKey)}, nil
}

func (s *Server) listAgentKeys(c *call) (int, any, error) {
	keys, err := c.tx.AgentKeys(c.target.Room)
	if err != nil {
		return 0, nil, err
	}
	out := AgentKeyList{Keys: map[string]statement.Envelope{}}
	for party, raw := range keys {
		var env statement.Envelope
		if err := json.Unmarshal(raw, &env); err != nil {
			return 0, nil, err
		}
		out.Keys[party] = env
	}
	return http.StatusOK, out, nil
}

func (s *Server) getHMAC(c *call) (int, any, error) {
	if _, err := hmacRoom(c.tx, c.target.Room); err != nil {
		return 0, nil, err
	}
	out := HMACState{SealedTo: []string{}}
	raw, err := c.tx.SecretCommitment(c.target.Room)
	if err != nil || raw == nil {
		return http.StatusOK, out, err
	}
	var env statement.Envelope
	if err := json.Unmarshal(raw, &env); err != nil {
		return 0, nil, err
	}
	out.Commitment = &env
	sealed, err := c.tx.SealedSecrets(c.target.Room)
	if err != nil {
		return 0, nil, err
	}
	for party, b := range sealed {
		out.SealedTo = append(out.SealedTo, party)
		if party == c.p.Party {
			out.Sealed = b
		}
	}
	slices.Sort(out.SealedTo)
	return http.StatusOK, out, nil
}

func (s *Server) putHMAC(c *call) (int, any, error) {
	req := c.body.(*HMACRequest)
	room, err := hmacRoom(c.tx, c.target.Room)
	if err != nil {
		return 0, nil, err
	}
	stored, err := c.tx.SecretCommitment(room.Name)
	if err != nil {
		return 0, nil, err
	}
	c.object = "hmac:" + room.Name
	if stored == nil {
		if req.Commitment == nil {
			return 0, nil, cleanroom.Errorf(cleanroom.EInvalid, "room %q has no hmac secret yet: the request must carry the creator's commitment", room.Name)
		}
		party, err := c.tx.Party(c.p.Party)
		if err != nil {
			return 0, nil, err
		}
		var sc cleanroom.SecretCommitment
		if err := statement.Verify(party.SigningKey, *req.Commitment, &sc); err != nil {
			return 0, nil, cleanroom.Errorf(cleanroom.EInvalid, "secret commitment does not verify with the key of party %q", party.Name)
		}
		if err := sc.Validate(); err != nil {
			return 0, nil, err
		}
		if sc.Creator != party.Name || sc.Room != room.Name || sc.Server != s.serverID {
			return 0, nil, cleanroom.Errorf(cleanroom.EInvalid, "secret commitment is by %q for room %q on server %s", sc.Creator, sc.Room, sc.Server)
		}
		raw, _ := json.Marshal(req.Commitment)
		if err := c.tx.PutSecretCommitment(room.Name, party.Name, raw); err != nil {
			return 0, nil, err
		}
		c.detail["created_by"] = party.Name
	} else if req.Commitment != nil {
		return 0, nil, cleanroom.Errorf(cleanroom.EConflict, "room %q already has its hmac secret", room.Name).
			WithHint("fetch it with GET /api/v1/rooms/%s/hmac", room.Name)
	}
	added := []string{}
	for party, blob := range req.Sealed {
		if !room.HasParty(party) {
			return 0, nil, cleanroom.Errorf(cleanroom.EInvalid, "party %q is not in room %q", party, room.Name)
		}
		if len(blob) == 0 || len(blob) > 1024 {
			return 0, nil, cleanroom.Errorf(cleanroom.EInvalid, "sealed secret for party %q is %d bytes", party, len(blob))
		}
		ok, err := c.tx.PutSealedSecret(room.Name, party, blob)
		if err != nil {
			return 0, nil, err
		}
		if ok {
			added = append(added, party)
		}
	}
	slices.Sort(added)
	c.detail["sealed_to"] = joinNames(added)
	return http.StatusOK, map[string][]string{"sealed_to": added}, nil
}

func joinNames(ns []string) string {
	out := ""
	for i, n := range ns {
		if i > 0 {
			out += ","
		}
		out += n
	}
	return out
}
