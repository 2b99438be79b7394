package synth

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// idKind is what a test normaliser makes of one written identifier.
type idKind int

const (
	kindValue   idKind = iota // normalises to a non-junk value
	kindInvalid               // does not normalise (a typo)
	kindJunk                  // one of truth's junk values
	kindMissing               // empty
)

// classifier sorts written identifiers of one class.
type classifier struct {
	t         *testing.T
	class     string
	normalize func(string) string
	junkRaw   map[string]bool
	junkNorm  map[string]bool
}

func newClassifier(t *testing.T, class string, junk []string, normalize func(string) string) *classifier {
	c := &classifier{t: t, class: class, normalize: normalize, junkRaw: map[string]bool{}, junkNorm: map[string]bool{}}
	for _, j := range junk {
		c.junkRaw[j] = true
		if n := normalize(j); n != "" {
			c.junkNorm[n] = true
		}
	}
	return c
}

func (c *classifier) classify(raw string) (idKind, string) {
	switch {
	case raw == "":
		return kindMissing, ""
	case c.junkRaw[raw]:
		return kindJunk, ""
	}
	n := c.normalize(raw)
	if n == "" {
		return kindInvalid, ""
	}
	if c.junkNorm[n] {
		c.t.Errorf("%s %q: not a junk value but normalises to junk %q", c.class, raw, n)
	}
	return kindValue, n
}

// index maps normalised values of one class to the rows holding them,
// failing the test when two rows share a non-junk value.
type index struct {
	values map[string]string // normalised value → row ID
	kinds  map[string]idKind // row ID → kind
	counts [4]int            // by idKind
}

func buildIndex(t *testing.T, c *classifier, tab *csvTable, idCol, col string) *index {
	t.Helper()
	ix := &index{values: map[string]string{}, kinds: map[string]idKind{}}
	ic, vc := tab.col(t, idCol), tab.col(t, col)
	for _, rec := range tab.rows {
		k, n := c.classify(rec[vc])
		ix.kinds[rec[ic]] = k
		ix.counts[k]++
		if k != kindValue {
			continue
		}
		if other, dup := ix.values[n]; dup {
			t.Errorf("%s %q: rows %s and %s both normalise to %q", col, rec[vc], other, rec[ic], n)
		}
		ix.values[n] = rec[ic]
	}
	return ix
}

