package agent

import (
	"context"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/atomicfile"
	"github.com/cleanroom-dev/cleanroom/internal/blind"
	"github.com/cleanroom-dev/cleanroom/internal/client"
	"github.com/cleanroom-dev/cleanroom/internal/httpapi"
	"github.com/cleanroom-dev/cleanroom/internal/keyfile"
	"github.com/cleanroom-dev/cleanroom/internal/statement"
)

// In an hmac room (cleanroom.MatchingHMAC) the agent holds an X25519 key
// whose public half its party signs and publishes; the first agent to find
// the room without a secret generates one, signs a commitment to it and
// seals it to every published agent key, its own included; every agent
// opens its copy, checks it against the commitment signed by the creator's
// pinned key, and keeps it in its state directory; an agent holding the
// secret seals it to parties that publish their key later. The room stores
// and relays, and never holds the secret.

// ErrNoSecret is returned by LoadSecret when the agent does not hold the
// room's secret yet.
var ErrNoSecret = errors.New("this party's agent does not hold the room's hmac secret yet")

// ErrBadSecret is returned when a sealed secret does not open to the
// creator's commitment: the room, or someone, sent a secret of its own.
var ErrBadSecret = errors.New("the sealed hmac secret does not match its signed commitment")

func secretPath(stateDir, room string) string { return filepath.Join(stateDir, "hmac-"+room+".key") }
func agentKeyPath(stateDir, room string) string {
	return filepath.Join(stateDir, "agent-"+room+".key")
}

// LoadSecret returns the room's hmac secret the agent stored in stateDir.
func LoadSecret(stateDir, room string) ([]byte, error) {
	raw, err := os.ReadFile(secretPath(stateDir, room))
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNoSecret
	}
	if err != nil {
		return nil, fmt.Errorf("load hmac secret: %w", err)
	}
	k, err := hex.DecodeString(string(raw))
	if err != nil || len(k) != 32 {
		return nil, fmt.Errorf("load hmac secret: %s is corrupt", secretPath(stateDir, room))
	}
	return k, nil
}

func sealInfo(server, room, party string) []byte {
	return []byte("cleanroom hmac secret v1|" + server + "|" + room + "|" + party)
}

// commit returns the commitment to a secret.
func commit(secret []byte) string {
	h := sha256.New()
	h.Write([]byte("cleanroom hmac commitment v1\x00"))
	h.Write(secret)
	return hex.EncodeToString(h.Sum(nil))
}

// loadAgentKey loads the agent's X25519 key for room.
func loadAgentKey(stateDir, room string) (*ecdh.PrivateKey, error) {
	k, err := agentKey(stateDir, room, false)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("no agent key for room %s in %s: run `cleanroom agent --room %s --once` with this state directory", room, stateDir, room)
	}
	return k, err
}

// agentKey loads the agent's X25519 key for room, creating it if create.
func agentKey(stateDir, room string, create bool) (*ecdh.PrivateKey, error) {
	path := agentKeyPath(stateDir, room)
	raw, err := os.ReadFile(path)
	if err == nil {
		b, _ := pem.Decode(raw)
		if b == nil {
			return nil, fmt.Errorf("agent key %s is corrupt", path)
		}
		k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("agent key %s: %w", path, err)
		}
		priv, ok := k.(*ecdh.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("agent key %s is not an X25519 key", path)
		}
		return priv, nil
	}
	if !errors.Is(err, os.ErrNotExist) || !create {
		return nil, err
	}
	priv, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	if err := atomicfile.Write(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return nil, err
	}
	return priv, nil
}

// publishKey makes sure the room holds the agent's current key statement.
func (a *Agent) publishKey(ctx context.Context) error {
	list, err := a.c.ListAgentKeys(ctx, a.room)
	if err != nil {
		return err
	}
	if env, ok := list.Keys[a.party]; ok {
		var k cleanroom.AgentKey
		if statement.Verify(a.keys.Public(), env, &k) == nil && string(k.HPKEKey) == string(a.hpke.PublicKey().Bytes()) {
			return nil
		}
	}
	env, err := statement.Sign(a.keys.Signing, cleanroom.AgentKey{Type: cleanroom.AgentKeyType, Server: a.server, Room: a.room,
		Party: a.party, HPKEKey: a.hpke.PublicKey().Bytes(), IssuedAt: time.Now().UTC()})
	if err != nil {
		return err
	}
	return a.c.PutAgentKey(ctx, a.room, env)
}

// verifiedAgentKeys returns the agent keys whose statements verify with
// the pinned (or own) party keys and name this room and server.
func (a *Agent) verifiedAgentKeys(ctx context.Context) (map[string][]byte, error) {
	list, err := a.c.ListAgentKeys(ctx, a.room)
	if err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	for party, env := range list.Keys {
		pub := a.partyKey(party)
		if pub == nil {
			a.log.Warn("agent key of an unknown party", "party", party)
			continue
		}
		var k cleanroom.AgentKey
		if err := statement.Verify(pub, env, &k); err != nil || k.Validate() != nil || k.Party != party || k.Room != a.room || k.Server != a.server {
			a.log.Warn("agent key statement refused", "party", party, "err", err)
			continue
		}
		out[party] = k.HPKEKey
	}
	return out, nil
}

func (a *Agent) partyKey(party string) ed25519.PublicKey {
	if party == a.party {
		return a.keys.Public()
	}
	return a.peers[party]
}

