package synth

import (
	"bytes"
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nyaruka/phonenumbers"
	"github.com/parquet-go/parquet-go"
)

func smallConfig() Config {
	cfg := DefaultConfig()
	cfg.Subscribers = 3000
	cfg.Customers = 2000
	cfg.Format = FormatBoth
	return cfg
}

func TestSynthDeterministic(t *testing.T) {
	ctx := context.Background()
	cfg := smallConfig()
	dirs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	for i, dir := range dirs {
		c := cfg
		if i == 2 {
			c.Seed++
		}
		if _, err := Generate(ctx, c, dir, nil); err != nil {
			t.Fatalf("Generate: %v", err)
		}
	}
	names := func(dir string) []string {
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range entries {
			out = append(out, e.Name())
		}
		return out
	}
	files := names(dirs[0])
	want := []string{"ad_exposures.csv", "ad_exposures.parquet", "advertiser_shoppers.csv", "advertiser_shoppers.parquet",
		"bank_customers.csv", "bank_customers.parquet", "conversions.csv", "conversions.parquet",
		"operator_subscribers.csv", "operator_subscribers.parquet", "truth.json", "truth_pairs.csv", "truth_shopper_pairs.csv"}
	if !reflect.DeepEqual(files, want) {
		t.Fatalf("files %v, want %v", files, want)
	}
	if got := names(dirs[1]); !reflect.DeepEqual(got, files) {
		t.Fatalf("second run wrote %v, first %v", got, files)
	}
	for _, name := range files {
		a, _ := os.ReadFile(filepath.Join(dirs[0], name))
		b, _ := os.ReadFile(filepath.Join(dirs[1], name))
		c, _ := os.ReadFile(filepath.Join(dirs[2], name))
		if !bytes.Equal(a, b) {
			t.Errorf("%s: differs between two runs with seed %d", name, cfg.Seed)
		}
		if bytes.Equal(a, c) {
			t.Errorf("%s: identical for seeds %d and %d", name, cfg.Seed, cfg.Seed+1)
		}
	}
}

func TestSynthConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Config)
		want   string // substring of the error; "" for valid
	}{
		{"default", func(*Config) {}, ""},
		{"empty datasets", func(c *Config) { c.Subscribers, c.Customers = 0, 0 }, ""},
		{"no campaigns", func(c *Config) { c.Campaigns = 0 }, ""},
		{"full overlap", func(c *Config) { c.Overlap = 1 }, ""},
		{"no corruption", func(c *Config) { c.TypoRate, c.JunkRate = 0, 0 }, ""},
		{"lower-case parquet", func(c *Config) { c.Format = FormatParquet }, ""},
		{"negative subscribers", func(c *Config) { c.Subscribers = -1 }, "subscribers -1"},
		{"too many subscribers", func(c *Config) { c.Subscribers = MaxRows + 1 }, "subscribers"},
		{"negative customers", func(c *Config) { c.Customers = -5 }, "customers -5"},
		{"overlap above 1", func(c *Config) { c.Overlap = 1.5 }, "overlap 1.5: must be between 0 and 1"},
		{"negative overlap", func(c *Config) { c.Overlap = -0.1 }, "overlap -0.1"},
		{"NaN overlap", func(c *Config) { c.Overlap = math.NaN() }, "overlap NaN"},
		{"overlap beyond subscribers", func(c *Config) { c.Subscribers = 1000 }, "more than the 1000 subscribers"},
		{"no exposures", func(c *Config) { c.ExposuresPerSubscriber = 0 }, "exposures per subscriber 0"},
		{"infinite exposures", func(c *Config) { c.ExposuresPerSubscriber = math.Inf(1) }, "exposures per subscriber +Inf"},
		{"negative campaigns", func(c *Config) { c.Campaigns = -1 }, "campaigns -1"},
		{"too many campaigns", func(c *Config) { c.Campaigns = MaxCampaigns + 1 }, "campaigns 101"},
		{"unknown format", func(c *Config) { c.Format = "xlsx" }, `format "xlsx"`},
		{"no format", func(c *Config) { c.Format = "" }, `format ""`},
		{"no country", func(c *Config) { c.Country = "" }, "country: required"},
		{"unknown country", func(c *Config) { c.Country = "XX" }, `country "XX"`},
		{"lower-case country", func(c *Config) { c.Country = "ru" }, `country "ru"`},
		{"typo rate above 1", func(c *Config) { c.TypoRate = 2 }, "typo rate 2"},
		{"negative junk rate", func(c *Config) { c.JunkRate = -0.01 }, "junk rate -0.01"},
		{"rates above 1 together", func(c *Config) { c.TypoRate, c.JunkRate = 0.6, 0.5 }, "must not exceed 1"},
		{"reach above 1", func(c *Config) { c.Reach = 1.1 }, "reach 1.1"},
		{"NaN holdout", func(c *Config) { c.HoldoutShare = math.NaN() }, "holdout share NaN"},
		{"negative conversion rate", func(c *Config) { c.BaseConversionRate = -1 }, "base conversion rate -1"},
		{"lift beyond 1", func(c *Config) { c.BaseConversionRate, c.Lift = 0.5, 0.6 }, "lift 0.6"},
		{"negative lift", func(c *Config) { c.Lift = -0.01 }, "lift -0.01"},
		{"zero config", func(c *Config) { *c = Config{} }, "exposures per subscriber 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tt.modify(&cfg)
			err := cfg.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Validate(%+v) = %v, want nil", cfg, err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("Validate(%+v) = %v, want an error containing %q", cfg, err, tt.want)
			case tt.want != "" && !errors.Is(err, ErrInvalidConfig):
				t.Errorf("Validate(%+v) = %v, want it to wrap ErrInvalidConfig", cfg, err)
			}
		})
	}
}

