package cleanroom

import (
	"slices"
	"strings"
)

// Action names something a caller asks the server to do. Every API route
// names exactly one action, and Authorize decides every action.
type Action string

// The actions of the room server. The string is what audit entries record.
const (
	ActionWhoami      Action = "whoami"
	ActionPartyCreate Action = "party.create"
	ActionPartyList   Action = "party.list"
	ActionPartyShow   Action = "party.show"
	ActionGrantSubmit Action = "grant.submit"
	ActionGrantList   Action = "grant.list"
	ActionTokenCreate Action = "token.create"
	ActionTokenList   Action = "token.list"
	ActionTokenRevoke Action = "token.revoke"
	ActionRoomCreate  Action = "room.create"
	ActionRoomList    Action = "room.list"
	ActionRoomShow    Action = "room.show"
	ActionRoomInvite  Action = "room.invite"
	ActionRoomAudit   Action = "room.audit"
	ActionAuditList   Action = "audit.list"

	ActionAuditCosign    Action = "audit.cosign"
	ActionIncidentList   Action = "incident.list"
	ActionIncidentTriage Action = "incident.triage"

	ActionDUADraft     Action = "dua.draft"
	ActionDUAList      Action = "dua.list"
	ActionDUAShow      Action = "dua.show"
	ActionDUASign      Action = "dua.sign"
	ActionDUATerminate Action = "dua.terminate"

	ActionDatasetCreate Action = "dataset.create"
	ActionDatasetList   Action = "dataset.list"
	ActionDatasetShow   Action = "dataset.show"
	ActionUploadOpen    Action = "upload.open"
	ActionUploadChunk   Action = "upload.chunk"
	ActionUploadCommit  Action = "upload.commit"
	ActionUploadAbort   Action = "upload.abort"

	ActionMatchRun    Action = "match.run"
	ActionMatchShow   Action = "match.show"
	ActionAgentJobs   Action = "agent.jobs"
	ActionAgentJob    Action = "agent.job"
	ActionAgentResult Action = "agent.result"
	ActionAgentKey    Action = "agent.key"
	ActionAgentKeys   Action = "agent.keys"
	// An agent's online scoring work: take requests, return re-blinded
	// tokens.
	ActionAgentScoring     Action = "agent.scoring"
	ActionAgentScoreResult Action = "agent.score_result"
	// ActionScore is an online scoring request.
	ActionScore   Action = "score.request"
	ActionHMACGet Action = "hmac.get"
	ActionHMACPut Action = "hmac.put"

	ActionTemplatePropose Action = "template.propose"
	ActionTemplateList    Action = "template.list"
	ActionTemplateShow    Action = "template.show"
	ActionTemplateApprove Action = "template.approve"
	ActionTemplateRetire  Action = "template.retire"

	ActionQueryRun    Action = "query.run"
	ActionQueryList   Action = "query.list"
	ActionQueryShow   Action = "query.show"
	ActionQueryReview Action = "query.review"
	// ActionQueryExplain shows a run's plan and utility preview; it reads
	// no data and spends nothing.
	ActionQueryExplain Action = "query.explain"

	// The commercial side: a room's terms (set by the platform admin, read
	// by the room's members), the billing ledger and the business view.
	ActionTermsSet  Action = "billing.terms_set"
	ActionTermsShow Action = "billing.terms_show"
	ActionLedger    Action = "billing.ledger"
	ActionDashboard Action = "dashboard.show"

	// ActionAdminToken is recorded when `cleanroom init` or `cleanroom
	// admin-token` mints a platform admin token on the server's machine.
	// It is not an API route and Authorize does not decide it: holding the
	// data directory is the authority.
	ActionAdminToken Action = "admin.token"
)

