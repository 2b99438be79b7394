package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/sqlite"
)

// Actions the room records for web sign-in.
const (
	ActionSignIn  cleanroom.Action = "ui.signin"
	ActionSignOut cleanroom.Action = "ui.signout"
)

// SignIn mints a token for a party's user whom the party's identity
// provider has authenticated (the web UI's OpenID Connect sign-in), and
// records the sign-in. The token carries no roles of its own: the user's
// roles are those its party granted it with signed grants, as for any
// token. issuer and subject identify the identity provider's account.
func (s *Server) SignIn(ctx context.Context, party, user, issuer, subject string, ttl time.Duration) (*TokenCreated, error) {
	if err := cleanroom.ValidateName("user name", user); err != nil {
		return nil, err
	}
	var out *TokenCreated
	err := s.db.Update(ctx, func(tx *sqlite.Tx) error {
		if _, err := tx.Party(party); err != nil {
			return err
		}
		if err := tx.EnsureUser(party, user); err != nil {
			return err
		}
		id, secret := cleanroom.NewTokenSecret()
		now := tx.Now()
		t := &cleanroom.Token{ID: id, Kind: cleanroom.User, Party: party, User: user,
			Description: "web sign-in via " + issuer, CreatedAt: now, ExpiresAt: now.Add(ttl)}
		if err := tx.CreateToken(t, cleanroom.HashToken(secret)); err != nil {
			return err
		}
		out = &TokenCreated{Token: *t, Secret: secret}
		return tx.AppendAudit(&cleanroom.AuditEntry{Actor: party + "/" + user, Action: ActionSignIn, Object: "user:" + party + "/" + user,
			Outcome: cleanroom.OutcomeOK, Detail: map[string]string{"issuer": issuer, "subject": subject, "token_id": id,
				"expires_at": t.ExpiresAt.Format(time.RFC3339)}})
	})
	return out, err
}

// SignOut revokes a web session's token and records the sign-out.
func (s *Server) SignOut(ctx context.Context, tokenID string) error {
	return s.db.Update(ctx, func(tx *sqlite.Tx) error {
		t, err := tx.Token(tokenID)
		if err != nil {
			return err
		}
		if t.RevokedAt == nil {
			if err := tx.RevokeToken(tokenID); err != nil {
				return err
			}
		}
		return tx.AppendAudit(&cleanroom.AuditEntry{Actor: t.Party + "/" + t.User, Action: ActionSignOut, Object: "user:" + t.Party + "/" + t.User,
			Outcome: cleanroom.OutcomeOK, Detail: map[string]string{"token_id": tokenID}})
	})
}

// MatchRunList is a room's match runs, newest first.
type MatchRunList struct {
	Runs []MatchRunBody `json:"runs"`
}

func (s *Server) listMatches(c *call) (int, any, error) {
	ids, err := c.tx.MatchRunIDs(c.target.Room)
	if err != nil {
		return 0, nil, err
	}
	out := MatchRunList{Runs: []MatchRunBody{}}
	for _, id := range ids {
		run, err := c.tx.MatchRun(c.target.Room, id)
		if err != nil {
			return 0, nil, err
		}
		out.Runs = append(out.Runs, s.runBody(c.tx, run, c.p))
	}
	return http.StatusOK, out, nil
}

// BudgetBody is a dataset's lifetime privacy budget under the room's
// agreement, and what its releases have spent and reserved of it.
type BudgetBody struct {
	RhoCap       float64 `json:"rho_cap"`
	RhoSpent     float64 `json:"rho_spent"`
	RhoReserved  float64 `json:"rho_reserved"`
	EpsilonCap   float64 `json:"epsilon_cap"`
	EpsilonSpent float64 `json:"epsilon_spent"`
}

// budgetBody returns a dataset's budget, or nil if none was opened yet.
func budgetBody(tx *sqlite.Tx, room, dataset string) (*BudgetBody, error) {
	us, err := tx.BudgetUsage(budgetID(room, dataset))
	if err != nil {
		return nil, err
	}
	for _, u := range us {
		if u.Scope == "dataset" {
			return &BudgetBody{RhoCap: u.Cap.Rho, RhoSpent: u.Spent.Rho, RhoReserved: u.Reserved.Rho,
				EpsilonCap: u.Cap.Epsilon, EpsilonSpent: u.Spent.Epsilon}, nil
		}
	}
	return nil, nil
}
