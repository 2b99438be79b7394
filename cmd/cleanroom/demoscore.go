package main

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/agent"
	"github.com/cleanroom-dev/cleanroom/internal/client"
	"github.com/cleanroom-dev/cleanroom/internal/httpapi"
	"github.com/cleanroom-dev/cleanroom/internal/keyfile"
	"github.com/cleanroom-dev/cleanroom/internal/normalize"
)

// demoScoring starts the operator's agent answering online scoring
// requests for as long as ctx lasts, and has the bank score two
// applicants under the kept model: a subscriber and someone who is not.
// It returns the scores, by applicant.
func demoScoring(ctx context.Context, cfg DemoConfig, admin *client.Client, session *demoSession, keys map[string]*keyfile.PartyKeys,
	model string, step func(string, ...any)) ([]demoScore, error) {
	olivia := admin.WithToken(session.Users["operator/olivia"])
	a, err := agent.New(ctx, olivia, demoRoom, keys["operator"], filepath.Join(cfg.DataDir, "parties", "operator", "agent"), nil)
	if err != nil {
		return nil, fmt.Errorf("agent of operator: %w", err)
	}
	go a.ServeScoring(ctx)
	step("the operator's agent answers online scoring requests (re-blinding each under the bank's signed request manifest)")
	// Every party's agent opens its party's results for its users in the
	// web UI, and signs its demo user's approvals there once confirmed at
	// the party's identity provider, for as long as the demo serves.
	for _, u := range demoUsers {
		pa := a
		if u.party != "operator" {
			if pa, err = agent.New(ctx, admin.WithToken(session.Users[u.party+"/"+u.user]), demoRoom, keys[u.party],
				filepath.Join(cfg.DataDir, "parties", u.party, "agent"), nil); err != nil {
				return nil, fmt.Errorf("agent of %s: %w", u.party, err)
			}
		}
		go pa.ServeOpening(ctx)
		for _, p := range cfg.providers {
			if p.Party == u.party {
				pa.Approvals = &agent.Approvals{Issuer: p.Issuer, ClientID: p.ClientID, Approvers: []string{u.user}}
				go pa.ServeApprovals(ctx)
			}
		}
	}

	subscriber, other, err := demoApplicants(filepath.Join(session.SynthDir, "operator_subscribers.csv"))
	if err != nil {
		return nil, err
	}
	ben := admin.WithToken(session.Users["bank/ben"])
	features := map[string]string{"customers.balance": "120000", "customers.monthly_spend": "30000"}
	var out []demoScore
	for _, app := range []struct{ phone, who string }{{subscriber, "a subscriber"}, {other, "not a subscriber"}} {
		res, err := scoreApplicant(ctx, ben, keys["bank"], demoRoom, model, app.phone, normalize.Options{Region: "RU"}, features)
		if err != nil {
			return nil, fmt.Errorf("score an applicant: %w", err)
		}
		out = append(out, demoScore{Subscriber: app.who == "a subscriber", Score: *res})
		step("bank/ben scored an applicant (%s; balance 120000, monthly spend 30000): %.4f, bin %s — the answer has the same fields either way",
			app.who, res.Score, res.Bin)
	}
	return out, nil
}

// demoScore is one applicant the demo scored.
type demoScore struct {
	Subscriber bool
	Score      httpapi.ScoreBody
}

// demoApplicants returns the phone number of the first subscriber in the
// operator's file, and a number in no row of it.
func demoApplicants(path string) (subscriber, other string, err error) {
	f, err := os.Open(path)
	if err != nil {
		return "", "", err
	}
	defer f.Close()
	r := csv.NewReader(f)
	header, err := r.Read()
	if err != nil {
		return "", "", fmt.Errorf("%s: %w", path, err)
	}
	col := slices.Index(header, "phone")
	if col < 0 {
		return "", "", fmt.Errorf("%s: no phone column", path)
	}
	seen := map[string]bool{}
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", "", fmt.Errorf("%s: %w", path, err)
		}
		p, err := normalize.Phone(rec[col], "RU")
		if err != nil {
			continue
		}
		if subscriber == "" {
			subscriber = p
		}
		seen[p] = true
	}
	if subscriber == "" {
		return "", "", fmt.Errorf("%s: no subscriber with a valid phone number", path)
	}
	for n := 9_000_000; n < 10_000_000; n++ {
		p := fmt.Sprintf("+7999%07d", n)
		if !seen[p] {
			return subscriber, p, nil
		}
	}
	return "", "", cleanroom.Errorf(cleanroom.EInternal, "no free phone number for the demo's non-subscriber")
}
