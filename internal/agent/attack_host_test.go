package agent

// The host part of the attack suite, at the agent protocol: the room host
// runs the server, so it can serve a party's agent any job it likes. It
// tries to use the agent's re-blinding as an oracle — to have points of
// its choosing exponentiated by the party's room key.

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gtank/ristretto255"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/blind"
	"github.com/cleanroom-dev/cleanroom/internal/client"
	"github.com/cleanroom-dev/cleanroom/internal/httpapi"
	"github.com/cleanroom-dev/cleanroom/internal/keyfile"
	"github.com/cleanroom-dev/cleanroom/internal/statement"
)

const hostServer = "SHA256:the-host's-room-server"

// rogueHost is a room server whose host answers the agent protocol as it
// pleases: it lists the parties and agreements it wants and serves the
// jobs it wants, and records what the agent sends back.
type rogueHost struct {
	self    string // the party whose agent is attacked
	mu      sync.Mutex
	parties map[string]ed25519.PublicKey
	duas    []httpapi.DUABody
	jobs    []httpapi.JobBody // served in order, as pending jobs of every room
	results map[string][]string
}

func (h *rogueHost) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	defer h.mu.Unlock()
	reply := func(v any) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(v)
	}
	path := r.URL.Path
	room, rest, _ := strings.Cut(strings.TrimPrefix(path, "/api/v1/rooms/"), "/")
	switch {
	case path == "/api/v1/server":
		reply(httpapi.ServerInfo{Name: "cleanroom", ServerID: hostServer, SigningKey: make([]byte, 32), HPKEKey: make([]byte, 32)})
	case path == "/api/v1/whoami":
		reply(httpapi.Whoami{Kind: "user", Party: h.self, User: "agent", Rooms: map[string][]cleanroom.Role{}})
	case path == "/api/v1/parties":
		var l httpapi.PartyList
		for name, key := range h.parties {
			l.Parties = append(l.Parties, httpapi.PartyBody{Party: cleanroom.Party{Name: name, DisplayName: name, SigningKey: key}})
		}
		reply(l)
	case rest == "":
		reply(cleanroom.Room{Name: room, Host: "neutral", Matching: cleanroom.MatchingECDH, Parties: slices.Sorted(func(yield func(string) bool) {
			for name := range h.parties {
				if !yield(name) {
					return
				}
			}
		})})
	case rest == "agent/keys":
		reply(httpapi.AgentKeyList{Keys: map[string]statement.Envelope{}})
	case rest == "agent/key":
		reply(struct{}{})
	case rest == "duas":
		reply(httpapi.DUAList{Agreements: h.duas})
	case rest == "agent/jobs":
		l := httpapi.JobList{Jobs: []httpapi.JobSummary{}}
		for _, j := range h.jobs {
			l.Jobs = append(l.Jobs, httpapi.JobSummary{ID: j.ID, Dataset: j.Dataset, Class: j.Class})
		}
		reply(l)
	case strings.HasPrefix(rest, "agent/jobs/"):
		id, result := strings.CutSuffix(strings.TrimPrefix(rest, "agent/jobs/"), "/result")
		i := slices.IndexFunc(h.jobs, func(j httpapi.JobBody) bool { return j.ID == id })
		if i < 0 {
			w.WriteHeader(http.StatusNotFound)
			reply(httpapi.ErrorBody{Code: cleanroom.ENotFound, Message: "no such job"})
			return
		}
		if !result {
			reply(h.jobs[i])
			return
		}
		var res httpapi.JobResult
		json.NewDecoder(r.Body).Decode(&res)
		h.results[id] = res.Tokens
		h.jobs = slices.Delete(h.jobs, i, i+1)
		reply(httpapi.JobSummary{ID: id})
	default:
		w.WriteHeader(http.StatusNotFound)
		reply(httpapi.ErrorBody{Code: cleanroom.ENotFound, Message: "no route for " + path})
	}
}

// peerSet is a peer party's signed token set.
type peerSet struct {
	party  string
	tokens []blind.Token
	env    statement.Envelope
}

// hostAttack is a room r1 (and r2) on the rogue host with the operator,
// whose agent is attacked, and its peers the bank and the insurer.
type hostAttack struct {
	t      *testing.T
	host   *rogueHost
	keys   map[string]*keyfile.PartyKeys
	c      *client.Client
	state  string
	nextID int
}

