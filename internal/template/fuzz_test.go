package template

import (
	"os"
	"testing"
)

// FuzzParse checks that Parse never panics, and that whatever it accepts is
// valid and survives a round trip through its canonical encoding.
func FuzzParse(f *testing.F) {
	for _, file := range testdataFiles(f) {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(base))
	f.Add([]byte(bindTemplate))
	f.Add(docExample(f))
	f.Add([]byte("name: &a x\nquestion: *a\n"))
	f.Add([]byte("where:\n  - a.b in [x, $y]\n"))
	f.Add([]byte("metrics:\n  - s: {sum: a.b, clamp: [.inf, .nan]}\n"))
	f.Add([]byte("controls: {rho: 1e309}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		tp, err := Parse(data)
		if err != nil {
			return
		}
		if err := tp.Validate(); err != nil {
			t.Fatalf("Parse accepted an invalid template: %v", err)
		}
		checkRoundTrip(t, tp)
	})
}
