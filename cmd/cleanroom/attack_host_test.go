package main

// The host part of the attack suite, on a real server: the host holds the
// data directory — the database, the server's keys, the vault — and can
// read and rewrite all of it. These tests play that host against what the
// parties keep on their side: the hmac secret, per-room keys, and the
// checkpoints and cosignatures of the audit log.

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/agent"
	"github.com/cleanroom-dev/cleanroom/internal/blind"
	"github.com/cleanroom-dev/cleanroom/internal/client"
	"github.com/cleanroom-dev/cleanroom/internal/httpapi"
	"github.com/cleanroom-dev/cleanroom/internal/keyfile"
	"github.com/cleanroom-dev/cleanroom/internal/normalize"
	"github.com/cleanroom-dev/cleanroom/internal/prepare"
	"github.com/cleanroom-dev/cleanroom/internal/sqlite"
	"github.com/cleanroom-dev/cleanroom/internal/statement"
	"github.com/cleanroom-dev/cleanroom/internal/tlscert"
	"github.com/cleanroom-dev/cleanroom/internal/upload"
	"github.com/cleanroom-dev/cleanroom/internal/vault"
)

// hostedRooms is a real server whose host the test plays, with the bank
// and the operator in rooms under signed agreements.
type hostedRooms struct {
	t      *testing.T
	m      *Main
	res    *initResult
	info   *httpapi.ServerInfo
	admin  *client.Client
	users  map[string]*client.Client
	tokens map[string]string
	keys   map[string]*keyfile.PartyKeys
	states map[string]string // each party's agent state directory
	dirs   map[string]string // each party's key directory
}

var attackParties = []string{"bank", "operator"}

// attackPhones is a CSV of n phone numbers from +7 912 000 00 00 on,
// written in the messy ways parties' systems write them.
func attackPhones(t *testing.T, from, n int) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("phone\n")
	for i := from; i < from+n; i++ {
		if i%2 == 0 {
			fmt.Fprintf(&b, "8 (912) 000-%02d-%02d\n", i/100%100, i%100)
		} else {
			fmt.Fprintf(&b, "+7 912 000 %04d\n", i)
		}
	}
	path := filepath.Join(t.TempDir(), "phones.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

const attackPhoneSchema = `{"identifiers": [{"column": "phone", "class": "phone", "priority": 1}], "attributes": []}`

func newHostedRooms(t *testing.T) *hostedRooms {
	t.Helper()
	ctx := context.Background()
	h := &hostedRooms{t: t, users: map[string]*client.Client{}, tokens: map[string]string{}, keys: map[string]*keyfile.PartyKeys{},
		states: map[string]string{}, dirs: map[string]string{}}
	h.m, h.res = startServer(t)
	tc, err := tlscert.ClientConfig(h.res.TLSCert)
	if err != nil {
		t.Fatal(err)
	}
	h.admin = client.New(h.m.URL(), h.res.AdminToken, tc)
	if h.info, err = h.admin.ServerInfo(ctx); err != nil {
		t.Fatal(err)
	}
	for _, party := range attackParties {
		h.dirs[party] = filepath.Join(t.TempDir(), party)
		k, err := keyfile.CreateParty(h.dirs[party])
		if err != nil {
			t.Fatal(err)
		}
		h.keys[party] = k
		h.states[party] = filepath.Join(t.TempDir(), party+"-agent")
		if _, err := h.admin.CreateParty(ctx, httpapi.CreatePartyRequest{Name: party, SigningKey: cleanroom.EncodeKey(k.Public())}); err != nil {
			t.Fatal(err)
		}
		tok, err := h.admin.CreatePartyToken(ctx, httpapi.CreateTokenRequest{Party: party, User: "u"}, k.Signing)
		if err != nil {
			t.Fatal(err)
		}
		h.tokens[party] = tok.Secret
		h.users[party] = h.admin.WithToken(tok.Secret)
	}
	return h
}

// room creates a room of both parties, grants their users every role,
// has both sign an agreement and each register a dataset "<party>-phones".
func (h *hostedRooms) room(name, matching string) {
	h.t.Helper()
	ctx := context.Background()
	if _, err := h.admin.CreateRoom(ctx, httpapi.CreateRoomRequest{Name: name, Host: "neutral", Parties: attackParties, Matching: matching}); err != nil {
		h.t.Fatal(err)
	}
	signers := map[string]signer{}
	for _, party := range attackParties {
		now := time.Now().UTC()
		env, err := statement.Sign(h.keys[party].Signing, cleanroom.GrantStatement{Type: cleanroom.GrantType, Server: h.info.ServerID, Party: party,
			User: "u", Room: name, Roles: cleanroom.Roles, IssuedAt: now, ExpiresAt: now.Add(time.Hour)})
		if err != nil {
			h.t.Fatal(err)
		}
		if _, err := h.admin.SubmitGrant(ctx, party, env); err != nil {
			h.t.Fatal(err)
		}
		signers[party] = signer{h.users[party], h.keys[party]}
	}
	agree(h.t, ctx, h.info.ServerID, name, "neutral", signers)
	for _, party := range attackParties {
		if _, err := h.users[party].CreateDataset(ctx, name, party+"-phones", []byte(attackPhoneSchema)); err != nil {
			h.t.Fatal(err)
		}
	}
}

// agentOnce runs party's agent in room once.
func (h *hostedRooms) agentOnce(party, room string) error {
	h.t.Helper()
	a, err := agent.New(context.Background(), h.users[party], room, h.keys[party], h.states[party], nil)
	if err != nil {
		return err
	}
	_, err = a.RunOnce(context.Background())
	return err
}

// upload uploads the CSV at file as party's dataset in room.
func (h *hostedRooms) upload(party, room, file string) {
	h.t.Helper()
	if _, err := uploadDataset(context.Background(), h.users[party], party+"-phones", uploadFlags{room: room, file: file, country: "RU",
		agentState: h.states[party]}, h.keys[party], io.Discard); err != nil {
		h.t.Fatalf("%s uploads to %s: %v", party, room, err)
	}
}

// db opens the server's database as the host does, beside the server.
func (h *hostedRooms) db() *sql.DB {
	h.t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(h.m.Config.DataDir, dbFile))
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { db.Close() })
	return db
}

