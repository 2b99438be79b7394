package main

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/atomicfile"
	"github.com/cleanroom-dev/cleanroom/internal/client"
	"github.com/cleanroom-dev/cleanroom/internal/httpapi"
)

func init() { commands = append(commands, newBillingCmd) }

func newBillingCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "billing",
		Short: "Set a room's commercial terms; read and export the billing ledger",
		Long: `The platform admin sets each room's commercial terms: a subscription per
quarter and a price per query run (per template, or a default), in one
currency, charged to a payer party of the room and earned by a seller party.
A change is a new version, in effect from then on. Every query run is charged
in the billing ledger as it is recorded, under the terms then in effect; a
repeat answered with a stored result is not charged, and a room without terms
is not charged. A room's subscription is charged for every quarter in which
it had terms and an agreement in force.

Amounts are given in the currency's major unit (5000, 25.50) and kept and
exported in whole minor units (cents). The admin sees every room's ledger, a
party's user those of the rooms it is a member of.`,
	}
	terms := &cobra.Command{Use: "terms", Short: "Set and show a room's commercial terms"}
	terms.AddCommand(newTermsSetCmd(g), newTermsShowCmd(g))
	cmd.AddCommand(group(terms), newLedgerCmd(g), newExportCmd(g))
	return group(cmd)
}

