// Package httpapi is the room server's HTTP JSON API under /api/v1, with
// /healthz, /metrics and the OpenAPI 3 document at /api/v1/openapi.json.
//
// Every route names one domain action. A request is authenticated from its
// bearer token (the user's signed grants are verified on each request),
// authorized by cleanroom.Authorize, and — for state changes — executed in
// one database transaction together with the audit entry that records it.
// Every refusal is audited too. Errors have one shape, {code, message,
// hint}; internal errors are logged and shown as a generic message.
package httpapi

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/crashpoint"
	"github.com/cleanroom-dev/cleanroom/internal/scaleout"
	"github.com/cleanroom-dev/cleanroom/internal/sqlite"
	"github.com/cleanroom-dev/cleanroom/internal/vault"
)

// MaxBodyBytes is the largest request body the JSON API accepts.
const MaxBodyBytes = 1 << 20

// Config configures a Server. DB, SigningKey and HPKEKey are required.
type Config struct {
	DB         *sqlite.DB
	Logger     *slog.Logger // default: discard
	SigningKey ed25519.PublicKey
	HPKEKey    []byte
	Version    string
	// Registry receives the server's metrics; default: a new registry.
	Registry *prometheus.Registry
	// Opener opens chunks sealed to the server's HPKE key; required for
	// uploads.
	Opener Opener
	// Vault stores dataset versions encrypted at rest; required for
	// uploads.
	Vault *vault.Store
	// UploadDir holds the sealed chunks of open upload sessions.
	UploadDir string
	// QueryMemoryLimit bounds the in-memory engine of one query run, in
	// bytes. Optional; default 2 GiB.
	QueryMemoryLimit int64
	// Engine is the engine that runs approved plans when a run names
	// none: EngineDuckDB (the default) or EngineBeam.
	Engine string
	// ScaleOut says where the Beam engine runs: Prism in this process, or
	// a job server (Flink, Spark, Prism) that the room's data-use
	// agreement names.
	ScaleOut scaleout.Options
	// Signer is the server's Ed25519 key, which signs audit checkpoints;
	// required for them.
	Signer ed25519.PrivateKey
}

// Opener opens an HPKE-sealed message (keyfile.ServerKeys implements it).
type Opener interface {
	Open(info, ciphertext []byte) ([]byte, error)
}

// Server serves the API. It is safe for concurrent use.
type Server struct {
	// reblindMu serialises the recording of re-blinded sets, resolveMu the
	// numbering of stored resolutions.
	reblindMu sync.Mutex
	resolveMu sync.Mutex
	// scoring relays online scoring requests to agents and keeps the
	// models' indexes; modelMu serialises the numbering of kept models.
	scoring *scoringHub
	modelMu sync.Mutex
	// opening relays sealed results to the parties' agents for the web UI.
	opening *scoringHub
	// approving relays browser approvals to the parties' agents.
	approving *scoringHub
	opener    Opener
	vault     *vault.Store
	uploadDir string
	queryMem  int64
	engine    string
	scaleOut  scaleout.Options
	// wake asks the retention loop to sweep now; sweepMu serialises sweeps.
	wake    chan struct{}
	sweepMu sync.Mutex
	signer  ed25519.PrivateKey

	db       *sqlite.DB
	log      *slog.Logger
	info     ServerInfo
	serverID string
	routes   []Route
	handler  http.Handler
	metrics  *metrics
}

