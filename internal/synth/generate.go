package synth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Missing-value shares of the generated identifiers.
const (
	operatorEmailMissing  = 0.45 // operators know few of their subscribers' emails
	operatorDeviceMissing = 0.20
	bankPhoneOnly         = 0.12 // bank customers with a phone but no email
	bankEmailOnly         = 0.18 // bank customers with an email but no phone
)

// Dates of the generated data.
var (
	signupFirst   = time.Date(2012, 1, 1, 0, 0, 0, 0, time.UTC)
	signupLast    = time.Date(2023, 12, 31, 0, 0, 0, 0, time.UTC)
	campaignsBase = time.Date(2024, 1, 8, 0, 0, 0, 0, time.UTC)
)

const (
	day            = 24 * time.Hour
	campaignWave   = 35 * day // campaigns start in waves of four, five weeks apart
	exposureWindow = 28 * day
)

// progressEvery is how many units of work pass between progress calls.
const progressEvery = 8192

// Generate writes the datasets, truth.json, truth_pairs.csv and
// truth_shopper_pairs.csv described in the package documentation into dir,
// creating it if needed and replacing files of the same names. Files are
// written under temporary names and renamed when all are complete, so a
// failed or cancelled run leaves no partial dataset.
//
// progress, if not nil, is called now and then with the work done and the
// total, in arbitrary units; calls come from more than one goroutine but
// never at the same time.
func Generate(ctx context.Context, cfg Config, dir string, progress func(done, total int)) (*Truth, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("generate: %w", err)
	}
	g, err := newGenerator(cfg)
	if err != nil {
		return nil, fmt.Errorf("generate: %w", err)
	}
	g.progress = &progressMeter{fn: progress, total: cfg.Subscribers*(1+cfg.Campaigns) + 2*cfg.Customers}
	files := &fileSet{dir: dir}
	truth, err := g.run(ctx, files)
	if err != nil {
		files.abort()
		return nil, fmt.Errorf("generate: %w", err)
	}
	if err := files.commit(); err != nil {
		files.abort()
		return nil, fmt.Errorf("generate: %w", err)
	}
	g.progress.finish()
	return truth, nil
}

// generator holds what the passes share. The passes over subscribers,
// customers and shoppers run one after the other on one goroutine (typo
// values depend on the typos before them); the exposure pass reads only
// immutable fields and runs beside them.
type generator struct {
	cfg      Config
	locale   *locale
	phones   *phonePlan
	progress *progressMeter

	emailPerm feistel

	nSub, nCust, nOverlap int
	// custPerson maps each customer to a person: a subscriber index below
	// nSub, or a bank-only person from nSub on; shopPerson maps each
	// shopper likewise, its advertiser-only persons numbered after the
	// bank-only ones.
	custPerson, shopPerson []int32
	// opStatus holds, per subscriber, the status of the operator's phone
	// (bits 0-1) and email (bits 2-3).
	opStatus []uint8

	typoPhones, typoEmails, typoDevices map[string]struct{}
	junk                                JunkValues
	campaigns                           []campaign
}

// campaign is a campaign with its times in Unix milliseconds; product
// indexes advertised.
type campaign struct {
	name                              string
	product                           int
	start, exposureEnd, conversionEnd int64
}