// syncSecret creates, receives or passes on the room's hmac secret.
func (a *Agent) syncSecret(ctx context.Context) error {
	keys, err := a.verifiedAgentKeys(ctx)
	if err != nil {
		return err
	}
	st, err := a.c.GetHMAC(ctx, a.room)
	if err != nil {
		return err
	}
	secret, err := LoadSecret(a.state, a.room)
	if err != nil && !errors.Is(err, ErrNoSecret) {
		return err
	}
	if st.Commitment == nil {
		if secret == nil {
			secret = make([]byte, 32)
			rand.Read(secret)
		}
		env, err := statement.Sign(a.keys.Signing, cleanroom.SecretCommitment{Type: cleanroom.SecretCommitmentType, Server: a.server,
			Room: a.room, Creator: a.party, Commitment: commit(secret), IssuedAt: time.Now().UTC()})
		if err != nil {
			return err
		}
		sealed, err := a.sealTo(secret, keys, nil)
		if err != nil {
			return err
		}
		if err := a.c.PutHMAC(ctx, a.room, httpapi.HMACRequest{Commitment: &env, Sealed: sealed}); err != nil {
			var apiErr *client.APIError
			if errors.As(err, &apiErr) && apiErr.Code == cleanroom.EConflict {
				return a.syncSecret(ctx) // another agent created it first
			}
			return err
		}
		a.log.Info("created the room's hmac secret", "sealed_to", len(sealed))
		return a.saveSecret(secret)
	}
	var sc cleanroom.SecretCommitment
	creatorKey := a.partyKey(creatorOf(st.Commitment.Statement))
	if creatorKey == nil {
		return fmt.Errorf("the room's secret commitment is by a party this agent does not know")
	}
	if err := statement.Verify(creatorKey, *st.Commitment, &sc); err != nil || sc.Validate() != nil || sc.Room != a.room || sc.Server != a.server {
		return fmt.Errorf("the room's secret commitment does not verify: %v", err)
	}
	if secret == nil {
		if st.Sealed == nil {
			a.log.Info("waiting for the room's hmac secret to be sealed to this agent")
			return nil
		}
		got, err := keyfile.OpenWith(a.hpke, sealInfo(a.server, a.room, a.party), st.Sealed)
		if err != nil || commit(got) != sc.Commitment {
			return ErrBadSecret
		}
		secret = got
		if err := a.saveSecret(secret); err != nil {
			return err
		}
		a.log.Info("received the room's hmac secret", "creator", sc.Creator)
	} else if commit(secret) != sc.Commitment {
		return ErrBadSecret
	}
	sealed, err := a.sealTo(secret, keys, st.SealedTo)
	if err != nil || len(sealed) == 0 {
		return err
	}
	if err := a.c.PutHMAC(ctx, a.room, httpapi.HMACRequest{Sealed: sealed}); err != nil {
		return err
	}
	a.log.Info("sealed the room's hmac secret to new parties", "parties", len(sealed))
	return nil
}

func creatorOf(stmt []byte) string {
	var c struct {
		Creator string `json:"creator"`
	}
	jsonUnmarshal(stmt, &c)
	return c.Creator
}

// sealTo seals the secret to every verified agent key of a party not in
// done.
func (a *Agent) sealTo(secret []byte, keys map[string][]byte, done []string) (map[string][]byte, error) {
	skip := map[string]bool{}
	for _, p := range done {
		skip[p] = true
	}
	out := map[string][]byte{}
	for party, pub := range keys {
		if skip[party] {
			continue
		}
		ct, err := keyfile.SealTo(pub, sealInfo(a.server, a.room, party), secret)
		if err != nil {
			return nil, err
		}
		out[party] = ct
	}
	return out, nil
}

func (a *Agent) saveSecret(secret []byte) error {
	return atomicfile.Write(secretPath(a.state, a.room), []byte(hex.EncodeToString(secret)), 0o600)
}

// refreshPeers pins the keys of parties the agent has not seen yet, and
// refuses a changed key of one it has; parties its own party has since
// agreed to work with (agreedPeers) become peers.
func (a *Agent) refreshPeers(ctx context.Context) error {
	parties, err := a.c.ListParties(ctx)
	if err != nil {
		return err
	}
	peers := map[string]ed25519.PublicKey{}
	for _, p := range parties.Parties {
		if p.Name != a.party {
			peers[p.Name] = p.SigningKey
		}
	}
	if err := pin(filepath.Join(a.state, "peers-"+a.room+".json"), peers); err != nil {
		return err
	}
	agreed, err := agreedPeers(ctx, a.c, a.server, a.room, a.party, a.keys.Public())
	if err != nil {
		return err
	}
	changed := false
	for name, key := range onlyAgreed(peers, agreed) {
		if _, ok := a.peers[name]; !ok {
			a.peers[name] = key
			changed = true
		}
	}
	if changed {
		// The Guard re-blinds only for the peers it was made with.
		g, err := blind.NewGuard(a.state, a.party, a.room, a.server, a.peers)
		if err != nil {
			return err
		}
		a.mu.Lock()
		a.guard = g
		a.mu.Unlock()
	}
	return nil
}

// OpenRelease opens a query result the room sealed to this party's agent
// key in room, with the agent's key from stateDir. It also returns the
// result's digest (cleanroom.ResultDigest), to compare with the one the
// room's audit log shows for this party.
func OpenRelease(stateDir, server, room, query, party string, sealed []byte) (plaintext []byte, digest string, err error) {
	priv, err := loadAgentKey(stateDir, room)
	if err != nil {
		return nil, "", err
	}
	pt, key, err := keyfile.OpenWithExporting(priv, cleanroom.ReleaseInfo(server, room, query, party), sealed, []byte(cleanroom.ResultDigestContext), 32)
	if err != nil {
		return nil, "", err
	}
	return pt, cleanroom.ResultDigest(key, pt), nil
}
