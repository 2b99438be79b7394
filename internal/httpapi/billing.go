package httpapi

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/sqlite"
)

// The commercial side of the room server.
//
// The platform admin sets a room's terms (PUT /rooms/{room}/terms): each
// change is a new version that applies from the moment it is set. Every
// query run — plain queries, attribution, model and look-alike jobs — is
// charged in the transaction that records it, under the terms in effect
// then; a repeat answered with a stored result is no run and is not
// charged, and a room without terms records nothing. A room's subscription
// is charged once for each quarter in which, at some moment, it had terms
// and an agreement in force; that entry is derived from the stored terms
// and agreements whenever the ledger is read, dated at the first such
// moment, under the terms in effect then.

// TermsRequest sets a room's commercial terms. Amounts are whole minor
// units of the currency (cents for EUR).
type TermsRequest struct {
	Currency       string           `json:"currency"`
	Subscription   int64            `json:"subscription"`
	RunPrice       int64            `json:"run_price"`
	TemplatePrices map[string]int64 `json:"template_prices"`
	Payer          string           `json:"payer"`
	Seller         string           `json:"seller"`
}

// TermsBody is a room's terms: the version in effect (nil before any was
// set) and every version, oldest first.
type TermsBody struct {
	Room     string            `json:"room"`
	Current  *cleanroom.Terms  `json:"current"`
	Versions []cleanroom.Terms `json:"versions"`
}

// LedgerBody is a page of one quarter's billing ledger over the rooms the
// caller may see: run entries after the page's cursor (Next is the after
// of the next page, 0 at the end), the quarter's derived subscription
// entries (the same on every page), and each room's revenue in the
// quarter.
type LedgerBody struct {
	Quarter       cleanroom.Quarter       `json:"quarter"`
	Entries       []cleanroom.LedgerEntry `json:"entries"`
	Subscriptions []cleanroom.LedgerEntry `json:"subscriptions"`
	Revenue       []RoomRevenueBody       `json:"revenue"`
	Next          int64                   `json:"next"`
}

// RoomRevenueBody is a room's revenue in a quarter.
type RoomRevenueBody struct {
	Room string `json:"room"`
	cleanroom.RoomRevenue
}

// maxLedgerPage bounds the run entries of one ledger page.
const maxLedgerPage = 10000

func (s *Server) billingRoutes() []Route {
	return []Route{
		{Method: "PUT", Pattern: "/api/v1/rooms/{room}/terms", Action: cleanroom.ActionTermsSet, Mutates: true,
			decode: decodeInto(func(c *call, v *TermsRequest) error { c.body = v; return nil }), handle: s.setTerms},
		{Method: "GET", Pattern: "/api/v1/rooms/{room}/terms", Action: cleanroom.ActionTermsShow, handle: s.showTerms},
		{Method: "GET", Pattern: "/api/v1/billing/ledger", Action: cleanroom.ActionLedger, handle: s.ledger},
		{Method: "GET", Pattern: "/api/v1/dashboard", Action: cleanroom.ActionDashboard, handle: s.dashboard},
	}
}

func (s *Server) setTerms(c *call) (int, any, error) {
	req := c.body.(*TermsRequest)
	room, err := c.tx.Room(c.target.Room)
	if err != nil {
		return 0, nil, err
	}
	t := &cleanroom.Terms{Room: room.Name, Currency: req.Currency, Subscription: req.Subscription, RunPrice: req.RunPrice,
		TemplatePrices: req.TemplatePrices, Payer: req.Payer, Seller: req.Seller, SetBy: c.p.String()}
	if t.TemplatePrices == nil {
		t.TemplatePrices = map[string]int64{}
	}
	if err := t.Validate(); err != nil {
		return 0, nil, err
	}
	if err := t.CheckRoom(room); err != nil {
		return 0, nil, err
	}
	old, err := c.tx.Terms(room.Name)
	if err != nil {
		return 0, nil, err
	}
	if len(old) > 0 && old[0].Currency != t.Currency {
		return 0, nil, cleanroom.Errorf(cleanroom.EInvalid, "room %q is billed in %s; its terms cannot change currency to %s", room.Name, old[0].Currency, t.Currency).
			WithHint("state the amounts in %s", old[0].Currency)
	}
	if err := c.tx.PutTerms(t); err != nil {
		return 0, nil, err
	}
	c.object = "terms:" + room.Name
	c.detail["version"] = strconv.Itoa(t.Version)
	c.detail["currency"] = t.Currency
	c.detail["subscription"] = strconv.FormatInt(t.Subscription, 10)
	c.detail["run_price"] = strconv.FormatInt(t.RunPrice, 10)
	for name, p := range t.TemplatePrices {
		c.detail["price."+name] = strconv.FormatInt(p, 10)
	}
	c.detail["payer"] = t.Payer
	c.detail["seller"] = t.Seller
	return s.termsBody(c, room.Name)
}

