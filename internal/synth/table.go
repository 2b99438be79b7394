package synth

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/parquet-go/parquet-go"
)

// The datasets Generate writes, by file name without extension.
const (
	datasetSubscribers = "operator_subscribers"
	datasetCustomers   = "bank_customers"
	datasetShoppers    = "advertiser_shoppers"
	datasetExposures   = "ad_exposures"
	datasetConversions = "conversions"
	truthJSONFile      = "truth.json"
	truthPairsFile     = "truth_pairs.csv"
	truthShopperPairs  = "truth_shopper_pairs.csv"
)

// subscriberRow is a row of operator_subscribers. Empty identifiers are
// missing values (null in Parquet).
type subscriberRow struct {
	SubscriberID     string  `parquet:"subscriber_id"`
	Phone            string  `parquet:"phone,optional"`
	Email            string  `parquet:"email,optional"`
	DeviceID         string  `parquet:"device_id,optional"`
	Tier             string  `parquet:"tier,dict"`
	Region           string  `parquet:"region,dict"`
	ARPU             float64 `parquet:"arpu"`
	DataUsageGB      float64 `parquet:"data_usage_gb"`
	AppCategories    string  `parquet:"app_categories"`
	PaymentBehaviour string  `parquet:"payment_behaviour,dict"`
	SignupDate       int32   `parquet:"signup_date,date"` // days since 1970-01-01
}

const subscriberHeader = "subscriber_id,phone,email,device_id,tier,region,arpu,data_usage_gb,app_categories,payment_behaviour,signup_date\n"

func (r *subscriberRow) appendCSV(b []byte) []byte {
	b = appendField(b, r.SubscriberID)
	b = appendField(append(b, ','), r.Phone)
	b = appendField(append(b, ','), r.Email)
	b = appendField(append(b, ','), r.DeviceID)
	b = appendField(append(b, ','), r.Tier)
	b = appendField(append(b, ','), r.Region)
	b = appendMoney(append(b, ','), r.ARPU)
	b = appendMoney(append(b, ','), r.DataUsageGB)
	b = appendField(append(b, ','), r.AppCategories)
	b = appendField(append(b, ','), r.PaymentBehaviour)
	b = appendDate(append(b, ','), r.SignupDate)
	return append(b, '\n')
}

// customerRow is a row of bank_customers.
type customerRow struct {
	CustomerID         string  `parquet:"customer_id"`
	Phone              string  `parquet:"phone,optional"`
	Email              string  `parquet:"email,optional"`
	Products           string  `parquet:"products"`
	Balance            float64 `parquet:"balance"`
	SpendGroceries     float64 `parquet:"spend_groceries"`
	SpendTravel        float64 `parquet:"spend_travel"`
	SpendElectronics   float64 `parquet:"spend_electronics"`
	SpendEntertainment float64 `parquet:"spend_entertainment"`
	MonthlySpend       float64 `parquet:"monthly_spend"`
	DefaultFlag        bool    `parquet:"default_flag"`
}

const customerHeader = "customer_id,phone,email,products,balance,spend_groceries,spend_travel,spend_electronics,spend_entertainment,monthly_spend,default_flag\n"

func (r *customerRow) appendCSV(b []byte) []byte {
	b = appendField(b, r.CustomerID)
	b = appendField(append(b, ','), r.Phone)
	b = appendField(append(b, ','), r.Email)
	b = appendField(append(b, ','), r.Products)
	b = appendMoney(append(b, ','), r.Balance)
	b = appendMoney(append(b, ','), r.SpendGroceries)
	b = appendMoney(append(b, ','), r.SpendTravel)
	b = appendMoney(append(b, ','), r.SpendElectronics)
	b = appendMoney(append(b, ','), r.SpendEntertainment)
	b = appendMoney(append(b, ','), r.MonthlySpend)
	b = strconv.AppendBool(append(b, ','), r.DefaultFlag)
	return append(b, '\n')
}

