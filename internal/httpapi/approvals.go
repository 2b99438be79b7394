package httpapi

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"time"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/statement"
)

// Approvals from the browser. A party's legal or DPO user approves a
// data-use agreement or a template in the web UI, but the signature is
// made with the party's key, which stays on the party's side: the UI
// records the approval as an intent, has the user sign in again at the
// party's own identity provider with a nonce that is the intent's digest,
// and hands the intent with the provider's ID token to the party's agent.
// The agent signs only for a user its party lists as an approver, whose
// fresh ID token from its party's provider carries exactly this intent,
// for the document whose digest the intent names, and then records the
// signature through the API like any party would. The room relays; it
// cannot make the agent sign anything a user of the party did not just
// confirm at the party's own identity provider.

// ApprovalIntentType is the type string of an approval intent.
const ApprovalIntentType = "cleanroom.approval-intent.v1"

// Kinds of approval intents.
const (
	ApproveAgreement = "agreement" // sign a data-use agreement version
	ApproveTemplate  = "template"  // approve a template version
)

// approvalTimeout bounds how long a browser approval waits for the agent.
var approvalTimeout = 30 * time.Second

// ApprovalIntent is what a user approved in the browser.
type ApprovalIntent struct {
	Type   string `json:"type"`
	Server string `json:"server"`
	Room   string `json:"room"`
	Party  string `json:"party"`
	User   string `json:"user"`
	Kind   string `json:"kind"`
	// Template names the template of a template approval.
	Template string `json:"template,omitempty"`
	Version  int    `json:"version"`
	// Digest is the digest of the document the user saw: the agreement's
	// canonical document or the template's canonical form.
	Digest string `json:"digest"`
	// Salt makes every intent's nonce new.
	Salt      string    `json:"salt"`
	CreatedAt time.Time `json:"created_at"`
}

// NewApprovalIntent returns an intent with a fresh salt, made now.
func NewApprovalIntent(server, room, party, user, kind, template string, version int, digest string, now time.Time) ApprovalIntent {
	return ApprovalIntent{Type: ApprovalIntentType, Server: server, Room: room, Party: party, User: user, Kind: kind,
		Template: template, Version: version, Digest: digest, Salt: rand.Text(), CreatedAt: now.UTC()}
}

// Nonce is the OpenID Connect nonce that binds a sign-in to the intent:
// the unpadded base64url SHA-256 of its RFC 8785 canonical JSON.
func (a *ApprovalIntent) Nonce() (string, error) {
	canon, _, err := statement.Canonical(a)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(canon)
	return base64.RawURLEncoding.EncodeToString(sum[:]), nil
}

// Validate checks the intent on its own.
func (a *ApprovalIntent) Validate() error {
	if a.Type != ApprovalIntentType {
		return cleanroom.Errorf(cleanroom.EInvalid, "intent type is %q, want %q", a.Type, ApprovalIntentType)
	}
	switch a.Kind {
	case ApproveAgreement:
	case ApproveTemplate:
		if err := cleanroom.ValidateName("template name", a.Template); err != nil {
			return err
		}
	default:
		return cleanroom.Errorf(cleanroom.EInvalid, "intent kind is %q, want %q or %q", a.Kind, ApproveAgreement, ApproveTemplate)
	}
	if a.Version < 1 || a.Digest == "" || a.Salt == "" || a.CreatedAt.IsZero() {
		return cleanroom.Errorf(cleanroom.EInvalid, "intent lacks its version, digest, salt or time")
	}
	return nil
}

// ApprovalRequest is a browser approval: the intent and the ID token the
// party's identity provider issued for it.
type ApprovalRequest struct {
	Intent  ApprovalIntent `json:"intent"`
	IDToken string         `json:"id_token"`
}

// ApprovalJob is an approval for the party's agent to check and sign.
type ApprovalJob struct {
	ID      string         `json:"id"`
	Intent  ApprovalIntent `json:"intent"`
	IDToken string         `json:"id_token"`
}

// ApprovalJobs are the approvals an agent takes in one poll.
type ApprovalJobs struct {
	Jobs []ApprovalJob `json:"jobs"`
}

// ApprovalAnswer is the agent's answer: signed (and recorded through the
// API), or why not.
type ApprovalAnswer struct {
	Signed  bool   `json:"signed"`
	Refused string `json:"refused,omitempty"`
}

