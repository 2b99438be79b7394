package client

import (
	"context"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"time"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/httpapi"
	"github.com/cleanroom-dev/cleanroom/internal/keyfile"
	"github.com/cleanroom-dev/cleanroom/internal/statement"
)

// CreatePartyToken mints a token for one of a party's users at a request
// the party signs with signing (POST /api/v1/tokens with a
// cleanroom.TokenRequest): the token carries the user's grants, and its
// secret comes back sealed to a key made here for this request, so
// whoever relays the request — the platform admin, typically, whose token
// c may hold — never sees it. The returned TokenCreated holds the opened
// secret.
func (c *Client) CreatePartyToken(ctx context.Context, req httpapi.CreateTokenRequest, signing ed25519.PrivateKey) (*httpapi.TokenCreated, error) {
	info, err := c.ServerInfo(ctx)
	if err != nil {
		return nil, err
	}
	priv, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	env, err := statement.Sign(signing, cleanroom.TokenRequest{Type: cleanroom.TokenRequestType, Server: info.ServerID,
		Party: req.Party, User: req.User, SealTo: priv.PublicKey().Bytes(), IssuedAt: time.Now().UTC()})
	if err != nil {
		return nil, err
	}
	req.Request = &env
	t, err := c.CreateToken(ctx, req)
	if err != nil {
		return nil, err
	}
	secret, err := keyfile.OpenWith(priv, cleanroom.TokenSealInfo(info.ServerID, req.Party, req.User), t.SealedSecret)
	if err != nil || !cleanroom.LooksLikeToken(string(secret)) {
		return nil, fmt.Errorf("create token for %s/%s: the sealed secret does not open with this request's key", req.Party, req.User)
	}
	t.Secret, t.SealedSecret = string(secret), nil
	return t, nil
}