// Actions lists every action Authorize knows.
var Actions = []Action{
	ActionWhoami, ActionPartyCreate, ActionPartyList, ActionPartyShow,
	ActionGrantSubmit, ActionGrantList, ActionTokenCreate, ActionTokenList,
	ActionTokenRevoke, ActionRoomCreate, ActionRoomList, ActionRoomShow,
	ActionRoomInvite, ActionRoomAudit, ActionAuditList,
	ActionDatasetCreate, ActionDatasetList, ActionDatasetShow,
	ActionUploadOpen, ActionUploadChunk, ActionUploadCommit, ActionUploadAbort,
	ActionMatchRun, ActionMatchShow, ActionAgentJobs, ActionAgentJob, ActionAgentResult,
	ActionAgentKey, ActionAgentKeys, ActionHMACGet, ActionHMACPut, ActionAgentScoring, ActionAgentScoreResult, ActionScore,
	ActionTemplatePropose, ActionTemplateList, ActionTemplateShow, ActionTemplateApprove, ActionTemplateRetire,
	ActionQueryRun, ActionQueryList, ActionQueryShow, ActionQueryReview, ActionQueryExplain,
	ActionIncidentList, ActionIncidentTriage, ActionAuditCosign,
	ActionDUADraft, ActionDUAList, ActionDUAShow, ActionDUASign, ActionDUATerminate,
	ActionTermsSet, ActionTermsShow, ActionLedger, ActionDashboard,
}

// Target is what an action is about, as far as authorization needs to
// know. The caller fills in the parts the action has.
type Target struct {
	// Room is the room named by the request, and RoomExists whether it
	// exists.
	Room       string
	RoomExists bool
	// Party is the party named by the request, and PartyExists whether it
	// exists.
	Party       string
	PartyExists bool
	// User is the user named by the request, within Party.
	User string
	// TokenOwner is the owner of the token named by the request (nil if
	// there is no such token).
	TokenOwner *Principal
	// Dataset is the dataset named by the request, DatasetExists whether
	// it exists in Room, and DatasetParty the party that owns it.
	Dataset       string
	DatasetExists bool
	DatasetParty  string
	// UploadOwner is the user who opened the upload session named by the
	// request (nil if there is no such session in the dataset).
	UploadOwner *Principal
	// JobParty is the party whose agent must do the match job named by
	// the request ("" if there is no such job in the room).
	JobParty string
	// Template is the template named by the request, TemplateExists
	// whether it exists in Room, and TemplateReaders the parties whose
	// data it reads.
	Template        string
	TemplateExists  bool
	TemplateReaders []string
	// Query is the query run named by the request, QueryExists whether it
	// exists in Room, and QueryReviewBy the parties that review its
	// results.
	Query         string
	QueryExists   bool
	QueryReviewBy []string
}

