package cleanroom

import "time"

// Audit outcomes.
const (
	OutcomeOK      = "ok"
	OutcomeRefused = "refused"
)

// AuditEntry records one state change or one refused request. Entries are
// written in the same transaction as the change they record, are never
// updated or deleted, and are chained: Hash covers the entry and PrevHash.
type AuditEntry struct {
	Seq     int64     `json:"seq"`
	Time    time.Time `json:"time"`
	Actor   string    `json:"actor"`
	Action  Action    `json:"action"`
	Object  string    `json:"object"`
	Room    string    `json:"room,omitempty"`
	Outcome string    `json:"outcome"`
	// Code is the error code of a refusal.
	Code string `json:"code,omitempty"`
	// Detail holds the request's non-secret parameters.
	Detail    map[string]string `json:"detail,omitempty"`
	RequestID string            `json:"request_id"`
	PrevHash  []byte            `json:"prev_hash"`
	Hash      []byte            `json:"hash"`
}
