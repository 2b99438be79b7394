package agent

import (
	"context"
	"crypto/ed25519"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/client"
	"github.com/cleanroom-dev/cleanroom/internal/statement"
)

// agreedPeers returns the parties the agent's own party, self, agreed to
// work with in room: those named by a data-use agreement of the room on
// this server that self signed — its signature checked here, with its own
// key. The room server's word is not enough: its host or platform admin
// can register a party of its own and invite it, and the agent must
// neither re-blind that party's token sets (which would make it an
// oracle for identifiers of the host's choosing) nor seal the room's hmac
// secret to it, nor take a secret it created.
func agreedPeers(ctx context.Context, c *client.Client, server, room, self string, own ed25519.PublicKey) (map[string]bool, error) {
	list, err := c.ListDUAs(ctx, room)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, b := range list.Agreements {
		for _, s := range b.Signatures {
			if s.Party != self {
				continue
			}
			var d cleanroom.DUA
			if statement.Verify(own, statement.Envelope{Statement: b.Document, Signature: s.Signature}, &d) != nil ||
				d.Server != server || d.Room != room {
				continue
			}
			for _, p := range d.PartyNames() {
				if p != self {
					out[p] = true
				}
			}
		}
	}
	return out, nil
}

// onlyAgreed returns the peers whose names agreed holds.
func onlyAgreed(peers map[string]ed25519.PublicKey, agreed map[string]bool) map[string]ed25519.PublicKey {
	out := map[string]ed25519.PublicKey{}
	for name, key := range peers {
		if agreed[name] {
			out[name] = key
		}
	}
	return out
}