func newGenerator(cfg Config) (*generator, error) {
	g := &generator{
		cfg:         cfg,
		locale:      &genericLocale,
		nSub:        cfg.Subscribers,
		nCust:       cfg.Customers,
		nOverlap:    cfg.OverlapPersons(),
		typoPhones:  map[string]struct{}{},
		typoEmails:  map[string]struct{}{},
		typoDevices: map[string]struct{}{},
	}
	if cfg.Country == "RU" {
		g.locale = &ruLocale
	}
	persons := g.nSub + 2*(g.nCust-g.nOverlap)
	var err error
	g.phones, err = newPhonePlan(cfg.Country, persons, mix64(cfg.Seed^0x70686f6e65))
	if err != nil {
		return nil, err
	}
	emailMod := uint64(1000)
	for emailMod < 4*uint64(persons) {
		emailMod *= 10
	}
	g.emailPerm = newFeistel(emailMod, mix64(cfg.Seed^0x656d61696c))
	g.pairPersons()
	g.junkValues()
	for c := range cfg.Campaigns {
		start := campaignsBase.Add(time.Duration(c/len(advertised)) * campaignWave)
		g.campaigns = append(g.campaigns, campaign{
			name:          fmt.Sprintf("c%02d-%s", c+1, advertised[c%len(advertised)]),
			product:       c % len(advertised),
			start:         start.UnixMilli(),
			exposureEnd:   start.Add(exposureWindow).UnixMilli(),
			conversionEnd: start.Add(campaignWave).UnixMilli(),
		})
	}
	return g, nil
}

// pairPersons chooses which customers, and which shoppers, are which
// subscribers.
func (g *generator) pairPersons() {
	next := int32(g.nSub)
	g.custPerson = g.pair(rand.New(rand.NewPCG(g.cfg.Seed, 0x6f7665726c6170)), &next)
	g.shopPerson = g.pair(rand.New(rand.NewPCG(g.cfg.Seed, 0x73686f70706572)), &next)
}

// pair maps each of a partner's nCust records to a person: a random set of
// nOverlap records to random distinct subscribers, the others to persons
// of their own, numbered from *next on.
func (g *generator) pair(r *rand.Rand, next *int32) []int32 {
	subs := make([]int32, g.nSub)
	for i := range subs {
		subs[i] = int32(i)
	}
	for i := range g.nOverlap { // partial Fisher–Yates: subs[:nOverlap] is a random sample
		j := i + r.IntN(g.nSub-i)
		subs[i], subs[j] = subs[j], subs[i]
	}
	recs := make([]int32, g.nCust)
	for i := range recs {
		recs[i] = int32(i)
	}
	for i := range g.nOverlap {
		j := i + r.IntN(g.nCust-i)
		recs[i], recs[j] = recs[j], recs[i]
	}
	person := make([]int32, g.nCust)
	for i := range person {
		person[i] = -1
	}
	for i := range g.nOverlap {
		person[recs[i]] = subs[i]
	}
	for i, p := range person {
		if p < 0 {
			person[i] = *next
			*next++
		}
	}
	return person
}

// junkValues fixes the junk identifiers. A junk phone that is someone's
// real number is left out; the normalised junk values are reserved so no
// typo produces one.
func (g *generator) junkValues() {
	L := g.phones.length
	candidates := []string{"n/a", "-", "0", strings.Repeat("0", L), strings.Repeat("9", L), strings.Repeat("1", L)}
	if g.phones.ndd != "" {
		candidates = append(candidates, g.phones.ndd+strings.Repeat("0", L))
	}
	for _, v := range candidates {
		e164, valid := g.phones.normalize(v)
		if valid && g.phones.assigned(e164) {
			continue
		}
		if e164 != "" {
			g.typoPhones[e164] = struct{}{}
		}
		g.junk.Phone = append(g.junk.Phone, v)
	}
	g.junk.Email = g.locale.junkEmail
	for _, v := range g.junk.Email {
		if n, ok := normalizeEmail(v); ok {
			g.typoEmails[n] = struct{}{}
		}
	}
	g.junk.DeviceID = junkDevices
	for _, v := range junkDevices {
		g.typoDevices[v] = struct{}{}
	}
}

// features are a person's operator-side attributes, which the bank side's
// planted effects depend on.
type features struct {
	tier    int
	region  string
	arpu    float64
	usage   float64
	apps    uint16 // bit i: appCategories[i]
	payment int
	signup  int32
}

func (f *features) hasApp(name string) bool {
	return f.apps&(1<<slices.Index(appCategories, name)) != 0
}