// shopperRow is a row of advertiser_shoppers.
type shopperRow struct {
	ShopperID   string `parquet:"shopper_id"`
	Phone       string `parquet:"phone,optional"`
	Email       string `parquet:"email,optional"`
	LoyaltyTier string `parquet:"loyalty_tier,dict"`
	MemberSince int32  `parquet:"member_since,date"` // days since 1970-01-01
}

const shopperHeader = "shopper_id,phone,email,loyalty_tier,member_since\n"

func (r *shopperRow) appendCSV(b []byte) []byte {
	b = appendField(b, r.ShopperID)
	b = appendField(append(b, ','), r.Phone)
	b = appendField(append(b, ','), r.Email)
	b = appendField(append(b, ','), r.LoyaltyTier)
	b = appendDate(append(b, ','), r.MemberSince)
	return append(b, '\n')
}

// exposureRow is a row of ad_exposures: either DeviceID or Phone is set.
type exposureRow struct {
	ExposureID string `parquet:"exposure_id"`
	DeviceID   string `parquet:"device_id,optional"`
	Phone      string `parquet:"phone,optional"`
	Campaign   string `parquet:"campaign,dict"`
	Channel    string `parquet:"channel,dict"`
	ExposedAt  int64  `parquet:"exposed_at,timestamp(millisecond)"` // Unix milliseconds
	Holdout    bool   `parquet:"holdout"`
}

const exposureHeader = "exposure_id,device_id,phone,campaign,channel,exposed_at,holdout\n"

func (r *exposureRow) appendCSV(b []byte) []byte {
	b = appendField(b, r.ExposureID)
	b = appendField(append(b, ','), r.DeviceID)
	b = appendField(append(b, ','), r.Phone)
	b = appendField(append(b, ','), r.Campaign)
	b = appendField(append(b, ','), r.Channel)
	b = appendTime(append(b, ','), r.ExposedAt)
	b = strconv.AppendBool(append(b, ','), r.Holdout)
	return append(b, '\n')
}

// conversionRow is a row of conversions: either Email or Phone is set.
type conversionRow struct {
	ConversionID string  `parquet:"conversion_id"`
	Email        string  `parquet:"email,optional"`
	Phone        string  `parquet:"phone,optional"`
	Product      string  `parquet:"product,dict"`
	ConvertedAt  int64   `parquet:"converted_at,timestamp(millisecond)"` // Unix milliseconds
	Amount       float64 `parquet:"amount"`
}

const conversionHeader = "conversion_id,email,phone,product,converted_at,amount\n"

func (r *conversionRow) appendCSV(b []byte) []byte {
	b = appendField(b, r.ConversionID)
	b = appendField(append(b, ','), r.Email)
	b = appendField(append(b, ','), r.Phone)
	b = appendField(append(b, ','), r.Product)
	b = appendTime(append(b, ','), r.ConvertedAt)
	b = appendMoney(append(b, ','), r.Amount)
	return append(b, '\n')
}

// csvRow is a row type that writes itself as a CSV line.
type csvRow[T any] interface {
	*T
	appendCSV([]byte) []byte
}

// table streams the rows of one dataset to a CSV file, a Parquet file or
// both, under temporary names until the files are committed.
type table[T any, P csvRow[T]] struct {
	name  string
	files *fileSet

	csvW *bufio.Writer
	line []byte

	pqW   *parquet.GenericWriter[T]
	batch []T

	rows int
}

// parquetBatch is the number of rows handed to the Parquet writer at once,
// and parquetRowGroup the rows per row group, which bounds the writer's
// memory.
const (
	parquetBatch    = 4096
	parquetRowGroup = 128 * 1024
)