// Authorize decides whether p may perform a on t. It returns nil or an
// *Error: EUnauthenticated without a valid token; ENotFound when the caller
// may not know the target exists (a room it is not a member of, another
// party's token); EForbidden, naming what is needed, when it may know.
func Authorize(p *Principal, a Action, t Target) error {
	if p == nil || p.Kind == Anonymous {
		return Errorf(EUnauthenticated, "a valid API token is required").
			WithHint("pass --token, set CLEANROOM_TOKEN, or run `cleanroom login`")
	}
	admin := p.Kind == Admin
	switch a {
	case ActionWhoami:
		return nil

	case ActionPartyCreate, ActionRoomCreate, ActionAuditList:
		if admin {
			return nil
		}
		return onlyAdmin(a)

	case ActionTokenList:
		// Users see only their own tokens, so one whose party has not
		// vouched for it can still find and revoke a leaked one.
		return nil

	case ActionPartyList, ActionRoomList:
		if admin || p.Vouched() {
			return nil
		}
		return notVouched(p)

	case ActionPartyShow, ActionGrantList:
		if !t.PartyExists {
			return noParty(t.Party)
		}
		if admin || (p.Party == t.Party && p.Vouched()) {
			return nil
		}
		if p.Party == t.Party {
			return notVouched(p)
		}
		return noParty(t.Party)

	case ActionGrantSubmit:
		// The statement's signature is the authority; any user of the
		// party, vouched or not, may relay it, so a party can bootstrap
		// its first user.
		if !t.PartyExists || (!admin && p.Party != t.Party) {
			return noParty(t.Party)
		}
		return nil

	case ActionTokenCreate:
		if !t.PartyExists {
			return noParty(t.Party)
		}
		if admin {
			return nil
		}
		if p.Party != t.Party || p.User != t.User {
			return Errorf(EForbidden, "you can create tokens only for yourself (%s)", p).
				WithHint("ask the platform admin to mint a token for another user")
		}
		if !p.Vouched() {
			return notVouched(p)
		}
		return nil

	case ActionTokenRevoke:
		o := t.TokenOwner
		if o == nil || (!admin && (o.Kind != User || o.Party != p.Party || o.User != p.User)) {
			return Errorf(ENotFound, "no such token")
		}
		return nil

	case ActionDatasetCreate, ActionDatasetList, ActionDatasetShow,
		ActionUploadOpen, ActionUploadChunk, ActionUploadCommit, ActionUploadAbort:
		return authorizeDataset(p, a, t)

	case ActionMatchRun, ActionMatchShow, ActionAgentJobs, ActionAgentJob, ActionAgentResult,
		ActionAgentKey, ActionAgentKeys, ActionHMACGet, ActionHMACPut, ActionAgentScoring, ActionAgentScoreResult:
		return authorizeMatch(p, a, t)

	case ActionScore:
		// The model's scoring declaration names the one party that may
		// ask; the room checks it with the agreement.
		if err := roomMember(p, t, Errorf(EForbidden, "the platform admin does not request scores; the room's parties do")); err != nil {
			return err
		}
		if !p.HasRole(t.Room, RoleAnalyst) {
			return needRole(t.Room, RoleAnalyst)
		}
		return nil

	case ActionTemplatePropose, ActionTemplateList, ActionTemplateShow, ActionTemplateApprove, ActionTemplateRetire:
		return authorizeTemplate(p, a, t)

	case ActionQueryRun, ActionQueryList, ActionQueryShow, ActionQueryReview, ActionQueryExplain:
		return authorizeQuery(p, a, t)

	case ActionAuditCosign:
		return roomMember(p, t, Errorf(EForbidden, "the platform admin does not cosign a room's audit log; its parties do"))

	case ActionDUADraft, ActionDUAList, ActionDUAShow, ActionDUASign, ActionDUATerminate:
		// Any member may carry its party's signature: the signature, made
		// with the party's key on its side, is the authority. A party not
		// admitted yet reads and signs the agreements that would admit it.
		if t.RoomExists && p.Joins(t.Room) {
			return nil
		}
		return roomMember(p, t, Errorf(EForbidden, "the platform admin is not a party to a room's data-use agreement; its parties draft, sign and read it"))

	case ActionIncidentList, ActionIncidentTriage:
		if err := roomMember(p, t, Errorf(EForbidden, "the platform admin does not triage a room's incidents; its reviewers do")); err != nil {
			return err
		}
		if a == ActionIncidentTriage && !p.HasRole(t.Room, RoleReviewer) {
			return needRole(t.Room, RoleReviewer)
		}
		return nil

	case ActionTermsSet, ActionTermsShow:
		// The platform runs the commercial side: its admin sets a room's
		// terms; the room's members read what they pay and earn.
		if !t.RoomExists {
			return noRoom(t.Room)
		}
		member := p.Kind == User && len(p.RolesIn(t.Room)) > 0
		if p.Joins(t.Room) {
			return notAdmitted(p, t.Room)
		}
		if !admin && !member {
			return noRoom(t.Room)
		}
		if a == ActionTermsSet && !admin {
			return onlyAdmin(a)
		}
		return nil

	case ActionLedger, ActionDashboard:
		// Each sees the rooms SeeRoomMetrics lets it see.
		if admin || p.Vouched() {
			return nil
		}
		return notVouched(p)

	case ActionRoomShow, ActionRoomInvite, ActionRoomAudit:
		if !t.RoomExists {
			return noRoom(t.Room)
		}
		member := p.Kind == User && len(p.RolesIn(t.Room)) > 0
		if !admin && !member && !p.Joins(t.Room) {
			return noRoom(t.Room)
		}
		switch a {
		case ActionRoomShow:
			return nil
		case ActionRoomInvite:
			if admin {
				return nil
			}
			return onlyAdmin(a)
		case ActionRoomAudit:
			if member {
				return nil
			}
			if !admin {
				return notAdmitted(p, t.Room)
			}
			return Errorf(EForbidden, "the platform admin does not read a room's audit log; its members do").
				WithHint("a member with any role in room %q can read it", t.Room)
		}
	}
	return Errorf(EForbidden, "action %q is not allowed", string(a))
}

