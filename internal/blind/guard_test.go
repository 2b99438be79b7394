package blind

import (
	"context"
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gtank/ristretto255"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/statement"
)

const testServer = "SHA256:room-server-fingerprint"

// guardFixture is a room r1 on testServer with parties operator (the agent
// under test), bank and insurer, and bank's blinded phone set.
type guardFixture struct {
	dir                     string
	operator, bank, insurer ed25519.PrivateKey
	operatorKey, bankKey    *ristretto255.Scalar
	peers                   map[string]ed25519.PublicKey
	tokens                  []Token // bank's set, blinded with bankKey
	env                     statement.Envelope
	manifest                Manifest
}

func newGuardFixture(t *testing.T) *guardFixture {
	t.Helper()
	f := &guardFixture{
		dir:         t.TempDir(),
		operator:    testSigningKey(1),
		bank:        testSigningKey(2),
		insurer:     testSigningKey(3),
		operatorKey: testKey(t, 1),
		bankKey:     testKey(t, 2),
	}
	f.peers = map[string]ed25519.PublicKey{
		"bank":    f.bank.Public().(ed25519.PublicKey),
		"insurer": f.insurer.Public().(ed25519.PublicKey),
	}
	f.tokens = mustBlind(t, f.bankKey, "r1", cleanroom.ClassPhone, digests(phones("g", 50)...))
	f.env, f.manifest = f.sign(t, f.bank, func(m *Manifest) {}, f.tokens)
	return f
}

// sign makes a manifest of tokens by bank for r1 on testServer, edits it
// and signs it with priv.
func (f *guardFixture) sign(t *testing.T, priv ed25519.PrivateKey, edit func(*Manifest), tokens []Token) (statement.Envelope, Manifest) {
	t.Helper()
	m, err := NewManifest(testServer, "r1", "bank", "products", 1, cleanroom.ClassPhone, tokens, testNow)
	if err != nil {
		t.Fatal(err)
	}
	edit(&m)
	env, err := statement.Sign(priv, m) // not SignManifest: some edits are invalid on purpose
	if err != nil {
		t.Fatal(err)
	}
	return env, m
}

func (f *guardFixture) guard(t *testing.T) *Guard {
	t.Helper()
	g, err := NewGuard(f.dir, "operator", "r1", testServer, f.peers)
	if err != nil {
		t.Fatalf("NewGuard: %v", err)
	}
	return g
}

