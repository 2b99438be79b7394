package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"time"

	"github.com/cleanroom-dev/cleanroom/internal/httpapi"
)

// NewInProcess returns a client that calls the API handler h in this
// process, with token: the web UI calls the API this way as the signed-in
// user, so every page is authorised, audited and scoped exactly as the
// API is.
func NewInProcess(h http.Handler, token string) *Client {
	return &Client{base: "http://in-process", token: token, hc: &http.Client{
		Transport:     handlerTransport{h},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, r)
	res := rec.Result()
	res.Request = r
	return res, nil
}

// ListMatches returns a room's match runs, newest first, each with the
// caller's party's part of its report.
func (c *Client) ListMatches(ctx context.Context, room string) (*httpapi.MatchRunList, error) {
	return get[httpapi.MatchRunList](ctx, c, roomPath(room)+"/matches")
}

// OpenedResult asks the caller's party's agent, through the room, to open
// the caller's party's copy of a result, and returns the release.
func (c *Client) OpenedResult(ctx context.Context, room, query string) (json.RawMessage, error) {
	var out json.RawMessage
	if err := c.do(ctx, http.MethodGet, roomPath(room)+"/queries/"+seg(query)+"/opened", nil, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// TakeOpening waits up to wait for results the caller's party's users
// want opened, and takes them.
func (c *Client) TakeOpening(ctx context.Context, room string, wait time.Duration) (*httpapi.OpeningJobs, error) {
	return get[httpapi.OpeningJobs](ctx, c, roomPath(room)+"/agent/opening?wait="+url.QueryEscape(wait.String()))
}

// PostOpened returns an opened result (or a refusal).
func (c *Client) PostOpened(ctx context.Context, room, id string, res httpapi.OpeningResult) error {
	return c.do(ctx, http.MethodPost, roomPath(room)+"/agent/opening/"+seg(id), res, nil)
}

// Approve hands a browser approval to the caller's party's agent through
// the room and waits for its answer.
func (c *Client) Approve(ctx context.Context, room string, req httpapi.ApprovalRequest) (*httpapi.ApprovalAnswer, error) {
	return send[httpapi.ApprovalAnswer](ctx, c, http.MethodPost, roomPath(room)+"/approvals", req)
}

// TakeApprovals waits up to wait for browser approvals for the caller's
// party's agent, and takes them.
func (c *Client) TakeApprovals(ctx context.Context, room string, wait time.Duration) (*httpapi.ApprovalJobs, error) {
	return get[httpapi.ApprovalJobs](ctx, c, roomPath(room)+"/agent/approvals?wait="+url.QueryEscape(wait.String()))
}

// AnswerApproval answers a browser approval.
func (c *Client) AnswerApproval(ctx context.Context, room, id string, a httpapi.ApprovalAnswer) error {
	return c.do(ctx, http.MethodPost, roomPath(room)+"/agent/approvals/"+seg(id), a, nil)
}
