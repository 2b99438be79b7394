package template

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/cleanroom-dev/cleanroom"
)

func mustParse(t testing.TB, data string) *cleanroom.Template {
	t.Helper()
	tp, err := Parse([]byte(data))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return tp
}

func TestCanonical(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "tier-by-default-flag.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := Canonical(mustParse(t, string(data)))
	if err != nil {
		t.Fatal(err)
	}
	// Keys sorted, no white space, numbers in their shortest form, and no
	// HTML escaping of ">=" (RFC 8785).
	want := `{"controls":{"max_groups_per_person":1,"min_group_size":100,"receivers":["operator"],"review_by":["bank"],"rho":0.05},` +
		`"group_by":[{"column":"subscribers.tier"}],"join":["subscribers","customers"],"metrics":[{"kind":"count_distinct_person","name":"people"}],` +
		`"name":"tier-by-default-flag","parameters":{"flag":{"type":"bool"},"since":{"max":"2030-12-31","min":"2000-01-01","type":"date"}},` +
		`"question":"How many of our subscribers, by tier, have a given bank default flag?","version":1,` +
		`"where":[{"column":"customers.default_flag","op":"=","param":"flag"},{"column":"subscribers.signup_date","op":">=","param":"since"}]}`
	if string(got) != want {
		t.Errorf("Canonical =\n%s\nwant\n%s", got, want)
	}
}

// TestCanonicalIgnoresLayout checks that the order of keys, flow or block
// style, comments, quoting and white space in the YAML do not change the
// canonical encoding or the digest.
func TestCanonicalIgnoresLayout(t *testing.T) {
	a := mustParse(t, base)
	b := mustParse(t, `# the same template, laid out differently
controls: {receivers: [ operator ], rho: 5.0e-2, min_group_size: 100}
metrics:
- people: "count_distinct_person"
group_by: [subscribers.tier]
where: ["customers.default_flag   =   $flag"]
parameters:
  flag:
    type: bool
join:
  - subscribers
  - customers
question: "How many subscribers, by tier, have a given default flag?"
version: 1
name: 'tier-by-default-flag'
`)
	ca, err := Canonical(a)
	if err != nil {
		t.Fatal(err)
	}
	cb, err := Canonical(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ca, cb) {
		t.Errorf("Canonical differs with the layout:\n%s\n%s", ca, cb)
	}
	if Digest(a) != Digest(b) {
		t.Errorf("Digest differs with the layout: %s, %s", Digest(a), Digest(b))
	}
	if d := Digest(a); !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(d) {
		t.Errorf("Digest = %q, want 64 lower-case hex digits", d)
	}

	// Any change of content is a new digest.
	for _, edit := range []func(*cleanroom.Template){
		func(t *cleanroom.Template) { t.Version = 2 },
		func(t *cleanroom.Template) { t.Controls.Rho = 0.06 },
		func(t *cleanroom.Template) { t.Join[0], t.Join[1] = t.Join[1], t.Join[0] },
		func(t *cleanroom.Template) { t.Where[0].Op = cleanroom.OpNe },
		func(t *cleanroom.Template) { t.Controls.ReviewBy = []string{"bank"} },
	} {
		c := mustParse(t, base)
		edit(c)
		if Digest(c) == Digest(a) {
			t.Errorf("Digest unchanged after an edit: %+v", c)
		}
	}
}

// TestCanonicalRoundTrip checks that the canonical encoding decodes, with
// unknown fields refused, into a template with the same encoding: what a
// party signs is what the room runs.
func TestCanonicalRoundTrip(t *testing.T) {
	for _, f := range testdataFiles(t) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		checkRoundTrip(t, mustParse(t, string(data)))
	}
}

func checkRoundTrip(t testing.TB, tp *cleanroom.Template) {
	t.Helper()
	canon, err := Canonical(tp)
	if err != nil {
		t.Fatalf("Canonical: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(canon))
	dec.DisallowUnknownFields()
	var back cleanroom.Template
	if err := dec.Decode(&back); err != nil {
		t.Fatalf("decode %s: %v", canon, err)
	}
	if err := back.Validate(); err != nil {
		t.Fatalf("decoded template: %v", err)
	}
	again, err := Canonical(&back)
	if err != nil {
		t.Fatalf("Canonical: %v", err)
	}
	if !bytes.Equal(canon, again) {
		t.Fatalf("round trip changed the encoding:\n%s\n%s", canon, again)
	}
}