func TestGuardReBlinds(t *testing.T) {
	f := newGuardFixture(t)
	g := f.guard(t)
	// The room relays the set shuffled; the manifest's digest does not
	// depend on the order.
	shuffled := slices.Clone(f.tokens)
	slices.Reverse(shuffled)
	got, err := g.ReBlind(context.Background(), f.operatorKey, f.env, shuffled)
	if err != nil {
		t.Fatalf("Guard.ReBlind: %v", err)
	}
	if want := mustReBlind(t, f.operatorKey, shuffled); !slices.Equal(got, want) {
		t.Error("Guard.ReBlind differs from ReBlind")
	}
	fi, err := os.Stat(filepath.Join(f.dir, "reblinded-r1.json"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("record file: %v, mode %v; want mode 0600", err, fi.Mode().Perm())
	}
	// Another peer's manifest is a different manifest.
	env, _ := f.sign(t, f.insurer, func(m *Manifest) { m.Party = "insurer" }, f.tokens)
	if _, err := g.ReBlind(context.Background(), f.operatorKey, env, f.tokens); err != nil {
		t.Errorf("Guard.ReBlind(insurer's manifest) = %v, want nil", err)
	}
}

func TestGuardRefuses(t *testing.T) {
	f := newGuardFixture(t)
	bad := func(edit func(*Manifest)) statement.Envelope {
		env, _ := f.sign(t, f.bank, edit, f.tokens)
		return env
	}
	flipped := f.env
	flipped.Signature = slices.Clone(f.env.Signature)
	flipped.Signature[0] ^= 1
	tampered := bad(func(m *Manifest) {})
	tampered.Statement = []byte(string(tampered.Statement[:len(tampered.Statement)-1]) + `,"x":1}`)
	oneDiffers := slices.Clone(f.tokens)
	oneDiffers[7] = mustBlind(t, f.bankKey, "r1", cleanroom.ClassPhone, digests("+79120000000"))[0]
	ownEnv, _ := f.sign(t, f.operator, func(m *Manifest) { m.Party = "operator" }, f.tokens)
	peersWithSelf := map[string]ed25519.PublicKey{"operator": f.operator.Public().(ed25519.PublicKey)}
	strangerEnv, _ := f.sign(t, testSigningKey(9), func(m *Manifest) { m.Party = "retailer" }, f.tokens)

	tests := []struct {
		name   string
		env    statement.Envelope
		tokens []Token
		want   error
	}{
		{"no manifest", statement.Envelope{}, f.tokens, ErrNoManifest},
		{"not JSON", statement.Envelope{Statement: []byte("x"), Signature: f.env.Signature}, f.tokens, ErrNoManifest},
		{"no signature", statement.Envelope{Statement: f.env.Statement}, f.tokens, statement.ErrBadSignature},
		{"flipped signature", flipped, f.tokens, statement.ErrBadSignature},
		{"signed by another peer's key", bad(func(m *Manifest) {}), f.tokens, nil}, // replaced below
		{"tampered statement", tampered, f.tokens, statement.ErrBadSignature},
		{"party not in the room", strangerEnv, f.tokens, ErrUnknownParty},
		{"own party", ownEnv, f.tokens, ErrOwnParty},
		{"another room", bad(func(m *Manifest) { m.Room = "r2" }), f.tokens, ErrWrongRoom},
		{"another server", bad(func(m *Manifest) { m.Server = "SHA256:other" }), f.tokens, ErrWrongServer},
		{"invalid manifest", bad(func(m *Manifest) { m.Version = 0 }), f.tokens, nil},
		{"one token differs", f.env, oneDiffers, ErrSetMismatch},
		{"one token missing", f.env, f.tokens[1:], ErrSetMismatch},
		{"one token added", f.env, append(slices.Clone(f.tokens), oneDiffers[7]), ErrSetMismatch},
	}
	tests[4].env, _ = f.sign(t, f.insurer, func(m *Manifest) {}, f.tokens)
	tests[4].want = statement.ErrBadSignature

	g := f.guard(t)
	for _, tt := range tests {
		out, err := g.ReBlind(context.Background(), f.operatorKey, tt.env, tt.tokens)
		if err == nil || out != nil || (tt.want != nil && !errors.Is(err, tt.want)) {
			t.Errorf("%s: Guard.ReBlind = %d tokens, %v; want refusal %v", tt.name, len(out), err, tt.want)
		}
	}

	// The agent's own party is refused even if it is configured as a peer.
	gs, err := NewGuard(t.TempDir(), "operator", "r1", testServer, peersWithSelf)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gs.ReBlind(context.Background(), f.operatorKey, ownEnv, f.tokens); !errors.Is(err, ErrOwnParty) {
		t.Errorf("own party listed as a peer: Guard.ReBlind = %v, want ErrOwnParty", err)
	}

	// None of the refusals used up the manifest.
	if _, err := g.ReBlind(context.Background(), f.operatorKey, f.env, f.tokens); err != nil {
		t.Errorf("Guard.ReBlind after refusals = %v, want nil", err)
	}
}

// Sets with a valid manifest but a bad token are refused like ReBlind's.
func TestGuardRefusesBadTokens(t *testing.T) {
	f := newGuardFixture(t)
	g := f.guard(t)
	tests := []struct {
		name string
		edit func([]Token)
		want error
	}{
		{"identity", func(s []Token) { s[3] = Token{} }, ErrIdentity},
		{"non-canonical", func(s []Token) { s[3] = mustToken(t, badEncodings[1]) }, ErrNonCanonical},
		{"duplicate", func(s []Token) { s[3] = s[2] }, ErrDuplicate},
	}
	for _, tt := range tests {
		toks := slices.Clone(f.tokens)
		tt.edit(toks)
		env, _ := f.sign(t, f.bank, func(*Manifest) {}, toks)
		out, err := g.ReBlind(context.Background(), f.operatorKey, env, toks)
		var te *TokenError
		if out != nil || !errors.Is(err, tt.want) || !errors.As(err, &te) || te.Index != 3 {
			t.Errorf("%s: Guard.ReBlind = %d tokens, %v; want token 3: %v", tt.name, len(out), err, tt.want)
		}
	}
}

func TestGuardReplay(t *testing.T) {
	f := newGuardFixture(t)
	g := f.guard(t)
	ctx := context.Background()

	// A cancelled run does not use the manifest up.
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := g.ReBlind(cancelled, f.operatorKey, f.env, f.tokens); !errors.Is(err, context.Canceled) {
		t.Fatalf("Guard.ReBlind(cancelled) = %v, want context.Canceled", err)
	}
	// A Guard made before the manifest is used, on the same directory.
	early := f.guard(t)

	if _, err := g.ReBlind(ctx, f.operatorKey, f.env, f.tokens); err != nil {
		t.Fatalf("first Guard.ReBlind = %v", err)
	}
	if out, err := g.ReBlind(ctx, f.operatorKey, f.env, f.tokens); !errors.Is(err, ErrReplay) || out != nil {
		t.Errorf("replay: Guard.ReBlind = %d tokens, %v; want ErrReplay", len(out), err)
	}
	// The same statement re-encoded (whitespace) is the same manifest.
	spaced := f.env
	spaced.Statement = append([]byte(" "), f.env.Statement...)
	if _, err := g.ReBlind(ctx, f.operatorKey, spaced, f.tokens); !errors.Is(err, ErrReplay) {
		t.Errorf("replay with whitespace: Guard.ReBlind = %v, want ErrReplay", err)
	}
	// After a restart.
	if _, err := f.guard(t).ReBlind(ctx, f.operatorKey, f.env, f.tokens); !errors.Is(err, ErrReplay) {
		t.Errorf("replay after restart: Guard.ReBlind = %v, want ErrReplay", err)
	}
	// Through a Guard that loaded the record before the manifest was used.
	if _, err := early.ReBlind(ctx, f.operatorKey, f.env, f.tokens); !errors.Is(err, ErrReplay) {
		t.Errorf("replay through an earlier Guard: Guard.ReBlind = %v, want ErrReplay", err)
	}
	// Even with another key: the point is that the set is re-blinded once.
	if _, err := f.guard(t).ReBlind(ctx, testKey(t, 7), f.env, f.tokens); !errors.Is(err, ErrReplay) {
		t.Errorf("replay with another key: Guard.ReBlind = %v, want ErrReplay", err)
	}
}

// TestAttackHostReBlindConcurrentReplay: a host that sends one set in
// several jobs at once gets it re-blinded once.
func TestAttackHostReBlindConcurrentReplay(t *testing.T) {
	f := newGuardFixture(t)
	g := f.guard(t)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		ok, refd int
	)
	for range 4 {
		wg.Go(func() {
			_, err := g.ReBlind(context.Background(), f.operatorKey, f.env, f.tokens)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, ErrReplay):
				refd++
			default:
				t.Errorf("Guard.ReBlind = %v", err)
			}
		})
	}
	wg.Wait()
	if ok != 1 || refd != 3 {
		t.Errorf("%d re-blinded and %d refused as replays, want 1 and 3", ok, refd)
	}
}

