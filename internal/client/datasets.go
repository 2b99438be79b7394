package client

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/auditlog"
	"github.com/cleanroom-dev/cleanroom/internal/httpapi"
	"github.com/cleanroom-dev/cleanroom/internal/statement"
)

func datasetsPath(room string) string { return "/api/v1/rooms/" + seg(room) + "/datasets" }

func uploadPath(room, dataset, upload string) string {
	return datasetsPath(room) + "/" + seg(dataset) + "/uploads/" + seg(upload)
}

// CreateDataset registers a dataset of the caller's party in a room with
// its schema (JSON).
func (c *Client) CreateDataset(ctx context.Context, room, name string, schema json.RawMessage) (*httpapi.DatasetBody, error) {
	return send[httpapi.DatasetBody](ctx, c, http.MethodPost, datasetsPath(room), httpapi.CreateDatasetRequest{Name: name, Schema: schema})
}

// ListDatasets lists a room's datasets.
func (c *Client) ListDatasets(ctx context.Context, room string) (*httpapi.DatasetList, error) {
	return get[httpapi.DatasetList](ctx, c, datasetsPath(room))
}

// ShowDataset returns a dataset with its schema and versions.
func (c *Client) ShowDataset(ctx context.Context, room, name string) (*httpapi.DatasetBody, error) {
	return get[httpapi.DatasetBody](ctx, c, datasetsPath(room)+"/"+seg(name))
}

// OpenUpload opens an upload session, which reserves the next version.
func (c *Client) OpenUpload(ctx context.Context, room, dataset string) (*httpapi.UploadBody, error) {
	return send[httpapi.UploadBody](ctx, c, http.MethodPost, datasetsPath(room)+"/"+seg(dataset)+"/uploads", nil)
}

