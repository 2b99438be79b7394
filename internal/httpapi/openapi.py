# Generates openapi.json, the API document the server serves and a test checks
# against the registered routes. Edit this file, then run:
#   python3 internal/httpapi/openapi.py
import json
def ref(n): return {"$ref": "#/components/schemas/"+n}
def body(n): return {"required": True, "content": {"application/json": {"schema": ref(n)}}}
def resp(code, desc, schema=None):
    r = {"description": desc}
    if schema: r["content"] = {"application/json": {"schema": ref(schema)}}
    return {str(code): r}
def errs(*codes):
    d = {}
    names = {429:"A rate or quota limit is reached; the message names it",503:"A party's agent did not answer in time; try again",400:"Invalid request: malformed JSON, unknown fields, bad names or values",401:"No valid token",403:"Authenticated but not allowed; the message names what is needed",404:"Not found, or not visible to the caller",409:"Conflicts with existing state",413:"Request body over 1 MiB"}
    for c in codes: d[str(c)] = {"description": names[c], "content": {"application/json": {"schema": ref("Error")}}}
    return d
def op(opid, summary, action, ok, req=None, params=None, e=(401,403), public=False):
    o = {"operationId": opid, "summary": summary}
    if action: o["x-cleanroom-action"] = action
    if public: o["security"] = []
    if params: o["parameters"] = params
    if req: o["requestBody"] = body(req)
    r = dict(ok); r.update(errs(*e)); o["responses"] = r
    return o
