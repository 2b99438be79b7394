//go:build beam

package scaleout

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/engine"
	"github.com/cleanroom-dev/cleanroom/internal/template"
	"github.com/cleanroom-dev/cleanroom/internal/upload"
)

// The marked data: attribute values no run could produce by chance, made
// at run time so that they are in no binary: the job server is this test
// binary too, and its memory holds its own constants.
var (
	markA, markB, markHas = randomMark("SEGMENT-ALPHA-"), randomMark("SEGMENT-BETA-"), randomMark("PRODUCT-GAMMA-")
	markScaled            = int64(10_000_000_000 + mrand.Int64N(80_000_000_000)) // at scale 2
	markSpend             = strconv.FormatInt(markScaled/100, 10) + "." + fmt.Sprintf("%02d", markScaled%100)
)

func randomMark(prefix string) string {
	return prefix + strconv.FormatUint(mrand.Uint64(), 36)
}

func markedSchemas() map[string]string {
	return map[string]string{
		"a": `{"identifiers": [{"column": "phone", "class": "phone", "priority": 1}],
  "attributes": [
    {"column": "segment", "type": "string", "policy": "dimension", "categories": ["` + markA + `", "` + markB + `"]},
    {"column": "spend", "type": "decimal", "policy": "metric", "clamp": [0, 1000000000], "scale": 2}]}`,
		"b": `{"identifiers": [{"column": "phone", "class": "phone", "priority": 1}],
  "attributes": [{"column": "products", "type": "string", "policy": "filter"}]}`,
	}
}

func markedTemplate() string {
	return `name: marked
question: How much do people of each segment spend?
join: [a, b]
where:
  - b.products has ` + markHas + `
group_by:
  - a.segment
metrics:
  - people: count_distinct_person
  - spend: {sum: a.spend, clamp: [0, 1000000000]}
controls:
  rho: 0.1
  receivers: [x]
`
}

// markedRun is a plan over the marked schemas and its data: 400 people,
// each in both datasets.
func markedRun(t *testing.T) (*engine.Plan, []Input) {
	t.Helper()
	schemas := map[string]*cleanroom.Schema{}
	for name, raw := range markedSchemas() {
		s, err := cleanroom.ParseSchema([]byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		schemas[name] = s
	}
	tp, err := template.Parse([]byte(markedTemplate()))
	if err != nil {
		t.Fatal(err)
	}
	if err := cleanroom.CheckTemplate(tp, schemas, map[string]string{"a": "x", "b": "y"}); err != nil {
		t.Fatal(err)
	}
	b, err := template.Bind(tp, nil)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := engine.Compile(tp, b, schemas)
	if err != nil {
		t.Fatal(err)
	}
	const people = 400
	write := func(dataset string, attrs []upload.AttributeField, value func(i int) []string) Input {
		var buf bytes.Buffer
		w, err := upload.NewWriter(&buf, upload.Header{Room: "r", Dataset: dataset, Version: 1, Rows: people,
			Identifiers: []upload.IdentifierField{{Column: "phone", Class: "phone"}}, Attributes: attrs})
		if err != nil {
			t.Fatal(err)
		}
		persons := make([]int32, people)
		for i := range people {
			persons[i] = int32(i)
			if err := w.Write(upload.Row{Tokens: []*upload.Token{nil}, Values: value(i)}); err != nil {
				t.Fatal(err)
			}
		}
		w.Close()
		raw := buf.Bytes()
		return Input{Dataset: dataset, Persons: persons, Open: func(context.Context) (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(raw)), nil
		}}
	}
	a := write("a", []upload.AttributeField{{Column: "segment", Type: "string"}, {Column: "spend", Type: "decimal"}}, func(i int) []string {
		return []string{[]string{markA, markB}[i%2], markSpend}
	})
	bIn := write("b", []upload.AttributeField{{Column: "products", Type: "string"}}, func(i int) []string {
		return []string{"card;" + markHas}
	})
	return plan, []Input{a, bIn}
}

// markers are the marked values as text and in every binary form a row's
// value takes on its way: the scaled integer as a varint and as 8 bytes
// in either order.
func markers() [][]byte {
	out := [][]byte{[]byte(markA), []byte(markB), []byte(markHas), []byte(markSpend), []byte(strconv.FormatInt(markScaled, 10))}
	scaled := uint64(markScaled)
	out = append(out, binary.AppendVarint(nil, markScaled), binary.LittleEndian.AppendUint64(nil, scaled), binary.BigEndian.AppendUint64(nil, scaled))
	return out
}

