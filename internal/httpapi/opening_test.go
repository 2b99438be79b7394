package httpapi

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/keyfile"
	"github.com/cleanroom-dev/cleanroom/internal/release"
)

// openAsAgent plays a party's agent for the web UI until the test ends:
// it opens each copy handed to it with the party's agent key; tamper, if
// set, changes what it returns.
func (f *fixture) openAsAgent(party string, tamper ...func(*OpeningResult)) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	f.t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			for _, t := range f.srv.opening.take(ctx, "r1", party, time.Second) {
				j := t.job.(OpeningJob)
				var res OpeningResult
				pt, key, err := keyfile.OpenWithExporting(f.agentPrivs[party], cleanroom.ReleaseInfo(f.srv.ServerID(), "r1", j.Query, party), j.Sealed,
					[]byte(cleanroom.ResultDigestContext), 32)
				if err != nil {
					res.Refused = err.Error()
				} else {
					res.Release, res.DigestKey = pt, key
				}
				for _, f := range tamper {
					f(&res)
				}
				f.srv.opening.deliver("r1", party, t.id, scoringAnswer{opened: &res, refused: res.Refused})
			}
		}
	}()
}

// TestOpenedResult: a receiver reads a released result through its
// party's agent; the room checks the agent's copy against the digest it
// logged, and refuses parties and roles that do not see the result.
func TestOpenedResult(t *testing.T) {
	f := newFixture(t)
	f.queryReady("  receivers: [bank]\n")
	q := f.runQuery()
	f.openAsAgent("bank")
	status, resp := f.do("receiver", "GET", "/api/v1/rooms/r1/queries/"+q.ID+"/opened", nil)
	var rel release.Release
	if err := json.Unmarshal(resp, &rel); status != 200 || err != nil || len(rel.Metrics) == 0 {
		t.Fatalf("opened = %d %s", status, resp)
	}
	if e := f.lastAudit(); e.Action != cleanroom.ActionQueryShow || e.Object != "query:"+q.ID || e.Detail["opened_by"] != "bank agent" {
		t.Errorf("audit entry %+v", e)
	}
	for who, want := range map[string]int{"analyst": 403, "outsider": 404, "admin": 403} {
		if status, resp := f.do(who, "GET", "/api/v1/rooms/r1/queries/"+q.ID+"/opened", nil); status != want {
			t.Errorf("%s: %d %s, want %d", who, status, resp, want)
		}
	}

	// An agent that returns something else than the released copy.
	g := newFixture(t)
	g.queryReady("  receivers: [bank]\n")
	q = g.runQuery()
	g.openAsAgent("bank", func(r *OpeningResult) { r.Release = json.RawMessage(`{"cells":[]}`) })
	if status, resp := g.do("receiver", "GET", "/api/v1/rooms/r1/queries/"+q.ID+"/opened", nil); status != 409 || !strings.Contains(string(resp), "digest") {
		t.Errorf("a tampered copy: %d %s, want 409", status, resp)
	}

	// No agent answering.
	h := newFixture(t)
	h.queryReady("  receivers: [bank]\n")
	q = h.runQuery()
	defer func(d time.Duration) { openingTimeout = d }(openingTimeout)
	openingTimeout = 100 * time.Millisecond
	if status, resp := h.do("receiver", "GET", "/api/v1/rooms/r1/queries/"+q.ID+"/opened", nil); status != 503 || !strings.Contains(string(resp), "cleanroom agent") {
		t.Errorf("no agent: %d %s, want 503", status, resp)
	}
}