// storedTokens is what the host reads of a room, decrypted with the
// server's keys from the data directory: every token of each party's
// dataset ("bank", "operator") and of each re-blinded set ("v1 in",
// "v1 out", ...: the set the room sent an agent and what came back).
func (h *hostedRooms) storedTokens(room string) map[string]map[blind.Token]bool {
	h.t.Helper()
	ctx := context.Background()
	keys, err := keyfile.LoadServer(filepath.Join(h.m.Config.DataDir, keysDir))
	if err != nil {
		h.t.Fatal(err)
	}
	store, err := vault.Open(filepath.Join(h.m.Config.DataDir, "datasets"), vault.NewLocalWrapper(keys.KEK))
	if err != nil {
		h.t.Fatal(err)
	}
	out := map[string]map[blind.Token]bool{}
	add := func(label string, b []byte) {
		if out[label] == nil {
			out[label] = map[blind.Token]bool{}
		}
		var tok blind.Token
		copy(tok[:], b)
		out[label][tok] = true
	}
	for _, party := range attackParties {
		rc, err := store.OpenVersion(ctx, room+"."+party+"-phones", 1)
		if errors.Is(err, vault.ErrNotFound) {
			continue // the party uploaded nothing to this room
		}
		if err != nil {
			h.t.Fatalf("open %s's dataset in %s: %v", party, room, err)
		}
		rd, err := upload.NewReader(rc)
		if err != nil {
			h.t.Fatal(err)
		}
		for {
			row, err := rd.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				h.t.Fatal(err)
			}
			for _, tok := range row.Tokens {
				if tok != nil {
					add(party, tok[:])
				}
			}
		}
		rc.Close()
	}
	for v := 1; ; v++ {
		rc, err := store.OpenVersion(ctx, room+"._reblinded", v)
		if err != nil {
			break
		}
		raw, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			h.t.Fatal(err)
		}
		for i := 0; i+64 <= len(raw); i += 64 {
			add(fmt.Sprintf("v%d in", v), raw[i:i+32])
			add(fmt.Sprintf("v%d out", v), raw[i+32:i+64])
		}
	}
	return out
}

