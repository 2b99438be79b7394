package main

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/agent"
	"github.com/cleanroom-dev/cleanroom/internal/client"
	"github.com/cleanroom-dev/cleanroom/internal/httpapi"
	"github.com/cleanroom-dev/cleanroom/internal/keyfile"
	"github.com/cleanroom-dev/cleanroom/internal/library"
	"github.com/cleanroom-dev/cleanroom/internal/release"
	"github.com/cleanroom-dev/cleanroom/internal/scaleout"
	"github.com/cleanroom-dev/cleanroom/internal/sqlite"
	"github.com/cleanroom-dev/cleanroom/internal/statement"
	"github.com/cleanroom-dev/cleanroom/internal/synth"
	"github.com/cleanroom-dev/cleanroom/internal/template"
	"github.com/cleanroom-dev/cleanroom/internal/tlscert"
	"github.com/cleanroom-dev/cleanroom/internal/webui"
)

func init() { commands = append(commands, newDemoCmd) }

// The demo's room: an operator, a bank and an advertiser, hosted by a
// neutral processor.
const (
	demoRoom = "operator-bank"
	demoHost = "neutral-processor"
)

// demoUser is a party's user in the demo room and the roles its party
// grants it.
type demoUser struct {
	party, display, user string
	roles                []cleanroom.Role
}

var demoUsers = []demoUser{
	{"operator", "Operator (telecom)", "olivia", []cleanroom.Role{cleanroom.RoleProvider, cleanroom.RoleAnalyst, cleanroom.RoleReceiver}},
	{"bank", "Bank", "ben", []cleanroom.Role{cleanroom.RoleProvider, cleanroom.RoleAnalyst, cleanroom.RoleReceiver, cleanroom.RoleReviewer, cleanroom.RolePayer}},
	{"advertiser", "Advertiser (retailer)", "ada", []cleanroom.Role{cleanroom.RoleProvider, cleanroom.RoleAnalyst, cleanroom.RoleReceiver}},
}

// demoParties returns the names of the demo's parties, in demoUsers'
// order.
func demoParties() []string {
	out := make([]string, len(demoUsers))
	for i, u := range demoUsers {
		out[i] = u.party
	}
	return out
}

