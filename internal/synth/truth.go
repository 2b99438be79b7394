package synth

// Truth is what Generate knows about the data it wrote: written to
// truth.json beside the data and returned to the caller.
type Truth struct {
	// Seed and Config reproduce the data.
	Seed   uint64 `json:"seed"`
	Config Config `json:"config"`
	// Files are the data files written, in order.
	Files []File `json:"files"`
	// Rows counts the rows of each dataset.
	Rows Rows `json:"rows"`
	// Overlap is the true overlap of subscribers and bank customers,
	// ShopperOverlap that of subscribers and the advertiser's shoppers
	// (its ShareOfCustomers is the share of shoppers).
	Overlap        Overlap `json:"overlap"`
	ShopperOverlap Overlap `json:"shopper_overlap"`
	// Identifiers counts the status of each identifier as each party wrote
	// it.
	Identifiers Identifiers `json:"identifiers"`
	// JunkValues are the junk identifiers, written as they appear in the
	// files; matching should drop them (they occur in many rows).
	JunkValues JunkValues `json:"junk_values"`
	// PhoneFormats are the templates each party writes phones in, with '#'
	// for each digit of the national number.
	PhoneFormats PhoneFormats `json:"phone_formats"`
	// Campaigns are the advertiser's ad campaigns of ad_exposures.
	Campaigns []Campaign `json:"campaigns"`
	// Effects are the planted effects, as planted and as realised.
	Effects Effects `json:"effects"`
}

// File is one written file.
type File struct {
	// Dataset is the dataset's name, such as "operator_subscribers".
	Dataset string `json:"dataset"`
	// Name is the file's name in the output directory.
	Name string `json:"name"`
	// Rows is the number of rows, not counting a CSV header.
	Rows int `json:"rows"`
}

// Rows counts the rows of each dataset.
type Rows struct {
	// OperatorSubscribers, BankCustomers, AdvertiserShoppers, AdExposures
	// and Conversions count the rows of the datasets, TruthPairs those of
	// truth_pairs.csv and TruthShopperPairs those of
	// truth_shopper_pairs.csv.
	OperatorSubscribers int `json:"operator_subscribers"`
	BankCustomers       int `json:"bank_customers"`
	AdvertiserShoppers  int `json:"advertiser_shoppers"`
	AdExposures         int `json:"ad_exposures"`
	Conversions         int `json:"conversions"`
	TruthPairs          int `json:"truth_pairs"`
	TruthShopperPairs   int `json:"truth_shopper_pairs"`
}

// Overlap describes the persons who are both operator subscribers and
// customers of a partner (the bank, or the advertiser): one line of
// truth_pairs.csv, or of truth_shopper_pairs.csv, each.
type Overlap struct {
	// Persons is the number of persons in both datasets.
	Persons int `json:"persons"`
	// ShareOfCustomers and ShareOfSubscribers are Persons over the
	// partner's and the operator's dataset's size (0 for an empty
	// dataset).
	ShareOfCustomers   float64 `json:"share_of_customers"`
	ShareOfSubscribers float64 `json:"share_of_subscribers"`
	// MatchablePersons share at least one identifier class whose values
	// normalise to the same non-junk value on both sides: the most a
	// perfect matcher can find.
	MatchablePersons int `json:"matchable_persons"`
	// UnmatchablePersons = Persons − MatchablePersons.
	UnmatchablePersons int `json:"unmatchable_persons"`
	// ByClass breaks the pairs down per identifier class.
	ByClass ClassOverlaps `json:"by_class"`
}

// ClassOverlaps has one ClassOverlap per identifier class the operator and
// a partner share.
type ClassOverlaps struct {
	// Phone is the phone class, Email the email class.
	Phone ClassOverlap `json:"phone"`
	Email ClassOverlap `json:"email"`
}

// ClassOverlap counts the overlapping persons by what happened to one
// identifier class. The four counts add up to Overlap.Persons. When both
// sides spoilt the value, the reason counted is the first of missing, junk,
// typo that applies to either side.
type ClassOverlap struct {
	// Matchable pairs have the same correctly normalisable value on both
	// sides.
	Matchable int `json:"matchable"`
	// LostTypo pairs have a typo on at least one side.
	LostTypo int `json:"lost_typo"`
	// LostJunk pairs have a junk value on at least one side.
	LostJunk int `json:"lost_junk"`
	// LostMissing pairs lack the value on at least one side.
	LostMissing int `json:"lost_missing"`
}

// Identifiers counts identifier statuses per dataset.
type Identifiers struct {
	// OperatorSubscribers counts the operator's identifiers, BankCustomers
	// the bank's and AdvertiserShoppers the advertiser's.
	OperatorSubscribers IdentifierCounts `json:"operator_subscribers"`
	BankCustomers       IdentifierCounts `json:"bank_customers"`
	AdvertiserShoppers  IdentifierCounts `json:"advertiser_shoppers"`
}

// IdentifierCounts counts statuses per identifier class of one dataset.
type IdentifierCounts struct {
	Phone StatusCounts `json:"phone"`
	Email StatusCounts `json:"email"`
	// DeviceID is nil for the bank and the advertiser, which hold no
	// device IDs.
	DeviceID *StatusCounts `json:"device_id,omitempty"`
}

// StatusCounts counts the rows of a dataset by the status of one
// identifier: valid (normalises to the person's true value), typo
// (normalises to a value no one else has, or to nothing valid), junk (one of
// JunkValues) or missing (empty).
type StatusCounts struct {
	// Valid, Typo, Junk and Missing count the rows with each status.
	Valid   int `json:"valid"`
	Typo    int `json:"typo"`
	Junk    int `json:"junk"`
	Missing int `json:"missing"`
}

