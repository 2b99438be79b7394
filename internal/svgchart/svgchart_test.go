package svgchart

import (
	"encoding/xml"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// node is a parsed SVG element.
type node struct {
	name     string
	attr     map[string]string
	text     string
	children []*node
}

func parse(t *testing.T, svg string) *node {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(svg))
	var stack []*node
	var root *node
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed: %v\n%s", err, svg)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			n := &node{name: tok.Name.Local, attr: map[string]string{}}
			for _, a := range tok.Attr {
				n.attr[a.Name.Local] = a.Value
			}
			if len(stack) > 0 {
				p := stack[len(stack)-1]
				p.children = append(p.children, n)
			} else {
				root = n
			}
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].text += string(tok)
			}
		}
	}
	return root
}

func (n *node) all(name string) []*node {
	var out []*node
	for _, c := range n.children {
		if c.name == name {
			out = append(out, c)
		}
		out = append(out, c.all(name)...)
	}
	return out
}

func (n *node) child(name string) *node {
	for _, c := range n.children {
		if c.name == name {
			return c
		}
	}
	return nil
}

// checkSVG checks what every chart must be: one well-formed <svg>, an
// image with the title as its first child, nothing that loads or runs
// anything, the same bytes every time.
func checkSVG(t *testing.T, svg, again, title string) *node {
	t.Helper()
	if svg != again {
		t.Error("the same chart drawn twice differs")
	}
	root := parse(t, svg)
	if root == nil || root.name != "svg" || root.attr["role"] != "img" || root.attr["aria-label"] != title {
		t.Fatalf("root = %+v, want <svg role=img aria-label=%q>", root, title)
	}
	if len(root.children) == 0 || root.children[0].name != "title" || root.children[0].text != title {
		t.Errorf("the first child is not <title>%s</title>", title)
	}
	low := strings.ToLower(svg)
	for _, bad := range []string{"<script", "href", "url(", "http:", "https:", "@import", "<style", "<image", "<foreignobject"} {
		if strings.Contains(low, bad) {
			t.Errorf("SVG contains %q", bad)
		}
	}
	var noHandlers func(n *node)
	noHandlers = func(n *node) {
		for k := range n.attr {
			if strings.HasPrefix(strings.ToLower(k), "on") {
				t.Errorf("<%s> has an event handler %s", n.name, k)
			}
		}
		for _, c := range n.children {
			noHandlers(c)
		}
	}
	noHandlers(root)
	return root
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got+"\n" != string(want) {
		t.Errorf("%s differs from the golden file (run go test -update after checking the change):\n got: %s\nwant: %s", name, got, want)
	}
}

func pct(v float64) string { return strconv.FormatFloat(v*100, 'f', 1, 64) + " %" }

func TestBarChart(t *testing.T) {
	c := BarChart{Title: "Lift per campaign", Format: pct, Bars: []Bar{
		{Label: "spring", Value: 0.021, Err: 0.004},
		{Label: "summer <sale> & \"more\"", Value: -0.006, Err: 0.005},
		{Label: "autumn", Value: math.NaN()},
		{Label: "winter", Value: 0.01, Text: "+1.0 pp"},
	}}
	svg := c.SVG()
	root := checkSVG(t, svg, c.SVG(), "Lift per campaign")
	groups := root.all("g")
	if len(groups) != 4 {
		t.Fatalf("%d groups, want one per bar", len(groups))
	}
	for i, want := range []string{"spring: 2.1 % ± 0.4 %", "summer <sale> & \"more\": -0.6 % ± 0.5 %", "autumn: n/a", "winter: +1.0 pp"} {
		if got := groups[i].child("title"); got == nil || got.text != want {
			t.Errorf("bar %d title = %+v, want %q", i, got, want)
		}
	}
	if strings.Contains(svg, "<sale>") || !strings.Contains(svg, "&lt;sale&gt;") {
		t.Error("a label is not escaped")
	}
	// The error bar spans value ± err on the value axis: read the scale
	// from the zero line and a tick.
	rects := root.all("rect")
	if len(rects) != 3 {
		t.Fatalf("%d bars drawn, want 3 (the NaN one is empty)", len(rects))
	}
	var zeroY, tickY, tickV float64
	for _, txt := range root.all("text") {
		if txt.attr["text-anchor"] == "end" {
			v, _ := strconv.ParseFloat(strings.TrimSuffix(txt.text, " %"), 64)
			y, _ := strconv.ParseFloat(txt.attr["y"], 64)
			if v == 0 {
				zeroY = y - 4
			} else if v > 0 && tickV == 0 {
				tickV, tickY = v/100, y-4
			}
		}
	}
	scale := (zeroY - tickY) / tickV
	path := groups[0].child("path").attr["d"]
	var x1, ya, x2, x3, ya2, yb, x4, yb2, x5 float64
	if _, err := fmt.Sscanf(path, "M%g %gH%gM%g %gV%gM%g %gH%g", &x1, &ya, &x2, &x3, &ya2, &yb, &x4, &yb2, &x5); err != nil {
		t.Fatalf("error bar path %q: %v", path, err)
	}
	if math.Abs((zeroY-ya)/scale-0.025) > 0.0005 || math.Abs((zeroY-yb)/scale-0.017) > 0.0005 {
		t.Errorf("error bar of spring spans %g..%g, want 0.017..0.025", (zeroY-yb)/scale, (zeroY-ya)/scale)
	}
	golden(t, "bars.svg", svg)
}

