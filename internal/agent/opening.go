package agent

import (
	"context"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/httpapi"
	"github.com/cleanroom-dev/cleanroom/internal/keyfile"
)

// ServeOpening opens, until ctx is done, the results the party's users ask
// to read in the room's web UI: the room hands over the party's sealed
// copy, the agent opens it with its key and returns the plaintext with its
// digest (which the room checks against the one it logged). The room
// computed the result, so this tells it nothing new; it keeps nothing.
// Run starts it unless the agent's OpenForUI is false.
func (a *Agent) ServeOpening(ctx context.Context) error {
	take := func(ctx context.Context) ([]httpapi.OpeningJob, error) {
		jobs, err := a.c.TakeOpening(ctx, a.room, scoringPoll)
		if err != nil {
			return nil, err
		}
		return jobs.Jobs, nil
	}
	longPoll(ctx, a, "results to open", take, func(j httpapi.OpeningJob) {
		var res httpapi.OpeningResult
		plain, key, err := a.openWithKey(j.Query, j.Sealed)
		if err != nil || j.Party != a.party {
			res.Refused = "the agent cannot open this copy"
			a.log.Warn("result not opened", "query", j.Query, "err", err)
		} else {
			res.Release, res.DigestKey = plain, key
		}
		if err := a.c.PostOpened(ctx, a.room, j.ID, res); err != nil && ctx.Err() == nil {
			a.log.Warn("returning an opened result", "query", j.Query, "err", err)
		}
	})
	return nil
}

// openWithKey opens the party's copy of a result and returns the digest
// key it exports.
func (a *Agent) openWithKey(query string, sealed []byte) ([]byte, []byte, error) {
	priv, err := loadAgentKey(a.state, a.room)
	if err != nil {
		return nil, nil, err
	}
	return keyfile.OpenWithExporting(priv, cleanroom.ReleaseInfo(a.server, a.room, query, a.party), sealed, []byte(cleanroom.ResultDigestContext), 32)
}
