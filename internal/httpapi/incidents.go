package httpapi

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/cleanroom-dev/cleanroom"
)

// IncidentList is a page of a room's incidents with the room's counts.
type IncidentList struct {
	Counts    cleanroom.IncidentCounts `json:"counts"`
	Incidents []cleanroom.Incident     `json:"incidents"`
	// Next is the after of the next page; 0 at the end.
	Next int64 `json:"next"`
}

// TriageRequest is a reviewer's verdict on an incident.
type TriageRequest struct {
	Verdict string `json:"verdict"` // breach or false_positive
	Note    string `json:"note"`
}

func (s *Server) incidentRoutes() []Route {
	return []Route{
		{Method: "GET", Pattern: "/api/v1/rooms/{room}/incidents", Action: cleanroom.ActionIncidentList, handle: s.listIncidents},
		{Method: "POST", Pattern: "/api/v1/rooms/{room}/incidents/{seq}/triage", Action: cleanroom.ActionIncidentTriage, Mutates: true,
			decode: decodeInto(func(c *call, v *TriageRequest) error { c.body = v; return nil }), handle: s.triageIncident},
	}
}

func (s *Server) listIncidents(c *call) (int, any, error) {
	after, limit, err := pageParams(c)
	if err != nil {
		return 0, nil, err
	}
	out := IncidentList{}
	if out.Counts, err = c.tx.IncidentCounts(c.target.Room); err != nil {
		return 0, nil, err
	}
	if out.Incidents, err = c.tx.Incidents(c.target.Room, after, limit+1); err != nil {
		return 0, nil, err
	}
	if len(out.Incidents) > limit {
		out.Incidents = out.Incidents[:limit]
		out.Next = out.Incidents[limit-1].Entry.Seq
	}
	return http.StatusOK, out, nil
}

func (s *Server) triageIncident(c *call) (int, any, error) {
	req := c.body.(*TriageRequest)
	seq, err := strconv.ParseInt(c.r.PathValue("seq"), 10, 64)
	if err != nil || seq < 1 {
		return 0, nil, cleanroom.Errorf(cleanroom.EInvalid, "incident %q is not a sequence number", c.r.PathValue("seq"))
	}
	verdict := strings.ReplaceAll(req.Verdict, "-", "_")
	if verdict != cleanroom.VerdictBreach && verdict != cleanroom.VerdictFalsePositive {
		return 0, nil, cleanroom.Errorf(cleanroom.EInvalid, "verdict %q is neither breach nor false_positive", req.Verdict)
	}
	if len(req.Note) > 2000 {
		return 0, nil, cleanroom.Errorf(cleanroom.EInvalid, "field \"note\" is longer than 2000 bytes")
	}
	c.object = "incident:" + strconv.FormatInt(seq, 10)
	c.detail["verdict"] = verdict
	if err := c.tx.TriageIncident(c.target.Room, seq, verdict, c.p.String(), req.Note); err != nil {
		return 0, nil, err
	}
	counts, err := c.tx.IncidentCounts(c.target.Room)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, counts, nil
}
