package template

import (
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/cleanroom-dev/cleanroom"
)

const bindTemplate = `name: bind-test
question: A template with one parameter of each type.
join: [subscribers, customers]
parameters:
  tier: {type: enum, values: [standard, premium]}
  since: {type: date, min: 2020-01-01, max: 2030-12-31}
  flag: {type: bool}
  limit: {type: int, min: 0, max: 100000}
  income: {type: decimal, min: 0, max: 9999.99}
where:
  - subscribers.tier = $tier
  - subscribers.signup_date >= $since
  - customers.default_flag = $flag
  - customers.credit_limit <= $limit
  - customers.income > $income
metrics:
  - people: count_distinct_person
controls: {rho: 0.05, receivers: [operator]}
`

func TestBind(t *testing.T) {
	tp := mustParse(t, bindTemplate)
	b, err := Bind(tp, map[string]string{
		"tier": "premium", "since": "2024-03-31", "flag": "true", "limit": "5000", "income": "1200.50",
	})
	if err != nil {
		t.Fatal(err)
	}
	if b.Template != tp || len(b.Params) != 5 {
		t.Fatalf("Bind = %+v", b)
	}
	check := func(name string, ok bool) {
		if !ok {
			t.Errorf("Bind: %s = %+v", name, b.Params[name])
		}
	}
	p := b.Params
	check("tier", p["tier"].Type == cleanroom.TypeString && p["tier"].String == "premium")
	check("since", p["since"].Type == cleanroom.TypeDate && p["since"].Date.Equal(time.Date(2024, 3, 31, 0, 0, 0, 0, time.UTC)))
	check("flag", p["flag"].Type == cleanroom.TypeBool && p["flag"].Bool)
	check("limit", p["limit"].Type == cleanroom.TypeInt && p["limit"].Int == 5000)
	check("income", p["income"].Type == cleanroom.TypeDecimal && p["income"].Decimal.Cmp(big.NewRat(2401, 2)) == 0)
}

// TestBindRejects shows that a value that is not a well-formed value of its
// parameter's type, SQL text included, never gets bound.
func TestBindRejects(t *testing.T) {
	tp := mustParse(t, bindTemplate)
	valid := map[string]string{"tier": "premium", "since": "2024-03-31", "flag": "true", "limit": "5000", "income": "1200.50"}
	for _, tc := range []struct {
		name, value, want string
	}{
		{"tier", "'; DROP TABLE x; --", `parameter "tier": "'; DROP TABLE x; --" is not one of the allowed values`},
		{"tier", "premium' OR '1'='1", `parameter "tier": "premium' OR '1'='1" is not one of the allowed values`},
		{"tier", "basic", `parameter "tier": "basic" is not one of the allowed values`},
		{"tier", "", `parameter "tier": "" is not one of the allowed values`},
		{"limit", "1 OR 1=1", `parameter "limit": "1 OR 1=1" is not an integer`},
		{"limit", "5000; DELETE FROM tokens", `parameter "limit": "5000; DELETE FROM tokens" is not an integer`},
		{"limit", "100001", `parameter "limit": "100001" is above the maximum 100000`},
		{"limit", "-1", `parameter "limit": "-1" is below the minimum 0`},
		{"limit", "99999999999999999999", `parameter "limit": "99999999999999999999" is not an integer`},
		{"income", "1e3", `parameter "income": "1e3" is not a decimal number`},
		{"income", "0x10", `parameter "income": "0x10" is not a decimal number`},
		{"income", "10000", `parameter "income": "10000" is above the maximum 9999.99`},
		{"income", "1.0/*", `parameter "income": "1.0/*" is not a decimal number`},
		{"since", "2024-03-31' --", `parameter "since": "2024-03-31' --" is not a date`},
		{"since", "2019-12-31", `parameter "since": "2019-12-31" is below the minimum 2020-01-01`},
		{"since", "2024-02-30", `parameter "since": "2024-02-30" is not a date`},
		{"flag", "1=1", `parameter "flag": "1=1" is not a boolean`},
		{"flag", "TRUE", `parameter "flag": "TRUE" is not a boolean`},
	} {
		params := map[string]string{}
		for k, v := range valid {
			params[k] = v
		}
		params[tc.name] = tc.value
		b, err := Bind(tp, params)
		var e *cleanroom.Error
		if !errors.As(err, &e) || e.Code != cleanroom.EInvalid || e.Message != tc.want {
			t.Errorf("Bind(%s=%q) = %+v, %v, want error %q", tc.name, tc.value, b, err, tc.want)
		}
	}

	delete(valid, "flag")
	if _, err := Bind(tp, valid); err == nil || err.Error() != `parameter "flag" is missing (hint: pass it as --param flag=<bool>)` {
		t.Errorf("Bind without flag = %v", err)
	}
	valid["flag"], valid["extra"] = "false", "1"
	if _, err := Bind(tp, valid); err == nil ||
		err.Error() != `template "bind-test" has no parameter "extra" (hint: its parameters are flag, income, limit, since, tier)` {
		t.Errorf("Bind with extra = %v", err)
	}
	none := mustParse(t, base)
	none.Parameters, none.Where = nil, nil
	if _, err := Bind(none, map[string]string{"x": "1"}); err == nil ||
		err.Error() != `template "tier-by-default-flag" has no parameter "x" (hint: the template takes no parameters)` {
		t.Errorf("Bind to a template without parameters = %v", err)
	}
	if b, err := Bind(none, nil); err != nil || len(b.Params) != 0 {
		t.Errorf("Bind(nil) = %+v, %v", b, err)
	}
}
