package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/cleanroom-dev/cleanroom/internal/synth"
)

func init() { commands = append(commands, newSynthCmd) }

// synthProgressMin is the amount of work (rows, roughly) from which synth
// shows a progress bar on a terminal.
const synthProgressMin = 200_000

func newSynthCmd(g *globals) *cobra.Command {
	cfg := synth.DefaultConfig()
	var out, format string
	cmd := &cobra.Command{
		Use:   "synth --out DIR [flags]",
		Short: "Generate deterministic synthetic operator, bank and advertiser data with its true overlap",
		Long: `Synth writes realistic synthetic data for trying a room end to end: a telecom
operator's subscribers and the ad exposures of an advertiser's campaigns on its
channels, a bank's customers, and the advertiser's shoppers and conversions.
Identifiers are written the messy ways real systems write them (phones in many
formats, emails in random case with gmail dots and +tags, device IDs with or
without braces), with a share of typos, junk values and missing values; the
lift, look-alike and credit-risk effects planted in the data and the true
overlap are written beside it, in truth.json and truth_pairs.csv.

The same --seed and flags give byte-identical files.`,
		Example: `  cleanroom synth --out ./data
  cleanroom synth --out ./data --seed 7 --subscribers 1000000 --customers 500000 --format both
  cleanroom synth --out ./data --country KZ --typo-rate 0.05 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return withHint(usageError{errors.New("synth: --out is required")}, "usage: "+cmd.UseLine())
			}
			cfg.Format = synth.Format(strings.ToLower(format))
			cfg.Country = strings.ToUpper(cfg.Country)
			if err := cfg.Validate(); err != nil {
				return withHint(usageError{fmt.Errorf("synth: %w", err)}, synthHint(err, cfg)...)
			}
			progress, done := synthProgress(g.stderr, cfg)
			truth, err := synth.Generate(cmd.Context(), cfg, out, progress)
			done()
			var pathErr *fs.PathError
			switch {
			case errors.Is(err, context.Canceled):
				return fmt.Errorf("synth: interrupted; no data files were left in %s", out)
			case errors.As(err, &pathErr):
				return withHint(fmt.Errorf("synth: %w", err), "check that "+out+" is a writable directory with room for the data")
			case err != nil:
				return fmt.Errorf("synth: %w", err)
			}
			if g.json {
				enc := json.NewEncoder(g.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(truth)
			}
			return printSynthSummary(g.stdout, out, truth)
		},
	}
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	f := cmd.Flags()
	f.StringVar(&out, "out", "", "write the data to `DIR` (required; created if missing)")
	f.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "random seed `N`: the same seed and flags give the same files")
	f.IntVar(&cfg.Subscribers, "subscribers", cfg.Subscribers, "`N` operator subscribers")
	f.IntVar(&cfg.Customers, "customers", cfg.Customers, "`N` bank customers, and as many shoppers of the advertiser")
	f.Float64Var(&cfg.Overlap, "overlap", cfg.Overlap, "fraction of bank customers, and of shoppers, who are also operator subscribers")
	f.Float64Var(&cfg.ExposuresPerSubscriber, "exposures-per-subscriber", cfg.ExposuresPerSubscriber, "mean ad exposures of a subscriber a campaign reaches")
	f.IntVar(&cfg.Campaigns, "campaigns", cfg.Campaigns, "number of ad campaigns (campaign i promotes smartphone, laptop, headphones, smartwatch in turn)")
	f.StringVar(&format, "format", string(cfg.Format), "file `format`: csv, parquet or both")
	f.StringVar(&cfg.Country, "country", cfg.Country, "ISO 3166 `region` whose mobile numbers the phones are")
	f.Float64Var(&cfg.TypoRate, "typo-rate", cfg.TypoRate, "share of identifiers corrupted so they no longer match")
	f.Float64Var(&cfg.JunkRate, "junk-rate", cfg.JunkRate, "share of identifiers replaced by junk such as n/a or test@test.com")
	f.Float64Var(&cfg.Reach, "reach", cfg.Reach, "share of subscribers each campaign reaches")
	f.Float64Var(&cfg.HoldoutShare, "holdout", cfg.HoldoutShare, "share of reached subscribers held out of each campaign")
	f.Float64Var(&cfg.BaseConversionRate, "conversion-rate", cfg.BaseConversionRate, "probability that a shopper buys a campaign's product without exposure")
	f.Float64Var(&cfg.Lift, "lift", cfg.Lift, "planted absolute increase of the conversion rate for exposed shoppers")
	return cmd
}

// synthHint says how to fix an invalid configuration.
func synthHint(err error, cfg synth.Config) []string {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "more than the"):
		return []string{fmt.Sprintf("raise --subscribers to at least %d or lower --overlap", cfg.OverlapPersons())}
	case strings.Contains(msg, "country"):
		return []string{"pass an ISO 3166 region code such as RU, KZ, DE or GB"}
	case strings.Contains(msg, "format"):
		return []string{"pass --format csv, --format parquet or --format both"}
	}
	return []string{"see `cleanroom synth --help` for the flags and their ranges"}
}

// synthProgress returns a progress function that draws a bar on stderr when
// it is a terminal and the run is large, and a function to end the bar.
func synthProgress(stderr io.Writer, cfg synth.Config) (func(done, total int), func()) {
	f, ok := stderr.(*os.File)
	work := cfg.Subscribers*(1+cfg.Campaigns) + 2*cfg.Customers
	if !ok || !term.IsTerminal(int(f.Fd())) || work < synthProgressMin {
		return nil, func() {}
	}
	bar := progressbar.NewOptions(work,
		progressbar.OptionSetWriter(f),
		progressbar.OptionSetDescription("generating"),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionClearOnFinish(),
	)
	return func(done, _ int) { _ = bar.Set(done) }, func() { _ = bar.Finish() }
}

// printSynthSummary writes the files, their row counts and the true
// overlap.
func printSynthSummary(w io.Writer, dir string, t *synth.Truth) error {
	fmt.Fprintf(w, "wrote %s (%s, seed %d)\n", dir, t.Config.Format, t.Seed)
	files := append(slices.Clone(t.Files), synth.File{Name: "truth_pairs.csv", Rows: t.Rows.TruthPairs})
	width, digits := 0, 0
	for _, f := range files {
		width = max(width, len(f.Name))
		digits = max(digits, len(strconv.Itoa(f.Rows)))
	}
	for _, f := range files {
		fmt.Fprintf(w, "  %-*s  %*d rows\n", width, f.Name, digits, f.Rows)
	}
	fmt.Fprintf(w, "  truth.json\n")
	o := t.Overlap
	fmt.Fprintf(w, "true overlap: %d persons (%s of customers, %s of subscribers)\n",
		o.Persons, synthPercent(o.ShareOfCustomers), synthPercent(o.ShareOfSubscribers))
	share := 0.0
	if o.Persons > 0 {
		share = float64(o.MatchablePersons) / float64(o.Persons)
	}
	fmt.Fprintf(w, "matchable on a normalised identifier: %d persons (%s)\n", o.MatchablePersons, synthPercent(share))
	for _, c := range []struct {
		name string
		c    synth.ClassOverlap
	}{{"phone", o.ByClass.Phone}, {"email", o.ByClass.Email}} {
		fmt.Fprintf(w, "  %s: %d match, lost %d to typos, %d to junk, %d missing\n",
			c.name, c.c.Matchable, c.c.LostTypo, c.c.LostJunk, c.c.LostMissing)
	}
	return nil
}

func synthPercent(x float64) string { return fmt.Sprintf("%.1f%%", 100*x) }
