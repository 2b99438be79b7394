package synth

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
)

// customerPass writes bank_customers, truth_pairs.csv and conversions, and
// fills the bank's identifier counts, the overlap and the planted effects
// of truth.
func (g *generator) customerPass(ctx context.Context, t *table[customerRow, *customerRow], convs *table[conversionRow, *conversionRow], pairsFile *os.File, truth *Truth) error {
	w := &customerWriter{
		g:      g,
		ids:    newStream(),
		typo:   newStream(),
		attrs:  newStream(),
		aux:    newStream(),
		exp:    newStream(),
		counts: &truth.Identifiers.BankCustomers,
		ov:     &truth.Overlap,
		lift:   make([]CampaignLift, len(g.campaigns)),
		look:   slices.Clone(lookAlikes),
		risk:   []RiskCell{{false, false, 0, 0}, {false, true, 0, 0}, {true, false, 0, 0}, {true, true, 0, 0}},
		pairs:  bufio.NewWriterSize(pairsFile, 64*1024),
	}
	for c := range g.campaigns {
		w.lift[c].Campaign = g.campaigns[c].name
	}
	if _, err := w.pairs.WriteString("subscriber_id,customer_id,matching_classes,phone_status,email_status\n"); err != nil {
		return fmt.Errorf("write %s: %w", truthPairsFile, err)
	}
	for k := range g.nCust {
		if k%progressEvery == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
			g.progress.add(min(progressEvery, g.nCust-k))
		}
		if err := w.customer(k); err != nil {
			return err
		}
		if err := t.add(&w.row); err != nil {
			return err
		}
	}
	if err := t.close(); err != nil {
		return err
	}
	if err := w.pairs.Flush(); err != nil {
		return fmt.Errorf("write %s: %w", truthPairsFile, err)
	}
	if err := w.writeConversions(convs); err != nil {
		return err
	}

	ov := w.ov
	ov.UnmatchablePersons = ov.Persons - ov.MatchablePersons
	if g.nCust > 0 {
		ov.ShareOfCustomers = float64(ov.Persons) / float64(g.nCust)
	}
	if g.nSub > 0 {
		ov.ShareOfSubscribers = float64(ov.Persons) / float64(g.nSub)
	}
	truth.Effects = Effects{
		Lift: LiftEffect{
			Reach:        g.cfg.Reach,
			HoldoutShare: g.cfg.HoldoutShare,
			BaseRate:     g.cfg.BaseConversionRate,
			ExposedRate:  g.cfg.BaseConversionRate + g.cfg.Lift,
			AbsoluteLift: g.cfg.Lift,
			Realised:     w.lift,
		},
		LookAlike:  w.look,
		CreditRisk: creditRisk,
	}
	truth.Effects.CreditRisk.Realised = w.risk
	return nil
}

// customerWriter makes one bank customer at a time; its fields describe
// the current customer or add up over all of them.
type customerWriter struct {
	g                          *generator
	ids, typo, attrs, aux, exp *stream
	counts                     *IdentifierCounts
	ov                         *Overlap
	lift                       []CampaignLift
	look                       []LookAlikeEffect
	risk                       []RiskCell
	pairs                      *bufio.Writer
	pending                    []pendingConversion

	// The current customer.
	k, p   int
	f      features
	row    customerRow
	ps, es status
	e      email  // the email as the bank holds it (valid or typo)
	nsn    []byte // the person's true national number
	held   [4]bool

	buf, line []byte
	times     []int64
}

// pendingConversion is a conversion waiting to be sorted by time.
type pendingConversion struct {
	at       int64
	customer int32
	product  int8
	byEmail  bool
	amount   float64
	id       string
}

// customer makes customer k into w.row.
func (w *customerWriter) customer(k int) error {
	g := w.g
	w.k, w.p = k, int(g.custPerson[k])
	w.ids.reset(g.cfg.Seed, tagBankIDs, uint64(w.p))
	w.typo.reset(g.cfg.Seed, tagBankTypo, uint64(w.p))
	w.attrs.reset(g.cfg.Seed, tagBankAttrs, uint64(w.p))
	w.f = g.personFeatures(w.aux, w.p)
	w.row = customerRow{CustomerID: customerID(k)}
	if err := w.identifiers(); err != nil {
		return fmt.Errorf("customer %d: %w", k, err)
	}
	w.attributes()
	if w.p < g.nSub {
		if err := w.recordPair(); err != nil {
			return err
		}
	}
	w.conversions()
	return nil
}