func newHostAttack(t *testing.T) *hostAttack {
	t.Helper()
	a := &hostAttack{t: t, keys: map[string]*keyfile.PartyKeys{}, state: filepath.Join(t.TempDir(), "operator-agent")}
	a.host = &rogueHost{self: "operator", parties: map[string]ed25519.PublicKey{}, results: map[string][]string{}}
	for _, p := range []string{"operator", "bank", "insurer"} {
		k, err := keyfile.CreateParty(filepath.Join(t.TempDir(), p))
		if err != nil {
			t.Fatal(err)
		}
		a.keys[p] = k
		a.host.parties[p] = k.Public()
	}
	for _, room := range []string{"r1", "r2"} {
		a.agreement(room, []string{"bank", "insurer", "operator"}, "operator", "bank", "insurer")
	}
	a.c = client.NewInProcess(a.host, "crt_agent-token")
	return a
}

// agreement lists an agreement of room naming parties, signed by signers.
func (a *hostAttack) agreement(room string, parties []string, signers ...string) {
	a.t.Helper()
	now := time.Now().UTC()
	d := &cleanroom.DUA{Type: cleanroom.DUAType, Server: hostServer, Room: room, Version: len(a.host.duas) + 1, Host: "neutral",
		Purposes: []string{"segment sizing"}, DataCategories: []string{"contact identifiers"}, LegalBasis: "GDPR Art. 6(1)(f)",
		Budget: cleanroom.DUABudget{Rho: 1, Epsilon: 20, Renewal: "never"}, RetentionDays: 30, StartsAt: now.Add(-time.Hour), ExpiresAt: now.AddDate(0, 1, 0)}
	for _, p := range parties {
		d.Parties = append(d.Parties, cleanroom.DUAParty{Name: p, Consent: "told"})
	}
	canon, digest, err := statement.Canonical(d)
	if err != nil {
		a.t.Fatal(err)
	}
	b := httpapi.DUABody{Room: room, Version: d.Version, Digest: digest, Document: canon}
	for _, s := range signers {
		priv := ed25519.PrivateKey(nil)
		if k, ok := a.keys[s]; ok {
			priv = k.Signing
		} else {
			_, priv, _ = ed25519.GenerateKey(nil) // a party of the host's: it holds the key
		}
		env, err := statement.Sign(priv, d)
		if err != nil {
			a.t.Fatal(err)
		}
		b.Signatures = append(b.Signatures, httpapi.DUASignatureBody{Party: s, Signature: env.Signature, Valid: true})
	}
	a.host.mu.Lock()
	a.host.duas = append(a.host.duas, b)
	a.host.mu.Unlock()
}

// agent starts the operator's agent in room, with its state directory.
func (a *hostAttack) agent(room string) *Agent {
	a.t.Helper()
	ag, err := New(context.Background(), a.c, room, a.keys["operator"], a.state, nil)
	if err != nil {
		a.t.Fatalf("agent in %s: %v", room, err)
	}
	return ag
}

// set is party's blinded set of identifiers from..from+n-1 for room,
// signed by signer's key (party's own unless the host signs).
func (a *hostAttack) set(party, room string, version, from, n int, signer ed25519.PrivateKey) peerSet {
	a.t.Helper()
	digests := make([][32]byte, n)
	for i := range digests {
		digests[i] = sha256.Sum256([]byte{byte(from + i), byte((from + i) >> 8), 'p'})
	}
	key := blindingKey(a.keys[party], room)
	tokens, err := blind.Blind(key, room, cleanroom.ClassPhone, digests)
	if err != nil {
		a.t.Fatal(err)
	}
	return a.sign(party, room, version, tokens, signer)
}

func (a *hostAttack) sign(party, room string, version int, tokens []blind.Token, signer ed25519.PrivateKey) peerSet {
	a.t.Helper()
	m, err := blind.NewManifest(hostServer, room, party, party+"-data", version, cleanroom.ClassPhone, tokens, time.Now().UTC())
	if err != nil {
		a.t.Fatal(err)
	}
	if signer == nil {
		signer = a.keys[party].Signing
	}
	env, err := blind.SignManifest(signer, m)
	if err != nil {
		a.t.Fatal(err)
	}
	return peerSet{party: party, tokens: tokens, env: env}
}

func blindingKey(k *keyfile.PartyKeys, room string) *ristretto255.Scalar {
	return keyfile.RoomKey(k.Blinding, cleanroom.RoomID(hostServer, room))
}