func (s *Server) showTerms(c *call) (int, any, error) { return s.termsBody(c, c.target.Room) }

func (s *Server) termsBody(c *call, room string) (int, any, error) {
	vs, err := c.tx.Terms(room)
	if err != nil {
		return 0, nil, err
	}
	out := TermsBody{Room: room, Versions: vs}
	if out.Versions == nil {
		out.Versions = []cleanroom.Terms{}
	}
	out.Current = sqlite.TermsAt(vs, c.tx.Now())
	return http.StatusOK, out, nil
}

// chargeRun records a query run's entry in the billing ledger under the
// room's terms in effect. It runs in the transaction that records the run,
// after the run's row: both are committed together or neither is. A room
// without terms is not charged.
func (s *Server) chargeRun(c *call, q *sqlite.QueryRow) error {
	vs, err := c.tx.Terms(q.Room)
	if err != nil {
		return err
	}
	t := sqlite.TermsAt(vs, q.CreatedAt)
	if t == nil {
		return nil
	}
	e := &cleanroom.LedgerEntry{Room: q.Room, Quarter: cleanroom.QuarterOf(q.CreatedAt), Time: q.CreatedAt, Kind: cleanroom.ChargeRun,
		Template: q.Template, Version: q.Version, Query: q.ID, Payer: t.Payer, Seller: t.Seller, Amount: t.PriceOf(q.Template),
		Currency: t.Currency, Terms: t.Version}
	if err := c.tx.AppendLedger(e); err != nil {
		return err
	}
	c.detail["charge"] = fmt.Sprintf("%d %s to %s (terms version %d)", e.Amount, e.Currency, e.Payer, e.Terms)
	return nil
}

// quarterParam reads ?quarter=2026Q4; the quarter of now by default.
func quarterParam(c *call) (cleanroom.Quarter, error) {
	v := c.r.URL.Query().Get("quarter")
	if v == "" {
		return cleanroom.QuarterOf(c.tx.Now()), nil
	}
	q, err := cleanroom.ParseQuarter(v)
	if err != nil {
		msg, _ := cleanroom.ErrorMessage(err)
		return q, cleanroom.Errorf(cleanroom.EInvalid, "query parameter \"quarter\": %s", msg).
			WithHint("write the year and quarter, for example ?quarter=2026Q4")
	}
	return q, nil
}

