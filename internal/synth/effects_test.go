package synth

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The effect tests compare rates measured in the data with the planted
// ones, allowing four standard errors: for a random seed such a test fails
// falsely with probability about 6·10⁻⁵; with the fixture's fixed seed it
// is deterministic.
const effectSigmas = 4

// rateDiff is the difference of two rates and its standard error.
func rateDiff(x1, n1, x2, n2 int) (diff, se float64) {
	p1, p2 := float64(x1)/float64(n1), float64(x2)/float64(n2)
	return p1 - p2, math.Sqrt(p1*(1-p1)/float64(n1) + p2*(1-p2)/float64(n2))
}

func TestSynthLiftVisible(t *testing.T) {
	f := loadFixture(t)
	tr := f.truthFile
	phones := f.phones

	// Link the operator's rows and the exposures, and the advertiser's
	// rows and its conversions, by their normalised identifiers, as a
	// matcher would, and the parties by truth_shopper_pairs.csv.
	subByDevice, subByPhone := map[string]string{}, map[string]string{}
	sid, sd, sp := f.subscribers.col(t, "subscriber_id"), f.subscribers.col(t, "device_id"), f.subscribers.col(t, "phone")
	for _, rec := range f.subscribers.rows {
		if d := testNormalizeDevice(rec[sd]); d != "" {
			subByDevice[d] = rec[sid]
		}
		if p := phones.normalize(rec[sp]); p != "" {
			subByPhone[p] = rec[sid]
		}
	}
	shopByEmail, shopByPhone := map[string]string{}, map[string]string{}
	aid, ae, ap := f.shoppers.col(t, "shopper_id"), f.shoppers.col(t, "email"), f.shoppers.col(t, "phone")
	for _, rec := range f.shoppers.rows {
		if e := testNormalizeEmail(rec[ae]); e != "" {
			shopByEmail[e] = rec[aid]
		}
		if p := phones.normalize(rec[ap]); p != "" {
			shopByPhone[p] = rec[aid]
		}
	}
	for _, j := range tr.JunkValues.DeviceID {
		delete(subByDevice, testNormalizeDevice(j))
	}
	for _, j := range tr.JunkValues.Phone {
		delete(subByPhone, phones.normalize(j))
		delete(shopByPhone, phones.normalize(j))
	}
	for _, j := range tr.JunkValues.Email {
		delete(shopByEmail, testNormalizeEmail(j))
	}
	shopperOf := map[string]string{}
	for _, rec := range f.shopPairs.rows {
		shopperOf[rec[0]] = rec[1]
	}

	campaigns := map[string]int{}
	for i, c := range tr.Campaigns {
		campaigns[c.Name] = i
	}
	// reached[campaign][subscriber] = holdout
	reached := make([]map[string]bool, len(tr.Campaigns))
	for i := range reached {
		reached[i] = map[string]bool{}
	}
	ed, ep, ec, eh := f.exposures.col(t, "device_id"), f.exposures.col(t, "phone"), f.exposures.col(t, "campaign"), f.exposures.col(t, "holdout")
	for _, rec := range f.exposures.rows {
		sub, ok := subByDevice[testNormalizeDevice(rec[ed])]
		if rec[ep] != "" {
			sub, ok = subByPhone[phones.normalize(rec[ep])]
		}
		if !ok {
			continue // the operator's record of this identifier is missing or spoilt
		}
		c := campaigns[rec[ec]]
		holdout := rec[eh] == "true"
		if h, seen := reached[c][sub]; seen && h != holdout {
			t.Fatalf("subscriber %s, campaign %s: exposures disagree on holdout", sub, rec[ec])
		}
		reached[c][sub] = holdout
	}

	// converted[campaign][shopper]: a conversion to the campaign's product
	// in its window.
	converted := make([]map[string]bool, len(tr.Campaigns))
	for i := range converted {
		converted[i] = map[string]bool{}
	}
	vc, vp, vprod, vat := f.conversions.col(t, "email"), f.conversions.col(t, "phone"), f.conversions.col(t, "product"), f.conversions.col(t, "converted_at")
	for _, rec := range f.conversions.rows {
		shop, ok := shopByEmail[testNormalizeEmail(rec[vc])]
		if rec[vp] != "" {
			shop, ok = shopByPhone[phones.normalize(rec[vp])]
		}
		if !ok {
			continue
		}
		for i, c := range tr.Campaigns {
			if c.Product == rec[vprod] && c.Start <= rec[vat] && rec[vat] < c.ConversionEnd {
				converted[i][shop] = true
			}
		}
	}

	var exposedN, exposedX, holdoutN, holdoutX int
	for c := range tr.Campaigns {
		for sub, holdout := range reached[c] {
			shop, ok := shopperOf[sub]
			if !ok {
				continue
			}
			x := 0
			if converted[c][shop] {
				x = 1
			}
			if holdout {
				holdoutN++
				holdoutX += x
			} else {
				exposedN++
				exposedX += x
			}
		}
	}
	diff, se := rateDiff(exposedX, exposedN, holdoutX, holdoutN)
	lift := tr.Effects.Lift.AbsoluteLift
	t.Logf("measured in the data: exposed %d/%d, holdout %d/%d, lift %.4f ± %.4f (planted %.4f)", exposedX, exposedN, holdoutX, holdoutN, diff, se, lift)
	if diff <= 0 || math.Abs(diff-lift) > effectSigmas*se {
		t.Errorf("measured lift %.4f ± %.4f, want %.4f within %d standard errors", diff, se, lift, effectSigmas)
	}

	// The realised figures in truth.json tell the same story, and the data
	// links most of the persons they count (not those whose device ID the
	// operator lacks and who got no SMS).
	var tn, tx, hn, hx int
	for _, r := range tr.Effects.Lift.Realised {
		tn, tx, hn, hx = tn+r.ExposedPersons, tx+r.ExposedConverted, hn+r.HoldoutPersons, hx+r.HoldoutConverted
	}
	diff, se = rateDiff(tx, tn, hx, hn)
	if diff <= 0 || math.Abs(diff-lift) > effectSigmas*se {
		t.Errorf("truth's realised lift %.4f ± %.4f, want %.4f within %d standard errors", diff, se, lift, effectSigmas)
	}
	if exposedN > tn || holdoutN > hn || float64(exposedN+holdoutN) < 0.8*float64(tn+hn) {
		t.Errorf("data links %d exposed and %d held-out persons, truth counts %d and %d", exposedN, holdoutN, tn, hn)
	}
	wantReached := f.cfg.Reach * float64(f.cfg.OverlapPersons()*f.cfg.Campaigns)
	if math.Abs(float64(tn+hn)-wantReached) > 0.05*wantReached {
		t.Errorf("truth counts %d reached persons, want about %.0f", tn+hn, wantReached)
	}
}