// New builds a Server.
func New(cfg Config) (*Server, error) {
	if cfg.DB == nil {
		return nil, errors.New("httpapi: Config.DB is required")
	}
	if len(cfg.SigningKey) != ed25519.PublicKeySize {
		return nil, errors.New("httpapi: Config.SigningKey must be an Ed25519 public key")
	}
	if len(cfg.HPKEKey) == 0 {
		return nil, errors.New("httpapi: Config.HPKEKey is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if err := checkEngine(cfg.Engine, cfg.ScaleOut); err != nil {
		return nil, fmt.Errorf("httpapi: %w", err)
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	s := &Server{
		wake:      make(chan struct{}, 1),
		scoring:   newScoringHub(),
		opening:   newScoringHub(),
		approving: newScoringHub(),
		db:        cfg.DB,
		log:       cfg.Logger,
		serverID:  cleanroom.KeyFingerprint(cfg.SigningKey),
		info: ServerInfo{
			Name: "cleanroom", Version: cfg.Version,
			ServerID:   cleanroom.KeyFingerprint(cfg.SigningKey),
			SigningKey: cfg.SigningKey, HPKEKey: cfg.HPKEKey,
			HPKESuite: "DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM",
		},
		metrics:   newMetrics(cfg.Registry, cfg.DB),
		opener:    cfg.Opener,
		vault:     cfg.Vault,
		uploadDir: cfg.UploadDir,
		queryMem:  cfg.QueryMemoryLimit,
		engine:    cfg.Engine,
		scaleOut:  cfg.ScaleOut,
		signer:    cfg.Signer,
	}
	if s.queryMem == 0 {
		s.queryMem = defaultQueryMemoryLimit
	}
	s.routes = slices.Concat(s.buildRoutes(), s.datasetRoutes(), s.matchRoutes(), s.hmacRoutes(), s.templateRoutes(), s.queryRoutes(), s.scoringRoutes(), s.openingRoutes(), s.approvalRoutes(), s.incidentRoutes(), s.auditLogRoutes(), s.duaRoutes(), s.billingRoutes())
	mux := http.NewServeMux()
	for i := range s.routes {
		rt := &s.routes[i]
		mux.Handle(rt.Method+" "+rt.Pattern, s.wrap(rt))
	}
	mux.Handle("GET /metrics", promhttp.HandlerFor(cfg.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("/", s.notFound)
	s.handler = s.withRequestID(mux)
	return s, nil
}

// Handler returns the server's HTTP handler.
func (s *Server) Handler() http.Handler { return s.handler }

// ServerID returns the fingerprint of the server's signing key, which grant
// statements name.
func (s *Server) ServerID() string { return s.serverID }

// Route is one API route. Action is empty for public routes, which need no
// token. Mutates marks routes that change state: they run in a write
// transaction with their audit entry. Discloses marks reads that hand over
// data or key material (a job's tokens, a sealed key or result): they are
// audited like changes, so every member sees who fetched what.
type Route struct {
	Method    string
	Pattern   string
	Action    cleanroom.Action
	Mutates   bool
	Discloses bool
	// MaxBody is the route's request body limit; MaxBodyBytes if zero.
	MaxBody int64
	// decode parses the request body into the call before authorization
	// and may fill in the authorization target from it.
	decode func(c *call) error
	// prepare runs after authorization and before the transaction, for
	// slow work that must not hold the database's write lock. It must not
	// make anything visible: handle does that, in the transaction.
	prepare func(c *call) error
	handle  func(c *call) (int, any, error)
}

// Routes returns the registered routes (for tests and documentation).
func (s *Server) Routes() []Route { return append([]Route(nil), s.routes...) }

// call is one request in flight.
type call struct {
	s      *Server
	r      *http.Request
	p      *cleanroom.Principal
	tx     *sqlite.Tx
	target cleanroom.Target
	// body is the decoded request body, set by the route's decode.
	body any
	// beforeCommit runs inside the transaction after the audit entry is
	// appended: the last steps that make a change visible outside the
	// database.
	beforeCommit []func() error
	// onFail runs when the route's transaction does not commit.
	onFail []func()
	// afterCommit runs once the route's transaction has committed: clean-up
	// of files that must outlive a rolled-back transaction.
	afterCommit []func()
	// object, room and detail describe the request in its audit entry.
	object string
	room   string
	detail map[string]string
}

type ctxKey int

const requestIDKey ctxKey = 0

func (s *Server) withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := make([]byte, 8)
		rand.Read(b)
		id := hex.EncodeToString(b)
		w.Header().Set("X-Request-Id", id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey, id)))
	})
}

