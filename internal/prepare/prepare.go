// Package prepare turns a party's file into an upload on the party's own
// machine: it validates every row against the dataset's schema
// (internal/tabular), normalises every identifier (internal/normalize),
// hashes it with SHA-256 and then to ristretto255 with the room's domain,
// blinds it with the party's per-room key on every core (internal/blind),
// writes the payload (internal/upload) and signs one token manifest per
// identifier class.
//
// What leaves the party is the payload and the manifests: blinded tokens and
// attribute values. No raw identifier, normalised identifier or plain hash of
// one is in either; the package's tests check it.
package prepare

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/blind"
	"github.com/cleanroom-dev/cleanroom/internal/keyfile"
	"github.com/cleanroom-dev/cleanroom/internal/normalize"
	"github.com/cleanroom-dev/cleanroom/internal/statement"
	"github.com/cleanroom-dev/cleanroom/internal/tabular"
	"github.com/cleanroom-dev/cleanroom/internal/upload"
)

// Config says what to prepare. Every field but Progress, Gmail and Now is
// required.
type Config struct {
	// Server is the room server's ID (GET /api/v1/server), Room the room's
	// name, Party the uploading party, Dataset and Version the version the
	// upload session reserved.
	Server, Room, Party, Dataset string
	Version                      int
	Schema                       *cleanroom.Schema
	Keys                         *keyfile.PartyKeys
	// Region is the default country of phone numbers written without one,
	// such as "RU".
	Region string
	// Gmail applies the gmail rules (dots and +tags) to email columns whose
	// schema does not declare a normalization.
	Gmail bool
	// HMACSecret, in a room that matches with hmac, is the secret the
	// parties' agents share: tokens are then HMAC-SHA256 under it instead
	// of blinded group elements. Nil in an ecdh room.
	HMACSecret []byte
	// Now stamps the manifests; default time.Now.
	Now func() time.Time
	// Progress is called with a stage ("read", "blind") and counts.
	Progress func(stage string, done, total int)
	// File, when set, names the input in the report instead of the
	// first file's name (for a version prepared from several files).
	File string
}

// ColumnReport counts what happened to one identifier column.
type ColumnReport struct {
	Column   string                    `json:"column"`
	Class    cleanroom.IdentifierClass `json:"class"`
	Valid    int                       `json:"valid"`
	Missing  int                       `json:"missing"`
	Invalid  int                       `json:"invalid"`
	Distinct int                       `json:"distinct"`
	// Reasons counts invalid values by reason, never by value.
	Reasons map[string]int `json:"reasons,omitempty"`
}

// Report describes a prepared file.
type Report struct {
	File        string         `json:"file"`
	Rows        int            `json:"rows"`
	Identifiers []ColumnReport `json:"identifiers"`
	Ignored     []string       `json:"ignored_columns,omitempty"`
}

// Prepared is an upload ready to be sealed and sent.
type Prepared struct {
	Payload   []byte
	Manifests []statement.Envelope
	Report    Report
}

func (c *Config) validate() error {
	switch {
	case c.Server == "" || c.Room == "" || c.Party == "" || c.Dataset == "":
		return errors.New("prepare: server, room, party and dataset are required")
	case c.Version <= 0:
		return errors.New("prepare: version must be positive")
	case c.Schema == nil || c.Keys == nil:
		return errors.New("prepare: schema and keys are required")
	case c.Region == "":
		return errors.New("prepare: region is required")
	}
	return nil
}

// PayloadHeader is the header of a payload of rows rows prepared under
// cfg: every identifier and attribute column of the schema, in order.
func (c *Config) PayloadHeader(rows int) upload.Header {
	h := upload.Header{Room: c.Room, Dataset: c.Dataset, Version: c.Version, Rows: rows}
	for _, col := range c.Schema.Identifiers {
		h.Identifiers = append(h.Identifiers, upload.IdentifierField{Column: col.Column, Class: col.Class})
	}
	for _, col := range c.Schema.Attributes {
		h.Attributes = append(h.Attributes, upload.AttributeField{Column: col.Column, Type: string(col.Type)})
	}
	return h
}

// Prepare reads the file at path (format "csv", "parquet" or "" to tell by
// extension) and prepares the upload. A file with invalid rows is refused
// with a *tabular.FileError naming file, row, column and reason.
func Prepare(ctx context.Context, path string, format tabular.Format, cfg Config) (*Prepared, error) {
	part, err := PreparePart(ctx, path, format, cfg)
	if err != nil {
		return nil, err
	}
	return Assemble(cfg, []*Part{part})
}

// Part is one prepared file of a version that may come from several: its
// rows with their blinded tokens and attribute values, and its report.
// Parts are what a scale-out preparation (internal/scaleout) makes on the
// party's workers, one per input file; Assemble joins them.
type Part struct {
	Report Report
	Rows   []upload.Row
}

