// Package agent is a party's long-running agent: it takes the re-blinding
// jobs the room gives the party during matching, re-blinds each token set
// with the party's per-room key only when a blind.Guard accepts it (a
// manifest signed by the peer for exactly this set, room and server, used
// once), and returns the result.
//
// Peers' public keys are pinned on first use in the agent's state
// directory: a room server that later presents another key for a party is
// refused, so a host cannot sign manifests in a peer's name. And a party
// counts as a peer only once a data-use agreement of the room that names
// it carries the agent's own party's signature, so a party the host or
// the platform admin invites on its own is no peer.
package agent

import (
	"context"
	"crypto/ecdh"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/gtank/ristretto255"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/blind"
	"github.com/cleanroom-dev/cleanroom/internal/client"
	"github.com/cleanroom-dev/cleanroom/internal/httpapi"
	"github.com/cleanroom-dev/cleanroom/internal/keyfile"
)

// Agent serves one party's re-blinding jobs in one room. Its methods are
// not safe for concurrent use, except that ServeScoring runs beside the
// others (Run starts it).
type Agent struct {
	c      *client.Client
	server string
	room   string
	state  string
	peers  map[string]ed25519.PublicKey
	// hmac is set in an hmac room, with the agent's X25519 key.
	hmac  bool
	hpke  *ecdh.PrivateKey
	party string
	keys  *keyfile.PartyKeys
	log   *slog.Logger

	mu    sync.Mutex // guards guard, which refreshPeers replaces
	guard *blind.Guard

	// NoUIResults stops Run from opening the party's results for its users
	// in the room's web UI (ServeOpening).
	NoUIResults bool
	// Approvals, when set, has Run sign the approvals its listed users
	// make in the web UI (ServeApprovals).
	Approvals *Approvals
}

func (a *Agent) currentGuard() *blind.Guard {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.guard
}

// ErrPeerKeyChanged is returned when the server presents a key for a peer
// other than the one pinned.
var ErrPeerKeyChanged = errors.New("a peer's signing key differs from the one pinned")

// New prepares the agent of the caller's party in room. stateDir keeps the
// pinned peer keys and the record of manifests already re-blinded.
func New(ctx context.Context, c *client.Client, room string, keys *keyfile.PartyKeys, stateDir string, log *slog.Logger) (*Agent, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	info, err := c.ServerInfo(ctx)
	if err != nil {
		return nil, err
	}
	who, err := c.Whoami(ctx)
	if err != nil {
		return nil, err
	}
	if who.Kind != "user" {
		return nil, fmt.Errorf("agent: the token is not a party user's")
	}
	parties, err := c.ListParties(ctx)
	if err != nil {
		return nil, err
	}
	var self ed25519.PublicKey
	peers := map[string]ed25519.PublicKey{}
	for _, p := range parties.Parties {
		if p.Name == who.Party {
			self = p.SigningKey
			continue
		}
		peers[p.Name] = p.SigningKey
	}
	if !self.Equal(keys.Public()) {
		return nil, fmt.Errorf("agent: the keys given are not those registered for party %q (fingerprint %s, registered %s)",
			who.Party, keys.Fingerprint(), cleanroom.KeyFingerprint(self))
	}
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	if err := pin(filepath.Join(stateDir, "peers-"+room+".json"), peers); err != nil {
		return nil, err
	}
	agreed, err := agreedPeers(ctx, c, info.ServerID, room, who.Party, keys.Public())
	if err != nil {
		return nil, err
	}
	peers = onlyAgreed(peers, agreed)
	g, err := blind.NewGuard(stateDir, who.Party, room, info.ServerID, peers)
	if err != nil {
		return nil, err
	}
	a := &Agent{c: c, server: info.ServerID, room: room, state: stateDir, peers: peers, party: who.Party, keys: keys, guard: g,
		log: log.With("room", room, "party", who.Party)}
	r, err := c.ShowRoom(ctx, room)
	if err != nil {
		return nil, err
	}
	// The agent's X25519 key receives results sealed to the party, and in
	// an hmac room the room's secret.
	a.hmac = r.Matching == cleanroom.MatchingHMAC
	if a.hpke, err = agentKey(stateDir, room, true); err != nil {
		return nil, err
	}
	if err := a.publishKey(ctx); err != nil {
		return nil, err
	}
	return a, nil
}