func TestSynthTruthMatchesData(t *testing.T) {
	f := loadFixture(t)
	tr := f.truthFile
	cfg := f.cfg

	// truth.json says what Generate returned.
	want, _ := json.Marshal(f.truth)
	got, _ := json.Marshal(tr)
	if string(got) != string(want) {
		t.Errorf("truth.json differs from the Truth Generate returned")
	}

	// Row counts.
	for _, c := range []struct {
		name      string
		file, got int
		want      int
	}{
		{"operator_subscribers", len(f.subscribers.rows), tr.Rows.OperatorSubscribers, cfg.Subscribers},
		{"bank_customers", len(f.customers.rows), tr.Rows.BankCustomers, cfg.Customers},
		{"advertiser_shoppers", len(f.shoppers.rows), tr.Rows.AdvertiserShoppers, cfg.Customers},
		{"ad_exposures", len(f.exposures.rows), tr.Rows.AdExposures, -1},
		{"conversions", len(f.conversions.rows), tr.Rows.Conversions, -1},
		{"truth_pairs", len(f.pairs.rows), tr.Rows.TruthPairs, cfg.OverlapPersons()},
		{"truth_shopper_pairs", len(f.shopPairs.rows), tr.Rows.TruthShopperPairs, cfg.OverlapPersons()},
	} {
		if c.file != c.got || (c.want >= 0 && c.got != c.want) {
			t.Errorf("%s: file has %d rows, truth says %d, config wants %d", c.name, c.file, c.got, c.want)
		}
	}
	for _, file := range tr.Files {
		n := map[string]int{
			"operator_subscribers": tr.Rows.OperatorSubscribers, "bank_customers": tr.Rows.BankCustomers,
			"advertiser_shoppers": tr.Rows.AdvertiserShoppers, "ad_exposures": tr.Rows.AdExposures, "conversions": tr.Rows.Conversions,
		}[file.Dataset]
		if file.Rows != n {
			t.Errorf("truth file %s: %d rows, want %d", file.Name, file.Rows, n)
		}
	}
	if len(tr.Files) != 10 {
		t.Errorf("truth lists %d files, want 10 (5 datasets, csv and parquet)", len(tr.Files))
	}

	phones := f.phones
	phoneC := newClassifier(t, "phone", tr.JunkValues.Phone, phones.normalize)
	emailC := newClassifier(t, "email", tr.JunkValues.Email, testNormalizeEmail)
	deviceC := newClassifier(t, "device_id", tr.JunkValues.DeviceID, testNormalizeDevice)

	subPhone := buildIndex(t, phoneC, f.subscribers, "subscriber_id", "phone")
	subEmail := buildIndex(t, emailC, f.subscribers, "subscriber_id", "email")
	subDevice := buildIndex(t, deviceC, f.subscribers, "subscriber_id", "device_id")
	custPhone := buildIndex(t, phoneC, f.customers, "customer_id", "phone")
	custEmail := buildIndex(t, emailC, f.customers, "customer_id", "email")

	// Identifier statuses: missing and junk are visible in the data; valid
	// and typo values together are the rest.
	checkCounts := func(name string, ix *index, want StatusCounts) {
		t.Helper()
		if ix.counts[kindMissing] != want.Missing || ix.counts[kindJunk] != want.Junk ||
			ix.counts[kindValue]+ix.counts[kindInvalid] != want.Valid+want.Typo {
			t.Errorf("%s: data has %d missing, %d junk, %d other; truth says %+v",
				name, ix.counts[kindMissing], ix.counts[kindJunk], ix.counts[kindValue]+ix.counts[kindInvalid], want)
		}
		if ix.counts[kindInvalid] > want.Typo {
			t.Errorf("%s: %d values do not normalise, more than the %d typos", name, ix.counts[kindInvalid], want.Typo)
		}
	}
	checkCounts("operator phone", subPhone, tr.Identifiers.OperatorSubscribers.Phone)
	checkCounts("operator email", subEmail, tr.Identifiers.OperatorSubscribers.Email)
	checkCounts("operator device_id", subDevice, *tr.Identifiers.OperatorSubscribers.DeviceID)
	checkCounts("bank phone", custPhone, tr.Identifiers.BankCustomers.Phone)
	checkCounts("bank email", custEmail, tr.Identifiers.BankCustomers.Email)

	shopPhone := buildIndex(t, phoneC, f.shoppers, "shopper_id", "phone")
	shopEmail := buildIndex(t, emailC, f.shoppers, "shopper_id", "email")
	checkCounts("advertiser phone", shopPhone, tr.Identifiers.AdvertiserShoppers.Phone)
	checkCounts("advertiser email", shopEmail, tr.Identifiers.AdvertiserShoppers.Email)
	if tr.Identifiers.AdvertiserShoppers.DeviceID != nil {
		t.Errorf("truth counts device IDs of the advertiser, which holds none")
	}

	checkTruthPairs(t, "truth_pairs.csv", f.pairs, "customer_id", [2]*index{subPhone, custPhone}, [2]*index{subEmail, custEmail}, tr.Overlap, cfg)
	checkTruthPairs(t, "truth_shopper_pairs.csv", f.shopPairs, "shopper_id", [2]*index{subPhone, shopPhone}, [2]*index{subEmail, shopEmail}, tr.ShopperOverlap, cfg)
}

