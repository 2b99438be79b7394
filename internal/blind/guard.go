package blind

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/gowebpki/jcs"
	"github.com/gtank/ristretto255"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/atomicfile"
	"github.com/cleanroom-dev/cleanroom/internal/statement"
)

// Errors Guard.ReBlind wraps when it refuses a set because of its manifest.
// A bad signature wraps statement.ErrBadSignature, a set that differs from
// its manifest ErrSetMismatch, and a refused token a *TokenError.
var (
	ErrNoManifest   = errors.New("the set comes without a manifest")
	ErrUnknownParty = errors.New("the manifest's party is not a peer in this room")
	ErrOwnParty     = errors.New("the set is this agent's own party's")
	ErrWrongRoom    = errors.New("the manifest is for another room")
	ErrWrongServer  = errors.New("the manifest is for another room server")
	ErrReplay       = errors.New("the manifest has been used before")
	// ErrRequestKind: a request's manifest sent as a dataset's set, or a
	// dataset's manifest sent as a request.
	ErrRequestKind = errors.New("the manifest is of the other kind (a dataset's set or one online request)")
	// ErrStale: a request's manifest signed too long ago, too far ahead, or
	// before the Guard started.
	ErrStale = errors.New("the request's manifest is not fresh")
)

// RequestWindow is how far a request manifest's creation time may lie from
// the Guard's clock, either way.
const RequestWindow = 2 * time.Minute

// Guard is an agent's rule for the second blinding in one room, so that
// re-blinding is no oracle for the room host (DESIGN.md, "Matching"). It
// re-blinds a set only if
//
//   - it comes with a manifest envelope signed by a peer party of the room
//     (never by the agent's own party),
//   - the manifest names this room and this room server,
//   - the set is exactly the one the manifest describes (CheckSet), and
//   - the manifest has not been used before,
//
// and, like ReBlind, only if every token is a canonical encoding of a
// non-identity element and no token repeats.
//
// Used manifests are remembered in a file in the Guard's directory,
// reblinded-<room>.json, replaced atomically (internal/atomicfile: written,
// synced, renamed, directory synced) before any re-blinded token is
// returned, so an agent
// that restarts still refuses a replay. A run that fails or is cancelled
// does not use up its manifest. Guards of one process that share a
// directory coordinate through the file; two processes must not share one.
//
// What ReBlind returns is also held, in reblinded-<room>.held/, until the
// agent calls Delivered: a room that stops before it records a result
// asks for the same set again, and Resend answers with the tokens already
// sent. The set is never re-blinded twice.
//
// A Guard is safe for concurrent use.
type Guard struct {
	// Blinder sets the workers and progress reports of ReBlind. Optional;
	// set it before the first call.
	Blinder Blinder

	self, room, server string
	peers              map[string]ed25519.PublicKey
	path               string
	held               string // directory of the results not yet delivered

	mu      sync.Mutex
	used    map[string]bool // manifest IDs on record
	pending map[string]bool // manifest IDs being re-blinded now

	// Online requests' manifests are remembered in memory, by ID with
	// their creation time, while they are fresh; one signed before the
	// Guard started is refused, so a restart cannot replay one.
	started  time.Time
	requests map[string]time.Time
	// Now is the Guard's clock for request manifests; time.Now if nil.
	Now func() time.Time
}

// NewGuard returns the Guard of the agent of party self in room on the room
// server whose signing-key fingerprint is server. peers maps the names of
// the room's other parties to their registered public signing keys. dir is
// created (mode 0700) if missing; a record file that cannot be read is an
// error, never an empty record.
func NewGuard(dir, self, room, server string, peers map[string]ed25519.PublicKey) (*Guard, error) {
	if err := cleanroom.ValidateName("party name", self); err != nil {
		return nil, fmt.Errorf("new guard: %w", err)
	}
	if err := cleanroom.ValidateName("room name", room); err != nil {
		return nil, fmt.Errorf("new guard: %w", err)
	}
	if server == "" {
		return nil, errors.New("new guard: no room server fingerprint")
	}
	for name, pub := range peers {
		if err := cleanroom.ValidateName("party name", name); err != nil {
			return nil, fmt.Errorf("new guard: peer: %w", err)
		}
		if len(pub) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("new guard: peer %q: public key is %d bytes, want %d", name, len(pub), ed25519.PublicKeySize)
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("new guard: %w", err)
	}
	g := &Guard{
		self: self, room: room, server: server,
		peers:   maps.Clone(peers),
		path:    filepath.Join(dir, "reblinded-"+room+".json"),
		held:    filepath.Join(dir, "reblinded-"+room+".held"),
		pending: map[string]bool{},
		started: time.Now(), requests: map[string]time.Time{},
	}
	rec, err := readRecord(g.path, room)
	if err != nil {
		return nil, fmt.Errorf("new guard: %w", err)
	}
	g.used = rec.ids()
	return g, nil
}