func (s *Server) approvalRoutes() []Route {
	return []Route{
		{Method: "POST", Pattern: "/api/v1/rooms/{room}/approvals", Action: cleanroom.ActionDUASign, Mutates: true,
			decode:  decodeInto(func(c *call, v *ApprovalRequest) error { c.body = v; return nil }),
			prepare: s.prepareApproval, handle: s.recordApproval},
		{Method: "GET", Pattern: "/api/v1/rooms/{room}/agent/approvals", Action: cleanroom.ActionAgentKey,
			prepare: s.takeApprovals, handle: s.listApprovals},
		{Method: "POST", Pattern: "/api/v1/rooms/{room}/agent/approvals/{request}", Action: cleanroom.ActionAgentKey,
			decode: decodeInto(func(c *call, v *ApprovalAnswer) error { c.body = v; return nil }), handle: s.approvalAnswer},
	}
}

// prepareApproval relays a browser approval to the caller's party's agent
// and waits for its answer.
func (s *Server) prepareApproval(c *call) error {
	req := c.body.(*ApprovalRequest)
	in := req.Intent
	if err := in.Validate(); err != nil {
		return err
	}
	if in.Server != s.serverID || in.Room != c.target.Room || in.Party != c.p.Party || in.User != c.p.User {
		return cleanroom.Errorf(cleanroom.EInvalid, "the intent is not the caller's (%s/%s) in room %q on this server", c.p.Party, c.p.User, c.target.Room)
	}
	if req.IDToken == "" || len(req.IDToken) > 16<<10 {
		return cleanroom.Errorf(cleanroom.EInvalid, "field \"id_token\" is required (the party's identity provider's ID token for the intent)")
	}
	c.object = fmt.Sprintf("%s:%s v%d", in.Kind, in.Template, in.Version)
	if in.Kind == ApproveAgreement {
		c.object = fmt.Sprintf("dua:%s v%d", in.Room, in.Version)
	}
	c.detail["user"] = in.User
	c.detail["digest"] = in.Digest
	t := &scoringTask{room: in.Room, party: in.Party, id: rand.Text(), result: make(chan scoringAnswer, 1)}
	t.job = ApprovalJob{ID: t.id, Intent: in, IDToken: req.IDToken}
	if err := s.approving.push(t); err != nil {
		return err
	}
	defer s.approving.drop(t)
	timer := time.NewTimer(approvalTimeout)
	defer timer.Stop()
	select {
	case ans := <-t.result:
		if ans.refused != "" {
			return cleanroom.Errorf(cleanroom.EForbidden, "party %q's agent did not sign: %s", in.Party, ans.refused)
		}
	case <-timer.C:
		return cleanroom.Errorf(cleanroom.EUnavailable, "party %q's agent did not answer within %s", in.Party, approvalTimeout).
			WithHint("your party runs `cleanroom agent --room %s` with its identity provider and approvers configured", in.Room)
	case <-c.r.Context().Done():
		return c.r.Context().Err()
	}
	c.detail["signed_by"] = in.Party + " agent"
	return nil
}

func (s *Server) recordApproval(c *call) (int, any, error) {
	return http.StatusOK, ApprovalAnswer{Signed: true}, nil
}

func (s *Server) takeApprovals(c *call) error {
	tasks, err := takeTasks(s.approving, c)
	if err != nil {
		return err
	}
	out := ApprovalJobs{Jobs: make([]ApprovalJob, len(tasks))}
	for i, t := range tasks {
		out.Jobs[i] = t.job.(ApprovalJob)
	}
	c.body = out
	return nil
}

func (s *Server) listApprovals(c *call) (int, any, error) { return http.StatusOK, c.body, nil }

func (s *Server) approvalAnswer(c *call) (int, any, error) {
	a := c.body.(*ApprovalAnswer)
	ans := scoringAnswer{}
	switch {
	case a.Refused != "":
		if len(a.Refused) > 500 {
			a.Refused = a.Refused[:500]
		}
		ans.refused = a.Refused
	case !a.Signed:
		return 0, nil, cleanroom.Errorf(cleanroom.EInvalid, "an answer either says signed or why not")
	}
	if err := s.approving.deliver(c.target.Room, c.p.Party, c.r.PathValue("request"), ans); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, struct{}{}, nil
}