func openTable[T any, P csvRow[T]](files *fileSet, name string, format Format, header string) (*table[T, P], error) {
	t := &table[T, P]{name: name, files: files}
	if format == FormatCSV || format == FormatBoth {
		f, err := files.create(name + ".csv")
		if err != nil {
			return nil, err
		}
		t.csvW = bufio.NewWriterSize(f, 256*1024)
		if _, err := t.csvW.WriteString(header); err != nil {
			return nil, fmt.Errorf("write %s.csv: %w", name, err)
		}
	}
	if format == FormatParquet || format == FormatBoth {
		f, err := files.create(name + ".parquet")
		if err != nil {
			return nil, err
		}
		t.pqW = parquet.NewGenericWriter[T](f,
			parquet.Compression(&parquet.Zstd),
			parquet.MaxRowsPerRowGroup(parquetRowGroup),
			parquet.CreatedBy("cleanroom synth", "", ""))
		t.batch = make([]T, 0, parquetBatch)
	}
	return t, nil
}

// add writes one row.
func (t *table[T, P]) add(r *T) error {
	t.rows++
	if t.csvW != nil {
		t.line = P(r).appendCSV(t.line[:0])
		if _, err := t.csvW.Write(t.line); err != nil {
			return fmt.Errorf("write %s.csv: %w", t.name, err)
		}
	}
	if t.pqW != nil {
		t.batch = append(t.batch, *r)
		if len(t.batch) == cap(t.batch) {
			return t.flushBatch()
		}
	}
	return nil
}

func (t *table[T, P]) flushBatch() error {
	if _, err := t.pqW.Write(t.batch); err != nil {
		return fmt.Errorf("write %s.parquet: %w", t.name, err)
	}
	clear(t.batch)
	t.batch = t.batch[:0]
	return nil
}

// close flushes the writers; the files themselves are closed by the
// fileSet.
func (t *table[T, P]) close() error {
	if t.csvW != nil {
		if err := t.csvW.Flush(); err != nil {
			return fmt.Errorf("write %s.csv: %w", t.name, err)
		}
	}
	if t.pqW != nil {
		if len(t.batch) > 0 {
			if err := t.flushBatch(); err != nil {
				return err
			}
		}
		if err := t.pqW.Close(); err != nil {
			return fmt.Errorf("write %s.parquet: %w", t.name, err)
		}
	}
	return nil
}

// fileSet creates output files under temporary names and either renames
// them all into place or removes them all. It is not safe for concurrent
// use; tables of different goroutines are opened before they start.
type fileSet struct {
	dir   string
	files []*os.File
	names []string
}

func (s *fileSet) create(name string) (*os.File, error) {
	f, err := os.Create(filepath.Join(s.dir, name+".tmp"))
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", name, err)
	}
	s.files = append(s.files, f)
	s.names = append(s.names, name)
	return f, nil
}

// commit closes every file and renames it to its final name.
func (s *fileSet) commit() error {
	for i, f := range s.files {
		if err := f.Close(); err != nil {
			return fmt.Errorf("write %s: %w", s.names[i], err)
		}
	}
	for _, name := range s.names {
		p := filepath.Join(s.dir, name)
		if err := os.Rename(p+".tmp", p); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	s.files, s.names = nil, nil
	return nil
}

// abort closes and removes the files not yet committed.
func (s *fileSet) abort() {
	for i, f := range s.files {
		f.Close()
		os.Remove(filepath.Join(s.dir, s.names[i]+".tmp"))
	}
	s.files, s.names = nil, nil
}

// appendField appends s as a CSV field, quoted when it holds a comma, a
// quote, a line break or surrounding white space.
func appendField(b []byte, s string) []byte {
	quote := false
	if s != "" && (s[0] == ' ' || s[0] == '\t' || s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		quote = true
	}
	for i := 0; i < len(s) && !quote; i++ {
		switch s[i] {
		case ',', '"', '\n', '\r':
			quote = true
		}
	}
	if !quote {
		return append(b, s...)
	}
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' {
			b = append(b, '"')
		}
		b = append(b, s[i])
	}
	return append(b, '"')
}

func appendMoney(b []byte, x float64) []byte { return strconv.AppendFloat(b, x, 'f', 2, 64) }

func appendDate(b []byte, days int32) []byte {
	return time.Unix(int64(days)*86400, 0).UTC().AppendFormat(b, time.DateOnly)
}

func appendTime(b []byte, ms int64) []byte {
	return time.UnixMilli(ms).UTC().AppendFormat(b, time.RFC3339)
}