// PreparePart reads, validates, normalises, hashes and blinds one file
// (see Prepare).
func PreparePart(ctx context.Context, path string, format tabular.Format, cfg Config) (*Part, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	progress := cfg.Progress
	if progress == nil {
		progress = func(string, int, int) {}
	}
	schema := cfg.Schema
	normalizers := make([]func(string) ([32]byte, error), len(schema.Identifiers))
	for i := range schema.Identifiers {
		f, err := digestFunc(&schema.Identifiers[i], cfg)
		if err != nil {
			return nil, err
		}
		normalizers[i] = f
	}

	r, err := tabular.Open(path, format, nil)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	rep := Report{File: r.File(), Identifiers: make([]ColumnReport, len(schema.Identifiers))}
	for i, c := range schema.Identifiers {
		rep.Identifiers[i] = ColumnReport{Column: c.Column, Class: c.Class, Reasons: map[string]int{}}
	}
	// digests[i][row] is the digest of identifier column i in a row, or
	// -1 for none; distinct digests are kept once per column.
	type column struct {
		index   map[[32]byte]int32
		digests [][32]byte
		rows    []int32
	}
	cols := make([]column, len(schema.Identifiers))
	for i := range cols {
		cols[i].index = map[[32]byte]int32{}
	}
	var values [][]string
	s := tabular.NewScanner(schema, r)
	for s.Scan() {
		row := s.Row()
		for i, raw := range row.Identifiers {
			cr := &rep.Identifiers[i]
			at := int32(-1)
			if raw == "" {
				cr.Missing++
			} else if d, err := normalizers[i](raw); err != nil {
				cr.Invalid++
				cr.Reasons[reason(err)]++
			} else {
				cr.Valid++
				var ok bool
				if at, ok = cols[i].index[d]; !ok {
					at = int32(len(cols[i].digests))
					cols[i].index[d] = at
					cols[i].digests = append(cols[i].digests, d)
				}
			}
			cols[i].rows = append(cols[i].rows, at)
		}
		vs := make([]string, len(row.Attributes))
		for i, v := range row.Attributes {
			vs[i] = formatValue(&schema.Attributes[i], v)
		}
		values = append(values, vs)
		if len(values)%10000 == 0 {
			progress("read", len(values), 0)
		}
	}
	res := s.Result()
	if err := s.Err(); err != nil {
		return nil, err
	}
	rep.Rows = len(values)
	rep.Ignored = res.Ignored
	progress("read", len(values), len(values))

	// The key is per room and server; hash-to-group separates domains by
	// room and class (DST cleanroom-v1|<room>|<class>).
	key := keyfile.RoomKey(cfg.Keys.Blinding, cleanroom.RoomID(cfg.Server, cfg.Room))
	total := 0
	for i := range cols {
		total += len(cols[i].digests)
	}
	done := 0
	tokens := make([][]blind.Token, len(cols))
	for i := range cols {
		base := done
		var ts []blind.Token
		var err error
		if cfg.HMACSecret != nil {
			ts = HMACTokens(cfg.HMACSecret, cfg.Room, schema.Identifiers[i].Class, cols[i].digests)
		} else {
			b := blind.Blinder{Progress: func(d, _ int) { progress("blind", base+d, total) }}
			ts, err = b.Blind(ctx, key, cfg.Room, schema.Identifiers[i].Class, cols[i].digests)
		}
		if err != nil {
			return nil, fmt.Errorf("prepare %s: blind column %s: %w", rep.File, schema.Identifiers[i].Column, err)
		}
		tokens[i] = ts
		done += len(ts)
	}
	part := &Part{Report: rep, Rows: make([]upload.Row, len(values))}
	for n := range values {
		row := upload.Row{Tokens: make([]*upload.Token, len(cols)), Values: values[n]}
		for i := range cols {
			if at := cols[i].rows[n]; at >= 0 {
				t := upload.Token(tokens[i][at])
				row.Tokens[i] = &t
			}
		}
		part.Rows[n] = row
	}
	return part, nil
}

