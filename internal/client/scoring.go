package client

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/cleanroom-dev/cleanroom/internal/httpapi"
)

// Score asks the room for one applicant's score.
func (c *Client) Score(ctx context.Context, room string, req httpapi.ScoreRequest) (*httpapi.ScoreBody, error) {
	return send[httpapi.ScoreBody](ctx, c, http.MethodPost, roomPath(room)+"/scores", req)
}

// TakeScoring waits up to wait for online scoring requests for the
// caller's party's agent to re-blind, and takes them.
func (c *Client) TakeScoring(ctx context.Context, room string, wait time.Duration) (*httpapi.ScoringJobs, error) {
	return get[httpapi.ScoringJobs](ctx, c, roomPath(room)+"/agent/scoring?wait="+url.QueryEscape(wait.String()))
}

// PostScoringResult returns a scoring request's re-blinded token.
func (c *Client) PostScoringResult(ctx context.Context, room, id string, res httpapi.ScoringResult) error {
	return c.do(ctx, http.MethodPost, roomPath(room)+"/agent/scoring/"+seg(id), res, nil)
}
