package cleanroom

import (
	"strings"
	"testing"
	"time"
)

func TestParseQuarter(t *testing.T) {
	for _, tc := range []struct {
		in, want   string
		start, end string
	}{
		{"2026Q4", "2026Q4", "2026-10-01", "2027-01-01"},
		{"2026-Q1", "2026Q1", "2026-01-01", "2026-04-01"},
		{"2027q2", "2027Q2", "2027-04-01", "2027-07-01"},
		{" 2026Q3 ", "2026Q3", "2026-07-01", "2026-10-01"},
		{"2026Q5", "", "", ""}, {"2026Q0", "", "", ""}, {"26Q4", "", "", ""}, {"Q4", "", "", ""}, {"", "", "", ""}, {"1969Q4", "", "", ""},
	} {
		q, err := ParseQuarter(tc.in)
		if tc.want == "" {
			if err == nil {
				t.Errorf("ParseQuarter(%q) = %v, want an error", tc.in, q)
			}
			continue
		}
		if err != nil || q.String() != tc.want || q.Start().Format(time.DateOnly) != tc.start || q.End().Format(time.DateOnly) != tc.end {
			t.Errorf("ParseQuarter(%q) = %v [%s, %s), %v; want %s [%s, %s)", tc.in, q, q.Start().Format(time.DateOnly),
				q.End().Format(time.DateOnly), err, tc.want, tc.start, tc.end)
		}
	}
	if q := QuarterOf(time.Date(2026, 12, 31, 23, 59, 59, 0, time.UTC)); q.String() != "2026Q4" {
		t.Errorf("QuarterOf(31 December) = %v", q)
	}
	if q := QuarterOf(time.Date(2027, 1, 1, 0, 30, 0, 0, time.FixedZone("CET", 3600))); q.String() != "2026Q4" {
		t.Errorf("QuarterOf(00:30 CET on 1 January) = %v, want 2026Q4 (UTC)", q)
	}
}

func TestAmounts(t *testing.T) {
	for _, tc := range []struct {
		in, currency string
		want         int64
		err          string
	}{
		{"1250.50", "EUR", 125050, ""},
		{"1250.5", "EUR", 125050, ""},
		{"1250", "EUR", 125000, ""},
		{"0.01", "USD", 1, ""},
		{"007", "EUR", 700, ""},
		{"1500", "JPY", 1500, ""},
		{"1.234", "KWD", 1234, ""},
		{"1.005", "EUR", 0, "more than 2 decimals"},
		{"1.5", "JPY", 0, "more than 0 decimals"},
		{"-1", "EUR", 0, "not a non-negative decimal"},
		{"1,000", "EUR", 0, "not a non-negative decimal"},
		{"1e3", "EUR", 0, "not a non-negative decimal"},
		{"12.", "EUR", 0, "not a non-negative decimal"},
		{"12. ", "EUR", 0, "not a non-negative decimal"},
		{".5", "EUR", 0, "not a non-negative decimal"},
		{"", "EUR", 0, "not a non-negative decimal"},
		{"10000000001", "EUR", 0, "too large"},
		{"99999999999999999999", "EUR", 0, "too large"},
	} {
		got, err := ParseAmount(tc.in, tc.currency)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseAmount(%q, %s) = %d, %v; want an error with %q", tc.in, tc.currency, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseAmount(%q, %s) = %d, %v; want %d", tc.in, tc.currency, got, err, tc.want)
		}
	}
	for _, tc := range []struct {
		minor    int64
		currency string
		want     string
	}{
		{125050, "EUR", "1,250.50"}, {5, "EUR", "0.05"}, {0, "EUR", "0.00"}, {123456789, "USD", "1,234,567.89"},
		{1500, "JPY", "1,500"}, {1234, "KWD", "1.234"}, {-250, "EUR", "-2.50"}, {100000000, "EUR", "1,000,000.00"},
	} {
		if got := FormatAmount(tc.minor, tc.currency); got != tc.want {
			t.Errorf("FormatAmount(%d, %s) = %q, want %q", tc.minor, tc.currency, got, tc.want)
		}
	}
}