func TestSynthLookAlikeAndRiskVisible(t *testing.T) {
	f := loadFixture(t)
	tr := f.truthFile
	subs, custs := rowsByID(t, f.subscribers, "subscriber_id"), rowsByID(t, f.customers, "customer_id")
	tier, apps := f.subscribers.col(t, "tier"), f.subscribers.col(t, "app_categories")
	pay, arpu := f.subscribers.col(t, "payment_behaviour"), f.subscribers.col(t, "arpu")
	prods, def := f.customers.col(t, "products"), f.customers.col(t, "default_flag")
	features := map[string]func(s []string) bool{
		"tier=premium":                     func(s []string) bool { return s[tier] == "premium" },
		"tier=basic":                       func(s []string) bool { return s[tier] == "basic" },
		"app_categories contains shopping": func(s []string) bool { return slices.Contains(strings.Split(s[apps], ";"), "shopping") },
		"app_categories contains finance":  func(s []string) bool { return slices.Contains(strings.Split(s[apps], ";"), "finance") },
	}
	if len(tr.Effects.LookAlike) != 4 {
		t.Fatalf("truth has %d look-alike effects, want 4", len(tr.Effects.LookAlike))
	}
	for _, e := range tr.Effects.LookAlike {
		feature, ok := features[e.Feature]
		if !ok {
			t.Fatalf("look-alike feature %q unknown to the test", e.Feature)
		}
		var got LookAlikeEffect
		for _, rec := range f.pairs.rows {
			s, c := subs[rec[0]], custs[rec[1]]
			got.count(feature(s), slices.Contains(strings.Split(c[prods], ";"), e.Product))
		}
		if got.WithPersons != e.WithPersons || got.WithHolders != e.WithHolders ||
			got.WithoutPersons != e.WithoutPersons || got.WithoutHolders != e.WithoutHolders {
			t.Errorf("%s by %s: data counts %+v, truth says %+v", e.Product, e.Feature, got, e)
		}
		diff, se := rateDiff(got.WithHolders, got.WithPersons, got.WithoutHolders, got.WithoutPersons)
		if want := e.RateWith - e.RateWithout; math.Abs(diff-want) > effectSigmas*se {
			t.Errorf("%s by %s: holding rate differs by %.3f ± %.3f, planted %.3f", e.Product, e.Feature, diff, se, want)
		}
	}

	risk := tr.Effects.CreditRisk
	cells := make([]RiskCell, 4)
	for _, rec := range f.pairs.rows {
		s, c := subs[rec[0]], custs[rec[1]]
		a, err := strconv.ParseFloat(s[arpu], 64)
		if err != nil {
			t.Fatal(err)
		}
		late, low := s[pay] == "late", a < risk.LowARPUThreshold
		cell := &cells[b2i(late)*2+b2i(low)]
		cell.Late, cell.LowARPU = late, low
		cell.Persons++
		if c[def] == "true" {
			cell.Defaults++
		}
	}
	if !slices.Equal(cells, risk.Realised) {
		t.Errorf("credit risk: data counts %+v, truth says %+v", cells, risk.Realised)
	}
	// Late payers default more at high ARPU, low ARPU defaults more among
	// those who pay on time.
	diff, se := rateDiff(cells[2].Defaults, cells[2].Persons, cells[0].Defaults, cells[0].Persons)
	if math.Abs(diff-risk.LatePayment) > effectSigmas*se {
		t.Errorf("late payment raises the default rate by %.3f ± %.3f, planted %.3f", diff, se, risk.LatePayment)
	}
	diff, se = rateDiff(cells[1].Defaults, cells[1].Persons, cells[0].Defaults, cells[0].Persons)
	if math.Abs(diff-risk.LowARPU) > effectSigmas*se {
		t.Errorf("low ARPU raises the default rate by %.3f ± %.3f, planted %.3f", diff, se, risk.LowARPU)
	}
}