func requestID(r *http.Request) string {
	id, _ := r.Context().Value(requestIDKey).(string)
	return id
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	s.writeError(w, r, cleanroom.Errorf(cleanroom.ENotFound, "no route for %s %s", r.Method, r.URL.Path).
		WithHint("the API is described at /api/v1/openapi.json"))
}

// wrap turns a route into an http.Handler: authenticate, decode, authorize,
// execute, audit.
func (s *Server) wrap(rt *Route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		c := &call{s: s, r: r, detail: map[string]string{}}
		defer func() {
			d := time.Since(start)
			s.metrics.observe(rt, rec.status, d)
			level := slog.LevelInfo
			if rt.Action == "" {
				level = slog.LevelDebug // health checks and documents
			}
			actor := "anonymous"
			if c.p != nil {
				actor = c.p.String()
			}
			s.log.Log(r.Context(), level, "request", "method", r.Method, "route", rt.Pattern, "status", rec.status,
				"duration", d, "actor", actor, "request_id", requestID(r))
		}()
		if r.Body != nil {
			limit := rt.MaxBody
			if limit == 0 {
				limit = MaxBodyBytes
			}
			r.Body = http.MaxBytesReader(rec, r.Body, limit)
		}
		status, resp, err := s.serve(c, rt)
		if err != nil {
			s.writeError(rec, r, err)
			return
		}
		writeJSON(rec, status, resp)
	})
}

func (s *Server) serve(c *call, rt *Route) (int, any, error) {
	ctx := c.r.Context()
	if rt.Action == "" {
		var status int
		var resp any
		err := s.db.View(ctx, func(tx *sqlite.Tx) (err error) {
			c.tx = tx
			status, resp, err = rt.handle(c)
			return err
		})
		return status, resp, err
	}

	p, err := s.authenticate(ctx, c.r)
	if err != nil {
		return 0, nil, err
	}
	c.p = p
	c.object = defaultObject(c.r)
	if p.Kind == cleanroom.Anonymous {
		refusal := cleanroom.Authorize(p, rt.Action, cleanroom.Target{})
		if c.r.Header.Get("Authorization") != "" {
			refusal = cleanroom.Errorf(cleanroom.EUnauthenticated, "the API token is not valid: unknown, expired or revoked").
				WithHint("create a new token (`cleanroom token create`) or ask the platform admin for one")
		}
		return 0, nil, s.refuse(c, rt, refusal)
	}
	if rt.decode != nil {
		if err := rt.decode(c); err != nil {
			return 0, nil, s.refuse(c, rt, err)
		}
	}
	if err := s.db.View(ctx, func(tx *sqlite.Tx) error { return s.fillTarget(tx, c) }); err != nil {
		return 0, nil, err
	}
	if err := cleanroom.Authorize(p, rt.Action, c.target); err != nil {
		return 0, nil, s.refuse(c, rt, err)
	}
	if rt.prepare != nil {
		if err := rt.prepare(c); err != nil {
			if cleanroom.ErrorCode(err) == cleanroom.EInternal {
				return 0, nil, err
			}
			return 0, nil, s.refuse(c, rt, err)
		}
	}

	var status int
	var resp any
	audited := rt.Mutates || rt.Discloses
	run := s.db.View
	if audited {
		run = s.db.Update
	}
	err = run(ctx, func(tx *sqlite.Tx) (err error) {
		c.tx = tx
		status, resp, err = rt.handle(c)
		if err != nil {
			return err
		}
		if audited {
			if err := tx.AppendAudit(c.entry(rt, cleanroom.OutcomeOK, "")); err != nil {
				return err
			}
		}
		for _, f := range c.beforeCommit {
			if err := f(); err != nil {
				return err
			}
		}
		if audited {
			crashpoint.Hit("commit:" + string(rt.Action))
		}
		return nil
	})
	if err != nil {
		for _, f := range c.onFail {
			f()
		}
		if cleanroom.ErrorCode(err) == cleanroom.EInternal {
			return 0, nil, err
		}
		return 0, nil, s.refuse(c, rt, err)
	}
	for _, f := range c.afterCommit {
		f()
	}
	return status, resp, nil
}

