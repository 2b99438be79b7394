package match_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"flag"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/blind"
	"github.com/cleanroom-dev/cleanroom/internal/keyfile"
	"github.com/cleanroom-dev/cleanroom/internal/match"
	"github.com/cleanroom-dev/cleanroom/internal/prepare"
	"github.com/cleanroom-dev/cleanroom/internal/synth"
	"github.com/cleanroom-dev/cleanroom/internal/upload"
)

var (
	recallSubscribers = flag.Int("recall.subscribers", 100_000, "operator subscribers in TestRecallOnSyntheticData")
	recallCustomers   = flag.Int("recall.customers", 50_000, "bank customers in TestRecallOnSyntheticData")
)

const (
	operatorSchema = `{"identifiers": [
		{"column": "phone", "class": "phone", "priority": 1},
		{"column": "email", "class": "email", "priority": 2, "normalization": "email-gmail"},
		{"column": "device_id", "class": "device_id", "priority": 3}],
	 "attributes": [{"column": "tier", "type": "string", "policy": "dimension", "categories": ["basic", "standard", "premium"]}]}`
	bankSchema = `{"identifiers": [
		{"column": "phone", "class": "phone", "priority": 1},
		{"column": "email", "class": "email", "priority": 2, "normalization": "email-gmail"}],
	 "attributes": [{"column": "default_flag", "type": "bool", "policy": "filter"}]}`
)

// party is one side of the test: its prepared upload and its keys.
type party struct {
	name    string
	keys    *keyfile.PartyKeys
	header  upload.Header
	columns []match.Column
	sets    map[cleanroom.IdentifierClass][]blind.Token
	ids     []string // the file's own ID of each row
}

