package synth

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/nyaruka/phonenumbers"
)

// The fixture is one generated data set shared by the tests that read data
// back: large enough for the planted effects to show, small enough to keep
// the suite fast.
var (
	fixtureOnce sync.Once
	fixtureDir  string
	fixtureData *fixture
	fixtureErr  error
)

func fixtureConfig() Config {
	cfg := DefaultConfig()
	cfg.Seed = 42
	cfg.Subscribers = 40_000
	cfg.Customers = 25_000
	cfg.Overlap = 0.8
	cfg.Reach = 0.5
	cfg.HoldoutShare = 0.5
	cfg.TypoRate = 0.03
	cfg.JunkRate = 0.02
	cfg.Format = FormatBoth
	return cfg
}

func TestMain(m *testing.M) {
	code := m.Run()
	if fixtureDir != "" {
		os.RemoveAll(fixtureDir)
	}
	os.Exit(code)
}

// fixture is the generated data read back.
type fixture struct {
	cfg         Config
	truth       *Truth
	truthFile   Truth // truth.json as read from disk
	dir         string
	subscribers *csvTable
	customers   *csvTable
	shoppers    *csvTable
	exposures   *csvTable
	conversions *csvTable
	pairs       *csvTable
	shopPairs   *csvTable
	// phones normalises and caches; the tests that share it do not run
	// in parallel.
	phones *phoneNormalizer
}

func loadFixture(t *testing.T) *fixture {
	t.Helper()
	fixtureOnce.Do(func() {
		fixtureDir, fixtureErr = os.MkdirTemp("", "synth-fixture-")
		if fixtureErr != nil {
			return
		}
		f := &fixture{cfg: fixtureConfig(), dir: fixtureDir}
		f.phones = newPhoneNormalizer(f.cfg.Country)
		f.truth, fixtureErr = Generate(context.Background(), f.cfg, fixtureDir, nil)
		if fixtureErr != nil {
			return
		}
		var b []byte
		if b, fixtureErr = os.ReadFile(filepath.Join(fixtureDir, "truth.json")); fixtureErr != nil {
			return
		}
		if fixtureErr = json.Unmarshal(b, &f.truthFile); fixtureErr != nil {
			return
		}
		for _, x := range []struct {
			name string
			dst  **csvTable
		}{
			{"operator_subscribers.csv", &f.subscribers},
			{"bank_customers.csv", &f.customers},
			{"advertiser_shoppers.csv", &f.shoppers},
			{"ad_exposures.csv", &f.exposures},
			{"conversions.csv", &f.conversions},
			{"truth_pairs.csv", &f.pairs},
			{"truth_shopper_pairs.csv", &f.shopPairs},
		} {
			if *x.dst, fixtureErr = readCSV(filepath.Join(fixtureDir, x.name)); fixtureErr != nil {
				return
			}
		}
		fixtureData = f
	})
	if fixtureErr != nil {
		t.Fatalf("generate fixture: %v", fixtureErr)
	}
	return fixtureData
}

// csvTable is a CSV file read back: a header and rows.
type csvTable struct {
	cols map[string]int
	rows [][]string
}

func readCSV(path string) (*csvTable, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.ReuseRecord = false
	recs, err := r.ReadAll()
	if err != nil {
		return nil, err
	}
	t := &csvTable{cols: map[string]int{}, rows: recs[1:]}
	for i, c := range recs[0] {
		t.cols[c] = i
	}
	return t, nil
}

// col returns the index of column name, failing the test if it is absent.
func (c *csvTable) col(t *testing.T, name string) int {
	t.Helper()
	i, ok := c.cols[name]
	if !ok {
		t.Fatalf("no column %q", name)
	}
	return i
}

// The normalisers below are written independently of the generator's, as
// a matcher would write them.

// phoneNormalizer normalises phones to E.164 with a default region, keeping
// only valid numbers; it caches results because phonenumbers is slow.
type phoneNormalizer struct {
	region string
	cache  map[string]phoneResult
}

type phoneResult struct {
	e164   string
	nsn    string
	valid  bool
	mobile bool
}

func newPhoneNormalizer(region string) *phoneNormalizer {
	return &phoneNormalizer{region: region, cache: map[string]phoneResult{}}
}

func (n *phoneNormalizer) parse(raw string) phoneResult {
	if r, ok := n.cache[raw]; ok {
		return r
	}
	var r phoneResult
	if num, err := phonenumbers.Parse(raw, n.region); err == nil && phonenumbers.IsValidNumber(num) {
		r.e164, r.valid = phonenumbers.Format(num, phonenumbers.E164), true
		r.nsn = phonenumbers.GetNationalSignificantNumber(num)
		r.mobile = phonenumbers.IsValidNumberForRegion(num, n.region) && phonenumbers.GetNumberType(num) == phonenumbers.MOBILE
	}
	n.cache[raw] = r
	return r
}

// normalize returns the E.164 form of a valid number, or "".
func (n *phoneNormalizer) normalize(raw string) string { return n.parse(raw).e164 }

// testNormalizeEmail trims and lower-cases; for gmail.com and
// googlemail.com it drops dots and +tags of the local part.
func testNormalizeEmail(raw string) string {
	s := strings.ToLower(strings.TrimSpace(raw))
	local, domain, ok := strings.Cut(s, "@")
	if !ok || local == "" || domain == "" || strings.Contains(domain, "@") {
		return ""
	}
	if domain == "gmail.com" || domain == "googlemail.com" {
		local, _, _ = strings.Cut(local, "+")
		local = strings.ReplaceAll(local, ".", "")
	}
	return local + "@" + domain
}

// testNormalizeDevice lower-cases a UUID and drops braces; "" if it is not
// a UUID.
func testNormalizeDevice(raw string) string {
	s := strings.ToLower(strings.TrimSpace(raw))
	s = strings.TrimSuffix(strings.TrimPrefix(s, "{"), "}")
	if len(s) != 36 {
		return ""
	}
	for i, c := range s {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if c != '-' {
				return ""
			}
		} else if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return ""
		}
	}
	return s
}
