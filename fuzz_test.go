package cleanroom

import "testing"

// FuzzParseSchema feeds the schema parser arbitrary JSON: it returns a
// schema that validates, or an error naming what is wrong, and never
// panics.
func FuzzParseSchema(f *testing.F) {
	f.Add([]byte(`{"identifiers":[{"column":"phone","class":"phone","priority":1}],
		"attributes":[{"column":"tier","type":"string","policy":"dimension","categories":["basic","premium"]},
		{"column":"spend","type":"decimal","policy":"metric","clamp":[0,1000],"scale":2}]}`))
	f.Add([]byte(`{"identifiers":[{"column":"phone","class":"phone"}],"opt_out":true}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseSchema(data)
		if err != nil {
			if ErrorCode(err) == "" {
				t.Fatalf("an unclassified error: %v", err)
			}
			return
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("ParseSchema returned a schema that does not validate: %v", err)
		}
	})
}
