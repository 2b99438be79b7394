package agent

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/httpapi"
	"github.com/cleanroom-dev/cleanroom/internal/statement"
	"github.com/cleanroom-dev/cleanroom/internal/template"
)

// approvalMaxAge is how recent the identity provider's sign-in behind a
// browser approval must be.
const approvalMaxAge = 5 * time.Minute

// Approvals configures which browser approvals an agent signs with its
// party's key: those of the listed users, confirmed by a fresh sign-in at
// the party's own identity provider whose nonce binds the approval.
type Approvals struct {
	// Issuer and ClientID are the party's OpenID Connect provider and the
	// room server's client there; UserClaim names the user as in the
	// web UI's provider configuration ("preferred_username" by default).
	Issuer, ClientID, UserClaim string
	// Approvers are the users whose approvals the agent signs.
	Approvers []string

	once     sync.Once
	verifier *oidc.IDTokenVerifier
	err      error
}

func (ap *Approvals) idTokenVerifier(ctx context.Context) (*oidc.IDTokenVerifier, error) {
	ap.once.Do(func() {
		p, err := oidc.NewProvider(oidc.ClientContext(ctx, http.DefaultClient), ap.Issuer)
		if err != nil {
			ap.err = fmt.Errorf("identity provider %s: %w", ap.Issuer, err)
			return
		}
		ap.verifier = p.Verifier(&oidc.Config{ClientID: ap.ClientID})
	})
	return ap.verifier, ap.err
}

// ServeApprovals signs, until ctx is done, the approvals its party's
// users make in the room's web UI, after checking each (check), and
// records the signature through the API. Run starts it when the agent
// has Approvals.
func (a *Agent) ServeApprovals(ctx context.Context) error {
	take := func(ctx context.Context) ([]httpapi.ApprovalJob, error) {
		jobs, err := a.c.TakeApprovals(ctx, a.room, scoringPoll)
		if err != nil {
			return nil, err
		}
		return jobs.Jobs, nil
	}
	longPoll(ctx, a, "approvals", take, func(j httpapi.ApprovalJob) {
		ans := httpapi.ApprovalAnswer{Signed: true}
		if err := a.approve(ctx, j); err != nil {
			ans = httpapi.ApprovalAnswer{Refused: err.Error()}
			a.log.Warn("approval refused", "kind", j.Intent.Kind, "template", j.Intent.Template, "version", j.Intent.Version,
				"user", j.Intent.User, "err", err)
		} else {
			a.log.Info("approval signed", "kind", j.Intent.Kind, "template", j.Intent.Template, "version", j.Intent.Version,
				"user", j.Intent.User, "digest", j.Intent.Digest)
		}
		if err := a.c.AnswerApproval(ctx, a.room, j.ID, ans); err != nil && ctx.Err() == nil {
			a.log.Warn("answering an approval", "err", err)
		}
	})
	return nil
}

// approve checks a browser approval and signs it: the intent is for this
// agent's party, room and server, by a listed approver; the ID token is
// the party's provider's, for the room server's client, issued within
// approvalMaxAge, naming that user, with the intent's nonce; and the
// document the room now holds has the digest the user saw.
func (a *Agent) approve(ctx context.Context, j httpapi.ApprovalJob) error {
	ap := a.Approvals
	in := j.Intent
	if ap == nil || len(ap.Approvers) == 0 {
		return errors.New("this party's agent signs no browser approvals (its operator lists approvers with --approvers)")
	}
	if err := in.Validate(); err != nil {
		return err
	}
	if in.Party != a.party || in.Room != a.room || in.Server != a.server {
		return fmt.Errorf("the intent is for party %q in room %q on server %s", in.Party, in.Room, in.Server)
	}
	if !slices.Contains(ap.Approvers, in.User) {
		return fmt.Errorf("user %q is not one of the party's approvers", in.User)
	}
	v, err := ap.idTokenVerifier(ctx)
	if err != nil {
		return err
	}
	idt, err := v.Verify(ctx, j.IDToken)
	if err != nil {
		return fmt.Errorf("the ID token does not verify with the party's identity provider: %w", err)
	}
	nonce, err := in.Nonce()
	if err != nil {
		return err
	}
	if idt.Nonce != nonce {
		return errors.New("the ID token was not issued for this approval")
	}
	if age := time.Since(idt.IssuedAt); age > approvalMaxAge || age < -time.Minute {
		return fmt.Errorf("the sign-in behind the approval is %s old", age.Round(time.Second))
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return err
	}
	claim := ap.UserClaim
	if claim == "" {
		claim = "preferred_username"
	}
	name, _ := claims[claim].(string)
	if claim == "email" {
		name, _, _ = strings.Cut(name, "@")
	}
	if !strings.EqualFold(name, in.User) {
		return fmt.Errorf("the ID token names %q, the intent %q", name, in.User)
	}

	switch in.Kind {
	case httpapi.ApproveAgreement:
		d, err := a.c.ShowDUA(ctx, a.room, in.Version)
		if err != nil {
			return err
		}
		if d.Digest != in.Digest {
			return fmt.Errorf("agreement version %d's digest is %s, the user approved %s", in.Version, d.Digest, in.Digest)
		}
		env, err := statement.Sign(a.keys.Signing, d.Document)
		if err != nil {
			return err
		}
		_, err = a.c.SignDUA(ctx, a.room, in.Version, env.Signature)
		return err
	case httpapi.ApproveTemplate:
		t, err := a.c.ShowTemplate(ctx, a.room, in.Template, in.Version)
		if err != nil {
			return err
		}
		digest := template.Digest(&t.Template)
		if digest != in.Digest {
			return fmt.Errorf("template %s version %d's digest is %s, the user approved %s", in.Template, in.Version, digest, in.Digest)
		}
		env, err := statement.Sign(a.keys.Signing, cleanroom.TemplateApproval{Type: cleanroom.ApprovalType, Server: a.server, Room: a.room,
			Name: in.Template, Version: in.Version, Digest: digest, IssuedAt: time.Now().UTC()})
		if err != nil {
			return err
		}
		_, err = a.c.ApproveTemplate(ctx, a.room, in.Template, env)
		return err
	}
	return fmt.Errorf("unknown approval kind %q", in.Kind)
}