// authorizeDataset decides the actions on a room's datasets: members see
// them, providers register their party's datasets and upload to them, and
// an upload session is continued only by the user who opened it.
func authorizeDataset(p *Principal, a Action, t Target) error {
	if err := roomMember(p, t, Errorf(EForbidden, "the platform admin cannot read or bring a room's datasets; its providers do").
		WithHint("a party's user with the provider role in room %q registers and uploads datasets", t.Room)); err != nil {
		return err
	}
	if a != ActionDatasetCreate && a != ActionDatasetList && !t.DatasetExists {
		return Errorf(ENotFound, "dataset %q not found in room %q", t.Dataset, t.Room)
	}
	switch a {
	case ActionDatasetList, ActionDatasetShow:
		return nil
	}
	if !p.HasRole(t.Room, RoleProvider) {
		return needRole(t.Room, RoleProvider)
	}
	if a == ActionDatasetCreate {
		return nil
	}
	if t.DatasetParty != p.Party {
		return Errorf(EForbidden, "dataset %q belongs to party %q; only its own providers upload to it", t.Dataset, t.DatasetParty)
	}
	if a == ActionUploadOpen {
		return nil
	}
	if o := t.UploadOwner; o == nil || o.Party != p.Party || o.User != p.User {
		return Errorf(ENotFound, "no such upload")
	}
	return nil
}

// authorizeMatch decides matching: a provider starts a match run, every
// member reads its party's part of the report, and a party's agent (a user
// with the provider role) takes only its own party's re-blinding jobs.
func authorizeMatch(p *Principal, a Action, t Target) error {
	if err := roomMember(p, t, Errorf(EForbidden, "the platform admin takes no part in matching; the room's parties do")); err != nil {
		return err
	}
	if a == ActionMatchShow || a == ActionAgentKeys {
		return nil
	}
	if a == ActionAgentKey && (p.HasRole(t.Room, RoleReceiver) || p.HasRole(t.Room, RoleReviewer)) {
		return nil
	}
	if !p.HasRole(t.Room, RoleProvider) {
		return needRole(t.Room, RoleProvider)
	}
	if (a == ActionAgentJob || a == ActionAgentResult) && t.JobParty != p.Party {
		return Errorf(ENotFound, "no such job for party %q", p.Party)
	}
	return nil
}

// authorizeTemplate decides templates: members read them, an analyst or a
// provider proposes one, and only a provider of a party whose data a
// template reads approves or retires it.
func authorizeTemplate(p *Principal, a Action, t Target) error {
	if err := roomMember(p, t, Errorf(EForbidden, "the platform admin neither proposes nor approves templates; the room's parties do")); err != nil {
		return err
	}
	if a != ActionTemplatePropose && a != ActionTemplateList && !t.TemplateExists {
		return Errorf(ENotFound, "template %q not found in room %q", t.Template, t.Room)
	}
	switch a {
	case ActionTemplateList, ActionTemplateShow:
		return nil
	case ActionTemplatePropose:
		if p.HasRole(t.Room, RoleAnalyst) || p.HasRole(t.Room, RoleProvider) {
			return nil
		}
		return needRole(t.Room, RoleAnalyst)
	}
	if !p.HasRole(t.Room, RoleProvider) {
		return needRole(t.Room, RoleProvider)
	}
	if !slices.Contains(t.TemplateReaders, p.Party) {
		return Errorf(EForbidden, "template %q does not read data of party %q; only the parties whose data it reads (%s) approve or retire it",
			t.Template, p.Party, strings.Join(t.TemplateReaders, ", "))
	}
	return nil
}

// authorizeQuery decides query runs: an analyst runs approved templates,
// members see the runs (whether they see a run's numbers is SeeResult's
// decision), and a reviewer of a party the template names reviews.
func authorizeQuery(p *Principal, a Action, t Target) error {
	if err := roomMember(p, t, Errorf(EForbidden, "the platform admin neither runs queries nor sees results; the room's parties do")); err != nil {
		return err
	}
	if (a == ActionQueryShow || a == ActionQueryReview) && !t.QueryExists {
		return Errorf(ENotFound, "query %s not found in room %q", t.Query, t.Room)
	}
	switch a {
	case ActionQueryList, ActionQueryShow, ActionQueryExplain:
		return nil
	case ActionQueryRun:
		if p.HasRole(t.Room, RoleAnalyst) {
			return nil
		}
		return needRole(t.Room, RoleAnalyst)
	}
	if !p.HasRole(t.Room, RoleReviewer) {
		return needRole(t.Room, RoleReviewer)
	}
	if !slices.Contains(t.QueryReviewBy, p.Party) {
		return Errorf(EForbidden, "party %q does not review this query's results", p.Party)
	}
	return nil
}