func TestTermsValidate(t *testing.T) {
	room := &Room{Name: "r1", Host: "neutral", Parties: []string{"bank", "operator"}}
	ok := Terms{Room: "r1", Currency: "EUR", Subscription: 100, RunPrice: 5, TemplatePrices: map[string]int64{"lift": 50}, Payer: "bank", Seller: "operator"}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := ok.CheckRoom(room); err != nil {
		t.Fatal(err)
	}
	if ok.PriceOf("lift") != 50 || ok.PriceOf("other") != 5 {
		t.Errorf("PriceOf = %d, %d", ok.PriceOf("lift"), ok.PriceOf("other"))
	}
	for _, tc := range []struct {
		edit func(t *Terms)
		want string
	}{
		{func(t *Terms) { t.Currency = "eur" }, `currency "eur" is not an ISO 4217 code`},
		{func(t *Terms) { t.RunPrice = -1 }, `field "run_price" is -1`},
		{func(t *Terms) { t.Subscription = MaxAmount + 1 }, `field "subscription"`},
		{func(t *Terms) { t.TemplatePrices = map[string]int64{"lift": -2} }, `field "template_prices.lift" is -2`},
		{func(t *Terms) { t.TemplatePrices = map[string]int64{"Lift": 2} }, `field "template_prices": template name "Lift" is not valid`},
		{func(t *Terms) { t.Payer = "" }, `field "payer": party name is empty`},
		{func(t *Terms) { t.Seller = "bank" }, `party "bank" cannot both pay and earn`},
	} {
		bad := ok
		tc.edit(&bad)
		if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%+v) = %v, want %q", bad, err, tc.want)
		}
	}
	bad := ok
	bad.Payer = "advertiser"
	if err := bad.CheckRoom(room); err == nil || !strings.Contains(err.Error(), `payer "advertiser" is not a party of room "r1"`) {
		t.Errorf("CheckRoom = %v", err)
	}
}

func TestWriteLedgerCSV(t *testing.T) {
	q, _ := ParseQuarter("2026Q4")
	at := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	entries := []LedgerEntry{
		{Seq: 2, Room: "r1", Quarter: q, Time: at.Add(time.Hour), Kind: ChargeRun, Template: "lift", Version: 3, Query: "Q2", Payer: "bank", Seller: "operator", Amount: 2500, Currency: "EUR"},
		{Room: "r1", Quarter: q, Time: at, Kind: ChargeSubscription, Payer: "bank", Seller: "operator", Amount: 500000, Currency: "EUR"},
		{Seq: 1, Room: "r0", Quarter: q, Time: at.Add(time.Hour), Kind: ChargeRun, Template: "tiers", Version: 1, Query: "Q1", Payer: "bank", Seller: "operator", Amount: 0, Currency: "USD"},
	}
	SortLedger(entries)
	var b strings.Builder
	if err := WriteLedgerCSV(&b, entries); err != nil {
		t.Fatal(err)
	}
	want := `room,quarter,time,kind,template,version,query,payer,seller,amount_minor,currency
r1,2026Q4,2026-11-02T10:00:00Z,subscription,,,,bank,operator,500000,EUR
r0,2026Q4,2026-11-02T11:00:00Z,run,tiers,1,Q1,bank,operator,0,USD
r1,2026Q4,2026-11-02T11:00:00Z,run,lift,3,Q2,bank,operator,2500,EUR
`
	if b.String() != want {
		t.Errorf("CSV =\n%s\nwant\n%s", b.String(), want)
	}
}

// FuzzParseAmount: no input panics, and an accepted amount formats back to
// the same minor units.
func FuzzParseAmount(f *testing.F) {
	for _, s := range []string{"1250.50", "0", "0.01", "99999", "1.234", "-1", "1e3", "١٢", "00.10"} {
		f.Add(s, "EUR")
		f.Add(s, "JPY")
		f.Add(s, "KWD")
	}
	f.Fuzz(func(t *testing.T, s, currency string) {
		v, err := ParseAmount(s, currency)
		if err != nil {
			return
		}
		if v < 0 || v > MaxAmount {
			t.Fatalf("ParseAmount(%q, %q) = %d, out of range", s, currency, v)
		}
		back, err := ParseAmount(strings.ReplaceAll(FormatAmount(v, currency), ",", ""), currency)
		if err != nil || back != v {
			t.Fatalf("ParseAmount(FormatAmount(%d, %q)) = %d, %v", v, currency, back, err)
		}
	})
}

// FuzzParseQuarter: no input panics, and an accepted quarter prints as one
// that parses to itself and contains its own start.
func FuzzParseQuarter(f *testing.F) {
	for _, s := range []string{"2026Q4", "2026-Q1", "2026q3", "9999Q4", "0000Q1", "2026Q5", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, err := ParseQuarter(s)
		if err != nil {
			return
		}
		back, err := ParseQuarter(q.String())
		if err != nil || back != q || QuarterOf(q.Start()) != q || !q.End().After(q.Start()) {
			t.Fatalf("ParseQuarter(%q) = %v; back %v, %v", s, q, back, err)
		}
	})
}