// identifiers writes the phone and email the bank holds.
func (w *customerWriter) identifiers() error {
	g, ids := w.g, w.ids
	// Which identifiers the bank holds at all.
	phoneMissing, emailMissing := 0.0, 0.0
	switch u := ids.Float64(); {
	case u < bankPhoneOnly:
		emailMissing = 1
	case u < bankPhoneOnly+bankEmailOnly:
		phoneMissing = 1
	}

	w.ps = g.drawStatus(ids, phoneMissing)
	w.nsn = g.phones.personNSN(w.nsn[:0], w.p)
	switch w.ps {
	case statusValid:
		w.buf = g.phones.bank.write(w.buf[:0], ids, w.nsn, g.phones.length)
		w.row.Phone = string(w.buf)
	case statusTypo:
		v, err := g.phoneTypo(w.typo, w.nsn, &g.phones.bank)
		if err != nil {
			return err
		}
		w.row.Phone = v
	case statusJunk:
		w.row.Phone = g.junk.Phone[ids.IntN(len(g.junk.Phone))]
	}
	w.counts.Phone.add(w.ps)

	w.es = g.drawStatus(ids, emailMissing)
	w.e = email{}
	if w.es == statusValid || w.es == statusTypo {
		w.e = g.personEmail(w.aux, w.p)
	}
	switch w.es {
	case statusValid:
		w.row.Email = writeBankEmail(ids, w.e)
	case statusTypo:
		var err error
		if w.e, err = g.emailTypo(w.typo, w.e); err != nil {
			return err
		}
		w.row.Email = writeBankEmail(ids, w.e)
	case statusJunk:
		w.row.Email = g.junk.Email[ids.IntN(len(g.junk.Email))]
	}
	w.counts.Email.add(w.es)
	return nil
}

// attributes draws products, balances, spending and the default flag,
// with the planted look-alike and credit-risk effects.
func (w *customerWriter) attributes() {
	a, f, row := w.attrs, &w.f, &w.row
	w.held = [4]bool{
		a.chance(rate(&w.look[0], f.tier == 2)),
		a.chance(rate(&w.look[1], f.hasApp("shopping"))),
		a.chance(rate(&w.look[2], f.hasApp("finance"))),
		a.chance(rate(&w.look[3], f.tier == 0)),
	}
	var prods []string
	for i, h := range w.held {
		if h {
			prods = append(prods, products[i])
		}
	}
	row.Products = strings.Join(prods, ";")
	tierFactor := [3]float64{0.8, 1.0, 1.4}[f.tier]
	row.Balance = round2(a.lognormal(60000*tierFactor, 1.0))
	if w.held[2] {
		row.Balance = round2(row.Balance + a.lognormal(400000, 0.8))
	}
	row.SpendGroceries = round2(a.lognormal(18000*tierFactor, 0.4))
	if f.hasApp("travel") {
		row.SpendTravel = round2(a.lognormal(15000, 0.8))
	} else {
		row.SpendTravel = round2(a.lognormal(3000, 1.0))
	}
	row.SpendElectronics = round2(a.lognormal(5000*tierFactor, 0.9))
	ent := 4000.0
	if f.hasApp("gaming") || f.hasApp("video") {
		ent = 5500
	}
	row.SpendEntertainment = round2(a.lognormal(ent, 0.7))
	row.MonthlySpend = round2(row.SpendGroceries + row.SpendTravel + row.SpendElectronics +
		row.SpendEntertainment + a.lognormal(10000, 0.5))
	pd := creditRisk.BaseRate
	if w.late() {
		pd += creditRisk.LatePayment
	}
	if w.lowARPU() {
		pd += creditRisk.LowARPU
	}
	row.DefaultFlag = a.chance(pd)
}

func (w *customerWriter) late() bool    { return w.f.payment == 1 }
func (w *customerWriter) lowARPU() bool { return w.f.arpu < creditRisk.LowARPUThreshold }

// recordPair writes the current customer's line of truth_pairs.csv and
// counts the overlap and the realised effects.
func (w *customerWriter) recordPair() error {
	op := w.g.opStatus[w.p]
	pc, ec := pairClass(status(op&3), w.ps), pairClass(status(op>>2&3), w.es)
	ov := w.ov
	ov.Persons++
	ov.ByClass.Phone.add(pc)
	ov.ByClass.Email.add(ec)
	var classes []string
	if pc == statusValid {
		classes = append(classes, "phone")
	}
	if ec == statusValid {
		classes = append(classes, "email")
	}
	if len(classes) > 0 {
		ov.MatchablePersons++
	}
	w.line = append(w.line[:0], subscriberID(w.p)...)
	w.line = append(w.line, ',')
	w.line = append(w.line, w.row.CustomerID...)
	w.line = append(w.line, ',')
	w.line = append(w.line, strings.Join(classes, ";")...)
	w.line = append(w.line, ',')
	w.line = append(w.line, matchName(pc)...)
	w.line = append(w.line, ',')
	w.line = append(w.line, matchName(ec)...)
	w.line = append(w.line, '\n')
	if _, err := w.pairs.Write(w.line); err != nil {
		return fmt.Errorf("write %s: %w", truthPairsFile, err)
	}

	f := &w.f
	w.look[0].count(f.tier == 2, w.held[0])
	w.look[1].count(f.hasApp("shopping"), w.held[1])
	w.look[2].count(f.hasApp("finance"), w.held[2])
	w.look[3].count(f.tier == 0, w.held[3])
	cell := &w.risk[b2i(w.late())*2+b2i(w.lowARPU())]
	cell.Persons++
	if w.row.DefaultFlag {
		cell.Defaults++
	}
	return nil
}