func newTermsSetCmd(g *globals) *cobra.Command {
	var room, currency, subscription, runPrice, payer, seller string
	var prices []string
	cmd := &cobra.Command{
		Use:   "set --room ROOM --currency EUR --subscription AMOUNT --run-price AMOUNT [--price TEMPLATE=AMOUNT ...] --payer PARTY --seller PARTY",
		Short: "Set a room's commercial terms, in effect from now (admin)",
		Example: `  cleanroom billing terms set --room operator-bank --currency EUR --subscription 5000 \
      --run-price 25 --price campaign-lift=100 --payer bank --seller operator`,
		Args: wantArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, f := range []struct{ name, value string }{{"room", room}, {"currency", currency}, {"payer", payer}, {"seller", seller},
				{"subscription", subscription}, {"run-price", runPrice}} {
				if err := required(cmd, f.name, f.value); err != nil {
					return err
				}
			}
			currency = strings.ToUpper(currency)
			amount := func(flag, s string) (int64, error) {
				v, err := cleanroom.ParseAmount(s, currency)
				if err != nil {
					msg, _ := cleanroom.ErrorMessage(err)
					return 0, withHint(usageError{fmt.Errorf("--%s: %s", flag, msg)},
						fmt.Sprintf("write amounts in %s with at most %d decimals, for example 25.50", currency, cleanroom.MinorUnits(currency)))
				}
				return v, nil
			}
			req := httpapi.TermsRequest{Currency: currency, Payer: payer, Seller: seller, TemplatePrices: map[string]int64{}}
			var err error
			if req.Subscription, err = amount("subscription", subscription); err != nil {
				return err
			}
			if req.RunPrice, err = amount("run-price", runPrice); err != nil {
				return err
			}
			for _, p := range prices {
				name, value, ok := strings.Cut(p, "=")
				if !ok || name == "" {
					return withHint(usageError{fmt.Errorf("--price %q is not TEMPLATE=AMOUNT", p)}, "for example: --price campaign-lift=100")
				}
				if _, dup := req.TemplatePrices[name]; dup {
					return usageError{fmt.Errorf("--price names template %q twice", name)}
				}
				if req.TemplatePrices[name], err = amount("price "+name, value); err != nil {
					return err
				}
			}
			return g.withClient(cmd.Context(), func(c *client.Client) error {
				b, err := c.SetTerms(cmd.Context(), room, req)
				if err != nil {
					return err
				}
				if g.json {
					return printJSON(g.stdout, b)
				}
				fmt.Fprintf(g.stdout, "Set terms version %d of room %s, in effect from %s.\n", b.Current.Version, room, fmtTime(b.Current.EffectiveFrom))
				return printTerms(g.stdout, b)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&room, "room", "", "the room (required)")
	f.StringVar(&currency, "currency", "", "the ISO 4217 currency, like EUR (required; a room keeps its currency)")
	f.StringVar(&subscription, "subscription", "", "the subscription per quarter, in the currency's major unit (required; 0 for none)")
	f.StringVar(&runPrice, "run-price", "", "the price of a query run of a template --price does not name (required; 0 for free)")
	f.StringArrayVar(&prices, "price", nil, "the price of a run of one template, as TEMPLATE=AMOUNT; repeat for each")
	f.StringVar(&payer, "payer", "", "the room's party charged (required)")
	f.StringVar(&seller, "seller", "", "the room's party that earns, typically the operator (required)")
	return cmd
}

func newTermsShowCmd(g *globals) *cobra.Command {
	var room string
	cmd := &cobra.Command{
		Use:   "show --room ROOM",
		Short: "Show a room's commercial terms and their versions (admin, members)",
		Args:  wantArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := required(cmd, "room", room); err != nil {
				return err
			}
			return g.withClient(cmd.Context(), func(c *client.Client) error {
				b, err := c.Terms(cmd.Context(), room)
				if err != nil {
					return err
				}
				if g.json {
					return printJSON(g.stdout, b)
				}
				if b.Current == nil {
					fmt.Fprintf(g.stdout, "Room %s has no commercial terms: its runs are not charged.\n", room)
					return nil
				}
				fmt.Fprintf(g.stdout, "Room %s: terms version %d, in effect from %s (set by %s).\n", room, b.Current.Version,
					fmtTime(b.Current.EffectiveFrom), b.Current.SetBy)
				return printTerms(g.stdout, b)
			})
		},
	}
	cmd.Flags().StringVar(&room, "room", "", "the room (required)")
	return cmd
}

func money(v int64, currency string) string {
	return cleanroom.FormatAmount(v, currency) + " " + currency
}

// printTerms prints the terms in effect and every version.
func printTerms(w io.Writer, b *httpapi.TermsBody) error {
	t := b.Current
	tw := newTable(w)
	row(tw, "payer:", t.Payer)
	row(tw, "seller:", t.Seller)
	row(tw, "subscription:", money(t.Subscription, t.Currency)+" per quarter")
	row(tw, "run price:", money(t.RunPrice, t.Currency))
	for _, name := range slices.Sorted(maps.Keys(t.TemplatePrices)) {
		row(tw, "  "+name+":", money(t.TemplatePrices[name], t.Currency))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(b.Versions) < 2 {
		return nil
	}
	fmt.Fprintln(w)
	tw = newTable(w, "VERSION", "FROM", "SUBSCRIPTION", "RUN PRICE", "TEMPLATE PRICES", "PAYER", "SELLER")
	for _, v := range b.Versions {
		var tp []string
		for _, name := range slices.Sorted(maps.Keys(v.TemplatePrices)) {
			tp = append(tp, name+"="+cleanroom.FormatAmount(v.TemplatePrices[name], v.Currency))
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", v.Version, fmtTime(v.EffectiveFrom), money(v.Subscription, v.Currency),
			money(v.RunPrice, v.Currency), orDash(strings.Join(tp, " ")), v.Payer, v.Seller)
	}
	return tw.Flush()
}

// quarterFlag parses --quarter; empty means the current quarter unless the
// flag is required.
func quarterFlag(cmd *cobra.Command, s string, need bool) (cleanroom.Quarter, error) {
	if s == "" {
		if need {
			return cleanroom.Quarter{}, required(cmd, "quarter", s)
		}
		return cleanroom.QuarterOf(time.Now()), nil
	}
	q, err := cleanroom.ParseQuarter(s)
	if err != nil {
		msg, _ := cleanroom.ErrorMessage(err)
		return q, withHint(usageError{fmt.Errorf("--quarter: %s", msg)}, "write the year and quarter, for example --quarter 2026Q4")
	}
	return q, nil
}

// ledgerOf reads quarter q's whole ledger, or only room's (which must be
// one the caller may see), with the subscriptions and runs in one list in
// time order.
func ledgerOf(cmd *cobra.Command, c *client.Client, q cleanroom.Quarter, room string) (*httpapi.LedgerBody, []cleanroom.LedgerEntry, error) {
	if room != "" {
		// A room the caller may not see is "not found", as everywhere.
		if _, err := c.ShowRoom(cmd.Context(), room); err != nil {
			return nil, nil, err
		}
	}
	l, err := c.Ledger(cmd.Context(), q)
	if err != nil {
		return nil, nil, err
	}
	keep := func(e cleanroom.LedgerEntry) bool { return room == "" || e.Room == room }
	var all []cleanroom.LedgerEntry
	for _, e := range slices.Concat(l.Subscriptions, l.Entries) {
		if keep(e) {
			all = append(all, e)
		}
	}
	l.Revenue = slices.DeleteFunc(l.Revenue, func(r httpapi.RoomRevenueBody) bool { return room != "" && r.Room != room })
	cleanroom.SortLedger(all)
	return l, all, nil
}

func newLedgerCmd(g *globals) *cobra.Command {
	var quarter, room string
	cmd := &cobra.Command{
		Use:   "ledger [--quarter 2026Q4] [--room ROOM]",
		Short: "Show a quarter's ledger entries and revenue per room (admin: all rooms; users: their rooms)",
		Args:  wantArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			q, err := quarterFlag(cmd, quarter, false)
			if err != nil {
				return err
			}
			return g.withClient(cmd.Context(), func(c *client.Client) error {
				l, all, err := ledgerOf(cmd, c, q, room)
				if err != nil {
					return err
				}
				if g.json {
					return printJSON(g.stdout, struct {
						Quarter cleanroom.Quarter         `json:"quarter"`
						Entries []cleanroom.LedgerEntry   `json:"entries"`
						Revenue []httpapi.RoomRevenueBody `json:"revenue"`
					}{q, orEmpty(all), l.Revenue})
				}
				if len(l.Revenue) == 0 {
					fmt.Fprintf(g.stdout, "No room you may see had commercial terms in %s.\n", q)
					return nil
				}
				tw := newTable(g.stdout, "ROOM", "PAYER", "SELLER", "SUBSCRIPTION", "RUNS", "RUN CHARGES", "TOTAL")
				for _, r := range l.Revenue {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", r.Room, r.Payer, r.Seller, money(r.Subscription, r.Currency), r.RunCount,
						money(r.Runs, r.Currency), money(r.Total, r.Currency))
				}
				if err := tw.Flush(); err != nil {
					return err
				}
				fmt.Fprintln(g.stdout)
				tw = newTable(g.stdout, "TIME", "ROOM", "KIND", "TEMPLATE", "QUERY", "PAYER", "AMOUNT")
				for _, e := range all {
					tpl := "-"
					if e.Template != "" {
						tpl = fmt.Sprintf("%s v%d", e.Template, e.Version)
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", fmtTime(e.Time), e.Room, e.Kind, tpl, orDash(e.Query), e.Payer, money(e.Amount, e.Currency))
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().StringVar(&quarter, "quarter", "", "the quarter, like 2026Q4 (default: the current one)")
	cmd.Flags().StringVar(&room, "room", "", "only this room")
	return cmd
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func newExportCmd(g *globals) *cobra.Command {
	var quarter, room, out string
	cmd := &cobra.Command{
		Use:   "export --quarter 2026Q4 [--room ROOM] [--out FILE]",
		Short: "Export a quarter's ledger as CSV for the finance system",
		Long: `Export writes a quarter's billing ledger as CSV (RFC 4180), one row per entry
in time order: room, quarter, time (RFC 3339, UTC), kind (subscription or
run), template, version, query, payer, seller, amount_minor (whole minor
units of the currency: cents) and currency. It covers the rooms you may see:
every room for the platform admin, your rooms for a party's user.`,
		Example: `  cleanroom billing export --quarter 2026Q4 --out ledger-2026Q4.csv`,
		Args:    wantArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			q, err := quarterFlag(cmd, quarter, true)
			if err != nil {
				return err
			}
			return g.withClient(cmd.Context(), func(c *client.Client) error {
				_, all, err := ledgerOf(cmd, c, q, room)
				if err != nil {
					return err
				}
				var buf bytes.Buffer
				if err := cleanroom.WriteLedgerCSV(&buf, all); err != nil {
					return err
				}
				if wrote, err := writeOutput(g, out, buf.Bytes(), "export ledger"); err != nil || !wrote {
					return err
				}
				fmt.Fprintf(g.stderr, "Wrote %d ledger entries of %s to %s.\n", len(all), q, out)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&quarter, "quarter", "", "the quarter, like 2026Q4 (required)")
	cmd.Flags().StringVar(&room, "room", "", "only this room")
	cmd.Flags().StringVar(&out, "out", "", "write the CSV to this file (mode 0600) instead of standard output")
	return cmd
}

// writeOutput writes a command's document to standard output when out is
// "" or "-", else to the file out (mode 0600, replaced atomically); it
// reports whether it wrote a file.
func writeOutput(g *globals, out string, data []byte, what string) (bool, error) {
	if out == "" || out == "-" {
		_, err := g.stdout.Write(data)
		return false, err
	}
	if err := atomicfile.Write(out, data, 0o600); err != nil {
		return false, fmt.Errorf("%s: %w", what, err)
	}
	return true, nil
}