// checkTruthPairs checks a truth pairs file of the operator and a partner,
// whose rows hold the partner's IDs in column idCol, against the data (the
// operator's and the partner's indexes of phones and of emails) and
// against the overlap truth.json states.
func checkTruthPairs(t *testing.T, name string, pairs *csvTable, idCol string, phone, email [2]*index, o Overlap, cfg Config) {
	t.Helper()
	// Every pair of rows that share a normalised non-junk identifier.
	shared := map[string]bool{} // "sub,partner,class"
	for class, ixs := range map[string][2]*index{"phone": phone, "email": email} {
		for n, other := range ixs[1].values {
			if sub, ok := ixs[0].values[n]; ok {
				shared[sub+","+other+","+class] = true
			}
		}
	}

	sc, cc := pairs.col(t, "subscriber_id"), pairs.col(t, idCol)
	mc, psc, esc := pairs.col(t, "matching_classes"), pairs.col(t, "phone_status"), pairs.col(t, "email_status")
	seenSub, seenOther := map[string]bool{}, map[string]bool{}
	var byClass ClassOverlaps
	matchable := 0
	for _, rec := range pairs.rows {
		sub, other := rec[sc], rec[cc]
		if seenSub[sub] || seenOther[other] {
			t.Errorf("%s: pair %s,%s: a row in more than one pair", name, sub, other)
		}
		seenSub[sub], seenOther[other] = true, true
		if _, ok := phone[0].kinds[sub]; !ok {
			t.Errorf("%s: pair %s,%s: no such subscriber", name, sub, other)
		}
		if _, ok := phone[1].kinds[other]; !ok {
			t.Errorf("%s: pair %s,%s: no such %s", name, sub, other, idCol)
		}
		var classes []string
		if rec[mc] != "" {
			classes = strings.Split(rec[mc], ";")
		}
		if len(classes) > 0 {
			matchable++
		}
		for _, c := range []struct {
			class   string
			status  string
			ix      [2]*index
			overlap *ClassOverlap
		}{
			{"phone", rec[psc], phone, &byClass.Phone},
			{"email", rec[esc], email, &byClass.Email},
		} {
			key := sub + "," + other + "," + c.class
			inTruth := slices.Contains(classes, c.class)
			if inTruth != shared[key] {
				t.Errorf("%s: pair %s,%s: %s in matching classes = %v, data shares a value = %v", name, sub, other, c.class, inTruth, shared[key])
			}
			delete(shared, key)
			// The reason the data shows: missing, then junk, then typo.
			ks, kc := c.ix[0].kinds[sub], c.ix[1].kinds[other]
			reason := "match"
			switch {
			case ks == kindMissing || kc == kindMissing:
				reason = "missing"
				c.overlap.LostMissing++
			case ks == kindJunk || kc == kindJunk:
				reason = "junk"
				c.overlap.LostJunk++
			case !inTruth:
				reason = "typo"
				c.overlap.LostTypo++
			default:
				c.overlap.Matchable++
			}
			if c.status != reason {
				t.Errorf("%s: pair %s,%s: %s status %q, data shows %q", name, sub, other, c.class, c.status, reason)
			}
		}
	}
	for key := range shared {
		t.Errorf("rows %s share a normalised identifier but are not a pair of %s with that class", key, name)
	}
	if o.Persons != len(pairs.rows) || o.Persons != cfg.OverlapPersons() {
		t.Errorf("%s: overlap persons %d, the file has %d, config wants %d", name, o.Persons, len(pairs.rows), cfg.OverlapPersons())
	}
	if o.MatchablePersons != matchable || o.UnmatchablePersons != o.Persons-matchable {
		t.Errorf("%s: matchable persons %d (unmatchable %d), data shows %d", name, o.MatchablePersons, o.UnmatchablePersons, matchable)
	}
	if o.ByClass != byClass {
		t.Errorf("%s: overlap by class %+v, data shows %+v", name, o.ByClass, byClass)
	}
	// The corruption rates must be visible, or the test above proves little.
	if o.ByClass.Phone.LostTypo == 0 || o.ByClass.Phone.LostJunk == 0 || o.ByClass.Email.LostTypo == 0 || o.ByClass.Email.LostMissing == 0 {
		t.Errorf("%s: overlap by class %+v: want some pairs lost to each cause", name, o.ByClass)
	}
	if share := float64(matchable) / float64(o.Persons); share < 0.8 || share > 0.97 {
		t.Errorf("%s: matchable share %.3f, want between 0.8 and 0.97 for these rates", name, share)
	}
	if want := float64(o.Persons) / float64(cfg.Customers); o.ShareOfCustomers != want {
		t.Errorf("%s: share of the partner's rows %v, want %v", name, o.ShareOfCustomers, want)
	}
}