// serve queues tokens with env as a job of the agent's party and runs ag
// once; it returns the re-blinded tokens the agent sent back (nil if it
// sent none) and RunOnce's error.
func (a *hostAttack) serve(ag *Agent, env statement.Envelope, tokens []blind.Token) ([]blind.Token, error) {
	a.t.Helper()
	a.nextID++
	id := "job-" + string(rune('a'+a.nextID))
	job := httpapi.JobBody{ID: id, Dataset: "data", Version: 1, Party: "bank", Class: "phone", Manifest: env}
	for _, tok := range tokens {
		job.Tokens = append(job.Tokens, base64.StdEncoding.EncodeToString(tok[:]))
	}
	a.host.mu.Lock()
	a.host.jobs = []httpapi.JobBody{job}
	a.host.mu.Unlock()
	_, err := ag.RunOnce(context.Background())
	a.host.mu.Lock()
	defer a.host.mu.Unlock()
	a.host.jobs = nil
	sent, ok := a.host.results[id]
	if !ok {
		return nil, err
	}
	out := make([]blind.Token, len(sent))
	for i, s := range sent {
		b, _ := base64.StdEncoding.DecodeString(s)
		copy(out[i][:], b)
	}
	return out, err
}

// TestAttackHostReBlindOracle plays a host that serves the operator's
// agent jobs of its own making to have points of its choosing
// exponentiated by the operator's room key:
//
//   - (a) sets with no manifest, a manifest it signs itself in the bank's
//     name, a manifest signed with a key it now lists as the bank's, a set
//     of a party it registered and invited itself (signed with that
//     party's key), and the operator's own set;
//   - (b) the bank's signed set with a token of its own added, one removed
//     or one replaced;
//   - (c) a set the agent has re-blinded, again, also after the agent
//     restarts;
//   - (d) the same points again: a bank token inside the insurer's signed
//     set, the bank's set under the insurer's manifest, a re-blinded set
//     sent back, the bank's set for r1 served as a job of r2, and a point
//     the bank signed in two versions of its dataset.
//
// The agent's Guard (internal/blind, Guard.check and Guard.ReBlind) and
// its peers — pinned on first use and agreed by the operator's own
// signature on a room agreement (agreedPeers) — refuse all but the last.
// The last is the residual the design accepts: each set a peer signed is
// re-blinded once per manifest, so a point the bank signed in two
// versions is re-blinded twice, to the same value; the host learns that
// the two versions share it, which the singly blinded sets it stores
// already show.
func TestAttackHostReBlindOracle(t *testing.T) {
	a := newHostAttack(t)
	ag := a.agent("r1")
	opKey := blindingKey(a.keys["operator"], "r1")

	// The honest job, re-blinded: the host's server works.
	bank := a.set("bank", "r1", 1, 0, 40, nil)
	got, err := a.serve(ag, bank.env, bank.tokens)
	want, _ := blind.ReBlind(opKey, bank.tokens)
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("the bank's signed set: %d tokens, %v; want it re-blinded", len(got), err)
	}

	// Points of the host's choosing: identifiers it guesses, hashed to the
	// group as the parties do.
	guess := func(i int) blind.Token {
		var tok blind.Token
		copy(tok[:], blind.HashToGroup("r1", cleanroom.ClassPhone, sha256.Sum256([]byte{byte(i), 'g'})).Encode(nil))
		return tok
	}
	chosen := []blind.Token{guess(1), guess(2), guess(3)}
	_, hostKey, _ := ed25519.GenerateKey(nil)
	refused := func(name string, env statement.Envelope, tokens []blind.Token) {
		t.Helper()
		if got, err := a.serve(ag, env, tokens); got != nil || err != nil {
			t.Errorf("%s: the agent sent %d re-blinded tokens (RunOnce: %v), want the job refused", name, len(got), err)
		}
	}

	// (a) Sets no peer of the operator signed.
	refused("no manifest", statement.Envelope{}, chosen)
	refused("a manifest the host signs in the bank's name", a.sign("bank", "r1", 2, chosen, hostKey).env, chosen)
	own := a.set("operator", "r1", 1, 100, 5, nil)
	refused("the operator's own set", own.env, own.tokens)
	// A party of the host's own, registered and invited: listed by the
	// room, signing with its own key, named by an agreement it drafted
	// that the operator did not sign (or whose operator signature the
	// host forged).
	_, puppetKey, _ := ed25519.GenerateKey(nil)
	a.host.mu.Lock()
	a.host.parties["puppet"] = puppetKey.Public().(ed25519.PublicKey)
	a.host.mu.Unlock()
	a.agreement("r1", []string{"bank", "insurer", "operator", "puppet"}, "bank", "insurer", "puppet")
	a.agreement("r1", []string{"operator", "puppet"}, "puppet", "forged-operator")
	a.host.duas[len(a.host.duas)-1].Signatures[1].Party = "operator"
	refused("a set of a party the host invited", a.sign("puppet", "r1", 1, chosen, puppetKey).env, chosen)
	// The bank's key swapped for the host's: the agent pinned the bank's.
	a.host.mu.Lock()
	a.host.parties["bank"] = hostKey.Public().(ed25519.PublicKey)
	a.host.mu.Unlock()
	if got, err := a.serve(ag, a.sign("bank", "r1", 3, chosen, hostKey).env, chosen); got != nil || !errors.Is(err, ErrPeerKeyChanged) {
		t.Errorf("a manifest under a key the host lists as the bank's: %d tokens, %v; want ErrPeerKeyChanged", len(got), err)
	}
	a.host.mu.Lock()
	a.host.parties["bank"] = a.keys["bank"].Public()
	a.host.mu.Unlock()

	// (b) The bank's signed set, altered.
	bank2 := a.set("bank", "r1", 2, 200, 40, nil)
	refused("a token added", bank2.env, append(slices.Clone(bank2.tokens), chosen[0]))
	refused("a token removed", bank2.env, bank2.tokens[1:])
	replaced := slices.Clone(bank2.tokens)
	replaced[7] = chosen[0]
	refused("a token replaced", bank2.env, replaced)

	// (c) A set already re-blinded, again; and after a restart.
	refused("the first set again", bank.env, bank.tokens)
	shuffled := slices.Clone(bank.tokens)
	slices.Reverse(shuffled)
	refused("the first set again, reordered", bank.env, shuffled)
	restarted := a.agent("r1")
	if got, err := a.serve(restarted, bank.env, bank.tokens); got != nil || err != nil {
		t.Errorf("the first set after a restart: %d tokens, %v; want it refused", len(got), err)
	}

	// (d) The same points under another manifest, or in another room.
	ins := a.set("insurer", "r1", 1, 300, 40, nil)
	mixed := slices.Clone(ins.tokens)
	mixed[3] = bank2.tokens[3]
	refused("a bank token inside the insurer's set", ins.env, mixed)
	refused("the bank's set under the insurer's manifest", ins.env, bank2.tokens)
	refused("a re-blinded set under the bank's manifest", bank.env, want)
	r2 := a.agent("r2")
	forR1 := a.set("bank", "r1", 4, 400, 10, nil)
	if got, err := a.serve(r2, forR1.env, forR1.tokens); got != nil || err != nil {
		t.Errorf("the bank's r1 set as a job of r2: %d tokens, %v; want it refused", len(got), err)
	}
	// None of the refusals used up the sets the peers signed.
	for _, s := range []peerSet{bank2, ins} {
		if got, err := a.serve(ag, s.env, s.tokens); got == nil || err != nil {
			t.Errorf("%s's set after the refusals: %v, want it re-blinded once", s.party, err)
		}
	}
	// The residual: the bank signs a version 5 that shares points with
	// version 1. Each is re-blinded once; the shared points come out as
	// they did — nothing the stored singly blinded sets do not show.
	v5 := a.set("bank", "r1", 5, 20, 40, nil) // identifiers 20..59; version 1 had 0..39
	got5, err := a.serve(ag, v5.env, v5.tokens)
	if err != nil || len(got5) != len(v5.tokens) {
		t.Fatalf("version 5: %d tokens, %v", len(got5), err)
	}
	first := map[blind.Token]blind.Token{}
	for i, tok := range bank.tokens {
		first[tok] = want[i]
	}
	shared := 0
	for i, tok := range v5.tokens {
		if out, ok := first[tok]; ok {
			shared++
			if out != got5[i] {
				t.Errorf("a shared point came out differently in version 5")
			}
		} else if slices.Contains(want, got5[i]) {
			t.Errorf("a new point of version 5 came out as a point of version 1")
		}
	}
	if shared != 20 {
		t.Errorf("%d points shared by the bank's versions 1 and 5, want 20", shared)
	}
}
