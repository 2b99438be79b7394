// Package svgchart draws small charts as inline SVG on the server: a bar
// chart with error bars, horizontal bars, and a gauge for a share such as
// the used part of a privacy budget.
//
// The output is meant to be placed inside an HTML page as it is:
//
//	c := svgchart.BarChart{Title: "Match rate per room", Bars: []svgchart.Bar{{Label: "r1", Value: 0.62, Err: 0.03}}}
//	page := template.HTML(c.SVG()) // safe: every label is escaped
//
// Every chart is deterministic (the same chart gives the same bytes, so
// pages can be compared with golden files), self-contained (no script,
// stylesheet, font or link: colours and text are attributes), and
// accessible: the <svg> has role "img" and a <title>, and every bar or
// gauge carries a <title> stating its label and value, which screen
// readers read and browsers show on hover. Labels and titles are escaped;
// long labels are shortened on the chart but kept whole in the titles.
//
// Values that are NaN or infinite are drawn as empty bars labelled "n/a".
// The package knows nothing of what it draws; callers format values with
// Format.
package svgchart

import (
	"fmt"
	"html"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Colours of the charts: a blue that reads on white and in print, a red
// for alerts, and greys for axes and text.
const (
	colorBar   = "#2f6db5"
	colorAlert = "#b3261e"
	colorInk   = "#1d1d1d"
	colorMuted = "#5f6368"
	colorGrid  = "#dadce0"
	colorTrack = "#e8eaed"
	fontFamily = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"
)

// Bar is one bar: its label, its value and, optionally, the half-width of
// its error bar (a 95 % interval, say). Text, if not empty, is the label
// of the value instead of Format(Value).
type Bar struct {
	Label string
	Value float64
	Err   float64
	Text  string
}

// BarChart is a vertical bar chart with error bars. The value axis always
// includes zero and every bar's error bar; negative values hang below the
// zero line.
type BarChart struct {
	// Title names the chart for screen readers (required).
	Title string
	Bars  []Bar
	// Format formats values for labels and ticks; default: up to four
	// significant digits.
	Format func(float64) string
	// Width and Height are the chart's size in CSS pixels; defaults 560
	// and 260. The chart scales down to its container's width.
	Width, Height int
}

// HBarChart is a horizontal bar chart: one row per bar, the label on the
// left, the value at the end of its bar. It suits long labels and many
// rows. Values below zero are drawn as bars of no length.
type HBarChart struct {
	// Title names the chart for screen readers (required).
	Title string
	Bars  []Bar
	// Format formats values; default: up to four significant digits.
	Format func(float64) string
	// Max is the value of a full-width bar; 0 means the largest value.
	Max float64
	// Width is the chart's width in CSS pixels; default 560. Its height
	// follows from the number of bars.
	Width int
}

// Gauge shows a share from 0 to 1 as a half circle, drawn in the alert
// colour from Alert on.
type Gauge struct {
	// Title names the gauge for screen readers (required).
	Title string
	// Label is shown under the gauge.
	Label string
	// Value is the share, clamped to [0, 1].
	Value float64
	// Alert is the share from which the gauge is drawn in the alert
	// colour; 0 means 0.8.
	Alert float64
	// Size is the gauge's width in CSS pixels; default 160.
	Size int
}

func defaultFormat(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

// num formats a coordinate: one decimal, without a trailing ".0".
func num(v float64) string {
	s := strconv.FormatFloat(math.Round(v*10)/10, 'f', 1, 64)
	s = strings.TrimSuffix(s, ".0")
	if s == "-0" {
		return "0"
	}
	return s
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// esc escapes text for an SVG element's content or attribute.
func esc(s string) string { return html.EscapeString(s) }

// shorten cuts s to at most n characters, ending it with an ellipsis.
func shorten(s string, n int) string {
	if n < 2 {
		n = 2
	}
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// charWidth approximates the width of one character of 12px text.
const charWidth = 6.6

// open starts an <svg> of the given size with its accessible title.
func open(b *strings.Builder, title string, w, h int) {
	fmt.Fprintf(b, `<svg viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="%s" style="max-width:100%%;height:auto" font-family="%s" font-size="12">`,
		w, h, w, h, esc(title), esc(fontFamily))
	fmt.Fprintf(b, `<title>%s</title>`, esc(title))
}

func (b Bar) valueText(format func(float64) string) string {
	if b.Text != "" {
		return b.Text
	}
	if !finite(b.Value) {
		return "n/a"
	}
	s := format(b.Value)
	if b.Err > 0 && finite(b.Err) {
		s += " ± " + format(b.Err)
	}
	return s
}

func empty(title string, w, h int) string {
	var b strings.Builder
	open(&b, title, w, h)
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" fill="%s">No data</text></svg>`, w/2, h/2, colorMuted)
	return b.String()
}

// SVG returns the chart as an <svg> element.
func (c *BarChart) SVG() string {
	w, h := c.Width, c.Height
	if w <= 0 {
		w = 560
	}
	if h <= 0 {
		h = 260
	}
	format := c.Format
	if format == nil {
		format = defaultFormat
	}
	if len(c.Bars) == 0 {
		return empty(c.Title, w, h)
	}
	lo, hi := 0.0, 0.0
	for _, bar := range c.Bars {
		if !finite(bar.Value) {
			continue
		}
		e := 0.0
		if bar.Err > 0 && finite(bar.Err) {
			e = bar.Err
		}
		lo, hi = math.Min(lo, bar.Value-e), math.Max(hi, bar.Value+e)
	}
	ticks := niceTicks(lo, hi, 5)
	lo, hi = ticks[0], ticks[len(ticks)-1]
	left, right, top, bottom := 56.0, 12.0, 20.0, 36.0
	plotW, plotH := float64(w)-left-right, float64(h)-top-bottom
	y := func(v float64) float64 { return top + plotH*(hi-v)/(hi-lo) }

	var b strings.Builder
	open(&b, c.Title, w, h)
	for _, t := range ticks {
		fmt.Fprintf(&b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="1"/>`, num(left), num(y(t)), num(left+plotW), num(y(t)), colorGrid)
		fmt.Fprintf(&b, `<text x="%s" y="%s" text-anchor="end" fill="%s">%s</text>`, num(left-6), num(y(t)+4), colorMuted, esc(format(t)))
	}
	slot := plotW / float64(len(c.Bars))
	barW := math.Min(slot*0.6, 64)
	maxChars := int(slot / charWidth)
	for i, bar := range c.Bars {
		cx := left + slot*(float64(i)+0.5)
		label := bar.valueText(format)
		fmt.Fprintf(&b, `<g><title>%s</title>`, esc(bar.Label+": "+label))
		if finite(bar.Value) {
			y0, y1 := y(0), y(bar.Value)
			fmt.Fprintf(&b, `<rect x="%s" y="%s" width="%s" height="%s" fill="%s"/>`, num(cx-barW/2), num(math.Min(y0, y1)), num(barW),
				num(math.Abs(y1-y0)), colorBar)
			top := math.Min(y0, y1)
			if bar.Err > 0 && finite(bar.Err) {
				ea, eb := y(bar.Value+bar.Err), y(bar.Value-bar.Err)
				fmt.Fprintf(&b, `<path d="M%s %sH%sM%s %sV%sM%s %sH%s" stroke="%s" stroke-width="1.5" fill="none"/>`,
					num(cx-barW/4), num(ea), num(cx+barW/4), num(cx), num(ea), num(eb), num(cx-barW/4), num(eb), num(cx+barW/4), colorInk)
				top = math.Min(top, ea)
			}
			fmt.Fprintf(&b, `<text x="%s" y="%s" text-anchor="middle" fill="%s">%s</text>`, num(cx), num(top-5), colorInk, esc(shorten(label, maxChars)))
		} else {
			fmt.Fprintf(&b, `<text x="%s" y="%s" text-anchor="middle" fill="%s">n/a</text>`, num(cx), num(y(0)-5), colorMuted)
		}
		fmt.Fprintf(&b, `<text x="%s" y="%s" text-anchor="middle" fill="%s">%s</text></g>`, num(cx), num(float64(h)-bottom+18), colorInk,
			esc(shorten(bar.Label, maxChars)))
	}
	fmt.Fprintf(&b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="1"/>`, num(left), num(y(0)), num(left+plotW), num(y(0)), colorInk)
	b.WriteString(`</svg>`)
	return b.String()
}

// SVG returns the chart as an <svg> element.
func (c *HBarChart) SVG() string {
	w := c.Width
	if w <= 0 {
		w = 560
	}
	format := c.Format
	if format == nil {
		format = defaultFormat
	}
	const rowH, pad = 26.0, 8.0
	if len(c.Bars) == 0 {
		return empty(c.Title, w, int(rowH+2*pad))
	}
	h := int(rowH*float64(len(c.Bars)) + 2*pad)
	full := c.Max
	longest, longestValue := 0, 0
	for _, bar := range c.Bars {
		if c.Max <= 0 && finite(bar.Value) && bar.Value > full {
			full = bar.Value
		}
		longest = maxInt(longest, utf8.RuneCountInString(bar.Label))
		longestValue = maxInt(longestValue, utf8.RuneCountInString(bar.valueText(format)))
	}
	labelW := math.Min(float64(longest)*charWidth+8, float64(w)*0.35)
	valueW := math.Min(float64(longestValue)*charWidth+8, float64(w)*0.3)
	plotW := float64(w) - labelW - valueW
	var b strings.Builder
	open(&b, c.Title, w, h)
	for i, bar := range c.Bars {
		top := pad + rowH*float64(i)
		label := bar.valueText(format)
		length := 0.0
		if finite(bar.Value) && bar.Value > 0 && full > 0 {
			length = plotW * math.Min(bar.Value/full, 1)
		}
		fmt.Fprintf(&b, `<g><title>%s</title>`, esc(bar.Label+": "+label))
		fmt.Fprintf(&b, `<text x="%s" y="%s" text-anchor="end" fill="%s">%s</text>`, num(labelW-8), num(top+rowH/2+4), colorInk,
			esc(shorten(bar.Label, int((labelW-8)/charWidth))))
		fmt.Fprintf(&b, `<rect x="%s" y="%s" width="%s" height="%s" fill="%s"/>`, num(labelW), num(top+4), num(length), num(rowH-8), colorBar)
		fmt.Fprintf(&b, `<text x="%s" y="%s" fill="%s">%s</text></g>`, num(labelW+length+6), num(top+rowH/2+4), colorInk, esc(label))
	}
	fmt.Fprintf(&b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="1"/>`, num(labelW), num(pad), num(labelW), num(float64(h)-pad), colorInk)
	b.WriteString(`</svg>`)
	return b.String()
}

// SVG returns the gauge as an <svg> element.
func (g *Gauge) SVG() string {
	size := g.Size
	if size <= 0 {
		size = 160
	}
	alert := g.Alert
	if alert <= 0 {
		alert = 0.8
	}
	v := g.Value
	if !finite(v) {
		v = 0
	}
	v = math.Max(0, math.Min(1, v))
	w := float64(size)
	r := w/2 - 12
	cx, cy := w/2, r+10
	h := int(cy + 40)
	color := colorBar
	state := ""
	if v >= alert {
		color, state = colorAlert, " (near exhaustion)"
	}
	pct := strconv.FormatFloat(math.Round(v*1000)/10, 'f', -1, 64) + " %"
	point := func(share float64) (float64, float64) {
		a := math.Pi * (1 - share)
		return cx + r*math.Cos(a), cy - r*math.Sin(a)
	}
	var b strings.Builder
	open(&b, g.Title, size, h)
	fmt.Fprintf(&b, `<g><title>%s</title>`, esc(g.Label+": "+pct+" used"+state))
	x0, y0 := point(0)
	x1, y1 := point(1)
	fmt.Fprintf(&b, `<path d="M%s %sA%s %s 0 0 1 %s %s" stroke="%s" stroke-width="14" fill="none"/>`, num(x0), num(y0), num(r), num(r), num(x1), num(y1), colorTrack)
	if v > 0 {
		xv, yv := point(v)
		fmt.Fprintf(&b, `<path d="M%s %sA%s %s 0 0 1 %s %s" stroke="%s" stroke-width="14" fill="none"/>`, num(x0), num(y0), num(r), num(r), num(xv), num(yv), color)
	}
	fmt.Fprintf(&b, `<text x="%s" y="%s" text-anchor="middle" font-size="18" fill="%s">%s</text>`, num(cx), num(cy-4), colorInk, esc(pct))
	fmt.Fprintf(&b, `<text x="%s" y="%s" text-anchor="middle" fill="%s">%s</text></g>`, num(cx), num(cy+24), colorInk,
		esc(shorten(g.Label, int(w/charWidth))))
	b.WriteString(`</svg>`)
	return b.String()
}

func maxInt(a, b int) int {
	if a > b {
		return a
	}
	return b
}

// niceTicks returns about n evenly spaced round values (steps of 1, 2,
// 2.5 or 5 times a power of ten) from at most lo to at least hi.
func niceTicks(lo, hi float64, n int) []float64 {
	if hi <= lo {
		hi = lo + 1
	}
	raw := (hi - lo) / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := 10 * mag
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	// Ticks are whole multiples of step, printed with step's decimals so
	// that float error never shows (0.6, not 0.6000000000000001).
	decimals := max(0, 1-int(math.Floor(math.Log10(step))))
	first, last := math.Floor(lo/step+1e-9), math.Ceil(hi/step-1e-9)
	var out []float64
	for k := first; k <= last && len(out) <= 100; k++ {
		t, _ := strconv.ParseFloat(strconv.FormatFloat(k*step, 'f', decimals, 64), 64)
		if t == 0 {
			t = 0 // not -0
		}
		out = append(out, t)
	}
	return out
}