// andList joins names as in "operator, bank and advertiser".
func andList(names []string) string {
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

// DemoConfig configures `cleanroom demo`.
type DemoConfig struct {
	DataDir string
	Addr    string
	// Engine runs the room's plans and prepares the uploads: "duckdb"
	// (and local preparation) by default, or "beam" (docs/scale-out.md).
	Engine string
	// Workers, with Engine "beam", is a scale-out worker pool (cleanroom
	// scaleout-worker on the same data directory) that runs the plans'
	// steps; the room's agreement names it.
	Workers string
	// NoServe stops after setting the room up instead of serving it.
	NoServe bool
	// Subscribers and Customers size the synthetic data: the operator's
	// subscribers, and the bank's customers and the advertiser's shoppers
	// each.
	Subscribers, Customers int
	// Synth, when set, is the synthetic data's whole configuration (tests
	// plant stronger effects); Subscribers and Customers are then unused.
	Synth *synth.Config
	// Summary, when set, receives the run's summary (--once --json).
	Summary io.Writer
	// providers are the demo parties' identity providers, when serving.
	providers []webui.Provider
}

// demoSession is what the demo set up, printed at the end.
type demoSession struct {
	URL      string            `json:"url"`
	CA       string            `json:"ca"`
	Room     string            `json:"room"`
	Admin    string            `json:"admin_token"`
	Users    map[string]string `json:"user_tokens"`
	SynthDir string            `json:"synth_dir"`
	Match    string            `json:"match_run"`
	Query    string            `json:"query"`
	// Queries are the library runs, by template.
	Queries map[string]string `json:"queries,omitempty"`
	// releases are the library runs' results as their receivers opened
	// them, by template, for the --json summary.
	releases map[string]*release.Release
	// scores are the applicants the bank scored online.
	scores []demoScore
}

// runDemo initialises (or reuses) a data directory, starts the server, and
// drives the API as the platform admin and as each party would: parties
// registered with keys of their own, a room, grants signed by each party,
// tokens for the parties' users, and synthetic data.
func runDemo(ctx context.Context, cfg DemoConfig, out io.Writer, logger *slog.Logger) error {
	dbPath, _, certPath, _ := dataPaths(cfg.DataDir)
	step := func(format string, args ...any) { fmt.Fprintf(out, "==> "+format+"\n", args...) }

	var adminToken string
	if _, err := os.Stat(dbPath); errors.Is(err, fs.ErrNotExist) {
		step("initialising %s", cfg.DataDir)
		res, err := initDataDir(ctx, cfg.DataDir, nil)
		if err != nil {
			return err
		}
		adminToken = res.AdminToken
	} else {
		step("reusing %s", cfg.DataDir)
		db, err := sqlite.Open(ctx, dbPath)
		if err != nil {
			return err
		}
		_, adminToken, err = mintAdminToken(ctx, db, "created by cleanroom demo")
		db.Close()
		if err != nil {
			return err
		}
	}

	// The web UI signs each party's demo user in through an identity
	// provider of the party's own, started here on loopback.
	var providers []webui.Provider
	if !cfg.NoServe {
		ps, stopIdPs, err := demoIdentityProviders()
		if err != nil {
			return fmt.Errorf("demo identity providers: %w", err)
		}
		defer stopIdPs()
		providers = ps
		cfg.providers = ps
	}
	m := NewMain(ServeConfig{DataDir: cfg.DataDir, Addr: cfg.Addr, Providers: providers, Engine: cfg.Engine,
		ScaleOut: scaleout.Options{Workers: cfg.Workers}}, logger)
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- m.Run(sctx) }()
	select {
	case <-m.Ready():
	case err := <-done:
		return err
	}
	step("room server listening on %s", m.URL())

	tc, err := tlscert.ClientConfig(certPath)
	if err != nil {
		return err
	}
	admin := client.New(m.URL(), adminToken, tc)
	// The room is set up under the server's context: the operator's
	// agent, left answering scoring requests, stops with the server.
	session, err := setUpDemoRoom(sctx, cfg, admin, out, step)
	if err != nil {
		stop()
		<-done
		return err
	}
	session.URL, session.CA, session.Admin = m.URL(), certPath, adminToken
	if err := writeSecretJSON(filepath.Join(cfg.DataDir, "demo-session.json"), session); err != nil {
		stop()
		<-done
		return err
	}
	if cfg.Summary != nil {
		sum, err := demoSummaryOf(ctx, cfg, admin, session)
		if err != nil {
			stop()
			<-done
			return err
		}
		if err := printJSON(cfg.Summary, sum); err != nil {
			stop()
			<-done
			return err
		}
	}
	if cfg.NoServe {
		fmt.Fprintf(out, "\nCleanroom demo is set up; not serving (--no-serve).\n")
		stop()
		return <-done
	}
	printDemoSummary(out, session)
	fmt.Fprintf(out, "\nServing until Ctrl-C.\n")
	return <-done
}

