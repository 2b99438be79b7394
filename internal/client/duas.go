package client

import (
	"context"
	"net/http"
	"strconv"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/httpapi"
	"github.com/cleanroom-dev/cleanroom/internal/statement"
)

// DraftDUA drafts a data-use agreement; the server sets its version.
func (c *Client) DraftDUA(ctx context.Context, room string, d *cleanroom.DUA) (*httpapi.DUABody, error) {
	return send[httpapi.DUABody](ctx, c, http.MethodPost, roomPath(room)+"/duas", d)
}

// ListDUAs lists a room's agreements, oldest first.
func (c *Client) ListDUAs(ctx context.Context, room string) (*httpapi.DUAList, error) {
	return get[httpapi.DUAList](ctx, c, roomPath(room)+"/duas")
}

// ShowDUA returns one agreement version.
func (c *Client) ShowDUA(ctx context.Context, room string, version int) (*httpapi.DUABody, error) {
	return get[httpapi.DUABody](ctx, c, roomPath(room)+"/duas/"+strconv.Itoa(version))
}

// SignDUA submits the caller's party's signature of an agreement version.
func (c *Client) SignDUA(ctx context.Context, room string, version int, sig []byte) (*httpapi.DUABody, error) {
	return send[httpapi.DUABody](ctx, c, http.MethodPost, roomPath(room)+"/duas/"+strconv.Itoa(version)+"/signatures", httpapi.DUASignRequest{Signature: sig})
}

// TerminateDUA submits a party's signed termination.
func (c *Client) TerminateDUA(ctx context.Context, room string, version int, env statement.Envelope) (*httpapi.DUABody, error) {
	return send[httpapi.DUABody](ctx, c, http.MethodPost, roomPath(room)+"/duas/"+strconv.Itoa(version)+"/termination", env)
}