// visibleRooms returns the rooms p may see in the business view, by name.
func visibleRooms(tx *sqlite.Tx, p *cleanroom.Principal) ([]cleanroom.Room, error) {
	all, err := tx.Rooms()
	if err != nil {
		return nil, err
	}
	out := slices.DeleteFunc(all, func(r cleanroom.Room) bool { return !cleanroom.SeeRoomMetrics(p, r.Name) })
	slices.SortFunc(out, func(a, b cleanroom.Room) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func (s *Server) ledger(c *call) (int, any, error) {
	q, err := quarterParam(c)
	if err != nil {
		return 0, nil, err
	}
	after, limit := int64(0), maxLedgerPage
	vals := c.r.URL.Query()
	if v := vals.Get("after"); v != "" {
		if after, err = strconv.ParseInt(v, 10, 64); err != nil || after < 0 {
			return 0, nil, cleanroom.Errorf(cleanroom.EInvalid, "query parameter \"after\" must be a sequence number, not %q", v)
		}
	}
	if v := vals.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > maxLedgerPage {
			return 0, nil, cleanroom.Errorf(cleanroom.EInvalid, "query parameter \"limit\" must be between 1 and %d, not %q", maxLedgerPage, v)
		}
	}
	rooms, err := visibleRooms(c.tx, c.p)
	if err != nil {
		return 0, nil, err
	}
	b, err := s.billingOf(c.tx, rooms, q)
	if err != nil {
		return 0, nil, err
	}
	out := LedgerBody{Quarter: q, Subscriptions: b.subscriptions, Revenue: []RoomRevenueBody{}}
	for _, r := range rooms {
		if rev := b.revenue[r.Name]; rev != nil {
			out.Revenue = append(out.Revenue, RoomRevenueBody{Room: r.Name, RoomRevenue: *rev})
		}
	}
	if out.Entries, err = c.tx.Ledger(sqlite.LedgerFilter{Rooms: roomNames(rooms), From: q.Start(), To: q.End(), After: after, Limit: limit + 1}); err != nil {
		return 0, nil, err
	}
	if len(out.Entries) > limit {
		out.Entries = out.Entries[:limit]
		out.Next = out.Entries[limit-1].Seq
	}
	return http.StatusOK, out, nil
}

func roomNames(rooms []cleanroom.Room) []string {
	out := make([]string, len(rooms))
	for i, r := range rooms {
		out[i] = r.Name
	}
	return out
}

// billing is what a quarter's ledger says about a set of rooms: the
// derived subscription entries, each room's revenue (nil for a room
// without terms in the quarter) and its run charges per template.
type billing struct {
	subscriptions []cleanroom.LedgerEntry
	revenue       map[string]*cleanroom.RoomRevenue
	charges       map[string][]sqlite.RunCharges
}

// billingOf derives rooms' subscriptions in quarter q and sums their
// revenue.
func (s *Server) billingOf(tx *sqlite.Tx, rooms []cleanroom.Room, q cleanroom.Quarter) (*billing, error) {
	b := &billing{subscriptions: []cleanroom.LedgerEntry{}, revenue: map[string]*cleanroom.RoomRevenue{}, charges: map[string][]sqlite.RunCharges{}}
	end := upTo(q, tx.Now())
	charges, err := tx.LedgerTotals(sqlite.LedgerFilter{Rooms: roomNames(rooms), From: q.Start(), To: q.End()})
	if err != nil {
		return nil, err
	}
	for _, ch := range charges {
		b.charges[ch.Room] = append(b.charges[ch.Room], ch)
	}
	for _, r := range rooms {
		terms, err := tx.Terms(r.Name)
		if err != nil {
			return nil, err
		}
		// Terms in effect at some time in the quarter (up to now).
		last := sqlite.TermsAt(terms, end.Add(-time.Nanosecond))
		if last == nil || !end.After(q.Start()) {
			continue
		}
		rev := &cleanroom.RoomRevenue{Revenue: cleanroom.Revenue{Currency: last.Currency}, Payer: last.Payer, Seller: last.Seller}
		all, err := agreements(tx, r.Name)
		if err != nil {
			return nil, err
		}
		if e := subscriptionOf(r.Name, terms, inForceSpans(all), q, end); e != nil {
			b.subscriptions = append(b.subscriptions, *e)
			rev.Subscription = e.Amount
		}
		for _, ch := range b.charges[r.Name] {
			rev.Runs += ch.Amount
			rev.RunCount += ch.Runs
		}
		rev.Total = rev.Subscription + rev.Runs
		b.revenue[r.Name] = rev
	}
	return b, nil
}

// subscriptionOf derives a room's subscription entry for quarter q, or nil:
// it is charged at the first moment before end in the quarter at which the
// room had terms and an agreement in force, under the terms in effect then
// (none when their subscription is zero).
func subscriptionOf(room string, terms []cleanroom.Terms, inForce []span, q cleanroom.Quarter, end time.Time) *cleanroom.LedgerEntry {
	if len(terms) == 0 {
		return nil
	}
	at, ok := firstIn(inForce, span{from: latest(q.Start(), terms[0].EffectiveFrom), to: end})
	if !ok {
		return nil
	}
	t := sqlite.TermsAt(terms, at)
	if t == nil || t.Subscription == 0 {
		return nil
	}
	return &cleanroom.LedgerEntry{Room: room, Quarter: q, Time: at, Kind: cleanroom.ChargeSubscription, Payer: t.Payer, Seller: t.Seller,
		Amount: t.Subscription, Currency: t.Currency, Terms: t.Version}
}

// span is the half-open interval of time [from, to).
type span struct{ from, to time.Time }

func (s span) empty() bool { return !s.to.After(s.from) }

// forever ends the span of an agreement nothing has ended.
var forever = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)