// TestSynthTimes checks that exposures and conversions fall in their
// campaigns' windows.
func TestSynthTimes(t *testing.T) {
	f := loadFixture(t)
	tr := f.truthFile
	byName := map[string]Campaign{}
	for _, c := range tr.Campaigns {
		byName[c.Name] = c
	}
	ec, ea := f.exposures.col(t, "campaign"), f.exposures.col(t, "exposed_at")
	for _, rec := range f.exposures.rows {
		c, ok := byName[rec[ec]]
		if !ok || rec[ea] < c.Start || rec[ea] >= c.ExposureEnd {
			t.Fatalf("exposure %v: outside its campaign %+v", rec, c)
		}
	}
	pc, ca := f.conversions.col(t, "product"), f.conversions.col(t, "converted_at")
	prev := ""
	for _, rec := range f.conversions.rows {
		if _, err := time.Parse(time.RFC3339, rec[ca]); err != nil {
			t.Fatalf("conversion %v: %v", rec, err)
		}
		if rec[ca] < prev {
			t.Fatalf("conversion %v: not sorted by time", rec)
		}
		prev = rec[ca]
		in := false
		for _, c := range tr.Campaigns {
			in = in || (c.Product == rec[pc] && c.Start <= rec[ca] && rec[ca] < c.ConversionEnd)
		}
		if !in {
			t.Fatalf("conversion %v: in no campaign's window", rec)
		}
	}
}
