package synth

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"os"
	"slices"
	"time"
)

// Missing-value shares of the advertiser's identifiers: an online shop
// knows the email of most of its shoppers.
const (
	shopperPhoneOnly = 0.08
	shopperEmailOnly = 0.30
)

// Dates the advertiser's shoppers joined its loyalty programme.
var (
	memberFirst = time.Date(2015, 1, 1, 0, 0, 0, 0, time.UTC)
	memberLast  = time.Date(2023, 12, 31, 0, 0, 0, 0, time.UTC)
)

// shopperPass writes advertiser_shoppers, truth_shopper_pairs.csv and
// conversions, and fills the advertiser's identifier counts, its overlap
// with the operator and the planted lift of truth.
func (g *generator) shopperPass(ctx context.Context, t *table[shopperRow, *shopperRow], convs *table[conversionRow, *conversionRow], pairsFile *os.File, truth *Truth) error {
	w := &shopperWriter{
		g:      g,
		ids:    newStream(),
		typo:   newStream(),
		attrs:  newStream(),
		aux:    newStream(),
		exp:    newStream(),
		counts: &truth.Identifiers.AdvertiserShoppers,
		ov:     &truth.ShopperOverlap,
		lift:   make([]CampaignLift, len(g.campaigns)),
		pairs:  bufio.NewWriterSize(pairsFile, 64*1024),
	}
	for c := range g.campaigns {
		w.lift[c].Campaign = g.campaigns[c].name
	}
	if _, err := w.pairs.WriteString("subscriber_id,shopper_id,matching_classes,phone_status,email_status\n"); err != nil {
		return fmt.Errorf("write %s: %w", truthShopperPairs, err)
	}
	for k := range g.nCust {
		if k%progressEvery == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
			g.progress.add(min(progressEvery, g.nCust-k))
		}
		if err := w.shopper(k); err != nil {
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
		return fmt.Errorf("write %s: %w", truthShopperPairs, err)
	}
	if err := w.writeConversions(convs); err != nil {
		return err
	}
	w.ov.finish(g.nSub, g.nCust)
	truth.Effects.Lift = LiftEffect{
		Reach:        g.cfg.Reach,
		HoldoutShare: g.cfg.HoldoutShare,
		BaseRate:     g.cfg.BaseConversionRate,
		ExposedRate:  g.cfg.BaseConversionRate + g.cfg.Lift,
		AbsoluteLift: g.cfg.Lift,
		Realised:     w.lift,
	}
	return nil
}

// shopperWriter makes one of the advertiser's shoppers at a time; its
// fields describe the current shopper or add up over all of them.
type shopperWriter struct {
	g                          *generator
	ids, typo, attrs, aux, exp *stream
	counts                     *IdentifierCounts
	ov                         *Overlap
	lift                       []CampaignLift
	pairs                      *bufio.Writer
	pending                    []pendingConversion

	// The current shopper.
	k, p int
	row  shopperRow
	contact

	line  []byte
	times []int64
}

// pendingConversion is a conversion waiting to be sorted by time.
type pendingConversion struct {
	at      int64
	shopper int32
	product int8
	byEmail bool
	amount  float64
	id      string
}

// shopper makes shopper k into w.row and queues its conversions.
func (w *shopperWriter) shopper(k int) error {
	g := w.g
	w.k, w.p = k, int(g.shopPerson[k])
	w.ids.reset(g.cfg.Seed, tagShopperIDs, uint64(w.p))
	w.typo.reset(g.cfg.Seed, tagShopperTypo, uint64(w.p))
	w.attrs.reset(g.cfg.Seed, tagShopperAttrs, uint64(w.p))
	w.row = shopperRow{ShopperID: shopperID(k)}
	if err := g.formContact(&w.contact, w.p, w.ids, w.typo, w.aux, shopperPhoneOnly, shopperEmailOnly, w.counts); err != nil {
		return fmt.Errorf("shopper %d: %w", k, err)
	}
	w.row.Phone, w.row.Email = w.phoneText, w.emailText
	w.row.LoyaltyTier = loyaltyTiers[w.attrs.pick(loyaltyWeights)]
	first, last := memberFirst.Unix()/86400, memberLast.Unix()/86400
	w.row.MemberSince = int32(first + w.attrs.Int64N(last-first+1))
	if w.p < g.nSub {
		var err error
		if w.line, err = g.recordOverlap(w.ov, w.pairs, w.line, w.p, &w.contact, w.row.ShopperID); err != nil {
			return fmt.Errorf("write %s: %w", truthShopperPairs, err)
		}
	}
	w.conversions()
	return nil
}

// conversions gives the current shopper one chance per campaign to buy its
// product, raised for exposed persons, counts the realised lift among
// shoppers who are subscribers, and queues the conversions.
func (w *shopperWriter) conversions() {
	g, a := w.g, w.attrs
	subscriber := w.p < g.nSub
	for c, cp := range g.campaigns {
		reached, holdout := false, false
		if subscriber {
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
			at:      from + a.Int64N(cp.conversionEnd-from)/1000*1000,
			shopper: int32(w.k),
			product: int8(cp.product),
			amount:  conversionAmount(a, cp.product),
		}
		// The conversion names the shopper as the advertiser holds it:
		// by the email of its account, or by its phone when it has no
		// email.
		pc.byEmail = w.es != statusMissing
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
func (w *shopperWriter) writeConversions(t *table[conversionRow, *conversionRow]) error {
	slices.SortFunc(w.pending, func(a, b pendingConversion) int {
		return cmp.Or(cmp.Compare(a.at, b.at), cmp.Compare(a.shopper, b.shopper), cmp.Compare(a.product, b.product))
	})
	for i, pc := range w.pending {
		r := conversionRow{
			ConversionID: "V" + pad(i+1, 9),
			Product:      advertised[pc.product],
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

// conversionAmount is the price of a purchase of an advertised product.
func conversionAmount(s *stream, product int) float64 {
	mean := [4]float64{45_000, 90_000, 9_000, 25_000}[product]
	return round2(s.lognormal(mean, 0.3))
}