// refuse audits a refused request in a transaction of its own and returns
// the refusal.
func (s *Server) refuse(c *call, rt *Route, refusal error) error {
	code := cleanroom.ErrorCode(refusal)
	e := c.entry(rt, cleanroom.OutcomeRefused, code)
	if err := s.db.Update(c.r.Context(), func(tx *sqlite.Tx) error { return tx.AppendAudit(e) }); err != nil {
		return fmt.Errorf("audit refusal: %w", err)
	}
	s.metrics.refusals.WithLabelValues(string(rt.Action), code).Inc()
	return refusal
}

func (c *call) entry(rt *Route, outcome, code string) *cleanroom.AuditEntry {
	room := c.room
	if room == "" && c.target.RoomExists {
		room = c.target.Room
	}
	return &cleanroom.AuditEntry{
		Actor: c.p.String(), Action: rt.Action, Object: c.object, Room: room,
		Outcome: outcome, Code: code, Detail: c.detail, RequestID: requestID(c.r),
	}
}

func defaultObject(r *http.Request) string {
	if u := r.PathValue("upload"); u != "" {
		return "upload:" + u
	}
	if j := r.PathValue("job"); j != "" {
		return "job:" + j
	}
	if t := r.PathValue("template"); t != "" {
		return "template:" + t
	}
	if q := r.PathValue("query"); q != "" {
		return "query:" + q
	}
	if m := r.PathValue("match"); m != "" {
		return "match:" + m
	}
	if d := r.PathValue("dataset"); d != "" {
		return "dataset:" + r.PathValue("room") + "/" + d
	}
	for _, k := range []string{"room", "party", "id"} {
		if v := r.PathValue(k); v != "" {
			if k == "id" {
				k = "token"
			}
			return k + ":" + v
		}
	}
	return ""
}

// fillTarget loads what authorization needs to know about the request's
// target from its path.
func (s *Server) fillTarget(tx *sqlite.Tx, c *call) error {
	t := &c.target
	if name := c.r.PathValue("room"); name != "" {
		t.Room = name
		_, err := tx.Room(name)
		switch cleanroom.ErrorCode(err) {
		case "":
			t.RoomExists = true
		case cleanroom.ENotFound:
		default:
			return err
		}
	}
	if name := c.r.PathValue("party"); name != "" {
		t.Party = name
	}
	if t.Party != "" {
		_, err := tx.Party(t.Party)
		switch cleanroom.ErrorCode(err) {
		case "":
			t.PartyExists = true
		case cleanroom.ENotFound:
		default:
			return err
		}
	}
	if name := c.r.PathValue("dataset"); name != "" && t.RoomExists {
		t.Dataset = name
		d, err := tx.Dataset(t.Room, name)
		switch cleanroom.ErrorCode(err) {
		case "":
			t.DatasetExists, t.DatasetParty = true, d.Party
		case cleanroom.ENotFound:
		default:
			return err
		}
	}
	if id := c.r.PathValue("upload"); id != "" && t.DatasetExists {
		u, err := tx.Upload(id)
		switch cleanroom.ErrorCode(err) {
		case "":
			if u.Room == t.Room && u.Dataset == t.Dataset {
				t.UploadOwner = &cleanroom.Principal{Kind: cleanroom.User, Party: u.Party, User: u.User}
			}
		case cleanroom.ENotFound:
		default:
			return err
		}
	}
	if id := c.r.PathValue("job"); id != "" && t.RoomExists {
		j, err := tx.MatchJob(t.Room, id)
		switch cleanroom.ErrorCode(err) {
		case "":
			t.JobParty = j.Party
		case cleanroom.ENotFound:
		default:
			return err
		}
	}
	if name := c.r.PathValue("template"); name != "" && t.RoomExists {
		t.Template = name
		row, err := tx.Template(t.Room, name, 0)
		switch cleanroom.ErrorCode(err) {
		case "":
			t.TemplateExists = true
			var tpl cleanroom.Template
			if err := json.Unmarshal(row.Content, &tpl); err != nil {
				return err
			}
			_, owners, err := roomSchemas(tx, t.Room)
			if err != nil {
				return err
			}
			t.TemplateReaders = tpl.Readers(owners)
		case cleanroom.ENotFound:
		default:
			return err
		}
	}
	if id := c.r.PathValue("query"); id != "" && t.RoomExists {
		t.Query = id
		q, err := tx.Query(t.Room, id)
		switch cleanroom.ErrorCode(err) {
		case "":
			t.QueryExists, t.QueryReviewBy = true, q.ReviewBy
		case cleanroom.ENotFound:
		default:
			return err
		}
	}
	if id := c.r.PathValue("id"); id != "" {
		tok, err := tx.Token(id)
		if err != nil {
			return err
		}
		if tok != nil {
			t.TokenOwner = tok.Owner()
		}
	}
	return nil
}