// Assemble joins the parts of a version, in order, into its payload and
// signs one token manifest per identifier class. The report adds up the
// parts' counts; its File is the first part's, or cfg.File when set.
func Assemble(cfg Config, parts []*Part) (*Prepared, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	schema := cfg.Schema
	rep := Report{Identifiers: make([]ColumnReport, len(schema.Identifiers))}
	for i, c := range schema.Identifiers {
		rep.Identifiers[i] = ColumnReport{Column: c.Column, Class: c.Class, Reasons: map[string]int{}}
	}
	for k, p := range parts {
		if k == 0 {
			rep.File, rep.Ignored = p.Report.File, p.Report.Ignored
		}
		if len(p.Report.Identifiers) != len(rep.Identifiers) {
			return nil, fmt.Errorf("prepare: part %d reports %d identifier columns, the schema has %d", k, len(p.Report.Identifiers), len(rep.Identifiers))
		}
		rep.Rows += len(p.Rows)
		for i, c := range p.Report.Identifiers {
			r := &rep.Identifiers[i]
			r.Valid += c.Valid
			r.Missing += c.Missing
			r.Invalid += c.Invalid
			for reason, n := range c.Reasons {
				r.Reasons[reason] += n
			}
		}
	}
	if cfg.File != "" {
		rep.File = cfg.File
	}

	var buf bytes.Buffer
	w, err := upload.NewWriter(&buf, cfg.PayloadHeader(rep.Rows))
	if err != nil {
		return nil, err
	}
	// The distinct tokens of each column, and of each class over all its
	// columns, for the report and the manifests.
	distinct := make([]map[upload.Token]bool, len(schema.Identifiers))
	for i := range distinct {
		distinct[i] = map[upload.Token]bool{}
	}
	for k, p := range parts {
		for n, row := range p.Rows {
			if len(row.Tokens) != len(schema.Identifiers) {
				return nil, fmt.Errorf("prepare: part %d row %d has %d tokens, the schema %d identifier columns", k, n+1, len(row.Tokens), len(schema.Identifiers))
			}
			for i, t := range row.Tokens {
				if t != nil {
					distinct[i][*t] = true
				}
			}
			if err := w.Write(row); err != nil {
				return nil, err
			}
		}
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	byClass := map[cleanroom.IdentifierClass]map[blind.Token]bool{}
	var classes []cleanroom.IdentifierClass
	for i, c := range schema.Identifiers {
		rep.Identifiers[i].Distinct = len(distinct[i])
		if byClass[c.Class] == nil {
			byClass[c.Class] = map[blind.Token]bool{}
			classes = append(classes, c.Class)
		}
		for t := range distinct[i] {
			byClass[c.Class][blind.Token(t)] = true
		}
	}
	out := &Prepared{Payload: buf.Bytes(), Report: rep}
	for _, class := range classes {
		if len(byClass[class]) == 0 {
			continue
		}
		set := make([]blind.Token, 0, len(byClass[class]))
		for t := range byClass[class] {
			set = append(set, t)
		}
		m, err := blind.NewManifest(cfg.Server, cfg.Room, cfg.Party, cfg.Dataset, cfg.Version, class, set, cfg.Now())
		if err != nil {
			return nil, err
		}
		env, err := blind.SignManifest(cfg.Keys.Signing, m)
		if err != nil {
			return nil, err
		}
		out.Manifests = append(out.Manifests, env)
	}
	return out, nil
}

// digestFunc returns the function that turns a cell of an identifier
// column into the input of hash-to-group: SHA-256 of the normalised value,
// or the pre-hashed value itself.
func digestFunc(c *cleanroom.IdentifierColumn, cfg Config) (func(string) ([32]byte, error), error) {
	if c.Form == cleanroom.FormSHA256 {
		return func(s string) ([32]byte, error) { return normalize.ParseDigest(s) }, nil
	}
	gmail := cfg.Gmail
	switch c.Normalization {
	case cleanroom.NormEmailGmail:
		gmail = true
	case cleanroom.NormEmailLower:
		gmail = false
	}
	f, err := normalize.For(c.Class, normalize.Options{Region: cfg.Region, Gmail: gmail})
	if err != nil {
		return nil, fmt.Errorf("prepare: column %s: %w", c.Column, err)
	}
	return func(s string) ([32]byte, error) {
		n, err := f(s)
		if err != nil {
			return [32]byte{}, err
		}
		return normalize.Digest(n), nil
	}, nil
}

// reason is the reason an identifier was invalid, without its value.
func reason(err error) string {
	var ne *normalize.Error
	if errors.As(err, &ne) {
		return ne.Error()
	}
	return "invalid"
}

// formatValue writes a typed attribute value as the payload carries it.
func formatValue(c *cleanroom.AttributeColumn, v tabular.Value) string {
	if v.Null {
		return ""
	}
	switch c.Type {
	case cleanroom.TypeString:
		return v.String
	case cleanroom.TypeInt:
		return strconv.FormatInt(v.Int, 10)
	case cleanroom.TypeDecimal:
		return formatScaled(v.Int, c.Scale)
	case cleanroom.TypeDate:
		return time.Unix(v.Int*86400, 0).UTC().Format(time.DateOnly)
	case cleanroom.TypeBool:
		return strconv.FormatBool(v.Int != 0)
	}
	return v.String
}

func formatScaled(n int64, scale int) string {
	if scale == 0 {
		return strconv.FormatInt(n, 10)
	}
	neg := n < 0
	u := uint64(n)
	if neg {
		u = uint64(-n)
	}
	s := strconv.FormatUint(u, 10)
	if len(s) <= scale {
		s = strings.Repeat("0", scale-len(s)+1) + s
	}
	s = s[:len(s)-scale] + "." + s[len(s)-scale:]
	if neg {
		s = "-" + s
	}
	return s
}

// HMACTokens are the tokens of an hmac room: HMAC-SHA256 under the
// parties' shared secret of "cleanroom-v1|hmac|<room>|<class>|" and the
// digest of the normalised identifier.
func HMACTokens(secret []byte, room string, class cleanroom.IdentifierClass, digests [][32]byte) []blind.Token {
	out := make([]blind.Token, len(digests))
	prefix := []byte("cleanroom-v1|hmac|" + room + "|" + string(class) + "|")
	for i := range digests {
		m := hmac.New(sha256.New, secret)
		m.Write(prefix)
		m.Write(digests[i][:])
		copy(out[i][:], m.Sum(nil))
	}
	return out
}