// JunkValues lists the junk values per identifier class.
type JunkValues struct {
	// Phone, Email and DeviceID list the junk values of each class.
	Phone    []string `json:"phone"`
	Email    []string `json:"email"`
	DeviceID []string `json:"device_id"`
}

// PhoneFormats lists the phone templates of each party.
type PhoneFormats struct {
	// Operator and Bank list each party's templates, such as
	// "+7 ### ###-##-##"; the two lists share no template. The advertiser
	// collects phones through forms too, and writes them as the bank does.
	Operator []string `json:"operator"`
	Bank     []string `json:"bank"`
}

// Campaign is one ad campaign. Exposures fall in [Start, ExposureEnd);
// conversions it can cause fall in [Start, ConversionEnd).
type Campaign struct {
	// Name is the campaign column of ad_exposures, Product the
	// advertiser's product it promotes; times are RFC 3339 in UTC.
	Name          string `json:"name"`
	Product       string `json:"product"`
	Start         string `json:"start"`
	ExposureEnd   string `json:"exposure_end"`
	ConversionEnd string `json:"conversion_end"`
}

// Effects are the planted effects.
type Effects struct {
	// Lift is the campaigns' effect on the advertiser's conversions,
	// LookAlike the operator features bank products skew to, CreditRisk
	// the operator features defaults depend on.
	Lift       LiftEffect        `json:"lift"`
	LookAlike  []LookAlikeEffect `json:"look_alike"`
	CreditRisk CreditRiskEffect  `json:"credit_risk"`
}

// LiftEffect is the planted campaign lift: shoppers who are subscribers
// reached by a campaign and not held out convert to its product with
// probability ExposedRate, every other shopper with BaseRate.
type LiftEffect struct {
	// Reach, HoldoutShare, BaseRate and AbsoluteLift are the configured
	// Reach, HoldoutShare, BaseConversionRate and Lift; ExposedRate is
	// BaseRate + AbsoluteLift.
	Reach        float64 `json:"reach"`
	HoldoutShare float64 `json:"holdout_share"`
	BaseRate     float64 `json:"base_rate"`
	ExposedRate  float64 `json:"exposed_rate"`
	AbsoluteLift float64 `json:"absolute_lift"`
	// Realised counts, per campaign, the shoppers who are subscribers it
	// reached and whether they converted in the campaign's window.
	Realised []CampaignLift `json:"realised"`
}

// CampaignLift is the realised lift of one campaign among persons who are
// both subscribers and shoppers.
type CampaignLift struct {
	// Campaign names the campaign. ExposedPersons were reached and not
	// held out, HoldoutPersons reached and held out; the Converted counts
	// are those of them who converted to the campaign's product in its
	// window.
	Campaign         string `json:"campaign"`
	ExposedPersons   int    `json:"exposed_persons"`
	ExposedConverted int    `json:"exposed_converted"`
	HoldoutPersons   int    `json:"holdout_persons"`
	HoldoutConverted int    `json:"holdout_converted"`
}

// LookAlikeEffect is a planted look-alike signal: customers whose operator
// record has Feature hold Product with probability RateWith, others with
// RateWithout. Realised counts are among persons in both datasets.
type LookAlikeEffect struct {
	// Product is a bank product; Feature a condition on the operator's
	// row, such as "tier=premium".
	Product     string  `json:"product"`
	Feature     string  `json:"feature"`
	RateWith    float64 `json:"rate_with"`
	RateWithout float64 `json:"rate_without"`
	// WithPersons have the feature, WithHolders of them hold the
	// product; likewise without.
	WithPersons    int `json:"with_persons"`
	WithHolders    int `json:"with_holders"`
	WithoutPersons int `json:"without_persons"`
	WithoutHolders int `json:"without_holders"`
}

// CreditRiskEffect is the planted credit risk: P(default_flag) = BaseRate
// + LatePayment·[payment_behaviour = late] + LowARPU·[arpu <
// LowARPUThreshold].
type CreditRiskEffect struct {
	// BaseRate, LatePayment, LowARPU and LowARPUThreshold are the planted
	// coefficients.
	BaseRate         float64 `json:"base_rate"`
	LatePayment      float64 `json:"late_payment"`
	LowARPU          float64 `json:"low_arpu"`
	LowARPUThreshold float64 `json:"low_arpu_threshold"`
	// Realised counts persons in both datasets and their defaults by the
	// two features, in the order (on time, high ARPU), (on time, low),
	// (late, high), (late, low); "on time" means any behaviour but late.
	Realised []RiskCell `json:"realised"`
}

// RiskCell is one cell of the realised credit risk.
type RiskCell struct {
	// Late and LowARPU say which cell; Persons are in it and Defaults of
	// them have default_flag set.
	Late     bool `json:"late"`
	LowARPU  bool `json:"low_arpu"`
	Persons  int  `json:"persons"`
	Defaults int  `json:"defaults"`
}

// The planted look-alike and credit-risk effects.
var (
	lookAlikes = []LookAlikeEffect{
		{Product: "mortgage", Feature: "tier=premium", RateWith: 0.30, RateWithout: 0.08},
		{Product: "credit_card", Feature: "app_categories contains shopping", RateWith: 0.55, RateWithout: 0.30},
		{Product: "deposit", Feature: "app_categories contains finance", RateWith: 0.50, RateWithout: 0.25},
		{Product: "personal_loan", Feature: "tier=basic", RateWith: 0.20, RateWithout: 0.08},
	}
	creditRisk = CreditRiskEffect{BaseRate: 0.02, LatePayment: 0.08, LowARPU: 0.04, LowARPUThreshold: 400}
)