P = lambda n, d: {"name": n, "in": "path", "required": True, "schema": {"type": "string"}, "description": d}
Q = lambda n, d, t="integer": {"name": n, "in": "query", "required": False, "schema": {"type": t}, "description": d}
room, party, tid = P("room","Room name"), P("party","Party name"), P("id","Token ID")
dataset, upload = P("dataset","Dataset name"), P("upload","Upload session ID")
paths = {
 "/healthz": {"get": op("healthz","Liveness and database check",None,resp(200,"Healthy","Health"),e=(),public=True)},
 "/api/v1/openapi.json": {"get": op("openapi","This document",None,resp(200,"The OpenAPI document"),e=(),public=True)},
 "/api/v1/server": {"get": op("serverInfo","The room server's public keys and version",None,resp(200,"Server identity","ServerInfo"),e=(),public=True)},
 "/api/v1/whoami": {"get": op("whoami","The caller, its token and its verified roles per room","whoami",resp(200,"Caller","Whoami"),e=(401,))},
 "/api/v1/parties": {
   "post": op("createParty","Register a party with its public signing key (admin)","party.create",resp(201,"Created","Party"),req="CreatePartyRequest",e=(400,401,403,404,409,413)),
   "get": op("listParties","Parties visible to the caller","party.list",resp(200,"Parties","PartyList"))},
 "/api/v1/parties/{party}": {"get": op("showParty","A party and the rooms it is invited to","party.show",resp(200,"Party","Party"),params=[party],e=(401,403,404))},
 "/api/v1/parties/{party}/grants": {
   "post": op("submitGrant","Submit a grant or revocation signed with the party's key","grant.submit",resp(201,"Accepted","Grant"),req="SignedStatement",params=[party],e=(400,401,403,404,409,413)),
   "get": op("listGrants","The party's grants with their current status","grant.list",resp(200,"Grants","GrantList"),params=[party],e=(401,403,404))},
 "/api/v1/tokens": {
   "post": op("createToken","Mint a token for a user of a party (admin, or the user itself)","token.create",resp(201,"Created; the secret is shown once","TokenCreated"),req="CreateTokenRequest",e=(400,401,403,404,413)),
   "get": op("listTokens","The caller's tokens (admin: all)","token.list",resp(200,"Tokens","TokenList"))},
 "/api/v1/tokens/{id}": {"delete": op("revokeToken","Revoke a token (admin, or its owner)","token.revoke",resp(200,"Revoked","Token"),params=[tid],e=(401,404,409))},
 "/api/v1/rooms": {
   "post": op("createRoom","Create a room naming its host (admin)","room.create",resp(201,"Created","Room"),req="CreateRoomRequest",e=(400,401,403,404,409,413)),
   "get": op("listRooms","Rooms the caller is a member of (admin: all)","room.list",resp(200,"Rooms","RoomList"))},
 "/api/v1/rooms/{room}": {"get": op("showRoom","A room, its parties and its members' verified roles","room.show",resp(200,"Room","Room"),params=[room],e=(401,404))},
 "/api/v1/rooms/{room}/parties": {"post": op("inviteParty","Invite a party to a room (admin)","room.invite",resp(200,"The room","Room"),req="InviteRequest",params=[room],e=(400,401,403,404,409,413))},
 "/api/v1/rooms/{room}/audit": {"get": op("roomAudit","The room's audit entries (members)","room.audit",resp(200,"Entries","AuditList"),params=[room,Q("after","Return entries after this sequence number"),Q("limit","At most this many entries (1-1000)")],e=(400,401,403,404))},
 "/api/v1/rooms/{room}/datasets": {
   "post": op("createDataset","Register a dataset of the caller's party with its schema (provider)","dataset.create",resp(201,"Created","Dataset"),req="CreateDatasetRequest",params=[room],e=(400,401,403,404,409,413)),
   "get": op("listDatasets","The room's datasets, their schemas and committed versions (members)","dataset.list",resp(200,"Datasets","DatasetList"),params=[room],e=(401,403,404))},
 "/api/v1/rooms/{room}/datasets/{dataset}": {"get": op("showDataset","A dataset, its schema and committed versions (members)","dataset.show",resp(200,"Dataset","Dataset"),params=[room,dataset],e=(401,403,404))},
 "/api/v1/rooms/{room}/datasets/{dataset}/uploads": {"post": op("openUpload","Open an upload session; reserves the next version (the dataset's providers)","upload.open",resp(201,"Session","Upload"),params=[room,dataset],e=(401,403,404))},
 "/api/v1/rooms/{room}/datasets/{dataset}/uploads/{upload}": {"delete": op("abortUpload","Abort an open upload session (the user who opened it)","upload.abort",resp(200,"Aborted","Upload"),params=[room,dataset,upload],e=(401,403,404,409))},
 "/api/v1/rooms/{room}/datasets/{dataset}/uploads/{upload}/chunks/{index}": {"put": dict(op("putChunk","Store one chunk of the payload, HPKE-sealed to the server (see docs/api.md)","upload.chunk",resp(200,"Stored","Chunk"),params=[room,dataset,upload,P("index","Chunk number from 0")],e=(400,401,403,404,409,413)), requestBody={"required":True,"content":{"application/octet-stream":{"schema":{"type":"string","format":"binary"}}}})},
 "/api/v1/rooms/{room}/datasets/{dataset}/uploads/{upload}/commit": {"post": op("commitUpload","Commit the upload as a new dataset version, atomically: all rows or none (the user who opened it)","upload.commit",resp(201,"Committed","Version"),req="CommitUploadRequest",params=[room,dataset,upload],e=(400,401,403,404,409,413))},
 "/api/v1/rooms/{room}/matches": {"post": op("startMatch","Start a match run of the room's latest dataset versions; reserves the report's budget (providers)","match.run",resp(201,"Run","MatchRun"),params=[room],e=(400,401,403,404,409)),
   "get": op("listMatches","The room's match runs, newest first, each with the caller's party's part of its report (members)","match.show",resp(200,"Runs","MatchRunList"),params=[room],e=(401,403,404))},
 "/api/v1/rooms/{room}/matches/{match}": {"get": op("showMatch","A match run and the caller's party's part of its DP report (members)","match.show",resp(200,"Run","MatchRun"),params=[room,P("match","Match run ID")],e=(401,403,404))},
 "/api/v1/rooms/{room}/queries/{query}/opened": {"get": op("openedResult","The caller's party's copy of a result, opened by its agent for the web UI: the room hands the sealed copy to the agent, checks what it returns against the digest logged at release, and keeps nothing (receivers once released, reviewers while pending)","query.show",resp(200,"The release"),params=[room,P("query","Query ID")],e=(401,403,404,409,503))},
 "/api/v1/rooms/{room}/agent/opening": {"get": op("takeOpening","Wait for results the party's users want to read in the web UI, and take them (the party's agent)","agent.key",resp(200,"Results to open","OpeningJobs"),params=[room,Q("wait","How long to wait, as a Go duration up to 60s (default 25s)","string")],e=(400,401,403,404))},
 "/api/v1/rooms/{room}/agent/opening/{request}": {"post": op("postOpened","Answer a request to open a result: the release and the digest key its copy exports, or the refusal","agent.key",resp(200,"Delivered"),req="OpeningResult",params=[room,P("request","Request ID")],e=(400,401,403,404,413))},
 "/api/v1/rooms/{room}/approvals": {"post": op("approve","Hand an approval the caller made in the web UI (an agreement to sign, a template to approve) with its identity provider's ID token to the caller's party's agent, which checks and signs it (members; the agent decides)","dua.sign",resp(200,"Signed","ApprovalAnswer"),req="ApprovalRequest",params=[room],e=(400,401,403,404,413,503))},
 "/api/v1/rooms/{room}/agent/approvals": {"get": op("takeApprovals","Wait for browser approvals for the party's agent, and take them","agent.key",resp(200,"Approvals","ApprovalJobs"),params=[room,Q("wait","How long to wait, as a Go duration up to 60s (default 25s)","string")],e=(400,401,403,404))},
 "/api/v1/rooms/{room}/agent/approvals/{request}": {"post": op("answerApproval","Answer a browser approval: signed (recorded through the API), or the refusal","agent.key",resp(200,"Delivered"),req="ApprovalAnswer",params=[room,P("request","Request ID")],e=(400,401,403,404,413))},
 "/api/v1/rooms/{room}/scores": {"post": op("score","Score one applicant with a model kept for online scoring: the caller's blinded identifier, a request manifest its party signed, and its own features; the other parties' agents re-blind the identifier (the analyst of the party the template's scoring names; a declared disclosure)","score.request",resp(200,"The score: the same fields for any applicant","ScoreBody"),req="ScoreRequest",params=[room],e=(400,401,403,404,409,413,429,503))},
 "/api/v1/rooms/{room}/agent/scoring": {"get": op("takeScoring","Wait for online scoring requests for the caller's party's agent to re-blind, and take them (a provider)","agent.scoring",resp(200,"Requests","ScoringJobs"),params=[room,Q("wait","How long to wait for a request, as a Go duration up to 60s (default 25s)","string")],e=(400,401,403,404))},
 "/api/v1/rooms/{room}/agent/scoring/{request}": {"post": op("postScoringResult","Answer a scoring request: its token re-blinded, or the agent's refusal","agent.score_result",resp(200,"Delivered"),req="ScoringResult",params=[room,P("request","Scoring request ID")],e=(400,401,403,404,413))},
 "/api/v1/rooms/{room}/agent/jobs": {"get": op("listJobs","The caller's party's pending re-blinding jobs (its agent, a provider)","agent.jobs",resp(200,"Jobs","JobList"),params=[room],e=(401,403,404))},
 "/api/v1/rooms/{room}/agent/jobs/{job}": {"get": op("getJob","A re-blinding job: a peer's token set and the manifest the peer signed","agent.job",resp(200,"Job","Job"),params=[room,P("job","Job ID")],e=(401,403,404,409))},
 "/api/v1/rooms/{room}/agent/jobs/{job}/result": {"post": op("postResult","Return a job's re-blinded tokens, in the order received","agent.result",resp(200,"Recorded","JobSummary"),req="JobResult",params=[room,P("job","Job ID")],e=(400,401,403,404,409,413))},
 "/api/v1/rooms/{room}/agent/key": {"put": op("putAgentKey","Publish the caller's party's agent HPKE key for an hmac room, signed by the party","agent.key",resp(200,"Stored"),req="Envelope",params=[room],e=(400,401,403,404,413))},
 "/api/v1/rooms/{room}/agent/keys": {"get": op("listAgentKeys","Every party's signed agent key statement (members)","agent.keys",resp(200,"Keys","AgentKeyList"),params=[room],e=(401,403,404))},
 "/api/v1/rooms/{room}/hmac": {
   "get": op("getHMAC","The room's hmac secret commitment and the secret sealed to the caller's agent (providers)","hmac.get",resp(200,"State","HMACState"),params=[room],e=(400,401,403,404)),
   "post": op("putHMAC","Create the hmac secret (signed commitment) or add it sealed to parties lacking it (providers)","hmac.put",resp(200,"Stored"),req="HMACRequest",params=[room],e=(400,401,403,404,409,413))},
 "/api/v1/rooms/{room}/templates": {
   "post": op("proposeTemplate","Propose a template (YAML); a name proposed again is its next version (analysts, providers)","template.propose",resp(201,"Proposed","Template"),req="ProposeTemplateRequest",params=[room],e=(400,401,403,404,409,413)),
   "get": op("listTemplates","Every version of the room's templates and its approval state (members)","template.list",resp(200,"Templates","TemplateList"),params=[room],e=(401,403,404))},
 "/api/v1/rooms/{room}/templates/{template}": {"get": op("showTemplate","A template's newest version, or ?version=N (members)","template.show",resp(200,"Template","Template"),params=[room,P("template","Template name"),Q("version","Version number")],e=(400,401,403,404))},
 "/api/v1/rooms/{room}/templates/{template}/approvals": {"post": op("approveTemplate","A reading party's signed approval of a version's canonical digest (its providers)","template.approve",resp(200,"Recorded","Template"),req="Envelope",params=[room,P("template","Template name")],e=(400,401,403,404,409,413))},
 "/api/v1/rooms/{room}/templates/{template}/retire": {"post": op("retireTemplate","Retire a version for good (providers of reading parties)","template.retire",resp(200,"Retired","Template"),req="RetireRequest",params=[room,P("template","Template name")],e=(400,401,403,404,409,413))},
 "/api/v1/rooms/{room}/queries": {
   "post": op("runQuery","Run an approved template with parameters; a repeat of the same request returns the stored release (analysts)","query.run",resp(201,"Run; 200 for a repeat","Query"),req="RunQueryRequest",params=[room],e=(400,401,403,404,409,413)),
   "get": op("listQueries","The room's query runs, without results (members)","query.list",resp(200,"Runs","QueryList"),params=[room],e=(401,403,404))},
 "/api/v1/rooms/{room}/queries/explain": {"post": op("explainQuery","The plan, controls and utility preview of a run (noise per cell, release probability by group size); reads no data, spends nothing (members)","query.explain",resp(200,"Explanation","Explain"),req="RunQueryRequest",params=[room],e=(400,401,403,404,413))},
 "/api/v1/rooms/{room}/queries/{query}": {"get": op("showQuery","A run; its result only for the receivers once released, the reviewers while pending","query.show",resp(200,"Run","Query"),params=[room,P("query","Query ID")],e=(401,403,404))},
 "/api/v1/rooms/{room}/queries/{query}/review": {"post": op("reviewQuery","Approve or reject a result waiting for review (reviewers of the named parties)","query.review",resp(200,"Decided","Query"),req="ReviewRequest",params=[room,P("query","Query ID")],e=(400,401,403,404,409,413))},
 "/api/v1/rooms/{room}/audit/checkpoint": {"get": op("auditCheckpoint","The room log's checkpoint (RFC 9162 tree of its entries) signed by the server, with the consistency proof from ?old=N (members)","room.audit",resp(200,"Checkpoint","CheckpointBody"),params=[room,Q("old","The size of the last checkpoint the caller holds")],e=(400,401,403,404))},
 "/api/v1/rooms/{room}/incidents": {"get": op("listIncidents","The room's incidents (refused requests) with their triage and the counts of confirmed breaches and false positives (members)","incident.list",resp(200,"Incidents","IncidentList"),params=[room,Q("after","Return incidents after this sequence number"),Q("limit","At most this many incidents (1-1000)")],e=(400,401,403,404))},
 "/api/v1/rooms/{room}/incidents/{seq}/triage": {"post": op("triageIncident","Triage an incident as a confirmed breach or a false positive, once (reviewers); audited","incident.triage",resp(200,"The room's incident counts","IncidentCounts"),req="TriageRequest",params=[room,P("seq","The incident's audit sequence number")],e=(400,401,403,404,409,413))},
 "/api/v1/rooms/{room}/audit/receipt": {"get": op("auditReceipt","An inclusion receipt: entry ?seq=N, its index, and its inclusion proof under a server-signed checkpoint of the first ?size=M entries (default: all) (members)","room.audit",resp(200,"Receipt","Receipt"),params=[room,Q("seq","The entry's sequence number"),Q("size","The log size of the checkpoint to prove against")],e=(400,401,403,404))},
 "/api/v1/rooms/{room}/audit/cosignatures": {"post": op("cosignCheckpoint","Keep the caller's party's cosignature of a checkpoint of the room's log; refused (409) when the root is not this log's at that size (members)","audit.cosign",resp(201,"Kept","Cosignature"),req="Cosignature",params=[room],e=(400,401,403,404,409,413))},
 "/api/v1/rooms/{room}/duas": {
   "post": op("draftDUA","Draft a data-use agreement for the room; the server sets its version (members)","dua.draft",resp(201,"Drafted","DUABody"),req="DUA",params=[room],e=(400,401,403,404,409,413)),
   "get": op("listDUAs","The room's agreements, oldest first, with their state and the version in force (members)","dua.list",resp(200,"Agreements","DUAList"),params=[room],e=(401,403,404))},
 "/api/v1/rooms/{room}/duas/{version}": {"get": op("showDUA","An agreement: its canonical document, signatures (verified now), pending parties and state (members)","dua.show",resp(200,"Agreement","DUABody"),params=[room,P("version","Agreement version")],e=(400,401,403,404))},
 "/api/v1/rooms/{room}/duas/{version}/signatures": {"post": op("signDUA","Add the caller's party's Ed25519 signature over the agreement's canonical document (members)","dua.sign",resp(200,"Agreement","DUABody"),req="DUASignRequest",params=[room,P("version","Agreement version")],e=(400,401,403,404,409,413))},
 "/api/v1/rooms/{room}/duas/{version}/termination": {"post": op("terminateDUA","Terminate an agreement with the party's signed termination statement; the room's data is then deleted (members)","dua.terminate",resp(200,"Agreement","DUABody"),req="SignedTermination",params=[room,P("version","Agreement version")],e=(400,401,403,404,409,413))},
 "/api/v1/rooms/{room}/terms": {
   "put": op("setTerms","Set the room's commercial terms: a new version, in effect from now (admin)","billing.terms_set",resp(200,"The room's terms","TermsBody"),req="TermsRequest",params=[room],e=(400,401,403,404,413)),
   "get": op("showTerms","The room's commercial terms: the version in effect and every version (admin, members)","billing.terms_show",resp(200,"The room's terms","TermsBody"),params=[room],e=(401,404))},
 "/api/v1/billing/ledger": {"get": op("ledger","A page of a quarter's billing ledger over the rooms the caller may see: run entries, the derived subscriptions, each room's revenue (admin: all rooms; users: their rooms)","billing.ledger",resp(200,"Ledger page","LedgerBody"),params=[Q("quarter","The quarter, like 2026Q4 (default: the current one)","string"),Q("after","Return run entries after this sequence number"),Q("limit","At most this many run entries (1-10000)")],e=(400,401,403))},
 "/api/v1/dashboard": {"get": op("dashboard","The business view of a quarter: active rooms, match rates, queries, revenue, incidents, suppression and refusal rates (admin: all rooms; users: their rooms)","dashboard.show",resp(200,"Dashboard","Dashboard"),params=[Q("quarter","The quarter, like 2026Q4 (default: the current one)","string")],e=(400,401,403))},
 "/api/v1/audit": {"get": op("platformAudit","Audit entries about no room (admin)","audit.list",resp(200,"Entries","AuditList"),params=[Q("after","Return entries after this sequence number"),Q("limit","At most this many entries (1-1000)")],e=(400,401,403))},
}
S = lambda props, req=(): {"type":"object","additionalProperties":False,"required":list(req),"properties":props}
s = {"type":"string"}; dt={"type":"string","format":"date-time"}; b64={"type":"string","format":"byte"}
AMT = {"type":"integer","format":"int64","description":"Whole minor units of the currency (cents)"}
RATE = {"type":"number","nullable":True,"description":"0 to 1; null without a denominator"}
roles = {"type":"array","items":{"type":"string","enum":["provider","analyst","receiver","reviewer","payer"]}}
schemas = {
 "Error": S({"code":{"type":"string","enum":["invalid","unauthenticated","forbidden","not_found","conflict","too_large","limit_exceeded","unavailable","internal"]},"message":s,"hint":s},["code","message","hint"]),
 "Health": S({"status":s},["status"]),
 "ServerInfo": S({"name":s,"version":s,"server_id":{"type":"string","description":"Fingerprint of the signing key; grant statements name it"},"signing_key":b64,"hpke_key":b64,"hpke_suite":s}),
 "Whoami": S({"kind":{"type":"string","enum":["admin","user"]},"party":s,"user":s,"token_id":s,"token_expires_at":dt,"rooms":{"type":"object","additionalProperties":roles}}),
 "CreatePartyRequest": S({"name":s,"display_name":s,"signing_key":{"type":"string","format":"byte","description":"Standard base64 of the 32-byte Ed25519 public key"}},["name","signing_key"]),
 "Party": S({"name":s,"display_name":s,"signing_key":b64,"fingerprint":s,"created_at":dt,"rooms":{"type":"array","items":s}}),
 "PartyList": S({"parties":{"type":"array","items":ref("Party")}}),
 "GrantStatement": S({"type":{"type":"string","enum":["cleanroom.grant.v1"]},"server":s,"party":s,"user":s,"room":s,"roles":roles,"issued_at":dt,"expires_at":dt},["type","server","party","user","room","roles","issued_at","expires_at"]),
 "SignedStatement": S({"statement":ref("GrantStatement"),"signature":{"type":"string","format":"byte","description":"Ed25519 over \"cleanroom statement v1\\0\" || RFC 8785 JCS(statement)"}},["statement","signature"]),
 "Grant": S({"party":s,"user":s,"room":s,"roles":roles,"issued_at":dt,"expires_at":dt,"status":{"type":"string","enum":["active","revoked","expired","inactive","invalid"]}}),
 "GrantList": S({"grants":{"type":"array","items":ref("Grant")}}),
 "CreateTokenRequest": S({"party":s,"user":s,"ttl":{"type":"string","description":"Go duration, e.g. 720h; default 30 days, at most 366 days"},"description":s},["party","user"]),
 "Token": S({"id":s,"kind":{"type":"string","enum":["admin","user"]},"party":s,"user":s,"description":s,"created_at":dt,"expires_at":dt,"revoked_at":dt}),
 "TokenCreated": {"allOf":[ref("Token"),{"type":"object","properties":{"secret":s},"required":["secret"]}]},
 "TokenList": S({"tokens":{"type":"array","items":ref("Token")}}),
 "CreateRoomRequest": S({"name":s,"host":{"type":"string","description":"The organisation running the room server; never a provider of the room"},"description":s,"parties":{"type":"array","items":s},"matching":{"type":"string","enum":["ecdh","hmac"],"description":"Matching mode, fixed at creation; default ecdh"}},["name","host"]),
 "Member": S({"party":s,"user":s,"roles":roles,"expires_at":dt}),
 "Room": S({"name":s,"host":s,"description":s,"matching":{"type":"string","enum":["ecdh","hmac"]},"created_at":dt,"parties":{"type":"array","items":s},"members":{"type":"array","items":ref("Member")}}),
 "RoomList": S({"rooms":{"type":"array","items":ref("Room")}}),
 "InviteRequest": S({"party":s},["party"]),
 "CreateDatasetRequest": S({"name":s,"schema":{"type":"object","description":"The dataset schema: identifiers and attributes (docs/api.md)"}},["name","schema"]),
 "Version": S({"version":{"type":"integer"},"rows":{"type":"integer"},"stats":{"type":"object"},"committed_at":dt}),
 "Dataset": S({"name":s,"party":s,"room":s,"schema":{"type":"object"},"created_at":dt,"versions":{"type":"array","items":ref("Version")},"budget":S({"rho_cap":{"type":"number"},"rho_spent":{"type":"number"},"rho_reserved":{"type":"number"},"epsilon_cap":{"type":"number"},"epsilon_spent":{"type":"number"}}),"deleted":{"type":"array","items":S({"version":{"type":"integer"},"rows":{"type":"integer"},"reason":s,"deleted_at":dt})}}),
 "DatasetList": S({"datasets":{"type":"array","items":ref("Dataset")}}),
 "Upload": S({"id":s,"room":s,"dataset":s,"version":{"type":"integer"},"state":{"type":"string","enum":["open","committed","aborted"]},"chunk_size":{"type":"integer"},"server_id":s,"hpke_key":b64,"created_at":dt}),
 "CommitUploadRequest": S({"chunks":{"type":"integer"},"manifests":{"type":"array","items":{"type":"object","description":"A token manifest signed by the dataset's party, one per identifier class","properties":{"statement":{"type":"object"},"signature":b64}}}},["chunks","manifests"]),
 "MatchRun": S({"id":s,"room":s,"state":{"type":"string","enum":["waiting","done","failed"]},"datasets":{"type":"array","items":{"type":"object"}},"pending_jobs":{"type":"object","additionalProperties":{"type":"integer"}},"error":s,"report":{"type":"object","description":"The caller's party's part of the report: its own datasets' exact counts, and per pair the noisy people matched by each waterfall step"},"created_at":dt,"finished_at":dt,"noise":{"type":"object"}}),
 "MatchRunList": S({"runs":{"type":"array","items":ref("MatchRun")}}),
 "JobSummary": S({"id":s,"run":s,"dataset":s,"class":s}),
 "JobList": S({"jobs":{"type":"array","items":ref("JobSummary")}}),
 "Job": S({"id":s,"dataset":s,"version":{"type":"integer"},"party":s,"class":s,"manifest":{"type":"object"},"tokens":{"type":"array","items":b64}}),
 "JobResult": S({"tokens":{"type":"array","items":b64}},["tokens"]),
 "OpeningJobs": S({"jobs":{"type":"array","items":S({"id":s,"query":s,"party":s,"sealed":b64})}}),
 "OpeningResult": S({"release":{"type":"object"},"digest_key":b64,"refused":s}),
 "ApprovalIntent": S({"type":s,"server":s,"room":s,"party":s,"user":s,"kind":{"type":"string","enum":["agreement","template"]},"template":s,"version":{"type":"integer"},"digest":s,"salt":s,"created_at":dt}),
 "ApprovalRequest": S({"intent":ref("ApprovalIntent"),"id_token":{"type":"string","description":"The ID token the party's identity provider issued with nonce = base64url(SHA-256(JCS(intent)))"}},["intent","id_token"]),
 "ApprovalJobs": S({"jobs":{"type":"array","items":S({"id":s,"intent":ref("ApprovalIntent"),"id_token":s})}}),
 "ApprovalAnswer": S({"signed":{"type":"boolean"},"refused":s}),
 "ScoreRequest": S({"model":{"type":"string","description":"The released model run's ID"},"manifest":{"type":"object","description":"A cleanroom.manifest.v1 request manifest (request \"score:<model>\", one token, no dataset) signed by the caller's party"},"token":{"type":"string","format":"byte","description":"The applicant's identifier, normalised, hashed and blinded with the party's room key"},"features":{"type":"object","additionalProperties":s,"description":"The caller's features of the applicant, by dataset.column"}},["model","manifest","token","features"]),
 "ScoreBody": S({"model":s,"score":{"type":"number"},"bin":{"type":"string","description":"The model's public score bin"}},["model","score","bin"]),
 "ScoringJobs": S({"jobs":{"type":"array","items":S({"id":s,"party":s,"manifest":{"type":"object"},"token":b64})}}),
 "ScoringResult": S({"token":b64,"refused":{"type":"string","description":"Why the agent refused; then no token"}}),
 "Envelope": S({"statement":{"type":"object","description":"A statement (here cleanroom.agentkey.v1: server, room, party, hpke_key, issued_at)"},"signature":b64},["statement","signature"]),
 "AgentKeyList": S({"keys":{"type":"object","additionalProperties":{"type":"object"}}}),
 "HMACState": S({"commitment":{"type":"object"},"sealed":b64,"sealed_to":{"type":"array","items":s}}),
 "HMACRequest": S({"commitment":{"type":"object"},"sealed":{"type":"object","additionalProperties":b64}},["sealed"]),
 "ProposeTemplateRequest": S({"yaml":{"type":"string","description":"The template in YAML (docs/templates.md)"}},["yaml"]),
 "Template": S({"template":{"type":"object"},"digest":s,"state":{"type":"string","enum":["proposed","approved","retired"]},"proposed_by":s,"proposed_at":dt,"readers":{"type":"array","items":s},"approved_by":{"type":"array","items":s},"pending":{"type":"array","items":s},"approvals":{"type":"array","items":{"type":"object","description":"A party's signed approval: {statement, signature}"}},"stats":{"type":"object","description":"runs, refused, cells_shown, cells_suppressed over all versions"}}),
 "TemplateList": S({"templates":{"type":"array","items":ref("Template")}}),
 "RetireRequest": S({"version":{"type":"integer"}},["version"]),
 "RunQueryRequest": S({"template":s,"version":{"type":"integer"},"params":{"type":"object","additionalProperties":s},"engine":{"type":"string","enum":["duckdb","beam"]}},["template"]),
 "Query": S({"id":s,"template":s,"version":{"type":"integer"},"params":{"type":"object","additionalProperties":s},"analyst":s,"state":{"type":"string","enum":["pending_review","released","rejected"]},"receivers":{"type":"array","items":s},"review_by":{"type":"array","items":s},"repeat":{"type":"boolean"},"created_at":dt,"result":{"type":"object","description":"Released cells with noisy values, per-metric noise records (error bars), totals, suppressed cells, loss"}}),
 "Explain": S({"template":s,"version":{"type":"integer"},"plan":s,"datasets":{"type":"array","items":{"type":"object"}},"preview":{"type":"object","description":"metrics: noise per cell; keep: probability that a group of n people is shown; loss"}}),
 "QueryList": S({"queries":{"type":"array","items":ref("Query")}}),
 "ReviewRequest": S({"decision":{"type":"string","enum":["approve","reject"]}},["decision"]),
 "CheckpointBody": S({"checkpoint":{"type":"object","properties":{"server":s,"room":s,"size":{"type":"integer"},"root":b64,"signature":b64}},"proof":{"type":"array","items":b64},"cosignatures":{"type":"array","items":ref("Cosignature")},"final_size":{"type":"integer","description":"The largest log size every party of the room has cosigned"},"changed":{"type":"boolean","description":"Whether the log holds entries other than cosignatures past the caller's party's latest cosignature"}}),
 "Cosignature": S({"party":s,"size":{"type":"integer"},"root":b64,"signature":b64},["size","root","signature"]),
 "Chunk": S({"index":{"type":"integer"},"bytes":{"type":"integer"}}),
 "AuditEntry": S({"seq":{"type":"integer"},"time":dt,"actor":s,"action":s,"object":s,"room":s,"outcome":{"type":"string","enum":["ok","refused"]},"code":s,"detail":{"type":"object","additionalProperties":s},"request_id":s,"prev_hash":b64,"hash":b64}),
 "IncidentCounts": S({"total":{"type":"integer"},"breach":{"type":"integer"},"false_positive":{"type":"integer"},"untriaged":{"type":"integer"}}),
 "Incident": S({"entry":ref("AuditEntry"),"verdict":{"type":"string","enum":["breach","false_positive"]},"triaged_by":s,"triaged_at":dt,"triage_note":s}),
 "IncidentList": S({"counts":ref("IncidentCounts"),"incidents":{"type":"array","items":ref("Incident")},"next":{"type":"integer","description":"Pass as after= for the next page; 0 when there is none"}}),
 "TriageRequest": S({"verdict":{"type":"string","enum":["breach","false_positive"]},"note":s},["verdict"]),
 "Receipt": S({"entry":ref("AuditEntry"),"index":{"type":"integer"},"checkpoint":{"type":"object","properties":{"server":s,"room":s,"size":{"type":"integer"},"root":b64,"signature":b64}},"proof":{"type":"array","items":b64}}),
 "DUA": S({"type":{"type":"string","enum":["cleanroom.dua.v1"]},"server":s,"room":s,"version":{"type":"integer"},"host":s,
   "parties":{"type":"array","items":S({"name":s,"consent_attestation":s})},"purposes":{"type":"array","items":s},
   "templates":{"type":"array","items":S({"name":s,"min_version":{"type":"integer"},"max_version":{"type":"integer","description":"0: no upper bound"}})},
   "data_categories":{"type":"array","items":s},"legal_basis":s,
   "disclosures":{"type":"array","items":S({"name":s,"to":s,"purpose":s,"description":s})},
   "scale_out":{"type":"array","items":s},
   "budget":S({"rho":{"type":"number"},"epsilon":{"type":"number"},"renewal":{"type":"string","enum":["never"]}}),
   "retention_days":{"type":"integer"},"starts_at":dt,"expires_at":dt}),
 "DUABody": S({"room":s,"version":{"type":"integer"},"state":{"type":"string","enum":["draft","signed","active","expired","terminated","superseded"]},"digest":{"type":"string","description":"Hex SHA-256 of the canonical document"},
   "document":ref("DUA"),"signatures":{"type":"array","items":S({"party":s,"signature":b64,"signed_by":s,"signed_at":dt,"valid":{"type":"boolean"}})},
   "pending":{"type":"array","items":s},"drafted_by":s,"drafted_at":dt,"terminated_by":s,"terminated_at":dt,"termination":ref("SignedTermination")}),
 "DUAList": S({"agreements":{"type":"array","items":ref("DUABody")},"active":{"type":"integer","description":"The version in force; 0 for none"}}),
 "DUASignRequest": S({"signature":{"type":"string","format":"byte","description":"Ed25519 over \"cleanroom statement v1\\0\" || the canonical document"}},["signature"]),
 "SignedTermination": S({"statement":S({"type":{"type":"string","enum":["cleanroom.dua.termination.v1"]},"server":s,"room":s,"version":{"type":"integer"},"digest":s,"party":s,"reason":s,"issued_at":dt}),"signature":b64},["statement","signature"]),
 "TermsRequest": S({"currency":{"type":"string","description":"ISO 4217 code; a room's terms keep one currency"},"subscription":AMT,"run_price":AMT,"template_prices":{"type":"object","additionalProperties":AMT,"description":"Price per run of named templates; others cost run_price"},"payer":{"type":"string","description":"The room's party charged"},"seller":{"type":"string","description":"The room's party that earns (typically the operator)"}},["currency","payer","seller"]),
 "Terms": S({"room":s,"version":{"type":"integer"},"currency":s,"subscription":AMT,"run_price":AMT,"template_prices":{"type":"object","additionalProperties":AMT},"payer":s,"seller":s,"effective_from":dt,"set_by":s}),
 "TermsBody": S({"room":s,"current":{"allOf":[ref("Terms")],"nullable":True,"description":"The version in effect; null before any was set"},"versions":{"type":"array","items":ref("Terms")}}),
 "LedgerEntry": S({"seq":{"type":"integer","description":"Run entries only; subscriptions are derived"},"room":s,"quarter":{"type":"string","example":"2026Q4"},"time":dt,"kind":{"type":"string","enum":["subscription","run"]},"template":s,"version":{"type":"integer"},"query":s,"payer":s,"seller":s,"amount":AMT,"currency":s,"terms":{"type":"integer","description":"The terms version charged under"}}),
 "Revenue": S({"currency":s,"subscription":AMT,"runs":AMT,"total":AMT,"run_count":{"type":"integer"}}),
 "RoomRevenue": S({"room":s,"currency":s,"subscription":AMT,"runs":AMT,"total":AMT,"run_count":{"type":"integer"},"payer":s,"seller":s}),
 "LedgerBody": S({"quarter":s,"entries":{"type":"array","items":ref("LedgerEntry")},"subscriptions":{"type":"array","items":ref("LedgerEntry"),"description":"The quarter's subscription entries, the same on every page"},"revenue":{"type":"array","items":ref("RoomRevenue")},"next":{"type":"integer","description":"Pass as after= for the next page; 0 when there is none"}}),
 "Dashboard": S({"quarter":s,"start":dt,"end":dt,"as_of":dt,"scope":{"type":"string","description":"all (admin), else the caller's party"},"active_rooms":{"type":"integer"},"average_match_rate":RATE,"queries":{"type":"integer"},"revenue":{"type":"array","items":ref("Revenue")},"incidents":ref("IncidentCounts"),"cells_shown":{"type":"integer"},"cells_suppressed":{"type":"integer"},"suppression_rate":RATE,"attempts":{"type":"integer"},"refused":{"type":"integer"},"refusal_rate":RATE,"rooms":{"type":"array","items":ref("RoomMetrics")}}),
 "RoomMetrics": S({"room":s,"parties":{"type":"array","items":s},"active":{"type":"boolean"},"agreement":S({"version":{"type":"integer"},"state":s,"starts_at":dt,"expires_at":dt,"expires_soon":{"type":"boolean"}}),"match_rate":RATE,"match_rate_interval_95":{"type":"number"},"queries":{"type":"integer"},"repeats":{"type":"integer"},"attempts":{"type":"integer"},"refused":{"type":"integer"},"refusal_rate":RATE,"cells_shown":{"type":"integer"},"cells_suppressed":{"type":"integer"},"suppression_rate":RATE,"revenue":ref("RoomRevenue"),"templates":{"type":"array","items":S({"template":s,"runs":{"type":"integer"},"charged":AMT})},"incidents":ref("IncidentCounts"),"budgets":{"type":"array","description":"Members only","items":S({"dataset":s,"party":s,"rho_cap":{"type":"number"},"rho_used":{"type":"number"},"epsilon_cap":{"type":"number"},"epsilon_used":{"type":"number"},"used":{"type":"number"}})}}),
 "AuditList": S({"entries":{"type":"array","items":ref("AuditEntry")},"next":{"type":"integer","description":"Pass as after= for the next page; 0 when there is none"}}),
}
doc = {"openapi":"3.0.3","info":{"title":"Cleanroom room server API","version":"1","description":"The HTTP JSON API of the Cleanroom room server. Every route but the public ones needs `Authorization: Bearer <token>`. Errors share one shape (Error). State changes and refusals are written to the audit trail."},
 "servers":[{"url":"/"}],
 "security":[{"bearer":[]}],
 "components":{"securitySchemes":{"bearer":{"type":"http","scheme":"bearer"}},"schemas":schemas},
 "paths":paths}
import os
json.dump(doc, open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "openapi.json"), "w"), indent=2)
