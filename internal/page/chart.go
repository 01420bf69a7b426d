package page

import (
	"fmt"
	"html/template"
	"math"
	"slices"
	"strings"
	"time"
)

// Charts are drawn on the server as inline SVG: the pages need no script
// and no network, and a chart is a few kilobytes of markup.

const (
	chartW, chartH   = 720, 180
	padL, padR       = 64, 12
	padT, padB       = 10, 22
	maxMarkedPoints  = 150 // points with a hover title; more are a plain line
	gapFactor        = 3   // a gap of more than 3 typical steps breaks the line
	chartSeriesLimit = 6
)

// renderChart draws c as an SVG line chart over time.
func renderChart(c Chart, now time.Time) template.HTML {
	var b strings.Builder
	fmt.Fprintf(&b, `<figure class="chart"><figcaption>%s</figcaption>`, template.HTMLEscapeString(c.Title))
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-label="%s" preserveAspectRatio="none">`, chartW, chartH, template.HTMLEscapeString(c.Title))
	t0, t1, vmax, n := bounds(c)
	if n == 0 {
		fmt.Fprintf(&b, `<text class="empty" x="%d" y="%d">no data in this window</text></svg></figure>`, chartW/2, chartH/2)
		return template.HTML(b.String())
	}
	if !t1.After(t0) {
		t0, t1 = t0.Add(-time.Minute), t1.Add(time.Minute)
	}
	step, top := niceStep(vmax)
	x := func(t time.Time) float64 {
		return padL + float64(t.Sub(t0))/float64(t1.Sub(t0))*(chartW-padL-padR)
	}
	y := func(v float64) float64 {
		return chartH - padB - v/top*(chartH-padT-padB)
	}
	// The grid and the y axis.
	for v := 0.0; v <= top*1.0001; v += step {
		fmt.Fprintf(&b, `<line class="grid" x1="%d" x2="%d" y1="%.1f" y2="%.1f"/>`, padL, chartW-padR, y(v), y(v))
		fmt.Fprintf(&b, `<text class="ylabel" x="%d" y="%.1f">%s</text>`, padL-6, y(v)+4, template.HTMLEscapeString(fmtValue(v, c.Unit)))
	}
	// The x axis.
	every, layout := timeStep(t1.Sub(t0))
	for t := t0.Truncate(every).Add(every); t.Before(t1); t = t.Add(every) {
		fmt.Fprintf(&b, `<text class="xlabel" x="%.1f" y="%d">%s</text>`, x(t), chartH-6, t.Local().Format(layout))
	}
	for i, s := range c.Series[:min(len(c.Series), chartSeriesLimit)] {
		drawSeries(&b, s, i, c.Unit, x, y)
	}
	b.WriteString(`</svg>`)
	if len(c.Series) > 1 {
		b.WriteString(`<ul class="legend">`)
		for i, s := range c.Series[:min(len(c.Series), chartSeriesLimit)] {
			fmt.Fprintf(&b, `<li class="s%d">%s</li>`, i, template.HTMLEscapeString(s.Name))
		}
		b.WriteString(`</ul>`)
	}
	b.WriteString(`</figure>`)
	return template.HTML(b.String())
}

// drawSeries draws one series: a line, broken where the data has a gap
// (the process was down), and points with their value on hover while there
// are few.
func drawSeries(b *strings.Builder, s Series, i int, u Unit, x func(time.Time) float64, y func(float64) float64) {
	pts := s.Points
	if len(pts) == 0 {
		return
	}
	gap := typicalStep(pts) * gapFactor
	fmt.Fprintf(b, `<g class="series s%d">`, i)
	start := 0
	for j := 1; j <= len(pts); j++ {
		if j < len(pts) && (gap == 0 || pts[j].At.Sub(pts[j-1].At) <= gap) {
			continue
		}
		if j-start > 1 {
			b.WriteString(`<polyline points="`)
			for _, p := range pts[start:j] {
				fmt.Fprintf(b, "%.1f,%.1f ", x(p.At), y(p.Value))
			}
			b.WriteString(`"/>`)
		}
		start = j
	}
	if len(pts) <= maxMarkedPoints {
		for _, p := range pts {
			fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="2.5"><title>%s: %s at %s</title></circle>`,
				x(p.At), y(p.Value), template.HTMLEscapeString(s.Name), template.HTMLEscapeString(fmtValue(p.Value, u)), p.At.Local().Format("Jan 2 15:04"))
		}
	}
	b.WriteString(`</g>`)
}

// bounds returns the time range, the largest value and the number of
// points of c.
func bounds(c Chart) (t0, t1 time.Time, vmax float64, n int) {
	for _, s := range c.Series {
		for _, p := range s.Points {
			if n == 0 || p.At.Before(t0) {
				t0 = p.At
			}
			if n == 0 || p.At.After(t1) {
				t1 = p.At
			}
			if !math.IsNaN(p.Value) && !math.IsInf(p.Value, 0) {
				vmax = max(vmax, p.Value)
			}
			n++
		}
	}
	return t0, t1, vmax, n
}

// typicalStep is the median time between consecutive points.
func typicalStep(pts []Point) time.Duration {
	if len(pts) < 3 {
		return 0
	}
	steps := make([]time.Duration, 0, len(pts)-1)
	for i := 1; i < len(pts); i++ {
		steps = append(steps, pts[i].At.Sub(pts[i-1].At))
	}
	slices.Sort(steps)
	return steps[len(steps)/2]
}

// niceStep returns a round step for a y axis from 0 to about vmax in four
// steps, and the axis's top.
func niceStep(vmax float64) (step, top float64) {
	if vmax <= 0 {
		return 1, 4
	}
	raw := vmax / 4
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	return step, step * math.Ceil(vmax/step)
}

// timeStep returns the interval between x labels for a span, and their
// layout.
func timeStep(span time.Duration) (time.Duration, string) {
	for _, s := range []time.Duration{time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
		time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour} {
		if span/s <= 7 {
			return s, "15:04"
		}
	}
	for _, s := range []time.Duration{24 * time.Hour, 48 * time.Hour, 7 * 24 * time.Hour} {
		if span/s <= 7 {
			return s, "Jan 2"
		}
	}
	return 30 * 24 * time.Hour, "Jan 2"
}