func (f *features) appList() string {
	var b strings.Builder
	for i, name := range appCategories {
		if f.apps&(1<<i) != 0 {
			if b.Len() > 0 {
				b.WriteByte(';')
			}
			b.WriteString(name)
		}
	}
	return b.String()
}

func (g *generator) personFeatures(s *stream, p int) features {
	s.reset(g.cfg.Seed, tagFeatures, uint64(p))
	var f features
	f.tier = s.pick(tierWeights)
	f.region = g.locale.regions.names[s.pick(g.locale.regions.weights)]
	f.arpu = round2(s.lognormal(tierARPU[f.tier], 0.3))
	f.usage = round2(s.lognormal(tierUsage[f.tier], 0.6))
	for i, pm := range appPerMille {
		if s.IntN(1000) < pm[f.tier] {
			f.apps |= 1 << i
		}
	}
	if f.apps == 0 {
		f.apps = 1
	}
	f.payment = s.pick(paymentWeights[f.tier])
	first, last := signupFirst.Unix()/86400, signupLast.Unix()/86400
	f.signup = int32(first + s.Int64N(last-first+1))
	return f
}

func round2(x float64) float64 { return math.Round(x*100) / 100 }

// run writes everything; the caller commits or aborts the files.
func (g *generator) run(ctx context.Context, files *fileSet) (*Truth, error) {
	format := g.cfg.Format
	subs, err := openTable[subscriberRow](files, datasetSubscribers, format, subscriberHeader)
	if err != nil {
		return nil, err
	}
	custs, err := openTable[customerRow](files, datasetCustomers, format, customerHeader)
	if err != nil {
		return nil, err
	}
	shops, err := openTable[shopperRow](files, datasetShoppers, format, shopperHeader)
	if err != nil {
		return nil, err
	}
	exps, err := openTable[exposureRow](files, datasetExposures, format, exposureHeader)
	if err != nil {
		return nil, err
	}
	convs, err := openTable[conversionRow](files, datasetConversions, format, conversionHeader)
	if err != nil {
		return nil, err
	}
	pairsFile, err := files.create(truthPairsFile)
	if err != nil {
		return nil, err
	}
	shopPairsFile, err := files.create(truthShopperPairs)
	if err != nil {
		return nil, err
	}
	truthFile, err := files.create(truthJSONFile)
	if err != nil {
		return nil, err
	}

	truth := &Truth{Seed: g.cfg.Seed, Config: g.cfg, JunkValues: g.junk}
	truth.PhoneFormats = PhoneFormats{Operator: g.phones.operator.templates, Bank: g.phones.bank.templates}
	for _, c := range g.campaigns {
		truth.Campaigns = append(truth.Campaigns, Campaign{
			Name:          c.name,
			Product:       advertised[c.product],
			Start:         time.UnixMilli(c.start).UTC().Format(time.RFC3339),
			ExposureEnd:   time.UnixMilli(c.exposureEnd).UTC().Format(time.RFC3339),
			ConversionEnd: time.UnixMilli(c.conversionEnd).UTC().Format(time.RFC3339),
		})
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	expErr := make(chan error, 1)
	go func() {
		err := g.exposurePass(ctx, exps)
		if err != nil {
			cancel()
		}
		expErr <- err
	}()
	err = g.subscriberPass(ctx, subs, truth)
	if err == nil {
		err = g.customerPass(ctx, custs, pairsFile, truth)
	}
	if err == nil {
		err = g.shopperPass(ctx, shops, convs, shopPairsFile, truth)
	}
	if err != nil {
		cancel()
	}
	// An exposure pass that failed by itself cancelled the other passes:
	// its error is the cause.
	if e := <-expErr; e != nil && (err == nil || !errors.Is(e, context.Canceled)) {
		err = e
	}
	if err != nil {
		return nil, err
	}
	truth.Rows = Rows{
		OperatorSubscribers: subs.rows,
		BankCustomers:       custs.rows,
		AdvertiserShoppers:  shops.rows,
		AdExposures:         exps.rows,
		Conversions:         convs.rows,
		TruthPairs:          truth.Overlap.Persons,
		TruthShopperPairs:   truth.ShopperOverlap.Persons,
	}
	for _, t := range []struct {
		name string
		rows int
	}{{datasetSubscribers, subs.rows}, {datasetCustomers, custs.rows}, {datasetShoppers, shops.rows}, {datasetExposures, exps.rows},
		{datasetConversions, convs.rows}} {
		for _, ext := range g.extensions() {
			truth.Files = append(truth.Files, File{Dataset: t.name, Name: t.name + ext, Rows: t.rows})
		}
	}
	b, err := json.MarshalIndent(truth, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("write %s: %w", truthJSONFile, err)
	}
	if _, err := truthFile.Write(append(b, '\n')); err != nil {
		return nil, fmt.Errorf("write %s: %w", truthJSONFile, err)
	}
	return truth, nil
}

func (g *generator) extensions() []string {
	switch g.cfg.Format {
	case FormatParquet:
		return []string{".parquet"}
	case FormatBoth:
		return []string{".csv", ".parquet"}
	}
	return []string{".csv"}
}

// subscriberPass writes operator_subscribers and records each subscriber's
// identifier statuses for the customer pass.
func (g *generator) subscriberPass(ctx context.Context, t *table[subscriberRow, *subscriberRow], truth *Truth) error {
	g.opStatus = make([]uint8, g.nSub)
	ids, typo, aux := newStream(), newStream(), newStream()
	counts := &truth.Identifiers.OperatorSubscribers
	counts.DeviceID = &StatusCounts{}
	var nsn, dev, buf []byte
	var row subscriberRow
	for p := range g.nSub {
		if p%progressEvery == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
			g.progress.add(min(progressEvery, g.nSub-p))
		}
		ids.reset(g.cfg.Seed, tagOperatorIDs, uint64(p))
		typo.reset(g.cfg.Seed, tagOperatorTypo, uint64(p))
		f := g.personFeatures(aux, p)
		row = subscriberRow{
			SubscriberID:     subscriberID(p),
			Tier:             tiers[f.tier],
			Region:           f.region,
			ARPU:             f.arpu,
			DataUsageGB:      f.usage,
			AppCategories:    f.appList(),
			PaymentBehaviour: payments[f.payment],
			SignupDate:       f.signup,
		}

		// Phone: the operator always has the MSISDN, but exports still
		// carry typos and placeholders.
		ps := g.drawStatus(ids, 0)
		nsn = g.phones.personNSN(nsn[:0], p)
		switch ps {
		case statusValid:
			buf = g.phones.operator.write(buf[:0], ids, nsn, g.phones.length)
			row.Phone = string(buf)
		case statusTypo:
			v, err := g.phoneTypo(typo, nsn, &g.phones.operator)
			if err != nil {
				return fmt.Errorf("subscriber %d: %w", p, err)
			}
			row.Phone = v
		case statusJunk:
			row.Phone = g.junk.Phone[ids.IntN(len(g.junk.Phone))]
		}
		counts.Phone.add(ps)

		es := g.drawStatus(ids, operatorEmailMissing)
		switch es {
		case statusValid:
			row.Email = writeOperatorEmail(ids, g.personEmail(aux, p))
		case statusTypo:
			e, err := g.emailTypo(typo, g.personEmail(aux, p))
			if err != nil {
				return fmt.Errorf("subscriber %d: %w", p, err)
			}
			row.Email = writeOperatorEmail(ids, e)
		case statusJunk:
			row.Email = g.junk.Email[ids.IntN(len(g.junk.Email))]
		}
		counts.Email.add(es)

		ds := g.drawStatus(ids, operatorDeviceMissing)
		dev = g.appendDevice(dev[:0], p)
		switch ds {
		case statusValid:
			row.DeviceID = string(writeDevice(buf[:0], ids, dev, operatorDeviceWeights))
		case statusTypo:
			d, err := g.deviceTypo(typo, dev)
			if err != nil {
				return fmt.Errorf("subscriber %d: %w", p, err)
			}
			row.DeviceID = string(writeDevice(buf[:0], ids, d, operatorDeviceWeights))
		case statusJunk:
			row.DeviceID = g.junk.DeviceID[ids.IntN(len(g.junk.DeviceID))]
		}
		counts.DeviceID.add(ds)

		g.opStatus[p] = uint8(ps) | uint8(es)<<2
		if err := t.add(&row); err != nil {
			return err
		}
	}
	return t.close()
}