// all is the union of a room's stored tokens.
func all(sets map[string]map[blind.Token]bool) map[blind.Token]bool {
	out := map[blind.Token]bool{}
	for _, s := range sets {
		for tok := range s {
			out[tok] = true
		}
	}
	return out
}

func common(a, b map[blind.Token]bool) int {
	n := 0
	for tok := range a {
		if b[tok] {
			n++
		}
	}
	return n
}

// hmacTokens is the host's reimplementation of the hmac room's tokens
// (prepare.HMACTokens, published code) for phone numbers from..from+n-1
// under key.
func hmacTokens(t *testing.T, key []byte, room string, from, n int) map[blind.Token]int {
	t.Helper()
	out := map[blind.Token]int{}
	for i := from; i < from+n; i++ {
		norm, err := normalize.Phone(fmt.Sprintf("+7912000%04d", i), "RU")
		if err != nil {
			t.Fatal(err)
		}
		out[prepare.HMACTokens(key, room, cleanroom.ClassPhone, [][32]byte{normalize.Digest(norm)})[0]] = i
	}
	return out
}

// hmacCommitment is the agents' commitment to a secret (published code).
func hmacCommitment(secret []byte) string {
	sum := sha256.Sum256(append([]byte("cleanroom hmac commitment v1\x00"), secret...))
	return hex.EncodeToString(sum[:])
}

func hmacSealInfo(server, room, party string) []byte {
	return []byte("cleanroom hmac secret v1|" + server + "|" + room + "|" + party)
}

