package cleanroom

import "time"

// ApprovalType is the type string of a TemplateApproval.
const ApprovalType = "cleanroom.approval.v1"

// TemplateApproval is a party's signed approval of one version of a room's
// template: Digest is the hex SHA-256 of the template's RFC 8785 canonical
// encoding, computed on the party's side from the content it reviewed.
type TemplateApproval struct {
	Type     string    `json:"type"`
	Server   string    `json:"server"`
	Room     string    `json:"room"`
	Name     string    `json:"name"`
	Version  int       `json:"version"`
	Digest   string    `json:"digest"`
	IssuedAt time.Time `json:"issued_at"`
}

// Validate checks the statement on its own.
func (a *TemplateApproval) Validate() error {
	if a.Type != ApprovalType {
		return Errorf(EInvalid, "statement type is %q, want %q", a.Type, ApprovalType)
	}
	if a.Server == "" || a.Version < 1 || len(a.Digest) != 64 || a.IssuedAt.IsZero() {
		return Errorf(EInvalid, "approval lacks its server, version, digest or issue time")
	}
	if err := ValidateName("room name", a.Room); err != nil {
		return err
	}
	return ValidateName("template name", a.Name)
}