// Query states.
const (
	QueryPendingReview = "pending_review"
	QueryReleased      = "released"
	QueryRejected      = "rejected"
)

// SeeResult decides whether p may see the numbers of a query run in room:
// a released result only by the receivers' users with the receiver role; a
// result waiting for review only by the reviewing parties' users with the
// reviewer role; a rejected one by no one. The platform admin never.
func SeeResult(p *Principal, room, state string, receivers, reviewBy []string) bool {
	if p == nil || p.Kind != User {
		return false
	}
	switch state {
	case QueryReleased:
		return p.HasRole(room, RoleReceiver) && slices.Contains(receivers, p.Party)
	case QueryPendingReview:
		return p.HasRole(room, RoleReviewer) && slices.Contains(reviewBy, p.Party)
	}
	return false
}

// SeeRoomMetrics decides whether p sees a room in the business view — the
// dashboard, the billing ledger, the quarterly review: the platform admin,
// who runs the commercial side, sees every room; a party's user only the
// rooms it is a member of (holds a verified role in).
func SeeRoomMetrics(p *Principal, room string) bool {
	if p == nil {
		return false
	}
	return p.Kind == Admin || p.Kind == User && len(p.RolesIn(room)) > 0
}

// SeeMatchPart decides whose part of a room's match report feeds p's
// match rates: the platform admin's view takes every party's rates (rates
// only, never counts); a member's only its own party's part, as the match
// report itself shows it.
func SeeMatchPart(p *Principal, room, party string) bool {
	if !SeeRoomMetrics(p, room) {
		return false
	}
	return p.Kind == Admin || p.Party == party
}

// SeeBudgets decides whether p sees the privacy budgets of a room's
// datasets in the business view: only the room's members, who see its
// datasets; the platform admin reads no dataset.
func SeeBudgets(p *Principal, room string) bool {
	return p != nil && p.Kind == User && len(p.RolesIn(room)) > 0
}

// roomMember is the first rule of every action inside a room: the room
// must exist and the caller must be one of its members (404 otherwise, as
// for a room that does not exist); the platform admin, who is no member,
// gets adminRefusal.
func roomMember(p *Principal, t Target, adminRefusal error) error {
	if !t.RoomExists {
		return noRoom(t.Room)
	}
	if p.Kind == Admin {
		return adminRefusal
	}
	if len(p.RolesIn(t.Room)) == 0 {
		if p.Joins(t.Room) {
			return notAdmitted(p, t.Room)
		}
		return noRoom(t.Room)
	}
	return nil
}

// notAdmitted is the refusal of a user whose party is invited to a room
// but not admitted to it (see Admitted).
func notAdmitted(p *Principal, room string) error {
	return Errorf(EForbidden, "party %q is not a party to any data-use agreement of room %q that its parties signed; until one names it, its users read and sign the room's agreements only", p.Party, room).
		WithHint("a member drafts an agreement naming every party of the room (`cleanroom dua draft`), and every party signs it")
}

// needRole is the refusal of a member who lacks the role an action needs.
func needRole(room string, r Role) error {
	return Errorf(EForbidden, "this needs the %s role in room %q", r, room).
		WithHint("your party grants roles with `cleanroom user grant --roles %s`", r)
}

func onlyAdmin(a Action) error {
	return Errorf(EForbidden, "only the platform admin may %s", describe(a)).
		WithHint("use the admin token printed by `cleanroom init`")
}

func notVouched(p *Principal) error {
	return Errorf(EForbidden, "party %q has granted %s no role in any room", p.Party, p).
		WithHint("the party signs a grant with `cleanroom user grant`")
}

func noParty(name string) error {
	return Errorf(ENotFound, "party %q not found", name)
}

func noRoom(name string) error {
	return Errorf(ENotFound, "room %q not found", name).
		WithHint("rooms you are a member of are listed by `cleanroom room list`")
}

func describe(a Action) string {
	switch a {
	case ActionPartyCreate:
		return "register parties"
	case ActionRoomCreate:
		return "create rooms"
	case ActionRoomInvite:
		return "invite parties to rooms"
	case ActionAuditList:
		return "read the platform audit log"
	case ActionTermsSet:
		return "set a room's commercial terms"
	}
	return string(a)
}
