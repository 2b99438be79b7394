package cleanroom

import "time"

// Incident verdicts a reviewer gives a refused request.
const (
	VerdictBreach        = "breach"
	VerdictFalsePositive = "false_positive"
)

// Incident is a refused request in a room — wrong role, wrong room, a
// policy or budget refusal, a failed verification — with its triage, if a
// reviewer has given one.
type Incident struct {
	Entry AuditEntry `json:"entry"`
	// Verdict is empty until a reviewer triages the incident.
	Verdict    string     `json:"verdict,omitempty"`
	TriagedBy  string     `json:"triaged_by,omitempty"`
	TriagedAt  *time.Time `json:"triaged_at,omitempty"`
	TriageNote string     `json:"triage_note,omitempty"`
}

// IncidentCounts are a room's incidents by triage state.
type IncidentCounts struct {
	Total         int `json:"total"`
	Breach        int `json:"breach"`
	FalsePositive int `json:"false_positive"`
	Untriaged     int `json:"untriaged"`
}
