package agent

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/blind"
	"github.com/cleanroom-dev/cleanroom/internal/httpapi"
	"github.com/cleanroom-dev/cleanroom/internal/keyfile"
	"github.com/cleanroom-dev/cleanroom/internal/normalize"
	"github.com/cleanroom-dev/cleanroom/internal/statement"
)

// scoringPoll is how long one long poll for scoring requests waits.
const scoringPoll = 25 * time.Second

// scoringWorkers bounds the requests an agent answers at once.
const scoringWorkers = 8

// ServeScoring answers the room's online scoring requests until ctx is
// done: it long-polls the room, re-blinds each request's one token with the
// party's room key only if the Guard accepts its request manifest (signed
// by a peer for exactly this token, room and server, fresh, used once),
// and returns it. A refused request is answered with the refusal, so the
// requester learns at once why; the token is not re-blinded.
func (a *Agent) ServeScoring(ctx context.Context) error {
	sem := make(chan struct{}, scoringWorkers)
	var wg sync.WaitGroup
	defer wg.Wait()
	take := func(ctx context.Context) ([]httpapi.ScoringJob, error) {
		jobs, err := a.c.TakeScoring(ctx, a.room, scoringPoll)
		if err != nil {
			return nil, err
		}
		return jobs.Jobs, nil
	}
	longPoll(ctx, a, "scoring requests", take, func(j httpapi.ScoringJob) {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := a.answer(ctx, j); err != nil && ctx.Err() == nil {
				a.log.Warn("scoring request", "request", j.ID, "party", j.Party, "err", err)
			}
		}()
	})
	return nil
}

// longPoll takes jobs with take until ctx is done and hands each to do,
// backing off from one second to 30 while the room does not answer.
func longPoll[J any](ctx context.Context, a *Agent, what string, take func(context.Context) ([]J, error), do func(J)) {
	backoff := time.Second
	for {
		jobs, err := take(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			a.log.Warn("polling for "+what, "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 30*time.Second)
			continue
		}
		backoff = time.Second
		for _, j := range jobs {
			do(j)
		}
	}
}

// answer re-blinds one scoring request's token, or answers its refusal.
func (a *Agent) answer(ctx context.Context, j httpapi.ScoringJob) error {
	var res httpapi.ScoringResult
	tok, err := decodeToken(j.Token)
	if err == nil {
		var out blind.Token
		out, err = a.currentGuard().ReBlindRequest(ctx, keyfile.RoomKey(a.keys.Blinding, cleanroom.RoomID(a.server, a.room)), j.Manifest, tok)
		res.Token = base64.StdEncoding.EncodeToString(out[:])
	}
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		res = httpapi.ScoringResult{Refused: err.Error()}
		a.log.Warn("scoring request refused", "request", j.ID, "party", j.Party, "err", err)
	}
	return a.c.PostScoringResult(ctx, a.room, j.ID, res)
}

func decodeToken(s string) (blind.Token, error) {
	var t blind.Token
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != len(t) {
		return t, errors.New("the token is not 32 bytes of base64")
	}
	copy(t[:], b)
	return t, nil
}

// ScoringRequest builds the request that scores one applicant under a
// kept model: the applicant's raw identifier of the model's scoring class
// normalised (opts as for uploads), hashed and blinded with the party's
// room key, and a request manifest for it signed with the party's
// signing key at now. features are the party's own features of the
// applicant.
func ScoringRequest(keys *keyfile.PartyKeys, server, room, party, model string, class cleanroom.IdentifierClass, raw string,
	opts normalize.Options, features map[string]string, now time.Time) (httpapi.ScoreRequest, error) {
	norm, err := normalize.For(class, opts)
	if err != nil {
		return httpapi.ScoreRequest{}, err
	}
	v, err := norm(raw)
	if err != nil {
		return httpapi.ScoreRequest{}, fmt.Errorf("the applicant's %s: %w", class, err)
	}
	key := keyfile.RoomKey(keys.Blinding, cleanroom.RoomID(server, room))
	ts, err := blind.Blind(key, room, class, [][32]byte{normalize.Digest(v)})
	if err != nil {
		return httpapi.ScoreRequest{}, err
	}
	m, err := blind.NewRequestManifest(server, room, party, "score:"+model, class, ts[0], now)
	if err != nil {
		return httpapi.ScoreRequest{}, err
	}
	env, err := statement.Sign(keys.Signing, m)
	if err != nil {
		return httpapi.ScoreRequest{}, err
	}
	if features == nil {
		features = map[string]string{}
	}
	return httpapi.ScoreRequest{Model: model, Manifest: env, Token: base64.StdEncoding.EncodeToString(ts[0][:]), Features: features}, nil
}