// TestAttackHostHMACDictionary plays the host of an hmac room. It holds
// the bank's tokens (it decrypts the vault with its own keys) and hashes
// every phone number of the range the bank's customers are in, with
// everything it holds as the key: its keys, the secret's commitment, every
// sealed copy; and it tries to come by the secret: it registers a party of
// its own, invites it and writes the party's agent key into its database
// so that the bank's agent seals the secret to it, and, in a second room,
// makes its party the secret's creator, with a secret of its choosing
// sealed to the parties' agents. It fails: the secret is generated by the
// bank's agent and sealed only to the agent keys of parties the bank
// agreed with (internal/agent: syncSecret, sealTo, verifiedAgentKeys with
// agreedPeers); no file of the data directory holds it; the host's tokens
// match none of the bank's, while the same dictionary under the secret
// matches all; and the agents refuse a secret whose creator their party
// did not agree with. (A secret the host seals in place of a party's copy
// is TestAttackHostPlantHMACSecret.)
func TestAttackHostHMACDictionary(t *testing.T) {
	ctx := context.Background()
	h := newHostedRooms(t)
	h.room("fast", cleanroom.MatchingHMAC)
	db := h.db()

	// The host's party, with its agent key written straight into the
	// database (the room refuses it through the API: the agreement does
	// not name it).
	pub, puppetKey, _ := ed25519.GenerateKey(nil)
	if _, err := h.admin.CreateParty(ctx, httpapi.CreatePartyRequest{Name: "puppet", SigningKey: cleanroom.EncodeKey(pub)}); err != nil {
		t.Fatal(err)
	}
	hostAgentKey, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	plantAgentKey := func(room string) {
		t.Helper()
		if _, err := h.admin.Invite(ctx, room, "puppet"); err != nil {
			t.Fatal(err)
		}
		env, err := statement.Sign(puppetKey, cleanroom.AgentKey{Type: cleanroom.AgentKeyType, Server: h.info.ServerID, Room: room, Party: "puppet",
			HPKEKey: hostAgentKey.PublicKey().Bytes(), IssuedAt: time.Now().UTC()})
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := json.Marshal(env)
		if _, err := db.Exec(`INSERT INTO agent_keys (room, party, envelope, created_at) VALUES (?, 'puppet', ?, ?)`,
			room, raw, time.Now().UTC().Format(time.RFC3339Nano)); err != nil {
			t.Fatal(err)
		}
	}
	plantAgentKey("fast")

	// The bank's agent creates the secret; the operator's publishes its
	// key and receives the secret on the next round.
	for _, party := range []string{"bank", "operator", "bank", "operator"} {
		if err := h.agentOnce(party, "fast"); err != nil {
			t.Fatalf("%s's agent: %v", party, err)
		}
	}
	secret, err := agent.LoadSecret(h.states["bank"], "fast")
	if err != nil {
		t.Fatal(err)
	}
	if opSecret, err := agent.LoadSecret(h.states["operator"], "fast"); err != nil || !bytes.Equal(opSecret, secret) {
		t.Fatalf("the operator's agent holds %x, %v; want the bank's secret", opSecret, err)
	}
	h.upload("bank", "fast", attackPhones(t, 0, 300))

	// What the host can open: every sealed copy, with its own keys.
	keys, err := keyfile.LoadServer(filepath.Join(h.m.Config.DataDir, keysDir))
	if err != nil {
		t.Fatal(err)
	}
	candidates := [][]byte{nil, []byte("fast"), []byte(h.info.ServerID), keys.KEK[:], keys.Signing.Seed(), keys.HPKE.Bytes()}
	rows, err := db.Query(`SELECT party, sealed FROM hmac_sealed WHERE room = 'fast'`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var party string
		var sealed []byte
		rows.Scan(&party, &sealed)
		if party == "puppet" {
			t.Errorf("the bank's agent sealed the secret to the host's party")
		}
		candidates = append(candidates, sealed)
		for _, priv := range []*ecdh.PrivateKey{hostAgentKey, keys.HPKE} {
			if got, err := keyfile.OpenWith(priv, hmacSealInfo(h.info.ServerID, "fast", party), sealed); err == nil {
				t.Errorf("the host opens %s's sealed copy", party)
				candidates = append(candidates, got)
			}
		}
	}
	rows.Close()
	var commitment []byte
	if err := db.QueryRow(`SELECT envelope FROM hmac_secrets WHERE room = 'fast'`).Scan(&commitment); err != nil {
		t.Fatal(err)
	}
	var cenv statement.Envelope
	var sc cleanroom.SecretCommitment
	json.Unmarshal(commitment, &cenv)
	json.Unmarshal(cenv.Statement, &sc)
	c, _ := hex.DecodeString(sc.Commitment)
	candidates = append(candidates, commitment, c, []byte(sc.Commitment))

	// No file of the data directory holds the secret, in any encoding.
	forms := [][]byte{secret, []byte(hex.EncodeToString(secret)), []byte(base64.StdEncoding.EncodeToString(secret)),
		[]byte(base64.RawURLEncoding.EncodeToString(secret))}
	filepath.WalkDir(h.m.Config.DataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		for _, f := range forms {
			if bytes.Contains(b, f) {
				t.Errorf("%s holds the room's hmac secret", path)
			}
		}
		return nil
	})

	// The dictionary: +7 912 000 0000 to 0999, under every key the host
	// has, and unkeyed.
	stored := h.storedTokens("fast")["bank"]
	if len(stored) != 300 {
		t.Fatalf("the host reads %d tokens of the bank's, want 300", len(stored))
	}
	for i, key := range candidates {
		for tok := range hmacTokens(t, key, "fast", 0, 1000) {
			if stored[tok] {
				t.Errorf("candidate key %d of the host's computes a token of the bank's", i)
				break
			}
		}
	}
	for i := range 1000 {
		norm, _ := normalize.Phone(fmt.Sprintf("+7912000%04d", i), "RU")
		d := normalize.Digest(norm)
		var h2g blind.Token
		copy(h2g[:], blind.HashToGroup("fast", cleanroom.ClassPhone, d).Encode(nil))
		if stored[blind.Token(d)] {
			t.Errorf("the bank's tokens include the plain SHA-256 of %s", norm)
		}
		if stored[h2g] {
			t.Errorf("the bank's tokens include the unkeyed hash of %s", norm)
		}
	}
	// Under the parties' secret the same dictionary finds every customer:
	// the secret is all that stops it.
	found := 0
	for tok := range hmacTokens(t, secret, "fast", 0, 1000) {
		if stored[tok] {
			found++
		}
	}
	if found != 300 {
		t.Errorf("the dictionary under the secret finds %d of the bank's 300 customers", found)
	}

	// A second room, whose secret the host creates in its party's name
	// and seals to the parties' published agent keys before any agent
	// creates one.
	h.room("fast2", cleanroom.MatchingHMAC)
	plantAgentKey("fast2")
	agents := map[string]*agent.Agent{}
	for _, party := range attackParties {
		a, err := agent.New(ctx, h.users[party], "fast2", h.keys[party], h.states[party], nil) // publishes its key
		if err != nil {
			t.Fatal(err)
		}
		agents[party] = a
	}
	planted := []byte("the host's secret, 32 bytes long")
	env, err := statement.Sign(puppetKey, cleanroom.SecretCommitment{Type: cleanroom.SecretCommitmentType, Server: h.info.ServerID, Room: "fast2",
		Creator: "puppet", Commitment: hmacCommitment(planted), IssuedAt: time.Now().UTC()})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(env)
	now := time.Now().UTC().Format(time.RFC3339Nano)
	if _, err := db.Exec(`INSERT INTO hmac_secrets (room, creator, envelope, created_at) VALUES ('fast2', 'puppet', ?, ?)`, raw, now); err != nil {
		t.Fatal(err)
	}
	published, err := h.users["bank"].ListAgentKeys(ctx, "fast2")
	if err != nil {
		t.Fatal(err)
	}
	for _, party := range attackParties {
		var ak cleanroom.AgentKey
		json.Unmarshal(published.Keys[party].Statement, &ak)
		sealed, err := keyfile.SealTo(ak.HPKEKey, hmacSealInfo(h.info.ServerID, "fast2", party), planted)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`INSERT INTO hmac_sealed (room, party, sealed, created_at) VALUES ('fast2', ?, ?, ?)`, party, sealed, now); err != nil {
			t.Fatal(err)
		}
	}
	for party, a := range agents {
		if _, err := a.RunOnce(ctx); err == nil {
			t.Errorf("%s's agent took a secret the host's party created", party)
		}
		if got, err := agent.LoadSecret(h.states[party], "fast2"); !errors.Is(err, agent.ErrNoSecret) {
			t.Errorf("%s's agent holds %q (%v) for fast2, want no secret", party, got, err)
		}
	}
}

