package synth

import (
	"errors"
	"fmt"
	"math"

	"github.com/nyaruka/phonenumbers"
)

// Format selects the file formats Generate writes.
type Format string

// The formats Generate can write.
const (
	FormatCSV     Format = "csv"
	FormatParquet Format = "parquet"
	FormatBoth    Format = "both"
)

// Limits on Config values.
const (
	// MaxRows bounds Config.Subscribers and Config.Customers.
	MaxRows = 100_000_000
	// MaxCampaigns bounds Config.Campaigns.
	MaxCampaigns = 100
	// MaxExposuresPerSubscriber bounds Config.ExposuresPerSubscriber.
	MaxExposuresPerSubscriber = 100
)

// ErrInvalidConfig is wrapped by every error Config.Validate returns.
var ErrInvalidConfig = errors.New("invalid config")

// Config says what Generate makes. The zero value is not valid; start from
// DefaultConfig. Every field is required.
type Config struct {
	// Seed makes the output: the same seed and fields give byte-identical
	// files. Default 1.
	Seed uint64 `json:"seed"`
	// Subscribers is the number of operator subscribers, 0 to MaxRows.
	// Default 100000.
	Subscribers int `json:"subscribers"`
	// Customers is the number of bank customers, and of the advertiser's
	// customers (its shoppers), 0 to MaxRows. Default 50000.
	Customers int `json:"customers"`
	// Overlap is the fraction of bank customers, and of shoppers, who are
	// also operator subscribers, in [0, 1]; Overlap·Customers, rounded,
	// must not exceed Subscribers. Which subscribers they are is drawn
	// independently for the bank and the advertiser, so some persons are
	// in all three datasets. Default 0.6.
	Overlap float64 `json:"overlap"`
	// ExposuresPerSubscriber is the mean number of ad exposures of a
	// subscriber reached by a campaign, 1 to MaxExposuresPerSubscriber.
	// Default 3.
	ExposuresPerSubscriber float64 `json:"exposures_per_subscriber"`
	// Campaigns is the number of the advertiser's ad campaigns, 0 to
	// MaxCampaigns. Campaign i promotes its product i mod 4 (smartphone,
	// laptop, headphones, smartwatch); four campaigns run at a time, in
	// five-week waves. Default 4.
	Campaigns int `json:"campaigns"`
	// Format is the file format of the datasets. Default FormatCSV.
	Format Format `json:"format"`
	// Country is the ISO 3166 region whose mobile numbers the phones are,
	// such as "RU". Default "RU".
	Country string `json:"country"`
	// TypoRate is the share of identifiers corrupted so they no longer
	// match, in [0, 1]. Default 0.02.
	TypoRate float64 `json:"typo_rate"`
	// JunkRate is the share of identifiers replaced by junk shared by many
	// rows, in [0, 1]; TypoRate+JunkRate must not exceed 1. Default 0.01.
	JunkRate float64 `json:"junk_rate"`
	// Reach is the share of subscribers each campaign reaches, in [0, 1].
	// Default 0.3.
	Reach float64 `json:"reach"`
	// HoldoutShare is the share of reached subscribers held out of each
	// campaign, in [0, 1]. Default 0.1.
	HoldoutShare float64 `json:"holdout_share"`
	// BaseConversionRate is the probability that a shopper converts to
	// (buys) a campaign's product in its window without being exposed, in
	// [0, 1]. Default 0.03.
	BaseConversionRate float64 `json:"base_conversion_rate"`
	// Lift is the planted absolute increase of that probability for exposed
	// (reached, not held out) shoppers, in [0, 1-BaseConversionRate].
	// Default 0.02.
	Lift float64 `json:"lift"`
}

// DefaultConfig returns the configuration the command line starts from.
func DefaultConfig() Config {
	return Config{
		Seed:                   1,
		Subscribers:            100_000,
		Customers:              50_000,
		Overlap:                0.6,
		ExposuresPerSubscriber: 3,
		Campaigns:              4,
		Format:                 FormatCSV,
		Country:                "RU",
		TypoRate:               0.02,
		JunkRate:               0.01,
		Reach:                  0.3,
		HoldoutShare:           0.1,
		BaseConversionRate:     0.03,
		Lift:                   0.02,
	}
}

// OverlapPersons is the number of persons who are both subscribers and
// bank customers, and the number who are both subscribers and shoppers:
// Overlap·Customers, rounded to the nearest integer.
func (c Config) OverlapPersons() int {
	return int(math.Round(c.Overlap * float64(c.Customers)))
}

// Validate reports the first field that is out of range, as an error
// wrapping ErrInvalidConfig.
func (c Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...)
	}
	switch {
	case c.Subscribers < 0 || c.Subscribers > MaxRows:
		return bad("subscribers %d: must be between 0 and %d", c.Subscribers, MaxRows)
	case c.Customers < 0 || c.Customers > MaxRows:
		return bad("customers %d: must be between 0 and %d", c.Customers, MaxRows)
	case !inUnit(c.Overlap):
		return bad("overlap %v: must be between 0 and 1", c.Overlap)
	case c.OverlapPersons() > c.Subscribers:
		return bad("overlap %v of %d customers is %d persons, more than the %d subscribers",
			c.Overlap, c.Customers, c.OverlapPersons(), c.Subscribers)
	case !(c.ExposuresPerSubscriber >= 1 && c.ExposuresPerSubscriber <= MaxExposuresPerSubscriber):
		return bad("exposures per subscriber %v: must be between 1 and %d", c.ExposuresPerSubscriber, MaxExposuresPerSubscriber)
	case c.Campaigns < 0 || c.Campaigns > MaxCampaigns:
		return bad("campaigns %d: must be between 0 and %d", c.Campaigns, MaxCampaigns)
	case c.Format != FormatCSV && c.Format != FormatParquet && c.Format != FormatBoth:
		return bad("format %q: must be csv, parquet or both", c.Format)
	case c.Country == "":
		return bad("country: required, such as RU")
	case !phonenumbers.GetSupportedRegions()[c.Country]:
		return bad("country %q: not a region with a phone numbering plan (use an upper-case ISO 3166 code such as RU)", c.Country)
	case !inUnit(c.TypoRate):
		return bad("typo rate %v: must be between 0 and 1", c.TypoRate)
	case !inUnit(c.JunkRate):
		return bad("junk rate %v: must be between 0 and 1", c.JunkRate)
	case c.TypoRate+c.JunkRate > 1:
		return bad("typo rate %v plus junk rate %v: must not exceed 1", c.TypoRate, c.JunkRate)
	case !inUnit(c.Reach):
		return bad("reach %v: must be between 0 and 1", c.Reach)
	case !inUnit(c.HoldoutShare):
		return bad("holdout share %v: must be between 0 and 1", c.HoldoutShare)
	case !inUnit(c.BaseConversionRate):
		return bad("base conversion rate %v: must be between 0 and 1", c.BaseConversionRate)
	case !(c.Lift >= 0 && c.Lift <= 1-c.BaseConversionRate):
		return bad("lift %v: must be between 0 and %v (1 minus the base conversion rate)", c.Lift, 1-c.BaseConversionRate)
	}
	return nil
}

// inUnit reports whether x is in [0, 1]; NaN is not.
func inUnit(x float64) bool { return x >= 0 && x <= 1 }