func TestNewGuard(t *testing.T) {
	f := newGuardFixture(t)
	peer := f.peers
	tests := []struct {
		name               string
		self, room, server string
		peers              map[string]ed25519.PublicKey
	}{
		{"bad self", "", "r1", testServer, peer},
		{"bad room", "operator", "r/1", testServer, peer},
		{"no server", "operator", "r1", "", peer},
		{"short peer key", "operator", "r1", testServer, map[string]ed25519.PublicKey{"bank": make([]byte, 31)}},
		{"bad peer name", "operator", "r1", testServer, map[string]ed25519.PublicKey{"Bank!": peer["bank"]}},
	}
	for _, tt := range tests {
		if _, err := NewGuard(t.TempDir(), tt.self, tt.room, tt.server, tt.peers); err == nil {
			t.Errorf("%s: NewGuard succeeded", tt.name)
		}
	}

	// A damaged record is an error, never an empty record.
	for name, content := range map[string]string{
		"not JSON":     "{",
		"another room": `{"type":"cleanroom.reblinded.v1","room":"r2","used":[]}`,
		"bad id":       `{"type":"cleanroom.reblinded.v1","room":"r1","used":[{"manifest":"xyz"}]}`,
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "reblinded-r1.json"), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := NewGuard(dir, "operator", "r1", testServer, peer); err == nil {
			t.Errorf("record %s: NewGuard succeeded", name)
		}
	}
}

