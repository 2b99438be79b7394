package webui

import (
	"fmt"
	"html/template"
	"math"
	"strconv"
	"strings"

	"github.com/cleanroom-dev/cleanroom/internal/httpapi"
	"github.com/cleanroom-dev/cleanroom/internal/release"
)

// esc escapes text for SVG.
func esc(s string) string { return template.HTMLEscapeString(s) }

// matchChart draws, for each of the caller's party's datasets and each
// peer dataset, the match rate each identifier class added in the
// waterfall (the class's noisy matched people over the dataset's people),
// as horizontal bars with their 95 % intervals.
func matchChart(rep *httpapi.PartyReport) template.HTML {
	type bar struct {
		label      string
		rate, half float64
	}
	people := map[string]int{}
	for _, d := range rep.Datasets {
		people[d.Dataset] = d.People
	}
	var bars []bar
	for _, p := range rep.Pairs {
		for _, d := range p.Datasets {
			n := people[d]
			if _, own := p.MatchRate[d]; !own || n == 0 {
				continue
			}
			for _, st := range p.Steps {
				bars = append(bars, bar{label: fmt.Sprintf("%s × %s: %s", d, other(p.Datasets, d), st.Class),
					rate: float64(st.Added) / float64(n), half: p.Interval95 / float64(n)})
			}
		}
	}
	if len(bars) == 0 {
		return ""
	}
	const w, left, row = 640, 280, 26
	h := row*len(bars) + 30
	scale := float64(w - left - 20)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" role="img" viewBox="0 0 %d %d" width="%d" height="%d" xmlns="http://www.w3.org/2000/svg">`, w, h, w, h)
	b.WriteString(`<title>Match rate per identifier class, with 95 % intervals</title>`)
	for i, x := range []float64{0, 0.25, 0.5, 0.75, 1} {
		px := left + int(x*scale)
		fmt.Fprintf(&b, `<line x1="%d" y1="0" x2="%d" y2="%d" stroke="#d8dde5"/>`, px, px, h-20)
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="11" text-anchor="middle" fill="#5b6575">%d %%</text>`, px, h-5, i*25)
	}
	for i, br := range bars {
		y := i*row + 5
		bw := int(math.Min(br.rate, 1) * scale)
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="12" text-anchor="end" fill="#1d2430">%s</text>`, left-8, y+14, esc(br.label))
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="16" fill="#1f5fbf"><title>%s: %.1f %% ± %.1f</title></rect>`,
			left, y+2, bw, esc(br.label), 100*br.rate, 100*br.half)
		lo, hi := left+int(math.Max(br.rate-br.half, 0)*scale), left+int(math.Min(br.rate+br.half, 1)*scale)
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#1d2430" stroke-width="2"/>`, lo, y+10, hi, y+10)
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#1d2430"/><line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#1d2430"/>`,
			lo, y+4, lo, y+16, hi, y+4, hi, y+16)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

func other(pair [2]string, d string) string {
	if pair[0] == d {
		return pair[1]
	}
	return pair[0]
}

// gauge draws a budget's used share as a small bar: green, amber past
// 60 %, red past 85 %.
func gauge(used, limit float64) template.HTML {
	share := 0.0
	if limit > 0 {
		share = math.Min(used/limit, 1)
	}
	color := "#1d7a46"
	switch {
	case share > 0.85:
		color = "#b3261e"
	case share > 0.6:
		color = "#8a5a00"
	}
	return template.HTML(fmt.Sprintf(`<svg class="chart" role="img" viewBox="0 0 120 14" width="120" height="14" xmlns="http://www.w3.org/2000/svg">`+
		`<title>%.0f %% of the budget used</title><rect x="0" y="2" width="120" height="10" rx="3" fill="#e6e9ef"/>`+
		`<rect x="0" y="2" width="%.1f" height="10" rx="3" fill="%s"/></svg>`, 100*share, 120*share, color))
}

// resultChart draws a release's first metric per shown group as
// horizontal bars, each with its 95 % interval.
func resultChart(r *release.Release) template.HTML {
	if len(r.Cells) == 0 || len(r.Metrics) == 0 || len(r.Cells) > 40 {
		return ""
	}
	top := 0.0
	for _, c := range r.Cells {
		top = math.Max(top, c.Values[0]+c.Interval95[0])
	}
	if top <= 0 {
		return ""
	}
	const w, left, row = 640, 200, 28
	h := row*len(r.Cells) + 30
	scale := float64(w-left-20) / top
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" role="img" viewBox="0 0 %d %d" width="%d" height="%d" xmlns="http://www.w3.org/2000/svg">`, w, h, w, h)
	fmt.Fprintf(&b, `<title>%s per group, with 95 %% intervals</title>`, esc(r.Metrics[0].Name))
	for i := 0; i <= 4; i++ {
		x := top * float64(i) / 4
		px := left + int(x*scale)
		fmt.Fprintf(&b, `<line x1="%d" y1="0" x2="%d" y2="%d" stroke="#d8dde5"/>`, px, px, h-20)
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="11" text-anchor="middle" fill="#5b6575">%s</text>`, px, h-5, esc(strconv.FormatFloat(x, 'g', 3, 64)))
	}
	for i, c := range r.Cells {
		label := strings.Join(c.Key, " / ")
		if label == "" {
			label = "all"
		}
		v, half := math.Max(c.Values[0], 0), c.Interval95[0]
		y := i*row + 5
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="12" text-anchor="end" fill="#1d2430">%s</text>`, left-8, y+14, esc(label))
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="16" fill="#1f5fbf"><title>%s: %.2f ± %.2f</title></rect>`,
			left, y+2, int(v*scale), esc(label), c.Values[0], half)
		lo, hi := left+int(math.Max(c.Values[0]-half, 0)*scale), left+int((c.Values[0]+half)*scale)
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#1d2430" stroke-width="2"/>`, lo, y+10, hi, y+10)
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#1d2430"/><line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#1d2430"/>`,
			lo, y+4, lo, y+16, hi, y+4, hi, y+16)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}