// pin checks peers against the keys pinned in path, and pins new peers.
func pin(path string, peers map[string]ed25519.PublicKey) error {
	pinned := map[string]ed25519.PublicKey{}
	raw, err := os.ReadFile(path)
	switch {
	case err == nil:
		if err := json.Unmarshal(raw, &pinned); err != nil {
			return fmt.Errorf("agent: %s: %w", path, err)
		}
	case !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("agent: %w", err)
	}
	changed := false
	for name, key := range peers {
		old, ok := pinned[name]
		if ok && !old.Equal(key) {
			return fmt.Errorf("agent: %w: party %q was %s, the server now says %s (pinned in %s)", ErrPeerKeyChanged,
				name, cleanroom.KeyFingerprint(old), cleanroom.KeyFingerprint(key), path)
		}
		if !ok {
			pinned[name] = key
			changed = true
		}
	}
	if !changed {
		return nil
	}
	out, err := json.MarshalIndent(pinned, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, out, 0o600); err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	return os.Rename(tmp, path)
}

// RunOnce does every job pending now and returns how many it did. A job
// the Guard refuses is logged and skipped: it stays pending, and the room
// sees that the party's agent will not do it.
func (a *Agent) RunOnce(ctx context.Context) (int, error) {
	// Parties invited since the agent started are pinned now.
	if err := a.refreshPeers(ctx); err != nil {
		return 0, err
	}
	if a.hmac {
		if err := a.syncSecret(ctx); err != nil {
			return 0, err
		}
	}
	jobs, err := a.c.ListJobs(ctx, a.room)
	if err != nil {
		return 0, err
	}
	done := 0
	key := keyfile.RoomKey(a.keys.Blinding, cleanroom.RoomID(a.server, a.room))
	for _, js := range jobs.Jobs {
		if err := a.do(ctx, js, key); err != nil {
			if ctx.Err() != nil {
				return done, ctx.Err()
			}
			a.log.Warn("job refused", "job", js.ID, "dataset", js.Dataset, "class", js.Class, "err", err)
			continue
		}
		done++
		a.log.Info("job done", "job", js.ID, "dataset", js.Dataset, "class", js.Class)
	}
	return done, nil
}

func (a *Agent) do(ctx context.Context, js httpapi.JobSummary, key *ristretto255.Scalar) error {
	job, err := a.c.GetJob(ctx, a.room, js.ID)
	if err != nil {
		return err
	}
	tokens := make([]blind.Token, len(job.Tokens))
	for i, s := range job.Tokens {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil || len(b) != len(tokens[i]) {
			return fmt.Errorf("job %s: token %d is not 32 bytes of base64", js.ID, i+1)
		}
		copy(tokens[i][:], b)
	}
	g := a.currentGuard()
	out, err := g.ReBlind(ctx, key, job.Manifest, tokens)
	if errors.Is(err, blind.ErrReplay) {
		// The room asks again for a set this agent re-blinded: it stopped
		// before it recorded the result. It gets the same tokens again.
		if held, rerr := g.Resend(job.Manifest, tokens); rerr == nil {
			out, err = held, nil
		}
	}
	if err != nil {
		return err
	}
	res := httpapi.JobResult{Tokens: make([]string, len(out))}
	for i, t := range out {
		res.Tokens[i] = base64.StdEncoding.EncodeToString(t[:])
	}
	if _, err := a.c.PostResult(ctx, a.room, js.ID, res); err != nil {
		return err
	}
	if err := g.Delivered(job.Manifest); err != nil {
		a.log.Warn("dropping a delivered result", "job", js.ID, "err", err)
	}
	return nil
}

// Run does jobs until ctx is done, looking for new ones every poll, and
// answers online scoring requests (ServeScoring) and requests to open the
// party's results for its users in the web UI (ServeOpening) as they come.
func (a *Agent) Run(ctx context.Context, poll time.Duration) error {
	var wg sync.WaitGroup
	wg.Go(func() { a.ServeScoring(ctx) })
	if !a.NoUIResults {
		wg.Go(func() { a.ServeOpening(ctx) })
	}
	if a.Approvals != nil {
		wg.Go(func() { a.ServeApprovals(ctx) })
	}
	defer wg.Wait()
	for {
		if _, err := a.RunOnce(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			a.log.Warn("polling the room", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(poll):
		}
	}
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