// TestSynthExposureAndConversionIDs checks that the identifiers of
// exposures and conversions are real persons' identifiers.
func TestSynthExposureAndConversionIDs(t *testing.T) {
	f := loadFixture(t)
	phones := f.phones
	dc, pc := f.exposures.col(t, "device_id"), f.exposures.col(t, "phone")
	for i, rec := range f.exposures.rows {
		d, p := rec[dc], rec[pc]
		switch {
		case (d == "") == (p == ""):
			t.Fatalf("exposure row %d: want exactly one of device_id %q and phone %q", i+1, d, p)
		case d != "" && testNormalizeDevice(d) == "":
			t.Fatalf("exposure row %d: device_id %q is not a UUID", i+1, d)
		case p != "" && !phones.parse(p).mobile:
			t.Fatalf("exposure row %d: phone %q is not a valid %s mobile number", i+1, p, f.cfg.Country)
		}
	}
	ec, pc := f.conversions.col(t, "email"), f.conversions.col(t, "phone")
	shopEmails, shopPhones := map[string]bool{}, map[string]bool{}
	for _, rec := range f.shoppers.rows {
		shopEmails[testNormalizeEmail(rec[f.shoppers.col(t, "email")])] = true
		shopPhones[phones.normalize(rec[f.shoppers.col(t, "phone")])] = true
		shopEmails[rec[f.shoppers.col(t, "email")]] = true
		shopPhones[rec[f.shoppers.col(t, "phone")]] = true
	}
	for i, rec := range f.conversions.rows {
		e, p := rec[ec], rec[pc]
		switch {
		case (e == "") == (p == ""):
			t.Fatalf("conversion row %d: want exactly one of email %q and phone %q", i+1, e, p)
		case e != "" && !shopEmails[e] && !shopEmails[testNormalizeEmail(e)]:
			t.Errorf("conversion row %d: email %q is no shopper's", i+1, e)
		case p != "" && !shopPhones[p] && !shopPhones[phones.normalize(p)]:
			t.Errorf("conversion row %d: phone %q is no shopper's", i+1, p)
		}
	}
}

