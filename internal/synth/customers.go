package synth

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
)

// customerPass writes bank_customers and truth_pairs.csv, and fills the
// bank's identifier counts, the overlap and the look-alike and credit-risk
// effects of truth.
func (g *generator) customerPass(ctx context.Context, t *table[customerRow, *customerRow], pairsFile *os.File, truth *Truth) error {
	w := &customerWriter{
		g:      g,
		ids:    newStream(),
		typo:   newStream(),
		attrs:  newStream(),
		aux:    newStream(),
		counts: &truth.Identifiers.BankCustomers,
		ov:     &truth.Overlap,
		look:   slices.Clone(lookAlikes),
		risk:   []RiskCell{{false, false, 0, 0}, {false, true, 0, 0}, {true, false, 0, 0}, {true, true, 0, 0}},
		pairs:  bufio.NewWriterSize(pairsFile, 64*1024),
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
	w.ov.finish(g.nSub, g.nCust)
	truth.Effects.LookAlike = w.look
	truth.Effects.CreditRisk = creditRisk
	truth.Effects.CreditRisk.Realised = w.risk
	return nil
}

// finish fills in the overlap's figures derived from its counts, with
// nSub subscribers and nPartner rows of the partner's dataset.
func (ov *Overlap) finish(nSub, nPartner int) {
	ov.UnmatchablePersons = ov.Persons - ov.MatchablePersons
	if nPartner > 0 {
		ov.ShareOfCustomers = float64(ov.Persons) / float64(nPartner)
	}
	if nSub > 0 {
		ov.ShareOfSubscribers = float64(ov.Persons) / float64(nSub)
	}
}

// customerWriter makes one bank customer at a time; its fields describe
// the current customer or add up over all of them.
type customerWriter struct {
	g                     *generator
	ids, typo, attrs, aux *stream
	counts                *IdentifierCounts
	ov                    *Overlap
	look                  []LookAlikeEffect
	risk                  []RiskCell
	pairs                 *bufio.Writer

	// The current customer.
	p   int
	f   features
	row customerRow
	contact
	held [4]bool

	line []byte
}

// customer makes customer k into w.row.
func (w *customerWriter) customer(k int) error {
	g := w.g
	w.p = int(g.custPerson[k])
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
	return nil
}

// identifiers writes the phone and email the bank holds.
func (w *customerWriter) identifiers() error {
	if err := w.g.formContact(&w.contact, w.p, w.ids, w.typo, w.aux, bankPhoneOnly, bankEmailOnly, w.counts); err != nil {
		return err
	}
	w.row.Phone, w.row.Email = w.phoneText, w.emailText
	return nil
}

// contact is the phone and email a partner that collects them through
// forms (the bank, the advertiser) holds for one person.
type contact struct {
	phoneText, emailText string // as written; empty when missing
	ps, es               status
	e                    email  // the email as the partner holds it (valid or typo)
	nsn                  []byte // the person's true national number
	buf                  []byte
}

// formContact draws person p's phone and email as a partner holds them,
// the way forms collect them: only the phone with probability phoneOnly,
// only the email with probability emailOnly, each with the configured
// typo and junk rates; it counts their statuses.
func (g *generator) formContact(c *contact, p int, ids, typo, aux *stream, phoneOnly, emailOnly float64, counts *IdentifierCounts) error {
	// Which identifiers the partner holds at all.
	phoneMissing, emailMissing := 0.0, 0.0
	switch u := ids.Float64(); {
	case u < phoneOnly:
		emailMissing = 1
	case u < phoneOnly+emailOnly:
		phoneMissing = 1
	}

	c.phoneText, c.emailText = "", ""
	c.ps = g.drawStatus(ids, phoneMissing)
	c.nsn = g.phones.personNSN(c.nsn[:0], p)
	switch c.ps {
	case statusValid:
		c.buf = g.phones.bank.write(c.buf[:0], ids, c.nsn, g.phones.length)
		c.phoneText = string(c.buf)
	case statusTypo:
		v, err := g.phoneTypo(typo, c.nsn, &g.phones.bank)
		if err != nil {
			return err
		}
		c.phoneText = v
	case statusJunk:
		c.phoneText = g.junk.Phone[ids.IntN(len(g.junk.Phone))]
	}
	counts.Phone.add(c.ps)

	c.es = g.drawStatus(ids, emailMissing)
	c.e = email{}
	if c.es == statusValid || c.es == statusTypo {
		c.e = g.personEmail(aux, p)
	}
	switch c.es {
	case statusValid:
		c.emailText = writeBankEmail(ids, c.e)
	case statusTypo:
		var err error
		if c.e, err = g.emailTypo(typo, c.e); err != nil {
			return err
		}
		c.emailText = writeBankEmail(ids, c.e)
	case statusJunk:
		c.emailText = g.junk.Email[ids.IntN(len(g.junk.Email))]
	}
	counts.Email.add(c.es)
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
	var err error
	if w.line, err = w.g.recordOverlap(w.ov, w.pairs, w.line, w.p, &w.contact, w.row.CustomerID); err != nil {
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

// recordOverlap counts person p, a subscriber whom a partner holds as c
// under partnerID, in ov, and writes its line of a truth pairs file to
// out: the subscriber's and the partner's IDs, the classes that match, and
// each class's status. It returns line, a buffer to reuse.
func (g *generator) recordOverlap(ov *Overlap, out *bufio.Writer, line []byte, p int, c *contact, partnerID string) ([]byte, error) {
	op := g.opStatus[p]
	pc, ec := pairClass(status(op&3), c.ps), pairClass(status(op>>2&3), c.es)
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
	line = append(line[:0], subscriberID(p)...)
	line = append(line, ',')
	line = append(line, partnerID...)
	line = append(line, ',')
	line = append(line, strings.Join(classes, ";")...)
	line = append(line, ',')
	line = append(line, matchName(pc)...)
	line = append(line, ',')
	line = append(line, matchName(ec)...)
	line = append(line, '\n')
	_, err := out.Write(line)
	return line, err
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