func setUpDemoRoom(ctx context.Context, cfg DemoConfig, admin *client.Client, out io.Writer, step func(string, ...any)) (*demoSession, error) {
	info, err := admin.ServerInfo(ctx)
	if err != nil {
		return nil, err
	}
	session := &demoSession{Room: demoRoom, Users: map[string]string{}}
	keys := map[string]*keyfile.PartyKeys{}
	for _, u := range demoUsers {
		// Each party's keys live in a directory of its own, standing for
		// the party's premises; only the public key is sent.
		dir := filepath.Join(cfg.DataDir, "parties", u.party, "keys")
		k, err := keyfile.LoadParty(dir)
		if errors.Is(err, fs.ErrNotExist) {
			k, err = keyfile.CreateParty(dir)
		}
		if err != nil {
			return nil, err
		}
		keys[u.party] = k
		if _, err := admin.ShowParty(ctx, u.party); isNotFound(err) {
			_, err = admin.CreateParty(ctx, httpapi.CreatePartyRequest{Name: u.party, DisplayName: u.display, SigningKey: cleanroom.EncodeKey(k.Public())})
			if err != nil {
				return nil, fmt.Errorf("register party %s: %w", u.party, err)
			}
		} else if err != nil {
			return nil, err
		}
		step("party %s registered (signing key %s, keys in %s)", u.party, k.Fingerprint(), dir)
	}
	r, err := admin.ShowRoom(ctx, demoRoom)
	if isNotFound(err) {
		_, err = admin.CreateRoom(ctx, httpapi.CreateRoomRequest{Name: demoRoom, Host: demoHost,
			Description: "Demo: an operator, a bank and an advertiser answer agreed questions over their joined customers.",
			Parties:     demoParties()})
		if err != nil {
			return nil, fmt.Errorf("create room: %w", err)
		}
	} else if err != nil {
		return nil, err
	} else if missing := slices.DeleteFunc(demoParties(), func(p string) bool { return slices.Contains(r.Parties, p) }); len(missing) > 0 {
		// An earlier demo set the room up without these parties, and
		// its datasets under the names they would use.
		return nil, withHint(fmt.Errorf("room %s in %s was set up by an earlier demo, without the party %s", demoRoom, cfg.DataDir, andList(missing)),
			fmt.Sprintf("`make clean` (or removing %s) starts the demo afresh", cfg.DataDir))
	}
	step("room %s hosted by %s, with parties %s", demoRoom, demoHost, andList(demoParties()))

	for _, u := range demoUsers {
		now := time.Now().UTC()
		g := cleanroom.GrantStatement{Type: cleanroom.GrantType, Server: info.ServerID, Party: u.party, User: u.user,
			Room: demoRoom, Roles: u.roles, IssuedAt: now, ExpiresAt: now.Add(365 * 24 * time.Hour)}
		env, err := statement.Sign(keys[u.party].Signing, g)
		if err != nil {
			return nil, err
		}
		if _, err := admin.SubmitGrant(ctx, u.party, env); err != nil {
			return nil, fmt.Errorf("grant %s/%s: %w", u.party, u.user, err)
		}
		tok, err := admin.CreatePartyToken(ctx, httpapi.CreateTokenRequest{Party: u.party, User: u.user, TTL: "720h", Description: "demo"}, keys[u.party].Signing)
		if err != nil {
			return nil, fmt.Errorf("token for %s/%s: %w", u.party, u.user, err)
		}
		session.Users[u.party+"/"+u.user] = tok.Secret
		step("%s signed a grant for %s: %s", u.party, u.user, roleString(u.roles))
	}

	if err := demoAgreement(ctx, admin, session, keys, info.ServerID, cfg.Workers, step); err != nil {
		return nil, err
	}

	synthDir := filepath.Join(cfg.DataDir, "synth")
	session.SynthDir = synthDir
	if err := demoSynth(ctx, cfg, synthDir, step); err != nil {
		return nil, err
	}

	// Each provider registers its dataset and uploads the synthetic file,
	// prepared and blinded with its own keys.
	for _, d := range demoDatasets {
		u := demoUserOf(d.party)
		c := admin.WithToken(session.Users[u.party+"/"+u.user])
		existing, err := c.ShowDataset(ctx, demoRoom, d.name)
		if err == nil && len(existing.Versions) > 0 {
			v := existing.Versions[len(existing.Versions)-1]
			step("dataset %s of %s (reused): version %d, %d rows", d.name, d.party, v.Version, v.Rows)
			continue
		}
		if isNotFound(err) {
			schema, err := demoSchemas.ReadFile("demodata/" + d.name + ".schema.json")
			if err != nil {
				return nil, err
			}
			if _, err := c.CreateDataset(ctx, demoRoom, d.name, schema); err != nil {
				return nil, fmt.Errorf("register dataset %s: %w", d.name, err)
			}
		} else if err != nil {
			return nil, err
		}
		res, err := uploadDataset(ctx, c, d.name, uploadFlags{room: demoRoom, file: filepath.Join(synthDir, d.file), country: "RU", engine: uploadEngine(cfg.Engine)}, keys[d.party], out)
		if err != nil {
			return nil, fmt.Errorf("upload dataset %s: %w", d.name, err)
		}
		step("%s/%s uploaded %s as version %d of dataset %s: %d rows, blinded on the party's side", u.party, u.user, d.file,
			res.Version.Version, d.name, res.Version.Rows)
	}

	// Matching: the room relays each party's token set to the other
	// party's agent, which re-blinds it only under the peer's signed
	// manifest; then the room resolves people and releases a DP report.
	olivia := admin.WithToken(session.Users["operator/olivia"])
	run, err := olivia.StartMatch(ctx, demoRoom)
	if err != nil {
		return nil, fmt.Errorf("start matching: %w", err)
	}
	for _, u := range demoUsers {
		a, err := agent.New(ctx, admin.WithToken(session.Users[u.party+"/"+u.user]), demoRoom, keys[u.party],
			filepath.Join(cfg.DataDir, "parties", u.party, "agent"), nil)
		if err != nil {
			return nil, fmt.Errorf("agent of %s: %w", u.party, err)
		}
		n, err := a.RunOnce(ctx)
		if err != nil {
			return nil, fmt.Errorf("agent of %s: %w", u.party, err)
		}
		step("the agent of %s re-blinded %d token sets of its peer", u.party, n)
	}
	if err := demoApproveTemplates(ctx, admin, session, keys, info.ServerID, step); err != nil {
		return nil, err
	}
	if run, err = olivia.ShowMatch(ctx, demoRoom, run.ID); err != nil {
		return nil, err
	}
	if run.State != "done" || run.Report == nil {
		return nil, fmt.Errorf("match run %s is %s %s", run.ID, run.State, run.Error)
	}
	session.Match = run.ID
	for _, p := range run.Report.Pairs {
		matched := "fewer than " + fmt.Sprint(p.MinReported)
		if p.Matched >= 0 {
			matched = fmt.Sprintf("%d ± %.0f", p.Matched, p.Interval95*math.Sqrt(float64(len(p.Steps))))
		}
		steps := ""
		for _, s := range p.Steps {
			steps += fmt.Sprintf(" %s +%d", s.Class, s.Added)
		}
		rate := ""
		for _, d := range p.Datasets {
			if r, ok := p.MatchRate[d]; ok && (d == "subscribers" || d == "exposures") {
				rate = fmt.Sprintf(", match rate of %s %.1f %%", d, 100*r)
			}
		}
		step("match report for operator: %s × %s matched %s people (waterfall:%s)%s", p.Datasets[0], p.Datasets[1], matched, steps, rate)
	}

	// Segment sizing: the operator's analyst runs an approved template, the
	// bank reviews the result, the operator receives it.
	q, err := olivia.RunQuery(ctx, demoRoom, httpapi.RunQueryRequest{Template: "tier-by-default-flag",
		Params: map[string]string{"flag": "false", "since": "2010-01-01"}})
	if err != nil {
		return nil, fmt.Errorf("run query: %w", err)
	}
	ben := admin.WithToken(session.Users["bank/ben"])
	if q.State == "pending_review" {
		if _, err := ben.ReviewQuery(ctx, demoRoom, q.ID, "approve"); err != nil {
			return nil, fmt.Errorf("review query: %w", err)
		}
		step("bank/ben reviewed and approved query %s", q.ID)
	}
	if q, err = olivia.ShowQuery(ctx, demoRoom, q.ID); err != nil {
		return nil, err
	}
	session.Query = q.ID
	step("operator/olivia ran tier-by-default-flag (flag=false, since=2010-01-01); the result, sealed to the operator's agent key, opened:")
	raw, _, err := agent.OpenRelease(filepath.Join(cfg.DataDir, "parties", "operator", "agent"), info.ServerID, demoRoom, q.ID, "operator", q.Sealed)
	if err != nil {
		return nil, fmt.Errorf("open the released result: %w", err)
	}
	var rel release.Release
	if err := json.Unmarshal(raw, &rel); err != nil {
		return nil, err
	}
	if err := printQuery(out, q, &rel); err != nil {
		return nil, err
	}
	// The library's use cases: segment sizing, released to the operator
	// and the bank and read by the operator; attribution and lift of the
	// advertiser's campaigns on the operator's channels, run and read by
	// the advertiser; and the joint credit-risk model and look-alike
	// audiences, run and read by the bank.
	for _, run := range []struct {
		template, user string
		params         map[string]string
	}{
		{"premium-product-uptake", "operator/olivia", map[string]string{"product": "mortgage"}},
		{"travel-spend-segments", "operator/olivia", map[string]string{"tier": "premium"}},
		{"campaign-lift", "advertiser/ada", nil},
		{"joint-credit-risk-scoring", "bank/ben", nil},
		{"mortgage-lookalike", "bank/ben", nil},
	} {
		party, _, _ := strings.Cut(run.user, "/")
		c := admin.WithToken(session.Users[run.user])
		q, err := c.RunQuery(ctx, demoRoom, httpapi.RunQueryRequest{Template: run.template, Params: run.params})
		if apiErr := (*client.APIError)(nil); errors.As(err, &apiErr) && apiErr.Code != cleanroom.EInternal {
			// An output control or the budget refused the run (a seed
			// below the minimum on small demo data, a budget spent by
			// earlier runs of the demo, a template an older demo
			// directory's datasets do not fit): that is the product
			// working; the main path above already ran.
			step("%s ran %s: refused: %v", run.user, run.template, err)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("run %s: %w", run.template, err)
		}
		raw, _, err := agent.OpenRelease(filepath.Join(cfg.DataDir, "parties", party, "agent"), info.ServerID, demoRoom, q.ID, party, q.Sealed)
		if err != nil {
			return nil, fmt.Errorf("open the released result: %w", err)
		}
		var rel release.Release
		if err := json.Unmarshal(raw, &rel); err != nil {
			return nil, err
		}
		var ps []string
		for k, v := range run.params {
			ps = append(ps, k+"="+v)
		}
		slices.Sort(ps)
		if session.Queries == nil {
			session.Queries = map[string]string{}
		}
		session.Queries[run.template] = q.ID
		if session.releases == nil {
			session.releases = map[string]*release.Release{}
		}
		session.releases[run.template] = &rel
		step("%s ran %s (%s); released to %s:", run.user, run.template, strings.Join(ps, ", "), strings.Join(q.Receivers, " and "))
		if err := printQuery(out, q, &rel); err != nil {
			return nil, err
		}
	}
	// Online scoring under the kept joint model, a declared disclosure of
	// per-person scores to the bank.
	if id := session.Queries["joint-credit-risk-scoring"]; id != "" {
		if session.scores, err = demoScoring(ctx, cfg, admin, session, keys, id, step); err != nil {
			return nil, err
		}
	}
	return session, nil
}