// ReBlind re-blinds tokens with the agent's room key if env is a manifest
// for them that passes the Guard's rules (see Guard), and holds the result
// (see Resend) and records the manifest as used before returning. It
// refuses with an error wrapping ErrNoManifest, ErrUnknownParty,
// ErrOwnParty, statement.ErrBadSignature, ErrWrongRoom, ErrWrongServer,
// ErrSetMismatch, ErrReplay or a *TokenError, and then returns no tokens.
func (g *Guard) ReBlind(ctx context.Context, key *ristretto255.Scalar, env statement.Envelope, tokens []Token) ([]Token, error) {
	m, id, err := g.check(env, tokens)
	if err != nil {
		return nil, fmt.Errorf("re-blind: %w", err)
	}
	if m.Request != "" {
		return nil, fmt.Errorf("re-blind: %w: request %q", ErrRequestKind, m.Request)
	}

	g.mu.Lock()
	if g.used[id] || g.pending[id] {
		g.mu.Unlock()
		return nil, fmt.Errorf("re-blind: %w", ErrReplay)
	}
	g.pending[id] = true
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		delete(g.pending, id)
		g.mu.Unlock()
	}()

	out, err := g.Blinder.ReBlind(ctx, key, tokens)
	if err != nil {
		return nil, err
	}
	if err := g.hold(id, tokens, out); err != nil {
		clear(out)
		return nil, fmt.Errorf("re-blind: %w", err)
	}
	if err := g.record(id, m); err != nil {
		clear(out)
		return nil, fmt.Errorf("re-blind: %w", err)
	}
	return out, nil
}

// ErrNotHeld is wrapped by Resend's error when the Guard holds no result
// of the manifest: it was never re-blinded, or it was delivered.
var ErrNotHeld = errors.New("no undelivered result of the manifest is held")

// Resend returns again what ReBlind returned for env's manifest and
// tokens, in the order of tokens, if the result is still held (Delivered
// was not called for it). The manifest and the set are checked as by
// ReBlind; nothing is re-blinded. It refuses with ReBlind's errors and
// with an error wrapping ErrNotHeld.
func (g *Guard) Resend(env statement.Envelope, tokens []Token) ([]Token, error) {
	m, id, err := g.check(env, tokens)
	if err != nil {
		return nil, fmt.Errorf("resend: %w", err)
	}
	if m.Request != "" {
		return nil, fmt.Errorf("resend: %w: request %q", ErrRequestKind, m.Request)
	}
	g.mu.Lock()
	used := g.used[id]
	g.mu.Unlock()
	if !used {
		// Another Guard on the directory may have used it since.
		r, err := readRecord(g.path, g.room)
		if err != nil {
			return nil, fmt.Errorf("resend: %w", err)
		}
		used = r.ids()[id]
	}
	raw, err := os.ReadFile(filepath.Join(g.held, id))
	if !used || errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("resend: %w", ErrNotHeld)
	}
	if err != nil {
		return nil, fmt.Errorf("resend: %w", err)
	}
	if len(raw) != len(tokens)*len(Token{}) {
		return nil, fmt.Errorf("resend: the held result has %d bytes, not %d tokens", len(raw), len(tokens))
	}
	// The result is held in the order of the sorted set.
	out := make([]Token, len(tokens))
	for k, i := range sortedOrder(tokens) {
		copy(out[i][:], raw[k*len(Token{}):])
	}
	clear(raw)
	return out, nil
}