// conversions gives the current customer one chance per campaign to
// convert to its product, raised for exposed persons, and queues the
// conversions.
func (w *customerWriter) conversions() {
	g, a := w.g, w.attrs
	overlapping := w.p < g.nSub
	for c, cp := range g.campaigns {
		reached, holdout := false, false
		if overlapping {
			reached, holdout, w.times = g.exposurePlan(w.exp, c, w.p, w.times[:0])
		}
		exposed := reached && !holdout
		pr := g.cfg.BaseConversionRate
		if exposed {
			pr += g.cfg.Lift
		}
		converted := a.chance(pr)
		if reached {
			l := &w.lift[c]
			if exposed {
				l.ExposedPersons++
				l.ExposedConverted += b2i(converted)
			} else {
				l.HoldoutPersons++
				l.HoldoutConverted += b2i(converted)
			}
		}
		if !converted {
			continue
		}
		from := cp.start
		if reached {
			from = w.times[0]
		}
		pc := pendingConversion{
			at:       from + a.Int64N(cp.conversionEnd-from)/1000*1000,
			customer: int32(w.k),
			product:  int8(cp.product),
			amount:   conversionAmount(a, cp.product),
		}
		// The conversion names the customer by an identifier the bank
		// holds, as the bank holds it.
		switch {
		case w.ps == statusMissing:
			pc.byEmail = true
		case w.es == statusMissing:
			pc.byEmail = false
		default:
			pc.byEmail = a.chance(0.5)
		}
		switch {
		case pc.byEmail && w.es == statusValid:
			pc.id = writeBankEmail(a, w.e)
		case pc.byEmail:
			pc.id = w.row.Email
		case w.ps == statusValid:
			pc.id = string(g.phones.bank.write(w.buf[:0], a, w.nsn, g.phones.length))
		default:
			pc.id = w.row.Phone
		}
		w.pending = append(w.pending, pc)
	}
}

// writeConversions writes the queued conversions sorted by time.
func (w *customerWriter) writeConversions(t *table[conversionRow, *conversionRow]) error {
	slices.SortFunc(w.pending, func(a, b pendingConversion) int {
		return cmp.Or(cmp.Compare(a.at, b.at), cmp.Compare(a.customer, b.customer), cmp.Compare(a.product, b.product))
	})
	for i, pc := range w.pending {
		r := conversionRow{
			ConversionID: "V" + pad(i+1, 9),
			Product:      products[pc.product],
			ConvertedAt:  pc.at,
			Amount:       pc.amount,
		}
		if pc.byEmail {
			r.Email = pc.id
		} else {
			r.Phone = pc.id
		}
		if err := t.add(&r); err != nil {
			return err
		}
	}
	return t.close()
}

// pairClass combines the statuses of one identifier class on the two
// sides: valid when both are, else the first of missing, junk, typo.
func pairClass(a, b status) status { return max(a, b) }

func matchName(s status) string {
	if s == statusValid {
		return "match"
	}
	return s.String()
}

func (c *ClassOverlap) add(s status) {
	switch s {
	case statusValid:
		c.Matchable++
	case statusTypo:
		c.LostTypo++
	case statusJunk:
		c.LostJunk++
	case statusMissing:
		c.LostMissing++
	}
}

func rate(e *LookAlikeEffect, with bool) float64 {
	if with {
		return e.RateWith
	}
	return e.RateWithout
}

func (e *LookAlikeEffect) count(with, holds bool) {
	if with {
		e.WithPersons++
		if holds {
			e.WithHolders++
		}
	} else {
		e.WithoutPersons++
		if holds {
			e.WithoutHolders++
		}
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// conversionAmount is the size of a new product: a mortgage's principal, a
// credit card's first month of spending, a deposit, a loan.
func conversionAmount(s *stream, product int) float64 {
	mean := [4]float64{5_000_000, 25_000, 300_000, 250_000}[product]
	return round2(s.lognormal(mean, 0.6))
}