//go:embed demodata/*.schema.json
var demoSchemas embed.FS

//go:embed demodata/dua.yaml
var demoDUA []byte

// demoAgreement has the operator draft the room's data-use agreement and
// every party sign it, each with its own key, unless one is in force.
func demoAgreement(ctx context.Context, admin *client.Client, session *demoSession, keys map[string]*keyfile.PartyKeys,
	server, workers string, step func(string, ...any)) error {
	olivia := admin.WithToken(session.Users["operator/olivia"])
	l, err := olivia.ListDUAs(ctx, demoRoom)
	if err != nil {
		return err
	}
	if l.Active > 0 {
		step("data-use agreement version %d (reused): active", l.Active)
		return nil
	}
	d, err := readDUABytes(demoDUA)
	if err != nil {
		return fmt.Errorf("demo agreement: %w", err)
	}
	d.Type, d.Server, d.Room = cleanroom.DUAType, server, demoRoom
	if workers != "" {
		d.ScaleOut = []string{workers}
	}
	d.StartsAt = time.Now().UTC().Truncate(time.Second)
	d.ExpiresAt = d.StartsAt.AddDate(1, 0, 0)
	b, err := olivia.DraftDUA(ctx, demoRoom, d)
	if err != nil {
		return fmt.Errorf("draft the agreement: %w", err)
	}
	for _, u := range demoUsers {
		env, err := statement.Sign(keys[u.party].Signing, b.Document)
		if err != nil {
			return err
		}
		if b, err = admin.WithToken(session.Users[u.party+"/"+u.user]).SignDUA(ctx, demoRoom, b.Version, env.Signature); err != nil {
			return fmt.Errorf("%s signs the agreement: %w", u.party, err)
		}
	}
	step("data-use agreement version %d drafted by the operator and signed by %s (digest %.16s…): %s", b.Version, andList(demoParties()), b.Digest, b.State)
	return nil
}

