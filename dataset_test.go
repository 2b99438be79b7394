package cleanroom

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

// validSchema is a schema using every feature; each test case breaks one
// rule of it.
func validSchema() *Schema {
	return &Schema{
		Identifiers: []IdentifierColumn{
			{Column: "phone", Class: ClassPhone, Priority: 1},
			{Column: "email_sha256", Class: ClassEmail, Priority: 2, Form: FormSHA256, Normalization: NormEmailGmail},
			{Column: "device_id", Class: ClassDeviceID, Priority: 3, Form: FormRaw},
		},
		Attributes: []AttributeColumn{
			{Column: "tier", Type: TypeString, Policy: PolicyDimension, Categories: []string{"basic", "premium"}},
			{Column: "region", Type: TypeString, Policy: PolicyFilter},
			{Column: "product", Type: TypeString, Policy: PolicyFilter, Categories: []string{"mortgage", "deposit"}},
			{Column: "monthly_spend", Type: TypeDecimal, Policy: PolicyDimension, Buckets: []float64{0, 1000, 5000, 20000}},
			{Column: "arpu", Type: TypeDecimal, Policy: PolicyMetric, Clamp: &[2]float64{0, 5000}, Scale: 2},
			{Column: "sms_count", Type: TypeInt, Policy: PolicyMetric, Clamp: &[2]float64{0, 1000}},
			{Column: "signup_date", Type: TypeDate, Policy: PolicyFilter},
			{Column: "defaulted", Type: TypeBool, Policy: PolicyDimension},
			{Column: "notes", Type: TypeString, Policy: PolicyHidden},
		},
	}
}

