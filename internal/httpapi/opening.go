package httpapi

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"time"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/sqlite"
)

// Opening results for the web UI. A result is sealed to its party's agent
// key and the room keeps no readable copy; a user who reads it in the
// browser asks the room, which hands the sealed copy to the party's agent
// (a long poll, like scoring requests); the agent opens it, if its party
// lets it, and returns the plaintext with the digest key the copy exports,
// with which the room recomputes the digest it logged when it released the
// result: a copy that is not the released one is refused. The room shows the result and keeps nothing: it
// computed the result, so it learns nothing it did not know.

// openingTimeout bounds how long a page waits for the party's agent.
var openingTimeout = 10 * time.Second

// OpeningJob is a sealed result for an agent to open.
type OpeningJob struct {
	ID     string `json:"id"`
	Query  string `json:"query"`
	Party  string `json:"party"`
	Sealed []byte `json:"sealed"`
}

// OpeningJobs are the results an agent takes in one poll.
type OpeningJobs struct {
	Jobs []OpeningJob `json:"jobs"`
}

// OpeningResult is an agent's answer: the opened result and the digest
// key its party's copy exports (cleanroom.ResultDigestContext), with which
// the room recomputes the digest it logged at release; or why it refused.
type OpeningResult struct {
	Release   json.RawMessage `json:"release,omitempty"`
	DigestKey []byte          `json:"digest_key,omitempty"`
	Refused   string          `json:"refused,omitempty"`
}

func (s *Server) openingRoutes() []Route {
	return []Route{
		{Method: "GET", Pattern: "/api/v1/rooms/{room}/queries/{query}/opened", Action: cleanroom.ActionQueryShow, Discloses: true,
			prepare: s.prepareOpened, handle: s.opened},
		{Method: "GET", Pattern: "/api/v1/rooms/{room}/agent/opening", Action: cleanroom.ActionAgentKey,
			prepare: s.takeOpening, handle: s.listOpening},
		{Method: "POST", Pattern: "/api/v1/rooms/{room}/agent/opening/{request}", Action: cleanroom.ActionAgentKey,
			MaxBody: maxResultBody, decode: decodeInto(func(c *call, v *OpeningResult) error { c.body = v; return nil }), handle: s.openingResult},
	}
}

// prepareOpened has the caller's party's agent open the caller's party's
// copy of a result the caller may see.
func (s *Server) prepareOpened(c *call) error {
	ctx := c.r.Context()
	room, id := c.target.Room, c.r.PathValue("query")
	var sealed []byte
	var digest string
	if err := s.db.View(ctx, func(tx *sqlite.Tx) error {
		q, err := tx.Query(room, id)
		if err != nil {
			return err
		}
		if !cleanroom.SeeResult(c.p, room, q.State, q.Receivers, q.ReviewBy) {
			return cleanroom.Errorf(cleanroom.EForbidden, "party %q's user %q does not receive or review the result of query %s (it is %s)", c.p.Party, c.p.User, id, q.State)
		}
		if sealed, err = tx.SealedResult(room, id, c.p.Party); err != nil {
			return err
		}
		digest, err = releaseDigest(tx, room, id, c.p.Party)
		return err
	}); err != nil {
		return err
	}
	t := &scoringTask{room: room, party: c.p.Party, id: rand.Text(), result: make(chan scoringAnswer, 1)}
	t.job = OpeningJob{ID: t.id, Query: id, Party: c.p.Party, Sealed: sealed}
	if err := s.opening.push(t); err != nil {
		return err
	}
	defer s.opening.drop(t)
	timer := time.NewTimer(openingTimeout)
	defer timer.Stop()
	select {
	case ans := <-t.result:
		if ans.refused != "" {
			return cleanroom.Errorf(cleanroom.EForbidden, "party %q's agent did not open the result: %s", c.p.Party, ans.refused)
		}
		got := cleanroom.ResultDigest(ans.opened.DigestKey, ans.opened.Release)
		if digest == "" || subtle.ConstantTimeCompare([]byte(got), []byte(digest)) != 1 {
			return cleanroom.Errorf(cleanroom.EConflict, "the result party %q's agent opened is not the one the room released (its digest differs from the log's)", c.p.Party)
		}
		c.body = ans.opened.Release
	case <-timer.C:
		return cleanroom.Errorf(cleanroom.EUnavailable, "party %q's agent did not open the result within %s", c.p.Party, openingTimeout).
			WithHint("results are sealed to your party's agent key: your party runs `cleanroom agent --room %s`", room)
	case <-ctx.Done():
		return ctx.Err()
	}
	c.object = "query:" + id
	c.detail["opened_by"] = c.p.Party + " agent"
	return nil
}

// releaseDigest is the result digest of a party's copy the room logged at
// release.
func releaseDigest(tx *sqlite.Tx, room, id, party string) (string, error) {
	entries, err := tx.AuditOf(room, "query:"+id, cleanroom.ActionQueryRun)
	if err != nil {
		return "", err
	}
	for _, e := range entries {
		if d := e.Detail["digest."+party]; d != "" && e.Outcome == cleanroom.OutcomeOK {
			return d, nil
		}
	}
	return "", nil
}

func (s *Server) opened(c *call) (int, any, error) { return http.StatusOK, c.body, nil }

func (s *Server) takeOpening(c *call) error {
	tasks, err := takeTasks(s.opening, c)
	if err != nil {
		return err
	}
	out := OpeningJobs{Jobs: make([]OpeningJob, len(tasks))}
	for i, t := range tasks {
		out.Jobs[i] = t.job.(OpeningJob)
	}
	c.body = out
	return nil
}

func (s *Server) listOpening(c *call) (int, any, error) { return http.StatusOK, c.body, nil }

func (s *Server) openingResult(c *call) (int, any, error) {
	res := c.body.(*OpeningResult)
	ans := scoringAnswer{opened: res}
	if res.Refused != "" {
		if len(res.Refused) > 500 {
			res.Refused = res.Refused[:500]
		}
		ans.refused = res.Refused
	} else if !json.Valid(res.Release) || len(res.DigestKey) != 32 {
		return 0, nil, cleanroom.Errorf(cleanroom.EInvalid, "an opened result needs the release (JSON) and its 32-byte digest key")
	}
	if err := s.opening.deliver(c.target.Room, c.p.Party, c.r.PathValue("request"), ans); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, struct{}{}, nil
}