// demoDataset is a dataset a demo party registers, and the synthetic file
// it uploads.
type demoDataset struct{ party, name, file string }

// demoDatasets are the datasets the demo's providers bring: the
// operator's subscribers and the ad exposures of the advertiser's
// campaigns on its channels, the bank's customers, and the advertiser's
// shoppers (its loyalty programme's members) and their purchases of the
// advertised products.
var demoDatasets = []demoDataset{
	{"operator", "subscribers", "operator_subscribers.csv"},
	{"bank", "customers", "bank_customers.csv"},
	{"advertiser", "shoppers", "advertiser_shoppers.csv"},
	{"operator", "exposures", "ad_exposures.csv"},
	{"advertiser", "conversions", "conversions.csv"},
}

func demoUserOf(party string) demoUser {
	for _, u := range demoUsers {
		if u.party == party {
			return u
		}
	}
	panic("no demo user of party " + party)
}

func roleString(rs []cleanroom.Role) string {
	s := ""
	for i, r := range rs {
		if i > 0 {
			s += ", "
		}
		s += string(r)
	}
	return s
}

func isNotFound(err error) bool {
	var apiErr *client.APIError
	return errors.As(err, &apiErr) && apiErr.Status == http.StatusNotFound
}

func writeSecretJSON(path string, v any) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if err := printJSON(f, v); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func printDemoSummary(out io.Writer, s *demoSession) {
	fmt.Fprintf(out, "\nCleanroom demo is up.\n\n")
	fmt.Fprintf(out, "  web UI:       %s/ui/ (sign in as a party's demo user through its identity provider)\n", s.URL)
	fmt.Fprintf(out, "  URL:          %s\n", s.URL)
	fmt.Fprintf(out, "  health:       %s/healthz\n", s.URL)
	fmt.Fprintf(out, "  API document: %s/api/v1/openapi.json\n", s.URL)
	fmt.Fprintf(out, "  metrics:      %s/metrics\n", s.URL)
	fmt.Fprintf(out, "  certificate:  %s (self-signed; pass it with --ca)\n", s.CA)
	fmt.Fprintf(out, "  room:         %s\n", s.Room)
	fmt.Fprintf(out, "  data:         %s\n", s.SynthDir)
	fmt.Fprintf(out, "  tokens:       %s\n", filepath.Join(filepath.Dir(s.SynthDir), "demo-session.json"))
	fmt.Fprintf(out, "\nTry, in another terminal:\n\n")
	fmt.Fprintf(out, "  curl --cacert %s %s/healthz\n", s.CA, s.URL)
	fmt.Fprintf(out, "  export CLEANROOM_SERVER=%s CLEANROOM_CA=%s\n", s.URL, s.CA)
	fmt.Fprintf(out, "  export CLEANROOM_TOKEN=%s   # bank/ben\n", s.Users["bank/ben"])
	fmt.Fprintf(out, "  bin/cleanroom whoami\n")
	fmt.Fprintf(out, "  bin/cleanroom room show %s\n", s.Room)
	fmt.Fprintf(out, "  bin/cleanroom dua show --room %s\n", s.Room)
	fmt.Fprintf(out, "  bin/cleanroom room audit %s\n", s.Room)
	fmt.Fprintf(out, "  bin/cleanroom match report %s --room %s\n", s.Match, s.Room)
	fmt.Fprintf(out, "  bin/cleanroom audit checkpoint --room %s --state bank-audit\n", s.Room)
	fmt.Fprintf(out, "  bin/cleanroom audit export --room %s --out audit.json && bin/cleanroom audit verify audit.json --state bank-audit\n", s.Room)
	fmt.Fprintf(out, "  bin/cleanroom audit export --room %s --bundle regulator.tar.gz --state bank-audit && bin/cleanroom audit verify regulator.tar.gz\n", s.Room)
	fmt.Fprintf(out, "  bin/cleanroom incident list --room %s\n", s.Room)
	bankAgent := filepath.Join(filepath.Dir(s.SynthDir), "parties", "bank", "agent")
	for _, t := range []string{"joint-credit-risk-scoring", "mortgage-lookalike"} {
		if id := s.Queries[t]; id != "" {
			fmt.Fprintf(out, "  bin/cleanroom query result %s --room %s --agent-state %s   # %s\n", id, s.Room, bankAgent, t)
		}
	}
	if id := s.Queries["joint-credit-risk-scoring"]; id != "" {
		bankKeys := filepath.Join(filepath.Dir(s.SynthDir), "parties", "bank", "keys")
		fmt.Fprintf(out, "  bin/cleanroom score %s --room %s --keys %s --id +79990000001 \\\n", id, s.Room, bankKeys)
		fmt.Fprintf(out, "      --feature customers.balance=120000 --feature customers.monthly_spend=30000   # online scoring\n")
	}
	fmt.Fprintf(out, "\nAs the operator's analyst (receiver of the query results):\n\n")
	fmt.Fprintf(out, "  export CLEANROOM_TOKEN=%s   # operator/olivia\n", s.Users["operator/olivia"])
	fmt.Fprintf(out, "  bin/cleanroom template list --room %s\n", s.Room)
	fmt.Fprintf(out, "  bin/cleanroom template library\n")
	agentState := filepath.Join(filepath.Dir(s.SynthDir), "parties", "operator", "agent")
	fmt.Fprintf(out, "  bin/cleanroom query result %s --room %s --agent-state %s\n", s.Query, s.Room, agentState)
	fmt.Fprintf(out, "  bin/cleanroom query explain spend-by-tier --room %s\n", s.Room)
	fmt.Fprintf(out, "  bin/cleanroom query run spend-by-tier --room %s --agent-state %s\n", s.Room, agentState)
	fmt.Fprintf(out, "\nAs the advertiser's analyst (its campaigns on the operator's channels):\n\n")
	fmt.Fprintf(out, "  export CLEANROOM_TOKEN=%s   # advertiser/ada\n", s.Users["advertiser/ada"])
	fmt.Fprintf(out, "  bin/cleanroom match report %s --room %s\n", s.Match, s.Room)
	if id := s.Queries["campaign-lift"]; id != "" {
		advertiserAgent := filepath.Join(filepath.Dir(s.SynthDir), "parties", "advertiser", "agent")
		fmt.Fprintf(out, "  bin/cleanroom query result %s --room %s --agent-state %s   # campaign-lift\n", id, s.Room, advertiserAgent)
	}
}

