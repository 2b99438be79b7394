package client

import (
	"context"
	"net/http"
	"net/http/httptest"

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