func TestSchemaValidate(t *testing.T) {
	if err := validSchema().Validate(); err != nil {
		t.Fatalf("Validate(valid schema) = %v", err)
	}
	attr := func(s *Schema, name string) *AttributeColumn { return s.Attribute(name) }
	cases := []struct {
		name string
		edit func(s *Schema)
		want string
	}{
		{"no identifiers", func(s *Schema) { s.Identifiers = nil }, "schema has no identifier column"},
		{"too many columns", func(s *Schema) {
			for i := range MaxSchemaColumns {
				s.Attributes = append(s.Attributes, AttributeColumn{Column: fmt.Sprintf("c%d", i), Type: TypeString, Policy: PolicyHidden})
			}
		}, "over the limit of 1000"},
		{"empty column name", func(s *Schema) { s.Identifiers[1].Column = "" }, "identifier 2 has no column name"},
		{"upper-case column name", func(s *Schema) { s.Attributes[0].Column = "Tier" }, `column "Tier": name is not valid`},
		{"column name with dash", func(s *Schema) { s.Attributes[0].Column = "t-ier" }, `column "t-ier": name is not valid`},
		{"column name too long", func(s *Schema) { s.Attributes[0].Column = "a" + strings.Repeat("b", 63) }, "name is not valid"},
		{"column name with digit first", func(s *Schema) { s.Attributes[0].Column = "1tier" }, `column "1tier": name is not valid`},
		{"duplicate attribute", func(s *Schema) { s.Attributes[1].Column = "tier" }, `column "tier" is declared twice`},
		{"identifier and attribute", func(s *Schema) { s.Attributes[0].Column = "phone" }, `column "phone" is declared twice`},
		{"unknown class", func(s *Schema) { s.Identifiers[0].Class = "mobile" }, `column "phone": unknown identifier class "mobile"`},
		{"zero priority", func(s *Schema) { s.Identifiers[0].Priority = 0 }, `column "phone": priority is 0, want 1 or more`},
		{"same priority", func(s *Schema) { s.Identifiers[2].Priority = 1 }, `columns "phone" and "device_id" have the same priority 1`},
		{"unknown form", func(s *Schema) { s.Identifiers[0].Form = "md5" }, `column "phone": unknown form "md5"`},
		{"sha256 without normalization", func(s *Schema) { s.Identifiers[1].Normalization = "" }, `column "email_sha256": a pre-hashed (sha256) identifier needs its normalization`},
		{"normalization of another class", func(s *Schema) { s.Identifiers[1].Normalization = NormE164 }, `column "email_sha256": normalization "e164" does not apply to class email`},
		{"unknown normalization", func(s *Schema) { s.Identifiers[0].Normalization = "e.164" }, `normalization "e.164" does not apply to class phone`},
		{"no type", func(s *Schema) { attr(s, "region").Type = "" }, `column "region": has no type`},
		{"unknown type", func(s *Schema) { attr(s, "region").Type = "text" }, `column "region": unknown type "text"`},
		{"no policy", func(s *Schema) { attr(s, "region").Policy = "" }, `column "region": has no policy`},
		{"join on an attribute", func(s *Schema) { attr(s, "region").Policy = PolicyJoin }, `column "region": join is the policy of identifier columns`},
		{"unknown policy", func(s *Schema) { attr(s, "region").Policy = "public" }, `column "region": unknown policy "public"`},
		{"string dimension without categories", func(s *Schema) { attr(s, "tier").Categories = nil }, `column "tier": a dimension of type string needs its categories`},
		{"decimal dimension without buckets", func(s *Schema) { attr(s, "monthly_spend").Buckets = nil }, `column "monthly_spend": a dimension of type decimal needs its bucket edges`},
		{"date dimension", func(s *Schema) { attr(s, "signup_date").Policy = PolicyDimension }, `column "signup_date": a dimension of type date is not supported`},
		{"string metric", func(s *Schema) { c := attr(s, "region"); c.Policy, c.Clamp = PolicyMetric, &[2]float64{0, 1} }, `column "region": a metric must be of type int or decimal, not string`},
		{"metric without clamp", func(s *Schema) { attr(s, "arpu").Clamp = nil }, `column "arpu": a metric needs clamp bounds`},
		{"empty clamp", func(s *Schema) { attr(s, "arpu").Clamp = &[2]float64{10, 10} }, `column "arpu": clamp [10, 10] is empty`},
		{"reversed clamp", func(s *Schema) { attr(s, "arpu").Clamp = &[2]float64{10, -10} }, `clamp [10, -10] is empty`},
		{"NaN clamp", func(s *Schema) { attr(s, "arpu").Clamp = &[2]float64{math.NaN(), 10} }, `column "arpu": clamp bounds must be finite numbers`},
		{"infinite clamp", func(s *Schema) { attr(s, "arpu").Clamp = &[2]float64{0, math.Inf(1)} }, "clamp bounds must be finite numbers"},
		{"clamp too wide for scale", func(s *Schema) { attr(s, "arpu").Clamp = &[2]float64{0, 1e14} }, `column "arpu": clamp [0, 1e+14] is too wide for scale 2`},
		{"clamp on a dimension", func(s *Schema) { attr(s, "tier").Clamp = &[2]float64{0, 1} }, `column "tier": clamp bounds apply only to metrics`},
		{"categories on a metric", func(s *Schema) { attr(s, "arpu").Categories = []string{"a"} }, `column "arpu": categories apply only to string filters and dimensions`},
		{"categories on a hidden column", func(s *Schema) { attr(s, "notes").Categories = []string{"a"} }, `column "notes": categories apply only to string filters and dimensions`},
		{"empty category", func(s *Schema) { attr(s, "tier").Categories = []string{"basic", ""} }, `column "tier": category 2 is empty`},
		{"duplicate category", func(s *Schema) { attr(s, "tier").Categories = []string{"basic", "basic"} }, `column "tier": category "basic" is listed twice`},
		{"category with a newline", func(s *Schema) { attr(s, "tier").Categories = []string{"a\nb"} }, `column "tier": category 1 is not printable UTF-8 text`},
		{"long category", func(s *Schema) { attr(s, "tier").Categories = []string{strings.Repeat("x", 201)} }, `column "tier": category 1 is 201 bytes, over the limit of 200`},
		{"buckets on a string", func(s *Schema) { attr(s, "tier").Buckets = []float64{0, 1} }, `column "tier": buckets apply only to int and decimal dimensions`},
		{"buckets on a metric", func(s *Schema) { attr(s, "arpu").Buckets = []float64{0, 1} }, `column "arpu": buckets apply only to int and decimal dimensions`},
		{"one bucket edge", func(s *Schema) { attr(s, "monthly_spend").Buckets = []float64{0} }, `column "monthly_spend": buckets need at least two edges`},
		{"unordered buckets", func(s *Schema) { attr(s, "monthly_spend").Buckets = []float64{0, 5000, 1000} }, `column "monthly_spend": bucket edges must be strictly increasing (1000 is not above 5000)`},
		{"repeated bucket edge", func(s *Schema) { attr(s, "monthly_spend").Buckets = []float64{0, 0} }, "strictly increasing (0 is not above 0)"},
		{"NaN bucket edge", func(s *Schema) { attr(s, "monthly_spend").Buckets = []float64{0, math.NaN()} }, "bucket edges must be finite numbers"},
		{"scale on an int", func(s *Schema) { attr(s, "sms_count").Scale = 2 }, `column "sms_count": scale applies only to decimal columns`},
		{"scale too large", func(s *Schema) { attr(s, "arpu").Scale = 7 }, `column "arpu": scale is 7, want 0 to 6 decimal places`},
		{"negative scale", func(s *Schema) { attr(s, "arpu").Scale = -1 }, `column "arpu": scale is -1`},
	}
	for _, tc := range cases {
		s := validSchema()
		tc.edit(s)
		err := s.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Validate(%s) = %v, want error containing %q", tc.name, schemaJSON(s), err, tc.want)
			continue
		}
		if ErrorCode(err) != EInvalid {
			t.Errorf("%s: Validate error code = %q, want %q", tc.name, ErrorCode(err), EInvalid)
		}
	}
}