func newDemoCmd(g *globals) *cobra.Command {
	cfg := DemoConfig{}
	var logLevel string
	var once bool
	cmd := &cobra.Command{
		Use:   "demo [--data DIR] [--addr HOST:PORT]",
		Short: "Set up a demo room with an operator, a bank and an advertiser on synthetic data, and serve it",
		Long: `Demo initialises a data directory (or reuses it), starts the room server,
registers an operator, a bank and an advertiser with keys of their own,
creates a room hosted by a neutral processor, has each party sign its user's
roles, mints their tokens, has every party sign the room's data-use
agreement, generates synthetic data with its true overlap and planted
effects, has each party upload its datasets and its agent re-blind its
peers' tokens for matching, runs the template library's use cases, and
serves the room until Ctrl-C. The tokens are written to
DIR/demo-session.json (mode 0600). With --once it exits after the scenario;
with --once --json it prints a summary for scripts instead of the steps
(which go to stderr).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			logger, err := newLogger(g.stderr, "text", logLevel)
			if err != nil {
				return err
			}
			out := g.stdout
			if once {
				cfg.NoServe = true
			}
			if g.json {
				if !cfg.NoServe {
					return usageError{errors.New("--json prints the summary of a run that exits: add --once")}
				}
				// The summary is the output; the steps go to stderr.
				cfg.Summary, out = g.stdout, g.stderr
			}
			return runDemo(cmd.Context(), cfg, out, logger)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.DataDir, "data", "demo-data", "data directory (created if missing)")
	f.StringVar(&cfg.Addr, "addr", "127.0.0.1:8443", "address to serve on")
	f.BoolVar(&cfg.NoServe, "no-serve", false, "set up the room, print the summary and exit")
	f.BoolVar(&once, "once", false, "run the scenario and exit (with --json: print a summary for scripts)")
	f.IntVar(&cfg.Subscribers, "subscribers", 100000, "operator subscribers to generate")
	f.IntVar(&cfg.Customers, "customers", 50000, "bank customers to generate, and as many shoppers of the advertiser")
	f.StringVar(&logLevel, "log-level", "warn", "server log level: debug, info, warn or error")
	f.StringVar(&cfg.Workers, "workers", "", "with --engine beam: a scale-out worker pool (cleanroom scaleout-worker --data on the same directory) to run the plans' steps, named in the room's agreement")
	f.StringVar(&cfg.Engine, "engine", "duckdb", "duckdb, or beam to prepare the uploads and run the plans as Apache Beam pipelines on Prism (a binary built with make build-beam)")
	return cmd
}

// uploadEngine is the preparation that goes with a room engine.
func uploadEngine(engine string) string {
	if engine == "beam" {
		return "beam"
	}
	return "local"
}

// demoSynth generates the demo's synthetic data once; a later run reuses
// it when the sizes are the same and every dataset's file is there (an
// earlier version wrote fewer).
func demoSynth(ctx context.Context, cfg DemoConfig, dir string, step func(string, ...any)) error {
	sc := synth.DefaultConfig()
	sc.Subscribers, sc.Customers = cfg.Subscribers, cfg.Customers
	if cfg.Synth != nil {
		sc = *cfg.Synth
	}
	if sc.OverlapPersons() > sc.Subscribers {
		sc.Overlap = float64(sc.Subscribers) / float64(max(sc.Customers, 1))
	}
	if raw, err := os.ReadFile(filepath.Join(dir, "truth.json")); err == nil {
		var old synth.Truth
		complete := !slices.ContainsFunc(demoDatasets, func(d demoDataset) bool {
			_, err := os.Stat(filepath.Join(dir, d.file))
			return err != nil
		})
		if json.Unmarshal(raw, &old) == nil && old.Config == sc && complete {
			step("synthetic data in %s (reused): %d subscribers; %d bank customers, %d of them subscribers; %d shoppers of the advertiser, %d of them subscribers",
				dir, old.Rows.OperatorSubscribers, old.Rows.BankCustomers, old.Overlap.Persons, old.Rows.AdvertiserShoppers, old.ShopperOverlap.Persons)
			return nil
		}
	}
	truth, err := synth.Generate(ctx, sc, dir, nil)
	if err != nil {
		return err
	}
	step("synthetic data in %s: %d subscribers; %d bank customers, %d of them subscribers (%d matchable after normalisation); "+
		"%d shoppers of the advertiser, %d of them subscribers (%d matchable)",
		dir, truth.Rows.OperatorSubscribers, truth.Rows.BankCustomers, truth.Overlap.Persons, truth.Overlap.MatchablePersons,
		truth.Rows.AdvertiserShoppers, truth.ShopperOverlap.Persons, truth.ShopperOverlap.MatchablePersons)
	return nil
}

// demoApproveTemplates has the operator propose the shipped library's
// templates and both parties approve them, each signing the digest it
// computed itself.
func demoApproveTemplates(ctx context.Context, admin *client.Client, session *demoSession, keys map[string]*keyfile.PartyKeys,
	server string, step func(string, ...any)) error {
	olivia := admin.WithToken(session.Users["operator/olivia"])
	entries, err := library.All()
	if err != nil {
		return err
	}
	existing, err := olivia.ListTemplates(ctx, demoRoom)
	if err != nil {
		return err
	}
	for _, e := range entries {
		raw, t := e.YAML, e.Template
		if slices.ContainsFunc(existing.Templates, func(b httpapi.TemplateBody) bool {
			return b.Template.Name == t.Name && b.State == cleanroom.TemplateApproved
		}) {
			step("template %s (reused): approved", t.Name)
			continue
		}
		b, err := olivia.ProposeTemplate(ctx, demoRoom, string(raw))
		if apiErr := (*client.APIError)(nil); errors.As(err, &apiErr) && apiErr.Code == cleanroom.EInvalid {
			// A demo directory from an earlier version registered its
			// datasets with older schemas the template does not fit.
			step("template %s does not fit this room's datasets (%v): skipped; `make clean` starts the demo afresh", t.Name, err)
			continue
		}
		if err != nil {
			return fmt.Errorf("propose template %s: %w", t.Name, err)
		}
		for _, u := range demoUsers {
			if !slices.Contains(b.Pending, u.party) {
				continue
			}
			env, err := statement.Sign(keys[u.party].Signing, cleanroom.TemplateApproval{Type: cleanroom.ApprovalType, Server: server,
				Room: demoRoom, Name: b.Template.Name, Version: b.Template.Version, Digest: template.Digest(&b.Template),
				IssuedAt: time.Now().UTC()})
			if err != nil {
				return err
			}
			if b, err = admin.WithToken(session.Users[u.party+"/"+u.user]).ApproveTemplate(ctx, demoRoom, b.Template.Name, env); err != nil {
				return fmt.Errorf("approve template %s: %w", t.Name, err)
			}
		}
		step("template %s version %d proposed by the operator and approved by %s: %s", b.Template.Name, b.Template.Version,
			strings.Join(b.ApprovedBy, " and "), b.State)
	}
	return nil
}