// Delivered drops the held result of env's manifest once the room has it.
// Dropping one that is not held does nothing.
func (g *Guard) Delivered(env statement.Envelope) error {
	canon, err := jcs.Transform(env.Statement)
	if err != nil {
		return fmt.Errorf("delivered: %w", ErrNoManifest)
	}
	sum := sha256.Sum256(canon)
	if err := os.Remove(filepath.Join(g.held, hex.EncodeToString(sum[:]))); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delivered: %w", err)
	}
	atomicfile.SyncDir(g.held)
	return nil
}

// hold keeps out, the result of re-blinding tokens for manifest id, in
// the order of the sorted set, until Delivered.
func (g *Guard) hold(id string, tokens, out []Token) error {
	if err := os.MkdirAll(g.held, 0o700); err != nil {
		return fmt.Errorf("hold result: %w", err)
	}
	raw := make([]byte, 0, len(out)*len(Token{}))
	for _, i := range sortedOrder(tokens) {
		raw = append(raw, out[i][:]...)
	}
	defer clear(raw)
	if err := atomicfile.Write(filepath.Join(g.held, id), raw, 0o600); err != nil {
		return fmt.Errorf("hold result: %w", err)
	}
	return nil
}

// sortedOrder returns the indexes of tokens in the tokens' sorted order.
func sortedOrder(tokens []Token) []int {
	idx := make([]int, len(tokens))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return compareTokens(tokens[a], tokens[b]) })
	return idx
}

// ReBlindRequest re-blinds the one token of an online request (a scoring
// request) if env is a request manifest for it that passes the Guard's
// rules, is fresh — created within RequestWindow of the Guard's clock and
// not before the Guard started — and has not been used before. Request
// manifests are remembered in memory only, for as long as they are fresh.
// It refuses like ReBlind, and with ErrRequestKind for a dataset's
// manifest and ErrStale for a stale one.
func (g *Guard) ReBlindRequest(ctx context.Context, key *ristretto255.Scalar, env statement.Envelope, token Token) (Token, error) {
	m, id, err := g.check(env, []Token{token})
	if err != nil {
		return Token{}, fmt.Errorf("re-blind request: %w", err)
	}
	if m.Request == "" {
		return Token{}, fmt.Errorf("re-blind request: %w: the manifest is dataset %q's", ErrRequestKind, m.Dataset)
	}
	now := time.Now()
	if g.Now != nil {
		now = g.Now()
	}
	if m.CreatedAt.Before(now.Add(-RequestWindow)) || m.CreatedAt.After(now.Add(RequestWindow)) || m.CreatedAt.Before(g.started) {
		return Token{}, fmt.Errorf("re-blind request: %w: signed at %s, the agent's clock says %s (started %s)", ErrStale,
			m.CreatedAt.Format(time.RFC3339), now.UTC().Format(time.RFC3339), g.started.UTC().Format(time.RFC3339))
	}
	g.mu.Lock()
	for k, at := range g.requests {
		if at.Before(now.Add(-RequestWindow)) {
			delete(g.requests, k)
		}
	}
	if _, used := g.requests[id]; used {
		g.mu.Unlock()
		return Token{}, fmt.Errorf("re-blind request: %w", ErrReplay)
	}
	g.requests[id] = m.CreatedAt
	g.mu.Unlock()
	out, err := g.Blinder.ReBlind(ctx, key, []Token{token})
	if err != nil {
		return Token{}, err
	}
	return out[0], nil
}

