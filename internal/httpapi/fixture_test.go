package httpapi

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/ed25519"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/keyfile"
	"github.com/cleanroom-dev/cleanroom/internal/sqlite"
	"github.com/cleanroom-dev/cleanroom/internal/statement"
	"github.com/cleanroom-dev/cleanroom/internal/vault"
)

// fixture is a running API with a populated database:
//
//   - parties operator, bank, other and late (not in any room);
//   - room r1 hosted by "neutral" with operator and bank, room r2 with other,
//     each under an agreement in force (testDUA);
//   - one bank user per role in r1 (u-provider, u-analyst, ...), each
//     holding only that role, and other/olga with the analyst role in r2;
//   - bank/nora, whose token the admin minted but whom the bank never
//     granted anything;
//   - a revoked and an expired token.
type fixture struct {
	t      testing.TB
	db     *sqlite.DB
	dbPath string
	srv    *Server
	http   *httptest.Server
	now    time.Time
	keys   map[string]ed25519.PrivateKey
	tokens map[string]string // principal name → secret
	ids    map[string]string // principal name → token ID
	// upload is an open upload session of u-provider to bank-customers.
	upload    string
	uploadDir string
	vaultDir  string
	// agentPrivs are the parties' agent keys made by agentKey.
	agentPrivs map[string]*ecdh.PrivateKey
	// master is the server's master key, which wraps the datasets' KEKs.
	master [32]byte
	// again, when set, makes a fresh body for a request that may be sent
	// only once.
	again func() any
}