// exposurePlan says whether campaign c reaches person p, whether p is held
// out, and the times of p's (possibly ghost) exposures, sorted. It leaves s
// ready to draw the exposures' channels.
func (g *generator) exposurePlan(s *stream, c, p int, times []int64) (reached, holdout bool, _ []int64) {
	s.reset(g.cfg.Seed, tagExposure+uint64(c), uint64(p))
	if !s.chance(g.cfg.Reach) {
		return false, false, times
	}
	holdout = s.chance(g.cfg.HoldoutShare)
	n := 1 + s.poisson(g.cfg.ExposuresPerSubscriber-1)
	cp := &g.campaigns[c]
	for range n {
		times = append(times, cp.start+s.Int64N((cp.exposureEnd-cp.start)/1000)*1000)
	}
	slices.Sort(times)
	return true, holdout, times
}

// exposurePass writes ad_exposures, campaign by campaign. Exposures carry
// the subscriber's true device ID or, for SMS, phone, written as ad
// systems write them.
func (g *generator) exposurePass(ctx context.Context, t *table[exposureRow, *exposureRow]) error {
	s := newStream()
	var times []int64
	var buf []byte
	var row exposureRow
	for c := range g.campaigns {
		name := g.campaigns[c].name
		for p := range g.nSub {
			if p%progressEvery == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
				g.progress.add(min(progressEvery, g.nSub-p))
			}
			var reached, holdout bool
			reached, holdout, times = g.exposurePlan(s, c, p, times[:0])
			if !reached {
				continue
			}
			for _, at := range times {
				row = exposureRow{
					ExposureID: "E" + pad(t.rows+1, 10),
					Campaign:   name,
					ExposedAt:  at,
					Holdout:    holdout,
				}
				ch := s.pick(channelWeights)
				row.Channel = channels[ch]
				if channels[ch] == "sms" {
					buf = g.phones.personNSN(buf[:0], p)
					row.Phone = string(g.phones.operator.write(nil, s, buf, g.phones.length))
				} else {
					buf = g.appendDevice(buf[:0], p)
					row.DeviceID = string(writeDevice(nil, s, buf, exposureDeviceWeights))
				}
				if err := t.add(&row); err != nil {
					return err
				}
			}
		}
	}
	return t.close()
}

func subscriberID(p int) string { return "S" + pad(p+1, 9) }
func customerID(k int) string   { return "C" + pad(k+1, 9) }
func shopperID(k int) string    { return "A" + pad(k+1, 9) }

// pad formats n in decimal with leading zeros to at least width digits.
func pad(n, width int) string {
	s := strconv.Itoa(n)
	if len(s) >= width {
		return s
	}
	return strings.Repeat("0", width-len(s)) + s
}

// progressMeter adds up work from several goroutines and reports it.
type progressMeter struct {
	mu    sync.Mutex
	fn    func(done, total int)
	done  int
	total int
}

func (m *progressMeter) add(n int) {
	if m.fn == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.done += n
	m.fn(min(m.done, m.total), m.total)
}

func (m *progressMeter) finish() {
	if m.fn == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.fn(m.total, m.total)
}