// scanProcess reads every readable mapping of a process's memory and
// returns the markers found in it.
func scanProcess(t *testing.T, pid int, marks [][]byte) []string {
	t.Helper()
	maps, err := os.Open(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer maps.Close()
	mem, err := os.Open(fmt.Sprintf("/proc/%d/mem", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	found := map[string]bool{}
	scanned := 0
	sc := bufio.NewScanner(maps)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || f[1][0] != 'r' || (len(f) >= 6 && strings.HasPrefix(f[5], "[v")) {
			continue
		}
		lo, hi, _ := strings.Cut(f[0], "-")
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end-start > 1<<32 {
			continue
		}
		buf := make([]byte, end-start)
		n, _ := mem.ReadAt(buf, int64(start))
		scanned += n
		for _, m := range marks {
			if bytes.Contains(buf[:n], m) {
				found[fmt.Sprintf("%q", m)] = true
			}
		}
	}
	if scanned < 1<<20 {
		t.Fatalf("read only %d bytes of process %d's memory", scanned, pid)
	}
	var out []string
	for m := range found {
		out = append(out, m)
	}
	return out
}

// scanDir returns the markers found in the files under dir.
func scanDir(t *testing.T, dir string, marks [][]byte) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		data, _ := os.ReadFile(path)
		for _, m := range marks {
			if bytes.Contains(data, m) {
				out = append(out, fmt.Sprintf("%q in %s", m, path))
			}
		}
		return nil
	})
	return out
}

func init() {
	register.Function1x2[int, string, string](plainPair)
	register.Function2x0[string, func(*string) bool](dropGroup)
}

// plainPair makes a marked value inside a worker from a random number,
// so that it reaches the runner only through the shuffle.
func plainPair(i int) (string, string) {
	return "CONTROL-" + strconv.Itoa(i) + "-KEY", "CONTROL-" + strconv.Itoa(i) + "-VALUE"
}

func dropGroup(string, func(*string) bool) {}

// TestBeamShuffleHoldsNoPlaintext runs a plan over marked data on a Prism
// job server in a separate process, the one that holds every shuffle, and
// then searches that process's whole memory and both processes' temporary
// files for the marked values: none may be there. A control pipeline
// that shuffles marked plaintext on the same job server shows that the
// search finds what went through a shuffle.
func TestBeamShuffleHoldsNoPlaintext(t *testing.T) {
	plan, ins := markedRun(t)
	want := runLocalResult(t, plan, ins)
	if len(want.Groups) != 2 || want.Groups[0].People != 200 {
		t.Fatalf("the marked data gives %+v, want two groups of 200", want.Groups)
	}
	js := startChild(t, jobServerEnv, strconv.Itoa)
	endpoint, server, serverTmp := js.addr, js.cmd, js.tmp
	ownTmp := t.TempDir()
	t.Setenv("TMPDIR", ownTmp)
	got, err := Run(context.Background(), plan, ins, 3, Options{Runner: RunnerUniversal, Endpoint: endpoint, Shards: 2})
	if err != nil {
		t.Fatal(err)
	}
	sameResult(t, "marked run", got, want)
	marks := markers()
	if found := scanProcess(t, server.Process.Pid, marks); len(found) > 0 {
		t.Errorf("the job server's memory holds plaintext values: %v", found)
	}
	for _, dir := range []string{serverTmp, ownTmp} {
		if found := scanDir(t, dir, marks); len(found) > 0 {
			t.Errorf("temporary files hold plaintext values: %v", found)
		}
	}

	// The control: plaintext through a shuffle is found.
	p, s := beam.NewPipelineWithRoot()
	seeds := []int{mrand.IntN(1 << 40), mrand.IntN(1 << 40)}
	// The numbers travel in the pipeline as varints, never as text.
	kv := beam.ParDo(s, plainPair, beam.CreateList(s, seeds))
	beam.ParDo0(s, dropGroup, beam.GroupByKey(s, kv))
	if err := execute(context.Background(), p, Options{Runner: RunnerUniversal, Endpoint: endpoint}); err != nil {
		t.Fatal(err)
	}
	control := [][]byte{[]byte("CONTROL-" + strconv.Itoa(seeds[0]) + "-KEY"), []byte("CONTROL-" + strconv.Itoa(seeds[1]) + "-VALUE")}
	if found := scanProcess(t, server.Process.Pid, control); len(found) != len(control) {
		t.Fatalf("the search found %v of the %d values a control pipeline shuffled in the clear: it cannot see a shuffle", found, len(control))
	}
}

func runLocalResult(t *testing.T, plan *engine.Plan, ins []Input) *engine.Result {
	t.Helper()
	j, err := newJob(plan, ins, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer j.done()
	res, err := j.runLocal(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return res
}