// TestAttackHostLinkAcrossRooms: the bank and the operator upload the
// same customers to two ecdh rooms and an hmac room of one server and
// match in each; the host reads every token it stores — each party's
// uploaded tokens and every set re-blinded in matching — and looks for
// one in two rooms, which would let it join the rooms' people. There is
// none: each party blinds with a key derived for the room
// (keyfile.RoomKey of the server and room) and hashes to the group with
// the room in the domain (blind.DST); an hmac room's tokens are keyed with
// its own secret and the room. Within each room, the join works: the
// doubly blinded (or hmac) tokens of the 100 shared customers meet.
func TestAttackHostLinkAcrossRooms(t *testing.T) {
	ctx := context.Background()
	h := newHostedRooms(t)
	rooms := []struct{ name, matching string }{{"east", cleanroom.MatchingECDH}, {"west", cleanroom.MatchingECDH}, {"fast", cleanroom.MatchingHMAC}}
	bankFile, opFile := attackPhones(t, 0, 200), attackPhones(t, 100, 200)
	for _, r := range rooms {
		h.room(r.name, r.matching)
		if r.matching == cleanroom.MatchingHMAC {
			for _, party := range []string{"bank", "operator", "bank", "operator"} {
				if err := h.agentOnce(party, r.name); err != nil {
					t.Fatal(err)
				}
			}
		}
		h.upload("bank", r.name, bankFile)
		h.upload("operator", r.name, opFile)
		run, err := h.users["operator"].StartMatch(ctx, r.name)
		if err != nil {
			t.Fatal(err)
		}
		for _, party := range attackParties {
			if err := h.agentOnce(party, r.name); err != nil {
				t.Fatal(err)
			}
		}
		for range 100 {
			if run, err = h.users["bank"].ShowMatch(ctx, r.name, run.ID); err != nil || run.State != "waiting" {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err != nil || run.State != "done" {
			t.Fatalf("matching in %s: %v, %+v", r.name, err, run)
		}
	}
	stored := map[string]map[string]map[blind.Token]bool{}
	for _, r := range rooms {
		stored[r.name] = h.storedTokens(r.name)
	}
	// The join within each room.
	for _, room := range []string{"east", "west"} {
		if n := common(stored[room]["v1 out"], stored[room]["v2 out"]); n != 100 {
			t.Errorf("%s: the doubly blinded sets share %d tokens, want the 100 shared customers", room, n)
		}
	}
	if n := common(stored["fast"]["bank"], stored["fast"]["operator"]); n != 100 {
		t.Errorf("fast: the parties' hmac tokens share %d, want 100", n)
	}
	// Nothing across rooms.
	for i, a := range rooms {
		for _, b := range rooms[i+1:] {
			if n := common(all(stored[a.name]), all(stored[b.name])); n != 0 {
				t.Errorf("rooms %s and %s share %d tokens in the host's storage", a.name, b.name, n)
			}
		}
	}
}

// cli runs the command line as party against h's server and returns its
// output and exit code.
func (h *hostedRooms) cli(party string, args ...string) (string, int) {
	h.t.Helper()
	var o, e bytes.Buffer
	args = append(args, "--server", h.m.URL(), "--token", h.tokens[party], "--ca", h.res.TLSCert, "--config", filepath.Join(h.t.TempDir(), "config.json"))
	code := run(context.Background(), args, strings.NewReader(""), &o, &e)
	return o.String() + e.String(), code
}

func (h *hostedRooms) mustCLI(party string, args ...string) string {
	h.t.Helper()
	out, code := h.cli(party, args...)
	if code != 0 {
		h.t.Fatalf("cleanroom %s as %s exited %d: %s", strings.Join(args, " "), party, code, out)
	}
	return out
}

// verifyExport has party export room's log and verify it with the
// checkpoints in state; it returns the output and whether it verified.
func (h *hostedRooms) verifyExport(party, room, state string) (string, bool) {
	h.t.Helper()
	file := filepath.Join(h.t.TempDir(), "log.json")
	h.mustCLI(party, "audit", "export", "--room", room, "--out", file)
	out, code := h.cli(party, "audit", "verify", file, "--state", state)
	return out, code == 0
}

// tamperable drops the audit log's append-only triggers, as the host,
// who holds the database, can.
func tamperable(t *testing.T, db *sql.DB) {
	t.Helper()
	for _, trigger := range []string{"audit_log_no_update", "audit_log_no_delete"} {
		if _, err := db.Exec(`DROP TRIGGER IF EXISTS ` + trigger); err != nil {
			t.Fatal(err)
		}
	}
}

// rechain recomputes the legacy hash chain of every entry from seq on, so
// the database's own chain looks intact after the host's edit.
func rechain(t *testing.T, db *sql.DB) {
	t.Helper()
	rows, err := db.Query(`SELECT seq, time, actor, action, object, coalesce(room, ''), outcome, coalesce(code, ''), detail, request_id FROM audit_log ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	var entries []cleanroom.AuditEntry
	for rows.Next() {
		var e cleanroom.AuditEntry
		var tm, detail string
		var action string
		if err := rows.Scan(&e.Seq, &tm, &e.Actor, &action, &e.Object, &e.Room, &e.Outcome, &e.Code, &detail, &e.RequestID); err != nil {
			t.Fatal(err)
		}
		e.Action = cleanroom.Action(action)
		e.Time, _ = time.Parse(time.RFC3339Nano, tm)
		json.Unmarshal([]byte(detail), &e.Detail)
		entries = append(entries, e)
	}
	rows.Close()
	prev := make([]byte, sha256.Size)
	for i := range entries {
		entries[i].PrevHash = prev
		hash := sqlite.EntryHash(&entries[i])
		if _, err := db.Exec(`UPDATE audit_log SET prev_hash = ?, hash = ? WHERE seq = ?`, prev, hash, entries[i].Seq); err != nil {
			t.Fatal(err)
		}
		prev = hash
	}
}

// roomSeqs returns the sequence numbers of room's entries, in order.
func roomSeqs(t *testing.T, db *sql.DB, room string) []int64 {
	t.Helper()
	rows, err := db.Query(`SELECT seq FROM audit_log WHERE room = ? ORDER BY seq`, room)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var s int64
		rows.Scan(&s)
		out = append(out, s)
	}
	return out
}

// TestAttackHostRewriteAuditLog: the bank keeps a checkpoint of room r's
// log (cosigning it) and a receipt of one entry; the host then rewrites
// its database — it drops the append-only triggers, edits an entry,
// deletes one, or truncates the log, and recomputes the database's hash
// chain so it looks intact. Its server signs checkpoints of whatever the
// database holds. Each rewrite is caught on the bank's side: `cleanroom
// audit verify` of an export holds it against the checkpoints and receipt
// the bank kept (auditlog.Verify), and the bank's next `audit checkpoint`
// refuses a log that does not extend the one it kept (keepCheckpoint,
// merkle.VerifyConsistency).
func TestAttackHostRewriteAuditLog(t *testing.T) {
	for _, c := range []struct {
		name   string
		tamper func(t *testing.T, db *sql.DB, seqs []int64)
		verify string // in the findings of audit verify
		kept   string // in the refusal of the next audit checkpoint
	}{
		{"edit", func(t *testing.T, db *sql.DB, seqs []int64) {
			db.Exec(`UPDATE audit_log SET actor = 'bank/someone-else' WHERE seq = ?`, seqs[3])
		}, "differ from the checkpoint you hold", "is not an extension of the"},
		{"edit the receipted entry", func(t *testing.T, db *sql.DB, seqs []int64) {
			db.Exec(`UPDATE audit_log SET outcome = 'refused', code = 'forbidden' WHERE seq = ?`, seqs[len(seqs)-2])
		}, "for which you hold a receipt, was edited, removed or moved", "is not an extension of the"},
		{"delete", func(t *testing.T, db *sql.DB, seqs []int64) {
			db.Exec(`DELETE FROM audit_log WHERE seq = ?`, seqs[2])
		}, "differ from the checkpoint you hold", "is not an extension of the"},
		{"truncate", func(t *testing.T, db *sql.DB, seqs []int64) {
			db.Exec(`DELETE FROM audit_log WHERE room = 'r' AND seq >= ?`, seqs[len(seqs)-3])
		}, "the log is truncated", "fewer than the"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHostedRooms(t)
			h.room("r", cleanroom.MatchingECDH)
			state := t.TempDir()
			db := h.db()
			seqs := roomSeqs(t, db, "r")
			h.mustCLI("bank", "audit", "receipt", fmt.Sprint(seqs[len(seqs)-1]), "--room", "r", "--state", state)
			h.mustCLI("bank", "audit", "checkpoint", "--room", "r", "--state", state, "--keys", h.dirs["bank"])
			if out, ok := h.verifyExport("bank", "r", state); !ok {
				t.Fatalf("the untouched log does not verify: %s", out)
			}
			seqs = roomSeqs(t, db, "r")
			tamperable(t, db)
			c.tamper(t, db, seqs)
			rechain(t, db)
			out, ok := h.verifyExport("bank", "r", state)
			if ok || !strings.Contains(out, "FAIL: ") || !strings.Contains(out, c.verify) {
				t.Errorf("audit verify of the rewritten log: %s; want a finding %q", out, c.verify)
			}
			if out, code := h.cli("bank", "audit", "checkpoint", "--room", "r", "--state", state); code == 0 || !strings.Contains(out, c.kept) {
				t.Errorf("audit checkpoint of the rewritten log (exit %d): %s; want a refusal %q", code, out, c.kept)
			}
		})
	}
}

// TestAttackHostForkAuditLog: both parties keep and cosign a checkpoint;
// the log grows and the bank keeps and cosigns the new checkpoint; then
// the host shows the operator another history of the new part — it edits
// an entry past the common checkpoint, lets the operator keep and cosign
// that, and puts the entry back for the bank. The operator's view extends
// everything it kept, so its own checkpoints cannot tell; but each party
// collects the other's cosignature with its next checkpoint (checked under
// the other's key), and `audit verify` finds that the other cosigned a
// different history (auditlog.Verify over the collected cosignatures). A
// host that withholds each party's cosignature from the other is not
// caught by verify — the residual risk: then the log is never final past
// the fork (the checkpoint's final size, the largest size every party
// cosigned, stays below the forked entry), and the fork shows as soon as
// the parties compare cosignatures.
func TestAttackHostForkAuditLog(t *testing.T) {
	ctx := context.Background()
	h := newHostedRooms(t)
	h.room("r", cleanroom.MatchingECDH)
	db := h.db()
	bankState, opState := t.TempDir(), t.TempDir()
	for _, p := range []struct{ party, state string }{{"bank", bankState}, {"operator", opState}} {
		h.mustCLI(p.party, "audit", "checkpoint", "--room", "r", "--state", p.state, "--keys", h.dirs[p.party])
	}
	common := len(roomSeqs(t, db, "r"))
	// The log grows: both parties register more data.
	for i, party := range []string{"bank", "operator", "bank"} {
		if _, err := h.users[party].CreateDataset(ctx, "r", fmt.Sprintf("%s-more-%d", party, i), []byte(attackPhoneSchema)); err != nil {
			t.Fatal(err)
		}
	}
	h.mustCLI("bank", "audit", "checkpoint", "--room", "r", "--state", bankState, "--keys", h.dirs["bank"])
	seqs := roomSeqs(t, db, "r")
	forked := seqs[common+1] // an entry past the common checkpoint
	var object string
	if err := db.QueryRow(`SELECT object FROM audit_log WHERE seq = ?`, forked).Scan(&object); err != nil {
		t.Fatal(err)
	}

	// The operator is shown another history, keeps and cosigns it.
	tamperable(t, db)
	db.Exec(`UPDATE audit_log SET object = 'dataset:r/something-else' WHERE seq = ?`, forked)
	rechain(t, db)
	h.mustCLI("operator", "audit", "checkpoint", "--room", "r", "--state", opState, "--keys", h.dirs["operator"])
	// The operator collected the bank's cosignature with its checkpoint.
	if out, ok := h.verifyExport("operator", "r", opState); ok || !strings.Contains(out, "party bank cosigned a different history") {
		t.Errorf("the operator's verify of its view: %s; want the fork found", out)
	}
	// The bank is shown its history again.
	db.Exec(`UPDATE audit_log SET object = ? WHERE seq = ?`, object, forked)
	rechain(t, db)
	withheld := t.TempDir()
	copyDir(t, bankState, withheld)

	h.mustCLI("bank", "audit", "checkpoint", "--room", "r", "--state", bankState)
	out, ok := h.verifyExport("bank", "r", bankState)
	if ok || !strings.Contains(out, "party operator cosigned a different history") {
		t.Errorf("the bank's verify after collecting the operator's cosignature: %s; want the fork found", out)
	}

	// The host withholds the operator's cosignature of the fork.
	if _, err := db.Exec(`DELETE FROM audit_cosignatures WHERE room = 'r' AND party = 'operator' AND size > ?`, common); err != nil {
		t.Fatal(err)
	}
	h.mustCLI("bank", "audit", "checkpoint", "--room", "r", "--state", withheld)
	cp, err := h.users["bank"].AuditCheckpoint(ctx, "r", -1)
	if err != nil {
		t.Fatal(err)
	}
	index := 0
	for i, s := range roomSeqs(t, db, "r") {
		if s == forked {
			index = i
		}
	}
	if cp.FinalSize > index {
		t.Errorf("the log is final up to %d entries, past the forked entry (entry %d)", cp.FinalSize, index+1)
	}
}

// copyDir copies the regular files of src into dst.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}