func TestSynthPhonesAndFormats(t *testing.T) {
	f := loadFixture(t)
	tr := f.truthFile
	phones := f.phones
	junk := map[string]bool{}
	for _, j := range tr.JunkValues.Phone {
		junk[j] = true
	}
	// shape replaces the digits of the national number with '#', keeping
	// country codes and trunk prefixes: "8 (912) 345-67-89" is
	// "8 (###) ###-##-##".
	shape := func(s string) string {
		b := []byte(s)
		n := len(phones.parse(s).nsn)
		for i := len(b) - 1; i >= 0 && n > 0; i-- {
			if b[i] >= '0' && b[i] <= '9' {
				b[i] = '#'
				n--
			}
		}
		return string(b)
	}
	// Valid values: every phone that is not junk, missing or a typo is a
	// valid mobile number. Typos are the only values allowed not to be.
	shapes := map[string]map[string]bool{}
	for _, d := range []struct {
		name   string
		tab    *csvTable
		counts StatusCounts
	}{
		{"operator", f.subscribers, tr.Identifiers.OperatorSubscribers.Phone},
		{"bank", f.customers, tr.Identifiers.BankCustomers.Phone},
		{"advertiser", f.shoppers, tr.Identifiers.AdvertiserShoppers.Phone},
	} {
		shapes[d.name] = map[string]bool{}
		c := d.tab.col(t, "phone")
		mobile := 0
		for _, rec := range d.tab.rows {
			p := rec[c]
			if p == "" || junk[p] {
				continue
			}
			if phones.parse(p).mobile {
				mobile++
				shapes[d.name][shape(p)] = true
			}
		}
		if mobile < d.counts.Valid || mobile > d.counts.Valid+d.counts.Typo {
			t.Errorf("%s: %d phones are valid %s mobile numbers; want all %d valid ones and at most the %d typos besides",
				d.name, mobile, f.cfg.Country, d.counts.Valid, d.counts.Typo)
		}
		if len(shapes[d.name]) < 4 {
			t.Errorf("%s: phones come in %d formats %v, want at least 4", d.name, len(shapes[d.name]), shapes[d.name])
		}
	}
	for s := range shapes["operator"] {
		if shapes["bank"][s] || shapes["advertiser"][s] {
			t.Errorf("format %q used by the operator and a partner; they should write phones differently", s)
		}
	}
	for _, ex := range []string{"8 (912) 345-67-89", "+7 912 345 6789", "9123456789", "+7(912)345-67-89", "7 912 3456789"} {
		if !shapes["operator"][shape(ex)] && !shapes["bank"][shape(ex)] {
			t.Errorf("no phone written like %q", ex)
		}
		if e := phones.normalize(ex); e != "+79123456789" {
			t.Errorf("normalize(%q) = %q, want +79123456789", ex, e)
		}
	}

	// Every person's true phone, which valid rows hold, is a valid mobile
	// number.
	g, err := newGenerator(f.cfg)
	if err != nil {
		t.Fatal(err)
	}
	for p := range f.cfg.Subscribers + 2*(f.cfg.Customers-f.cfg.OverlapPersons()) {
		if nsn := "+7" + string(g.phones.personNSN(nil, p)); !phones.parse(nsn).mobile {
			t.Fatalf("person %d: %s is not a valid mobile number", p, nsn)
		}
	}

	// Matching pairs: both sides valid mobile numbers of the same person,
	// written differently; emails written differently too.
	subRows := rowsByID(t, f.subscribers, "subscriber_id")
	sp, se := f.subscribers.col(t, "phone"), f.subscribers.col(t, "email")
	for _, d := range []struct {
		pairs, tab *csvTable
		idCol      string
	}{{f.pairs, f.customers, "customer_id"}, {f.shopPairs, f.shoppers, "shopper_id"}} {
		rows := rowsByID(t, d.tab, d.idCol)
		cp, ce := d.tab.col(t, "phone"), d.tab.col(t, "email")
		for _, rec := range d.pairs.rows {
			s, c := subRows[rec[0]], rows[rec[1]]
			if rec[3] == "match" {
				if !phones.parse(s[sp]).mobile || !phones.parse(c[cp]).mobile {
					t.Errorf("pair %s,%s: phones %q, %q: want valid mobile numbers", rec[0], rec[1], s[sp], c[cp])
				}
				if s[sp] == c[cp] {
					t.Errorf("pair %s,%s: both parties wrote the phone as %q", rec[0], rec[1], s[sp])
				}
			}
			if rec[4] == "match" && s[se] == c[ce] {
				t.Errorf("pair %s,%s: both parties wrote the email as %q", rec[0], rec[1], s[se])
			}
		}
	}

	// Emails and device IDs are messy in the documented ways.
	var upper, space, tag, dots, gmail, braces, upperDevice int
	for _, d := range []*csvTable{f.subscribers, f.customers, f.shoppers} {
		c := d.col(t, "email")
		for _, rec := range d.rows {
			e := rec[c]
			if strings.ContainsAny(e, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") {
				upper++
			}
			if e != strings.TrimSpace(e) {
				space++
			}
			lower := strings.ToLower(strings.TrimSpace(e))
			if strings.HasSuffix(lower, "@gmail.com") || strings.HasSuffix(lower, "@googlemail.com") {
				gmail++
				if strings.Contains(lower, "+") {
					tag++
				}
				if strings.Contains(lower[:strings.IndexByte(lower, '@')], ".") {
					dots++
				}
			} else if strings.Contains(lower, "+") {
				t.Errorf("email %q: +tag on a non-gmail address", e)
			}
		}
	}
	dc := f.subscribers.col(t, "device_id")
	for _, rec := range f.subscribers.rows {
		if strings.HasPrefix(rec[dc], "{") {
			braces++
		}
		if strings.ContainsAny(rec[dc], "ABCDEF") {
			upperDevice++
		}
	}
	for name, n := range map[string]int{"upper-case emails": upper, "emails with white space": space, "gmail +tags": tag,
		"gmail addresses with dots": dots, "gmail addresses": gmail, "device IDs in braces": braces, "upper-case device IDs": upperDevice} {
		if n < 20 {
			t.Errorf("%d %s, want some", n, name)
		}
	}
}

func rowsByID(t *testing.T, tab *csvTable, col string) map[string][]string {
	c := tab.col(t, col)
	m := make(map[string][]string, len(tab.rows))
	for _, rec := range tab.rows {
		m[rec[c]] = rec
	}
	return m
}

// String makes failures print kinds by name.
func (k idKind) String() string {
	return [...]string{"value", "invalid", "junk", "missing"}[k]
}

var _ fmt.Stringer = idKind(0)