// PutChunk sends one sealed chunk of an upload.
func (c *Client) PutChunk(ctx context.Context, room, dataset, upload string, index int, sealed []byte) (*httpapi.ChunkBody, error) {
	out := new(httpapi.ChunkBody)
	err := c.doBytes(ctx, http.MethodPut, uploadPath(room, dataset, upload)+"/chunks/"+strconv.Itoa(index), "application/octet-stream", sealed, out)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// CommitUpload commits an upload as a new dataset version.
func (c *Client) CommitUpload(ctx context.Context, room, dataset, upload string, req httpapi.CommitUploadRequest) (*httpapi.VersionBody, error) {
	return send[httpapi.VersionBody](ctx, c, http.MethodPost, uploadPath(room, dataset, upload)+"/commit", req)
}

// AbortUpload abandons an open upload session.
func (c *Client) AbortUpload(ctx context.Context, room, dataset, upload string) (*httpapi.UploadBody, error) {
	return send[httpapi.UploadBody](ctx, c, http.MethodDelete, uploadPath(room, dataset, upload), nil)
}

func roomPath(room string) string { return "/api/v1/rooms/" + seg(room) }

// StartMatch starts a match run of the room's latest dataset versions.
func (c *Client) StartMatch(ctx context.Context, room string) (*httpapi.MatchRunBody, error) {
	return send[httpapi.MatchRunBody](ctx, c, http.MethodPost, roomPath(room)+"/matches", nil)
}

// ShowMatch returns a match run and the caller's party's part of its
// report.
func (c *Client) ShowMatch(ctx context.Context, room, run string) (*httpapi.MatchRunBody, error) {
	return get[httpapi.MatchRunBody](ctx, c, roomPath(room)+"/matches/"+seg(run))
}

// ListJobs lists the caller's party's pending re-blinding jobs.
func (c *Client) ListJobs(ctx context.Context, room string) (*httpapi.JobList, error) {
	return get[httpapi.JobList](ctx, c, roomPath(room)+"/agent/jobs")
}

// GetJob fetches a re-blinding job with its token set and manifest.
func (c *Client) GetJob(ctx context.Context, room, job string) (*httpapi.JobBody, error) {
	return get[httpapi.JobBody](ctx, c, roomPath(room)+"/agent/jobs/"+seg(job))
}

// PostResult returns a job's re-blinded tokens.
func (c *Client) PostResult(ctx context.Context, room, job string, res httpapi.JobResult) (*httpapi.JobSummary, error) {
	return send[httpapi.JobSummary](ctx, c, http.MethodPost, roomPath(room)+"/agent/jobs/"+seg(job)+"/result", res)
}

// ListAgentKeys returns every party's signed agent key statement of an
// hmac room.
func (c *Client) ListAgentKeys(ctx context.Context, room string) (*httpapi.AgentKeyList, error) {
	return get[httpapi.AgentKeyList](ctx, c, roomPath(room)+"/agent/keys")
}

// PutAgentKey publishes the caller's party's signed agent key statement.
func (c *Client) PutAgentKey(ctx context.Context, room string, env statement.Envelope) error {
	return c.do(ctx, http.MethodPut, roomPath(room)+"/agent/key", env, nil)
}

// GetHMAC returns the room's secret commitment and the secret sealed to
// the caller's agent.
func (c *Client) GetHMAC(ctx context.Context, room string) (*httpapi.HMACState, error) {
	return get[httpapi.HMACState](ctx, c, roomPath(room)+"/hmac")
}

// PutHMAC creates the room's secret or seals it to more parties.
func (c *Client) PutHMAC(ctx context.Context, room string, req httpapi.HMACRequest) error {
	return c.do(ctx, http.MethodPost, roomPath(room)+"/hmac", req, nil)
}

// ProposeTemplate proposes a template written in YAML.
func (c *Client) ProposeTemplate(ctx context.Context, room, yaml string) (*httpapi.TemplateBody, error) {
	return send[httpapi.TemplateBody](ctx, c, http.MethodPost, roomPath(room)+"/templates", httpapi.ProposeTemplateRequest{YAML: yaml})
}

// ListTemplates lists every version of a room's templates.
func (c *Client) ListTemplates(ctx context.Context, room string) (*httpapi.TemplateList, error) {
	return get[httpapi.TemplateList](ctx, c, roomPath(room)+"/templates")
}

// ShowTemplate returns a template's newest version, or version if > 0.
func (c *Client) ShowTemplate(ctx context.Context, room, name string, version int) (*httpapi.TemplateBody, error) {
	q := ""
	if version > 0 {
		q = "?version=" + strconv.Itoa(version)
	}
	return get[httpapi.TemplateBody](ctx, c, roomPath(room)+"/templates/"+seg(name)+q)
}

// ApproveTemplate submits a party's signed approval.
func (c *Client) ApproveTemplate(ctx context.Context, room, name string, env statement.Envelope) (*httpapi.TemplateBody, error) {
	return send[httpapi.TemplateBody](ctx, c, http.MethodPost, roomPath(room)+"/templates/"+seg(name)+"/approvals", env)
}

// RetireTemplate retires a template version.
func (c *Client) RetireTemplate(ctx context.Context, room, name string, version int) (*httpapi.TemplateBody, error) {
	return send[httpapi.TemplateBody](ctx, c, http.MethodPost, roomPath(room)+"/templates/"+seg(name)+"/retire", httpapi.RetireRequest{Version: version})
}

// RunQuery runs an approved template.
func (c *Client) RunQuery(ctx context.Context, room string, req httpapi.RunQueryRequest) (*httpapi.QueryBody, error) {
	return send[httpapi.QueryBody](ctx, c, http.MethodPost, roomPath(room)+"/queries", req)
}

// ListQueries lists a room's query runs.
func (c *Client) ListQueries(ctx context.Context, room string) (*httpapi.QueryList, error) {
	return get[httpapi.QueryList](ctx, c, roomPath(room)+"/queries")
}

// ShowQuery returns a query run, with its result if the caller may see it.
func (c *Client) ShowQuery(ctx context.Context, room, id string) (*httpapi.QueryBody, error) {
	return get[httpapi.QueryBody](ctx, c, roomPath(room)+"/queries/"+seg(id))
}

// ReviewQuery approves or rejects a result waiting for review.
func (c *Client) ReviewQuery(ctx context.Context, room, id, decision string) (*httpapi.QueryBody, error) {
	return send[httpapi.QueryBody](ctx, c, http.MethodPost, roomPath(room)+"/queries/"+seg(id)+"/review", httpapi.ReviewRequest{Decision: decision})
}

// ExplainQuery returns a run's plan and utility preview.
func (c *Client) ExplainQuery(ctx context.Context, room string, req httpapi.RunQueryRequest) (*httpapi.Explain, error) {
	return send[httpapi.Explain](ctx, c, http.MethodPost, roomPath(room)+"/queries/explain", req)
}

// AuditCheckpoint returns the room log's signed checkpoint and the
// consistency proof from old (old < 0: no proof).
func (c *Client) AuditCheckpoint(ctx context.Context, room string, old int) (*httpapi.CheckpointBody, error) {
	q := ""
	if old >= 0 {
		q = "?old=" + strconv.Itoa(old)
	}
	return get[httpapi.CheckpointBody](ctx, c, roomPath(room)+"/audit/checkpoint"+q)
}

// AuditReceipt returns the inclusion receipt of entry seq under a signed
// checkpoint of the room log's first size entries.
func (c *Client) AuditReceipt(ctx context.Context, room string, seq int64, size int) (*auditlog.Receipt, error) {
	return get[auditlog.Receipt](ctx, c, roomPath(room)+"/audit/receipt?seq="+strconv.FormatInt(seq, 10)+"&size="+strconv.Itoa(size))
}

// Cosign sends the caller's party's cosignature of a checkpoint.
func (c *Client) Cosign(ctx context.Context, room string, cs auditlog.Cosignature) (*auditlog.Cosignature, error) {
	return send[auditlog.Cosignature](ctx, c, http.MethodPost, roomPath(room)+"/audit/cosignatures", cs)
}

// Incidents returns a page of a room's incidents with the room's counts.
func (c *Client) Incidents(ctx context.Context, room string, page AuditPage) (*httpapi.IncidentList, error) {
	return get[httpapi.IncidentList](ctx, c, roomPath(room)+"/incidents"+page.query())
}

// TriageIncident records a reviewer's verdict on incident seq.
func (c *Client) TriageIncident(ctx context.Context, room string, seq int64, req httpapi.TriageRequest) (*cleanroom.IncidentCounts, error) {
	return send[cleanroom.IncidentCounts](ctx, c, http.MethodPost, roomPath(room)+"/incidents/"+strconv.FormatInt(seq, 10)+"/triage", req)
}