func TestSynthGenerateRejectsInvalidConfig(t *testing.T) {
	cfg := smallConfig()
	cfg.Overlap = 2
	dir := filepath.Join(t.TempDir(), "out")
	if _, err := Generate(context.Background(), cfg, dir, nil); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("Generate with overlap 2 = %v, want ErrInvalidConfig", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Generate with an invalid config created %s", dir)
	}
}

func TestSynthCancelLeavesNoFiles(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	dir := t.TempDir()
	calls := 0
	_, err := Generate(ctx, smallConfig(), dir, func(done, total int) {
		if calls++; calls == 2 {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Generate cancelled = %v, want context.Canceled", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("cancelled Generate left %d files, want none", len(entries))
	}
}

func TestSynthProgress(t *testing.T) {
	var last, total, calls int
	_, err := Generate(context.Background(), smallConfig(), t.TempDir(), func(d, tot int) {
		if d < last || d > tot {
			t.Errorf("progress(%d, %d) after %d", d, tot, last)
		}
		last, total, calls = d, tot, calls+1
	})
	if err != nil {
		t.Fatal(err)
	}
	if calls < 2 || last != total {
		t.Errorf("progress called %d times, last (%d, %d); want several, ending done", calls, last, total)
	}
}

func TestSynthEmptyDatasets(t *testing.T) {
	cfg := smallConfig()
	cfg.Subscribers, cfg.Customers, cfg.Campaigns = 0, 0, 0
	dir := t.TempDir()
	truth, err := Generate(context.Background(), cfg, dir, nil)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	if truth.Rows != (Rows{}) {
		t.Errorf("rows %+v, want none", truth.Rows)
	}
	for _, name := range []string{"truth_pairs.csv", "truth_shopper_pairs.csv"} {
		pf, err := readCSV(filepath.Join(dir, name))
		if err != nil || len(pf.rows) != 0 {
			t.Errorf("%s: %v, %d rows; want a header only", name, err, len(pf.rows))
		}
	}
	if _, err := parquet.ReadFile[subscriberRow](filepath.Join(dir, "operator_subscribers.parquet")); err != nil {
		t.Errorf("empty parquet file: %v", err)
	}
}

func TestSynthParquetMatchesCSV(t *testing.T) {
	f := loadFixture(t)
	compareParquet(t, f.dir, "operator_subscribers", f.subscribers, parseSubscriber)
	compareParquet(t, f.dir, "bank_customers", f.customers, parseCustomer)
	compareParquet(t, f.dir, "advertiser_shoppers", f.shoppers, parseShopper)
	compareParquet(t, f.dir, "ad_exposures", f.exposures, parseExposure)
	compareParquet(t, f.dir, "conversions", f.conversions, parseConversion)
}

func compareParquet[T any](t *testing.T, dir, name string, tab *csvTable, parse func([]string) (T, error)) {
	t.Helper()
	rows, err := parquet.ReadFile[T](filepath.Join(dir, name+".parquet"))
	if err != nil {
		t.Fatalf("read %s.parquet: %v", name, err)
	}
	if len(rows) != len(tab.rows) {
		t.Fatalf("%s: parquet has %d rows, csv %d", name, len(rows), len(tab.rows))
	}
	for i, rec := range tab.rows {
		want, err := parse(rec)
		if err != nil {
			t.Fatalf("%s.csv row %d: %v", name, i+1, err)
		}
		if !reflect.DeepEqual(rows[i], want) {
			t.Fatalf("%s row %d: parquet %+v, csv %+v", name, i+1, rows[i], want)
		}
	}
}

// The parsers read CSV rows into the row types, to compare with Parquet.

func parseSubscriber(r []string) (subscriberRow, error) {
	var err error
	row := subscriberRow{SubscriberID: r[0], Phone: r[1], Email: r[2], DeviceID: r[3], Tier: r[4], Region: r[5],
		AppCategories: r[8], PaymentBehaviour: r[9]}
	row.ARPU = parseFloat(r[6], &err)
	row.DataUsageGB = parseFloat(r[7], &err)
	row.SignupDate = parseDate(r[10], &err)
	return row, err
}

func parseCustomer(r []string) (customerRow, error) {
	var err error
	row := customerRow{CustomerID: r[0], Phone: r[1], Email: r[2], Products: r[3]}
	row.Balance = parseFloat(r[4], &err)
	row.SpendGroceries = parseFloat(r[5], &err)
	row.SpendTravel = parseFloat(r[6], &err)
	row.SpendElectronics = parseFloat(r[7], &err)
	row.SpendEntertainment = parseFloat(r[8], &err)
	row.MonthlySpend = parseFloat(r[9], &err)
	row.DefaultFlag = parseBool(r[10], &err)
	return row, err
}

func parseShopper(r []string) (shopperRow, error) {
	var err error
	row := shopperRow{ShopperID: r[0], Phone: r[1], Email: r[2], LoyaltyTier: r[3]}
	row.MemberSince = parseDate(r[4], &err)
	return row, err
}

func parseExposure(r []string) (exposureRow, error) {
	var err error
	row := exposureRow{ExposureID: r[0], DeviceID: r[1], Phone: r[2], Campaign: r[3], Channel: r[4]}
	row.ExposedAt = parseTime(r[5], &err)
	row.Holdout = parseBool(r[6], &err)
	return row, err
}

func parseConversion(r []string) (conversionRow, error) {
	var err error
	row := conversionRow{ConversionID: r[0], Email: r[1], Phone: r[2], Product: r[3]}
	row.ConvertedAt = parseTime(r[4], &err)
	row.Amount = parseFloat(r[5], &err)
	return row, err
}

func parseFloat(s string, err *error) float64 {
	v, e := strconv.ParseFloat(s, 64)
	*err = errors.Join(*err, e)
	return v
}

func parseBool(s string, err *error) bool {
	v, e := strconv.ParseBool(s)
	*err = errors.Join(*err, e)
	return v
}

func parseDate(s string, err *error) int32 {
	v, e := time.Parse(time.DateOnly, s)
	*err = errors.Join(*err, e)
	return int32(v.Unix() / 86400)
}

func parseTime(s string, err *error) int64 {
	v, e := time.Parse(time.RFC3339, s)
	*err = errors.Join(*err, e)
	return v.UnixMilli()
}

// isMobile reports whether a written phone is a valid mobile number of
// region (or one that may be mobile, where the plan does not say).
func isMobile(written, region string) bool {
	num, err := phonenumbers.Parse(written, region)
	if err != nil || !phonenumbers.IsValidNumberForRegion(num, region) {
		return false
	}
	t := phonenumbers.GetNumberType(num)
	return t == phonenumbers.MOBILE || t == phonenumbers.FIXED_LINE_OR_MOBILE
}

// TestSynthCountries checks, for several regions, that every person's true
// phone is a valid mobile number of the region and that the phones written
// in the data are, but for typos.
func TestSynthCountries(t *testing.T) {
	for _, region := range []string{"RU", "US", "GB", "DE", "KZ", "IN"} {
		t.Run(region, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Country = region
			cfg.Subscribers, cfg.Customers, cfg.Campaigns = 1500, 1000, 1
			g, err := newGenerator(cfg)
			if err != nil {
				t.Fatalf("newGenerator: %v", err)
			}
			cc := strconv.Itoa(phonenumbers.GetCountryCodeForRegion(region))
			for p := range cfg.Subscribers + cfg.Customers - cfg.OverlapPersons() {
				if nsn := g.phones.personNSN(nil, p); !isMobile("+"+cc+string(nsn), region) {
					t.Fatalf("person %d: +%s%s is not a valid %s mobile number", p, cc, nsn, region)
				}
			}

			dir := t.TempDir()
			truth, err := Generate(context.Background(), cfg, dir, nil)
			if err != nil {
				t.Fatalf("Generate: %v", err)
			}
			subs, err := readCSV(filepath.Join(dir, "operator_subscribers.csv"))
			if err != nil {
				t.Fatal(err)
			}
			junk := map[string]bool{}
			for _, j := range truth.JunkValues.Phone {
				junk[j] = true
			}
			mobile, other := 0, 0
			for _, rec := range subs.rows {
				switch {
				case junk[rec[1]]:
				case isMobile(rec[1], region):
					mobile++
				default:
					other++
				}
			}
			want := truth.Identifiers.OperatorSubscribers.Phone
			if mobile < want.Valid || other > want.Typo {
				t.Errorf("%d valid mobile phones and %d others, want at least %d and at most %d typos", mobile, other, want.Valid, want.Typo)
			}
		})
	}
}

func TestSynthFeistelIsPermutation(t *testing.T) {
	for _, m := range []uint64{1, 2, 3, 10, 1000, 4097} {
		f := newFeistel(m, 99)
		seen := make([]bool, m)
		for x := range m {
			y := f.forward(x)
			if y >= m || seen[y] {
				t.Fatalf("m=%d: forward(%d) = %d, out of range or repeated", m, x, y)
			}
			seen[y] = true
			if back := f.inverse(y); back != x {
				t.Fatalf("m=%d: inverse(forward(%d)) = %d", m, x, back)
			}
		}
	}
}

func TestSynthNormalizeEmail(t *testing.T) {
	tests := []struct{ in, want string }{
		{"  Ivan.Petrov12@Mail.Ru ", "ivan.petrov12@mail.ru"},
		{"I.V.A.N.Petrov12+bank@GMAIL.com", "ivanpetrov12@gmail.com"},
		{"ivan.petrov+x@googlemail.com", "ivanpetrov@googlemail.com"},
		{"ivan+tag@mail.ru", "ivan+tag@mail.ru"},
		{"n/a", ""},
		{"@mail.ru", ""},
		{"ivan@", ""},
		{"+tag@gmail.com", ""},
	}
	for _, tt := range tests {
		got, _ := normalizeEmail(tt.in)
		if got != tt.want {
			t.Errorf("normalizeEmail(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if tt.want != "" && testNormalizeEmail(tt.in) != tt.want {
			t.Errorf("testNormalizeEmail(%q) = %q, want %q", tt.in, testNormalizeEmail(tt.in), tt.want)
		}
	}
}

func FuzzSynthNormalizeEmail(f *testing.F) {
	for _, s := range []string{"Ivan.Petrov12@Mail.Ru", " a.b+c@gmail.com ", "n/a", "@", "a@b@c", ". @gmail.com", ". x@gmail.com"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, ok := normalizeEmail(s)
		if !ok {
			return
		}
		if again, ok := normalizeEmail(n); !ok || again != n {
			t.Errorf("normalizeEmail(%q) = %q, but normalizeEmail(%q) = %q, %v", s, n, n, again, ok)
		}
	})
}

func TestSynthPhoneFormatsRoundTrip(t *testing.T) {
	p, err := newPhonePlan("RU", 1000, 7)
	if err != nil {
		t.Fatal(err)
	}
	s := newStream()
	for person := range 200 {
		nsn := p.personNSN(nil, person)
		for _, f := range []*phoneFormats{&p.operator, &p.bank} {
			s.reset(1, 1, uint64(person))
			written := string(f.write(nil, s, nsn, p.length))
			if e164, valid := p.normalize(written); !valid || e164 != "+7"+string(nsn) {
				t.Errorf("normalize(%q) = %q, %v, want +7%s", written, e164, valid, nsn)
			}
			if !p.assigned("+7" + string(nsn)) {
				t.Errorf("assigned(+7%s) = false for person %d", nsn, person)
			}
		}
	}
}
