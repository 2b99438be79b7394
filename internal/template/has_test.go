package template

import (
	"testing"

	"github.com/cleanroom-dev/cleanroom"
)

func TestParseHas(t *testing.T) {
	for _, c := range []struct {
		in   string
		want cleanroom.Filter
	}{
		{"customers.products has $product", cleanroom.Filter{Column: "customers.products", Op: cleanroom.OpHas, Param: "product"}},
		{"customers.products has deposit", cleanroom.Filter{Column: "customers.products", Op: cleanroom.OpHas, Values: []string{"deposit"}}},
	} {
		got, err := parseFilter(c.in)
		if err != nil || got.Column != c.want.Column || got.Op != c.want.Op || got.Param != c.want.Param || len(got.Values) != len(c.want.Values) {
			t.Errorf("parseFilter(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
	if _, err := parseFilter("customers.productshas deposit"); err == nil {
		t.Error("an operator glued to the column was accepted")
	}
}