// check applies the manifest rules and returns the manifest and its ID.
func (g *Guard) check(env statement.Envelope, tokens []Token) (Manifest, string, error) {
	if len(env.Statement) == 0 && len(env.Signature) == 0 {
		return Manifest{}, "", ErrNoManifest
	}
	// The signer is the party the statement names; its key decides.
	var claim struct {
		Party string `json:"party"`
	}
	if err := json.Unmarshal(env.Statement, &claim); err != nil {
		return Manifest{}, "", fmt.Errorf("%w: the statement is not a JSON object", ErrNoManifest)
	}
	if claim.Party == g.self {
		return Manifest{}, "", ErrOwnParty
	}
	pub, ok := g.peers[claim.Party]
	if !ok {
		return Manifest{}, "", fmt.Errorf("%w: %q", ErrUnknownParty, claim.Party)
	}
	m, err := VerifyManifest(pub, env)
	if err != nil {
		return Manifest{}, "", err
	}
	if m.Party != claim.Party { // only a statement with a repeated key can do this
		return Manifest{}, "", fmt.Errorf("%w: the statement names two parties", ErrUnknownParty)
	}
	if m.Room != g.room {
		return Manifest{}, "", fmt.Errorf("%w: it names room %q, this agent is in %q", ErrWrongRoom, m.Room, g.room)
	}
	if m.Server != g.server {
		return Manifest{}, "", fmt.Errorf("%w: it names server %s, this agent's is %s", ErrWrongServer, m.Server, g.server)
	}
	if err := CheckSet(m, tokens); err != nil {
		return Manifest{}, "", err
	}
	canon, err := jcs.Transform(env.Statement)
	if err != nil { // verified above, so this is a bug
		return Manifest{}, "", fmt.Errorf("manifest id: %w", err)
	}
	sum := sha256.Sum256(canon)
	return m, hex.EncodeToString(sum[:]), nil
}

// recordType is the type string of a Guard's record file.
const recordType = "cleanroom.reblinded.v1"

// record is the content of a Guard's record file.
type record struct {
	Type string       `json:"type"`
	Room string       `json:"room"`
	Used []usedRecord `json:"used"`
}

// usedRecord is one used manifest: its ID, the hex SHA-256 of its RFC 8785
// canonical JSON, and what it described, for people reading the file.
type usedRecord struct {
	Manifest string                    `json:"manifest"`
	Party    string                    `json:"party"`
	Dataset  string                    `json:"dataset"`
	Version  int                       `json:"version"`
	Class    cleanroom.IdentifierClass `json:"class"`
	Count    int                       `json:"count"`
	UsedAt   time.Time                 `json:"used_at"`
}

func (r *record) ids() map[string]bool {
	ids := make(map[string]bool, len(r.Used))
	for _, u := range r.Used {
		ids[u.Manifest] = true
	}
	return ids
}

// maxRecord bounds the record file read: an entry is about 250 bytes.
const maxRecord = 64 << 20

// readRecord reads the record file at path; a missing file is an empty
// record of room.
func readRecord(path, room string) (*record, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &record{Type: recordType, Room: room}, nil
	}
	if err != nil {
		return nil, err
	}
	if len(b) > maxRecord {
		return nil, fmt.Errorf("%s: %d bytes, more than a record file holds", path, len(b))
	}
	var r record
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if r.Type != recordType || r.Room != room {
		return nil, fmt.Errorf("%s: not a record of room %q (type %q, room %q)", path, room, r.Type, r.Room)
	}
	for i, u := range r.Used {
		if b, err := hex.DecodeString(u.Manifest); err != nil || len(b) != sha256.Size {
			return nil, fmt.Errorf("%s: entry %d: manifest ID is not 64 hex digits", path, i)
		}
	}
	return &r, nil
}

// fileLocks serialises the read-modify-write of a record file between the
// Guards of this process, by path.
var fileLocks sync.Map // string → *sync.Mutex

// record adds manifest id to the record file, refusing it with ErrReplay if
// it is already there (another Guard on the same directory may have used
// it), and updates g.used from the file.
func (g *Guard) record(id string, m Manifest) error {
	l, _ := fileLocks.LoadOrStore(g.path, new(sync.Mutex))
	lock := l.(*sync.Mutex)
	lock.Lock()
	defer lock.Unlock()

	r, err := readRecord(g.path, g.room)
	if err != nil {
		return fmt.Errorf("record manifest: %w", err)
	}
	ids := r.ids()
	if ids[id] {
		g.mu.Lock()
		g.used = ids
		g.mu.Unlock()
		return ErrReplay
	}
	r.Used = append(r.Used, usedRecord{
		Manifest: id, Party: m.Party, Dataset: m.Dataset, Version: m.Version,
		Class: m.Class, Count: m.Count, UsedAt: time.Now().UTC().Truncate(time.Second),
	})
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("record manifest: %w", err)
	}
	if err := atomicfile.Write(g.path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("record manifest: %w", err)
	}
	ids[id] = true
	g.mu.Lock()
	g.used = ids
	g.mu.Unlock()
	return nil
}
