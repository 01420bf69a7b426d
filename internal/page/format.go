package page

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// fmtDuration prints a duration with three significant digits in the unit
// that suits it: 812ns, 14.2µs, 3.05ms, 1.20s, 2m05s.
func fmtDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return "0"
	case d < time.Microsecond:
		return strconv.FormatInt(int64(d), 10) + "ns"
	case d < time.Millisecond:
		return sig3(float64(d)/1e3) + "µs"
	case d < time.Second:
		return sig3(float64(d)/1e6) + "ms"
	case d < time.Minute:
		return sig3(d.Seconds()) + "s"
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

// sig3 prints v with three significant digits (v >= 1).
func sig3(v float64) string {
	switch {
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

// fmtBytes prints a size in powers of 1024: 512 B, 4.0 KB, 12.3 MB, 1.20 GB.
func fmtBytes(n int64) string {
	if n < 0 {
		return "?"
	}
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	v, suffix := float64(n), ""
	for _, s := range []string{"KiB", "MiB", "GiB", "TiB"} {
		v /= unit
		suffix = s
		if v < unit {
			break
		}
	}
	return sig3(v) + " " + suffix
}

// fmtCount prints a count with thousands separators: 1,234,567.
func fmtCount[N int | int64 | uint64 | float64](n N) string {
	v := int64(math.Round(float64(n)))
	s := strconv.FormatInt(v, 10)
	neg := v < 0
	if neg {
		s = s[1:]
	}
	if len(s) > 3 {
		var b strings.Builder
		lead := len(s) % 3
		if lead > 0 {
			b.WriteString(s[:lead])
		}
		for i := lead; i < len(s); i += 3 {
			if b.Len() > 0 {
				b.WriteByte(',')
			}
			b.WriteString(s[i : i+3])
		}
		s = b.String()
	}
	if neg {
		return "-" + s
	}
	return s
}

// fmtPercent prints a ratio as a percentage: 0.1234 is 12.3%.
func fmtPercent(r float64) string {
	switch {
	case r < 0:
		return "–"
	case r == 0:
		return "0%"
	case r < 0.001:
		return "<0.1%"
	}
	return strconv.FormatFloat(100*r, 'f', 1, 64) + "%"
}

// fmtAgo prints how long before now t was: "12s ago", "3 min ago",
// "2 h ago", "5 days ago"; "never" for the zero time.
func fmtAgo(t, now time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	switch {
	case d < 0:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h ago", int(d.Hours()))
	}
	return fmt.Sprintf("%d days ago", int(d.Hours()/24))
}

// fmtTime prints a time for a table: its date only when not today.
func fmtTime(t, now time.Time) string {
	if t.IsZero() {
		return "–"
	}
	t = t.Local()
	if y, m, d := t.Date(); now.Local().Year() == y && now.Local().Month() == m && now.Local().Day() == d {
		return t.Format("15:04:05")
	}
	return t.Format("2006-01-02 15:04")
}

// fmtValue prints a value in a unit.
func fmtValue(v float64, u Unit) string {
	switch u {
	case Seconds:
		return fmtDuration(time.Duration(v * float64(time.Second)))
	case Bytes:
		return fmtBytes(int64(v))
	case Ratio:
		return fmtPercent(v)
	case PerMinute:
		return fmtCount(v) + "/min"
	}
	if v != math.Trunc(v) && math.Abs(v) < 100 {
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return fmtCount(v)
}