// TestAttackHostReBlindRequest: an online request's one token is
// re-blinded under a fresh request manifest signed by a peer, once; stale,
// replayed, pre-start and dataset manifests are refused, and a request
// manifest is refused on the dataset path, so a host cannot use scoring
// requests as a re-blinding oracle.
func TestAttackHostReBlindRequest(t *testing.T) {
	f := newGuardFixture(t)
	g := f.guard(t)
	now := time.Now()
	g.Now = func() time.Time { return now }
	token := f.tokens[0]
	request := func(priv ed25519.PrivateKey, at time.Time, edit func(*Manifest)) statement.Envelope {
		t.Helper()
		m, err := NewRequestManifest(testServer, "r1", "bank", "score:q1", cleanroom.ClassPhone, token, at)
		if err != nil {
			t.Fatal(err)
		}
		edit(&m)
		env, err := statement.Sign(priv, m)
		if err != nil {
			t.Fatal(err)
		}
		return env
	}
	ctx := context.Background()
	env := request(f.bank, now, func(*Manifest) {})
	got, err := g.ReBlindRequest(ctx, f.operatorKey, env, token)
	if err != nil {
		t.Fatalf("fresh request: %v", err)
	}
	want, _ := ReBlind(f.operatorKey, []Token{token})
	if got != want[0] {
		t.Errorf("re-blinded token differs from ReBlind's")
	}
	if _, err := g.ReBlindRequest(ctx, f.operatorKey, env, token); !errors.Is(err, ErrReplay) {
		t.Errorf("replayed request: %v, want ErrReplay", err)
	}
	for name, c := range map[string]struct {
		env   statement.Envelope
		token Token
		want  error
	}{
		"stale":          {request(f.bank, now.Add(-RequestWindow-time.Second), func(*Manifest) {}), token, ErrStale},
		"ahead":          {request(f.bank, now.Add(RequestWindow+time.Second), func(*Manifest) {}), token, ErrStale},
		"before start":   {request(f.bank, g.started.Add(-time.Second), func(*Manifest) {}), token, ErrStale},
		"other token":    {request(f.bank, now, func(*Manifest) {}), f.tokens[1], ErrSetMismatch},
		"own party":      {request(f.operator, now, func(m *Manifest) { m.Party = "operator" }), token, ErrOwnParty},
		"forged":         {request(f.insurer, now, func(*Manifest) {}), token, statement.ErrBadSignature},
		"other room":     {request(f.bank, now, func(m *Manifest) { m.Room = "r2" }), token, ErrWrongRoom},
		"dataset's kind": {f.env, token, ErrSetMismatch},
	} {
		if _, err := g.ReBlindRequest(ctx, f.operatorKey, c.env, c.token); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
	// A dataset's manifest of one token is refused as a request, and a
	// request's manifest on the dataset path.
	one, _ := f.sign(t, f.bank, func(m *Manifest) { m.Count, m.Digest = 1, DigestTokens(f.tokens[:1]) }, f.tokens[:1])
	if _, err := g.ReBlindRequest(ctx, f.operatorKey, one, token); !errors.Is(err, ErrRequestKind) {
		t.Errorf("dataset manifest as a request: %v, want ErrRequestKind", err)
	}
	if _, err := g.ReBlind(ctx, f.operatorKey, request(f.bank, now.Add(time.Second), func(*Manifest) {}), []Token{token}); !errors.Is(err, ErrRequestKind) {
		t.Errorf("request manifest as a dataset's set: %v, want ErrRequestKind", err)
	}
	// Request manifests leave no trace in the record file.
	if b, err := os.ReadFile(filepath.Join(f.dir, "reblinded-r1.json")); err == nil && len(b) > 0 {
		t.Errorf("record file written by requests: %s", b)
	}
}
