package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/httpapi"
)

// SetTerms sets a room's commercial terms, as a new version in effect from
// now (PUT /api/v1/rooms/{room}/terms; the platform admin only).
func (c *Client) SetTerms(ctx context.Context, room string, req httpapi.TermsRequest) (*httpapi.TermsBody, error) {
	return send[httpapi.TermsBody](ctx, c, http.MethodPut, roomPath(room)+"/terms", req)
}

// Terms returns a room's commercial terms: the version in effect and every
// version.
func (c *Client) Terms(ctx context.Context, room string) (*httpapi.TermsBody, error) {
	return get[httpapi.TermsBody](ctx, c, roomPath(room)+"/terms")
}

// LedgerPage returns one page of quarter q's billing ledger over the rooms
// the caller may see: run entries after seq after (at most limit; 0 for
// the server's default), the quarter's subscriptions and each room's
// revenue.
func (c *Client) LedgerPage(ctx context.Context, q cleanroom.Quarter, after int64, limit int) (*httpapi.LedgerBody, error) {
	v := url.Values{"quarter": {q.String()}}
	if after > 0 {
		v.Set("after", strconv.FormatInt(after, 10))
	}
	if limit > 0 {
		v.Set("limit", strconv.Itoa(limit))
	}
	return get[httpapi.LedgerBody](ctx, c, "/api/v1/billing/ledger?"+v.Encode())
}

// Ledger returns the whole of quarter q's billing ledger over the rooms
// the caller may see, every page read: its Entries are all the run
// entries, in the order they were recorded.
func (c *Client) Ledger(ctx context.Context, q cleanroom.Quarter) (*httpapi.LedgerBody, error) {
	first, err := c.LedgerPage(ctx, q, 0, 0)
	if err != nil {
		return nil, err
	}
	for next := first.Next; next != 0; {
		p, err := c.LedgerPage(ctx, q, next, 0)
		if err != nil {
			return nil, err
		}
		first.Entries = append(first.Entries, p.Entries...)
		next = p.Next
	}
	first.Next = 0
	return first, nil
}

// Dashboard returns the business view of quarter q (GET /api/v1/dashboard).
func (c *Client) Dashboard(ctx context.Context, q cleanroom.Quarter) (*cleanroom.Dashboard, error) {
	return get[cleanroom.Dashboard](ctx, c, "/api/v1/dashboard?quarter="+url.QueryEscape(q.String()))
}