// TestRecallOnSyntheticData runs the whole matching path — messy files,
// party-side normalisation and blinding, re-blinding by the peer, local
// people, the waterfall — on synthetic data with ground truth, and checks
// that at least 99.5 % of the true pairs that share a correctly
// normalisable identifier are found, at most 0.1 % of matches are false,
// and no match comes from a junk value alone. It also prints the recall
// of naive exact matching of the raw strings.
func TestRecallOnSyntheticData(t *testing.T) {
	dir := t.TempDir()
	cfg := synth.DefaultConfig()
	cfg.Subscribers, cfg.Customers = *recallSubscribers, *recallCustomers
	truth, err := synth.Generate(context.Background(), cfg, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	op := prepareParty(t, "operator", operatorSchema, filepath.Join(dir, "operator_subscribers.csv"), "subscriber_id")
	bank := prepareParty(t, "bank", bankSchema, filepath.Join(dir, "bank_customers.csv"), "customer_id")
	t.Logf("prepared both files in %s", time.Since(start).Round(time.Millisecond))

	start = time.Now()
	la, err := match.People(&match.Dataset{Name: "op", Rows: len(op.ids), Columns: op.columns}, match.JunkLimit)
	if err != nil {
		t.Fatal(err)
	}
	lb, err := match.People(&match.Dataset{Name: "bank", Rows: len(bank.ids), Columns: bank.columns}, match.JunkLimit)
	if err != nil {
		t.Fatal(err)
	}
	// The junk values of the data (shared by many rows) were dropped, so
	// none can link rows or match; a false match would show below.
	if la.Junk[cleanroom.ClassPhone].Values == 0 || lb.Junk[cleanroom.ClassEmail].Values == 0 {
		t.Errorf("no junk value was dropped (operator %+v, bank %+v): the data should have some", la.Junk, lb.Junk)
	}
	a := side(t, op, bank, la)
	b := side(t, bank, op, lb)
	pair := match.MatchPair(a, b)
	t.Logf("re-blinded and matched in %s; waterfall %+v", time.Since(start).Round(time.Millisecond), pair.Steps)

	// Truth: pairs sharing a correctly normalisable identifier.
	matchable, all := readTruth(t, filepath.Join(dir, "truth_pairs.csv"))
	if len(matchable) != truth.Overlap.MatchablePersons {
		t.Fatalf("truth_pairs.csv has %d matchable pairs, truth.json %d", len(matchable), truth.Overlap.MatchablePersons)
	}
	rowsA, rowsB := rowsOf(la), rowsOf(lb)
	found, falseMatches, matched := 0, 0, 0
	for pa, pb := range pair.Matches {
		if pb < 0 {
			continue
		}
		matched++
		ok := false
		for _, ra := range rowsA[pa] {
			for _, rb := range rowsB[pb] {
				key := op.ids[ra] + "|" + bank.ids[rb]
				if all[key] {
					ok = true
					if matchable[key] {
						found++
					}
				}
			}
		}
		if !ok {
			falseMatches++
		}
	}
	recall := float64(found) / float64(len(matchable))
	falseRate := float64(falseMatches) / float64(max(matched, 1))
	t.Logf("matchable pairs %d, matched %d, true and matchable %d: recall %.4f, false matches %d (%.4f)",
		len(matchable), matched, found, recall, falseMatches, falseRate)
	if recall < 0.995 {
		t.Errorf("recall %.4f is below 0.995", recall)
	}
	if falseRate > 0.001 {
		t.Errorf("false match rate %.4f is above 0.001", falseRate)
	}

	naive := naiveRecall(t, dir, matchable)
	t.Logf("naive exact matching of the raw strings finds %.4f of the matchable pairs", naive)
	t.Logf("matching recall %.4f vs naive exact-string recall %.4f on %d × %d people", recall, naive, cfg.Subscribers, cfg.Customers)
}

func prepareParty(t *testing.T, name, schema, file, idColumn string) *party {
	t.Helper()
	s, err := cleanroom.ParseSchema([]byte(schema))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := keyfile.CreateParty(filepath.Join(t.TempDir(), name))
	if err != nil {
		t.Fatal(err)
	}
	p, err := prepare.Prepare(context.Background(), file, "", prepare.Config{Server: "srv", Room: "r", Party: name,
		Dataset: name, Version: 1, Schema: s, Keys: keys, Region: "RU"})
	if err != nil {
		t.Fatal(err)
	}
	rd, err := upload.NewReader(bytes.NewReader(p.Payload))
	if err != nil {
		t.Fatal(err)
	}
	pt := &party{name: name, keys: keys, header: rd.Header, sets: map[cleanroom.IdentifierClass][]blind.Token{}}
	seen := map[cleanroom.IdentifierClass]map[blind.Token]bool{}
	for i, f := range rd.Header.Identifiers {
		pt.columns = append(pt.columns, match.Column{Class: f.Class, Priority: s.Identifiers[i].Priority})
		seen[f.Class] = map[blind.Token]bool{}
	}
	for {
		r, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		for i, tok := range r.Tokens {
			var mt *match.Token
			if tok != nil {
				x := match.Token(*tok)
				mt = &x
				seen[rd.Header.Identifiers[i].Class][blind.Token(*tok)] = true
			}
			pt.columns[i].Tokens = append(pt.columns[i].Tokens, mt)
		}
	}
	for class, set := range seen {
		for tok := range set {
			pt.sets[class] = append(pt.sets[class], tok)
		}
	}
	pt.ids = readColumn(t, file, idColumn)
	if len(pt.ids) != len(pt.columns[0].Tokens) {
		t.Fatalf("%s: %d ids, %d payload rows", name, len(pt.ids), len(pt.columns[0].Tokens))
	}
	return pt
}

// side maps self's tokens to tokens comparable with peer's: re-blinded with
// the peer's room key, as the peer's agent does.
func side(t *testing.T, self, peer *party, l *match.Local) *match.Side {
	t.Helper()
	key := keyfile.RoomKey(peer.keys.Blinding, cleanroom.RoomID("srv", "r"))
	s := &match.Side{Local: l, Comparable: map[cleanroom.IdentifierClass]map[match.Token]match.Token{}, Priority: map[cleanroom.IdentifierClass]int{}}
	for _, c := range self.columns {
		s.Priority[c.Class] = c.Priority
	}
	for class, set := range self.sets {
		if _, ok := peer.sets[class]; !ok {
			continue
		}
		out, err := blind.ReBlind(key, set)
		if err != nil {
			t.Fatal(err)
		}
		m := make(map[match.Token]match.Token, len(set))
		for i := range set {
			m[match.Token(set[i])] = match.Token(out[i])
		}
		s.Comparable[class] = m
	}
	return s
}

func rowsOf(l *match.Local) [][]int {
	out := make([][]int, l.People)
	for row, p := range l.Person {
		if p >= 0 {
			out[p] = append(out[p], row)
		}
	}
	return out
}

func readColumn(t *testing.T, file, column string) []string {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	head, err := r.Read()
	if err != nil {
		t.Fatal(err)
	}
	idx := -1
	for i, h := range head {
		if h == column {
			idx = i
		}
	}
	var out []string
	for {
		rec, err := r.Read()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, rec[idx])
	}
}

// readTruth returns the true pairs ("subscriber|customer") that share a
// correctly normalisable identifier, and all true pairs.
func readTruth(t *testing.T, file string) (matchable, all map[string]bool) {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	if _, err := r.Read(); err != nil {
		t.Fatal(err)
	}
	matchable, all = map[string]bool{}, map[string]bool{}
	for {
		rec, err := r.Read()
		if err == io.EOF {
			return matchable, all
		}
		if err != nil {
			t.Fatal(err)
		}
		key := rec[0] + "|" + rec[1]
		all[key] = true
		if rec[2] != "" {
			matchable[key] = true
		}
	}
}

// naiveRecall matches the files on the raw strings of phone and email, as
// a join without normalisation would.
func naiveRecall(t *testing.T, dir string, matchable map[string]bool) float64 {
	t.Helper()
	opIDs := readColumn(t, filepath.Join(dir, "operator_subscribers.csv"), "subscriber_id")
	bankIDs := readColumn(t, filepath.Join(dir, "bank_customers.csv"), "customer_id")
	found := map[string]bool{}
	for _, col := range []string{"phone", "email"} {
		byValue := map[string][]string{}
		for i, v := range readColumn(t, filepath.Join(dir, "operator_subscribers.csv"), col) {
			if v != "" {
				byValue[v] = append(byValue[v], opIDs[i])
			}
		}
		for i, v := range readColumn(t, filepath.Join(dir, "bank_customers.csv"), col) {
			for _, s := range byValue[v] {
				if key := s + "|" + bankIDs[i]; matchable[key] {
					found[key] = true
				}
			}
		}
	}
	return float64(len(found)) / float64(len(matchable))
}