// principals are the callers every route is checked for.
var principals = []string{
	"admin", "provider", "analyst", "receiver", "reviewer", "payer",
	"outsider", "nogrant", "revoked", "expired", "none",
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{t: t, now: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC),
		keys: map[string]ed25519.PrivateKey{}, tokens: map[string]string{}, ids: map[string]string{}}
	f.dbPath = filepath.Join(t.TempDir(), "cleanroom.db")
	db, err := sqlite.Open(ctx, f.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	db.Now = func() time.Time { return f.now }
	f.db = db
	keys, err := keyfile.CreateServer(filepath.Join(t.TempDir(), "keys"))
	if err != nil {
		t.Fatal(err)
	}
	f.master = keys.KEK
	f.vaultDir = filepath.Join(t.TempDir(), "datasets")
	vs, err := vault.Open(f.vaultDir, vault.NewLocalWrapper(keys.KEK))
	if err != nil {
		t.Fatal(err)
	}
	f.uploadDir = filepath.Join(t.TempDir(), "uploads")
	f.srv, err = New(Config{DB: db, SigningKey: keys.SigningPublic(), HPKEKey: keys.HPKEPublic(), Version: "test",
		Opener: keys, Vault: vs, UploadDir: f.uploadDir, Signer: keys.Signing, Engine: testEngine()})
	if err != nil {
		t.Fatal(err)
	}
	f.http = httptest.NewServer(f.srv.Handler())
	t.Cleanup(f.http.Close)

	err = db.Update(ctx, func(tx *sqlite.Tx) error {
		for _, name := range []string{"operator", "bank", "other", "late"} {
			pub, priv, _ := ed25519.GenerateKey(nil)
			f.keys[name] = priv
			if err := tx.CreateParty(&cleanroom.Party{Name: name, DisplayName: name, SigningKey: pub, CreatedAt: f.now}); err != nil {
				return err
			}
		}
		for _, r := range []cleanroom.Room{
			{Name: "r1", Host: "neutral", Parties: []string{"bank", "operator"}, CreatedAt: f.now},
			{Name: "r2", Host: "neutral", Parties: []string{"other"}, CreatedAt: f.now},
		} {
			if err := tx.CreateRoom(&r); err != nil {
				return err
			}
		}
		f.putDUA(tx, f.testDUA("r1", 1, "bank", "operator"), "bank", "operator")
		f.putDUA(tx, f.testDUA("r2", 1, "other"), "other")
		f.addToken(tx, "admin", cleanroom.Admin, "", "", time.Hour)
		for _, role := range cleanroom.Roles {
			user := "u-" + string(role)
			f.addToken(tx, string(role), cleanroom.User, "bank", user, time.Hour)
			f.putGrant(tx, "bank", user, "r1", role)
		}
		f.addToken(tx, "outsider", cleanroom.User, "other", "olga", time.Hour)
		f.putGrant(tx, "other", "olga", "r2", cleanroom.RoleAnalyst)
		f.addToken(tx, "nogrant", cleanroom.User, "bank", "nora", time.Hour)
		f.addToken(tx, "revoked", cleanroom.User, "bank", "u-analyst", time.Hour)
		if err := tx.RevokeToken(f.ids["revoked"]); err != nil {
			return err
		}
		f.addToken(tx, "expired", cleanroom.User, "bank", "u-analyst", time.Minute)
		if err := tx.CreateDataset(sqlite.DatasetRecord{Room: "r1", Name: "bank-customers", Party: "bank",
			Schema: []byte(testSchema), CreatedAt: f.now}); err != nil {
			return err
		}
		u := &sqlite.UploadRecord{ID: "up1", Room: "r1", Dataset: "bank-customers", Party: "bank", User: "u-provider", CreatedAt: f.now}
		if err := tx.OpenUpload(u); err != nil {
			return err
		}
		f.upload = u.ID
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	f.now = f.now.Add(10 * time.Minute) // the "expired" token is now past its lifetime
	return f
}

// testSchema is the schema of the fixture's dataset.
const testSchema = `{"identifiers":[{"column":"phone","class":"phone","priority":1}],
	"attributes":[{"column":"tier","type":"string","policy":"dimension","categories":["basic","premium"]}]}`

func (f *fixture) addToken(tx *sqlite.Tx, name string, kind cleanroom.PrincipalKind, party, user string, ttl time.Duration) {
	f.t.Helper()
	if kind == cleanroom.User {
		if err := tx.EnsureUser(party, user); err != nil {
			f.t.Fatal(err)
		}
	}
	id, secret := cleanroom.NewTokenSecret()
	tok := &cleanroom.Token{ID: id, Kind: kind, Party: party, User: user, CreatedAt: f.now, ExpiresAt: f.now.Add(ttl)}
	if err := tx.CreateToken(tok, cleanroom.HashToken(secret)); err != nil {
		f.t.Fatal(err)
	}
	f.tokens[name], f.ids[name] = secret, id
}

// grant returns a statement signed with the key of signer.
func (f *fixture) grant(signer, party, user, room string, roles ...cleanroom.Role) statement.Envelope {
	f.t.Helper()
	g := cleanroom.GrantStatement{Type: cleanroom.GrantType, Server: f.srv.ServerID(), Party: party, User: user, Room: room,
		Roles: roles, IssuedAt: f.now, ExpiresAt: f.now.Add(24 * time.Hour)}
	env, err := statement.Sign(f.keys[signer], g)
	if err != nil {
		f.t.Fatal(err)
	}
	return env
}

func (f *fixture) putGrant(tx *sqlite.Tx, party, user, room string, roles ...cleanroom.Role) {
	f.t.Helper()
	raw, _ := json.Marshal(f.grant(party, party, user, room, roles...))
	if err := tx.PutGrant(sqlite.StoredGrant{Party: party, User: user, Room: room, Envelope: raw, IssuedAt: f.now}); err != nil {
		f.t.Fatal(err)
	}
}

// do sends a request as the named principal and returns the status and
// body.
func (f *fixture) do(who, method, path string, body any) (int, []byte) {
	f.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		r = bytes.NewReader(b)
	case string:
		r = bytes.NewReader([]byte(b))
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			f.t.Fatal(err)
		}
		r = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, f.http.URL+path, r)
	if err != nil {
		f.t.Fatal(err)
	}
	if tok := f.tokens[who]; tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := f.http.Client().Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// counts returns the number of rows of every table.
func (f *fixture) counts() map[string]int {
	f.t.Helper()
	out := map[string]int{}
	err := f.db.View(context.Background(), func(tx *sqlite.Tx) error {
		for _, t := range []string{"parties", "users", "tokens", "rooms", "room_parties", "grants", "audit_log",
			"datasets", "dataset_versions", "manifests", "uploads", "duas", "dua_signatures"} {
			n, err := tx.Count(t)
			if err != nil {
				return err
			}
			out[t] = n
		}
		return nil
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return out
}

// lastAudit returns the newest audit entry.
func (f *fixture) lastAudit() cleanroom.AuditEntry {
	f.t.Helper()
	var es []cleanroom.AuditEntry
	err := f.db.View(context.Background(), func(tx *sqlite.Tx) (err error) {
		es, err = tx.Audit(sqlite.AuditFilter{})
		return err
	})
	if err != nil || len(es) == 0 {
		f.t.Fatalf("read audit log: %v (%d entries)", err, len(es))
	}
	return es[len(es)-1]
}

// auditSince returns the audit entries after the first n.
func (f *fixture) auditSince(n int) []cleanroom.AuditEntry {
	f.t.Helper()
	var es []cleanroom.AuditEntry
	err := f.db.View(context.Background(), func(tx *sqlite.Tx) (err error) {
		es, err = tx.Audit(sqlite.AuditFilter{})
		return err
	})
	if err != nil || len(es) < n {
		f.t.Fatalf("read audit log: %v (%d entries)", err, len(es))
	}
	return es[n:]
}

// testEngine is the engine the fixture's server runs plans on: DuckDB, or
// with CLEANROOM_TEST_ENGINE=beam (in a binary built with -tags beam) the
// Beam engine on Prism, so that every test of runs, output controls,
// budgets and audit can be run against either (make test does both).
func testEngine() string { return os.Getenv("CLEANROOM_TEST_ENGINE") }

// testEngineLabel is what a run records as its engine.
func testEngineLabel() string {
	if testEngine() == EngineBeam {
		return "beam/prism"
	}
	return EngineDuckDB
}