// authenticate resolves the bearer token to a principal. A request without
// a token is anonymous; a bad, expired or revoked token is an error.
func (s *Server) authenticate(ctx context.Context, r *http.Request) (*cleanroom.Principal, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return &cleanroom.Principal{}, nil
	}
	secret, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || !cleanroom.LooksLikeToken(secret) {
		return &cleanroom.Principal{}, nil
	}
	var p *cleanroom.Principal
	err := s.db.View(ctx, func(tx *sqlite.Tx) error {
		tok, err := tx.TokenByHash(cleanroom.HashToken(secret))
		if err != nil || tok == nil || !tok.ActiveAt(tx.Now()) {
			return err
		}
		p = tok.Owner()
		if p.Kind != cleanroom.User || tok.AdminMinted {
			// An admin-minted token authenticates its user but carries
			// none of the party's grants.
			return nil
		}
		stored, err := tx.GrantsOfUser(p.Party, p.User)
		if err != nil {
			return err
		}
		p.Rooms = map[string][]cleanroom.Role{}
		for _, sg := range stored {
			g, status, err := s.verifyGrant(tx, sg)
			if err != nil {
				return err
			}
			if status != "active" {
				continue
			}
			ok, err := admitted(tx, g.Room, p.Party)
			if err != nil {
				return err
			}
			if ok {
				p.Rooms[g.Room] = g.Roles
			} else {
				if p.Joining == nil {
					p.Joining = map[string][]cleanroom.Role{}
				}
				p.Joining[g.Room] = g.Roles
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if p == nil {
		// An unknown, expired or revoked token authenticates no one; the
		// refusal names no reason, so a stolen token's holder learns
		// nothing about it.
		return &cleanroom.Principal{}, nil
	}
	return p, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// statusOf maps a domain error code to an HTTP status: the one place this
// mapping lives.
func statusOf(code string) int {
	switch code {
	case cleanroom.EInvalid:
		return http.StatusBadRequest
	case cleanroom.EUnauthenticated:
		return http.StatusUnauthorized
	case cleanroom.EForbidden:
		return http.StatusForbidden
	case cleanroom.ENotFound:
		return http.StatusNotFound
	case cleanroom.EConflict:
		return http.StatusConflict
	case cleanroom.ETooLarge:
		return http.StatusRequestEntityTooLarge
	case cleanroom.ELimit:
		return http.StatusTooManyRequests
	case cleanroom.EUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := cleanroom.ErrorCode(err)
	if code == cleanroom.EInternal && r.Context().Err() != nil {
		// The client went away or the server is shutting down (a long
		// poll, typically): nothing failed.
		s.log.DebugContext(r.Context(), "request cancelled", "method", r.Method, "path", r.URL.Path, "request_id", requestID(r), "err", err)
	} else if code == cleanroom.EInternal {
		s.log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path,
			"request_id", requestID(r), "err", err)
	}
	msg, hint := cleanroom.ErrorMessage(err)
	if code == cleanroom.EUnauthenticated {
		w.Header().Set("WWW-Authenticate", `Bearer realm="cleanroom"`)
	}
	writeJSON(w, statusOf(code), ErrorBody{Code: code, Message: msg, Hint: hint})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}