func TestHBarChart(t *testing.T) {
	c := HBarChart{Title: "Queries per room", Bars: []Bar{
		{Label: "operator-bank", Value: 120},
		{Label: "operator-advertiser-with-a-very-long-room-name-indeed", Value: 30},
		{Label: "idle", Value: 0},
		{Label: "negative", Value: -5},
	}, Width: 400}
	svg := c.SVG()
	root := checkSVG(t, svg, c.SVG(), "Queries per room")
	rects := root.all("rect")
	if len(rects) != 4 {
		t.Fatalf("%d bars, want 4", len(rects))
	}
	w := func(i int) float64 { v, _ := strconv.ParseFloat(rects[i].attr["width"], 64); return v }
	if w(0) <= 0 || math.Abs(w(1)/w(0)-0.25) > 0.01 || w(2) != 0 || w(3) != 0 {
		t.Errorf("bar widths %v, %v, %v, %v; want proportional, none for 0 and below", w(0), w(1), w(2), w(3))
	}
	titles := root.all("title")
	if titles[2].text != "operator-advertiser-with-a-very-long-room-name-indeed: 30" {
		t.Errorf("a long label is not whole in its title: %q", titles[2].text)
	}
	if !strings.Contains(svg, "…") {
		t.Error("a long label is not shortened on the chart")
	}
	if (&HBarChart{Title: "Nothing"}).SVG() != (&HBarChart{Title: "Nothing"}).SVG() ||
		!strings.Contains((&HBarChart{Title: "Nothing"}).SVG(), "No data") {
		t.Error("an empty chart does not say there is no data")
	}
	golden(t, "hbars.svg", svg)
}

func TestGauge(t *testing.T) {
	for _, tc := range []struct {
		value float64
		title string
		color string
	}{
		{0.45, "customers: 45 % used", colorBar},
		{0.8, "customers: 80 % used (near exhaustion)", colorAlert},
		{1.7, "customers: 100 % used (near exhaustion)", colorAlert},
		{math.Inf(1), "customers: 0 % used", ""},
	} {
		g := Gauge{Title: "Privacy budget of customers", Label: "customers", Value: tc.value}
		svg := g.SVG()
		root := checkSVG(t, svg, g.SVG(), "Privacy budget of customers")
		gs := root.all("g")
		if len(gs) != 1 || gs[0].child("title") == nil || gs[0].child("title").text != tc.title {
			t.Errorf("gauge of %v: titles %+v, want %q", tc.value, gs, tc.title)
		}
		paths := root.all("path")
		if tc.color == "" {
			if len(paths) != 1 {
				t.Errorf("gauge of %v draws %d arcs, want only the track", tc.value, len(paths))
			}
			continue
		}
		if len(paths) != 2 || paths[1].attr["stroke"] != tc.color {
			t.Errorf("gauge of %v: arcs %+v, want the value in %s", tc.value, paths, tc.color)
		}
		if tc.value == 0.45 {
			golden(t, "gauge.svg", svg)
		}
	}
}

func TestNiceTicks(t *testing.T) {
	for _, tc := range []struct {
		lo, hi float64
		want   string
	}{
		{0, 1, "[0 0.2 0.4 0.6 0.8 1]"},
		{0, 523000, "[0 200000 400000 600000]"},
		{-0.011, 0.025, "[-0.02 -0.01 0 0.01 0.02 0.03]"},
		{0, 0, "[0 0.2 0.4 0.6 0.8 1]"},
		{0, 7, "[0 2 4 6 8]"},
	} {
		if got := fmt.Sprint(niceTicks(tc.lo, tc.hi, 5)); got != tc.want {
			t.Errorf("niceTicks(%v, %v) = %s, want %s", tc.lo, tc.hi, got, tc.want)
		}
	}
}