func schemaJSON(s *Schema) string {
	b, err := json.Marshal(s)
	if err != nil {
		return err.Error()
	}
	if len(b) > 300 {
		return string(b[:300]) + "…"
	}
	return string(b)
}

func TestParseSchema(t *testing.T) {
	good, err := json.Marshal(validSchema())
	if err != nil {
		t.Fatal(err)
	}
	s, err := ParseSchema(good)
	if err != nil {
		t.Fatalf("ParseSchema(%s) = %v", good, err)
	}
	if got := strings.Join(s.Columns(), ","); got != "phone,email_sha256,device_id,tier,region,product,monthly_spend,arpu,sms_count,signup_date,defaulted,notes" {
		t.Errorf("Columns() = %s", got)
	}
	if c := s.Attribute("arpu"); c == nil || c.Clamp == nil || *c.Clamp != [2]float64{0, 5000} || c.Scale != 2 {
		t.Errorf("ParseSchema lost arpu's clamp or scale: %+v", c)
	}
	for _, tc := range []struct {
		in, want string
	}{
		{`{"identifiers": [{"column": "phone", "class": "phone", "priority": 1}], "attributes": [{"column": "tier", "type": "string", "policy": "dimension", "catgories": ["a"]}]}`, `unknown field "catgories"`},
		{`{"identifiers": [{"column": "phone", "class": "phone", "priority": "1"}]}`, "schema is not valid: cannot unmarshal"},
		{`{"identifiers": []}`, "schema has no identifier column"},
		{`{"identifiers": [{"column": "phone", "class": "phone", "priority": 1}]} {}`, "data after the JSON object"},
		{`{"identifiers": [{"column": "phone", "class": "phone", "priority": 1}], "attributes": [{"column": "x", "type": "int", "policy": "metric", "clamp": [1]}]}`, `column "x": clamp [1, 0] is empty`},
		{``, "schema is not valid: EOF"},
	} {
		_, err := ParseSchema([]byte(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseSchema(%s) = %v, want error containing %q", tc.in, err, tc.want)
		}
	}
}

func TestSchemaLookups(t *testing.T) {
	s := validSchema()
	for _, tc := range []struct {
		column string
		want   ColumnPolicy
		ok     bool
	}{
		{"phone", PolicyJoin, true}, {"tier", PolicyDimension, true}, {"arpu", PolicyMetric, true},
		{"notes", PolicyHidden, true}, {"missing", "", false},
	} {
		if got, ok := s.Policy(tc.column); got != tc.want || ok != tc.ok {
			t.Errorf("Policy(%q) = %q, %v, want %q, %v", tc.column, got, ok, tc.want, tc.ok)
		}
	}
	for _, tc := range []struct {
		c    IdentifierColumn
		want string
	}{
		{IdentifierColumn{Class: ClassPhone}, NormE164},
		{IdentifierColumn{Class: ClassEmail}, NormEmailLower},
		{IdentifierColumn{Class: ClassEmail, Normalization: NormEmailGmail}, NormEmailGmail},
		{IdentifierColumn{Class: ClassDeviceID}, NormUUIDLower},
		{IdentifierColumn{Class: ClassCustomerID}, NormTrim},
	} {
		if got := tc.c.NormalizationRule(); got != tc.want {
			t.Errorf("NormalizationRule(%+v) = %q, want %q", tc.c, got, tc.want)
		}
	}
	if err := ValidateColumnName("monthly_spend"); err != nil {
		t.Errorf("ValidateColumnName(monthly_spend) = %v", err)
	}
	if err := ValidateColumnName("Monthly Spend"); err == nil {
		t.Error("ValidateColumnName(Monthly Spend) = nil, want error")
	}
}

func TestDatasetValidate(t *testing.T) {
	base := func() *Dataset {
		return &Dataset{Name: "subscribers", Party: "operator", Room: "r1", Schema: *validSchema(), CreatedAt: time.Now()}
	}
	if err := base().Validate(); err != nil {
		t.Fatalf("Validate(valid dataset) = %v", err)
	}
	for _, tc := range []struct {
		name string
		edit func(d *Dataset)
		want string
	}{
		{"bad name", func(d *Dataset) { d.Name = "Subscribers" }, `dataset name "Subscribers" is not valid`},
		{"empty name", func(d *Dataset) { d.Name = "" }, "dataset name is empty"},
		{"bad party", func(d *Dataset) { d.Party = "op erator" }, `party name "op erator" is not valid`},
		{"bad room", func(d *Dataset) { d.Room = "" }, "room name is empty"},
		{"bad schema", func(d *Dataset) { d.Schema.Attributes[0].Categories = nil }, `dataset "subscribers": column "tier": a dimension of type string needs its categories`},
	} {
		d := base()
		tc.edit(d)
		err := d.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Validate(%+v) = %v, want error containing %q", tc.name, *d, err, tc.want)
		} else if ErrorCode(err) != EInvalid {
			t.Errorf("%s: Validate error code = %q, want %q", tc.name, ErrorCode(err), EInvalid)
		}
	}
}