// inForceSpans returns when any of a room's agreements (oldest first, as
// agreements returns them) was in force, in order (see agreementSpans).
func inForceSpans(all []*agreement) []span {
	var out []span
	for _, spans := range agreementSpans(all) {
		out = append(out, spans...)
	}
	slices.SortFunc(out, func(a, b span) int { return a.from.Compare(b.from) })
	return out
}

// agreementSpans returns when each of a room's agreements (oldest first,
// as agreements returns them) was in force, as the states agreements gives
// them now imply for the past: an agreement every party signed is in force
// from its start, or its last signature if later, until it expires or is
// terminated, except while a later agreement every party signed and no one
// terminated has taken effect (it supersedes it). Signatures are those that
// verify now.
func agreementSpans(all []*agreement) [][]span {
	effective := func(a *agreement) (time.Time, bool) {
		if len(a.missing) > 0 || len(a.invalid) > 0 {
			return time.Time{}, false
		}
		at := a.doc.StartsAt
		for _, sg := range a.rec.Signatures {
			if a.valid[sg.Party] && sg.SignedAt.After(at) {
				at = sg.SignedAt
			}
		}
		return at, true
	}
	out := make([][]span, len(all))
	for i, a := range all {
		from, ok := effective(a)
		if !ok {
			continue
		}
		to := a.doc.ExpiresAt
		if a.rec.TerminatedBy != "" && a.rec.TerminatedAt.Before(to) {
			to = a.rec.TerminatedAt
		}
		spans := []span{{from, to}}
		for _, b := range all[i+1:] {
			bFrom, ok := effective(b)
			if !ok {
				continue
			}
			bTo := forever
			if b.rec.TerminatedBy != "" {
				bTo = b.rec.TerminatedAt
			}
			spans = subtract(spans, span{bFrom, bTo})
		}
		for _, s := range spans {
			if !s.empty() {
				out[i] = append(out[i], s)
			}
		}
	}
	return out
}

// subtract removes cut from each of spans.
func subtract(spans []span, cut span) []span {
	if cut.empty() {
		return spans
	}
	var out []span
	for _, s := range spans {
		if !cut.from.Before(s.to) || !s.from.Before(cut.to) {
			out = append(out, s)
			continue
		}
		if s.from.Before(cut.from) {
			out = append(out, span{s.from, cut.from})
		}
		if cut.to.Before(s.to) {
			out = append(out, span{cut.to, s.to})
		}
	}
	return out
}

// firstIn returns the earliest moment of window that lies in one of spans.
func firstIn(spans []span, window span) (time.Time, bool) {
	var best time.Time
	found := false
	for _, s := range spans {
		from, to := latest(s.from, window.from), earliest(s.to, window.to)
		if !to.After(from) {
			continue
		}
		if !found || from.Before(best) {
			best, found = from, true
		}
	}
	return best, found
}

// upTo is the end of what has happened of quarter q by now: the quarter's
// end, or just after now for a quarter in progress.
func upTo(q cleanroom.Quarter, now time.Time) time.Time {
	return earliest(q.End(), now.Add(time.Nanosecond))
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func earliest(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
