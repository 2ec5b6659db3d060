package reports

import (
	"time"

	"github.com/icelab/icelab/harness"
	"github.com/icelab/icelab/harness/media"
)

// MaxSeriesPoints is the most entries a per-second series (a flow's or a
// stream's Quality.Seconds) keeps in the JSON and HTML reports, unless the
// suite asks for FullSeries: a longer series is summarised into entries of
// a whole number of seconds each (Quality.Step), so that a 60-minute call
// writes reports a browser opens at once. 240 entries draw a chart of the
// report's width with bars of 3 to 4 pixels, and keep a 4-minute call
// second by second.
const MaxSeriesPoints = 240

// RunSeriesPoints bounds the entries of all the series of one run
// together: a room's many flows each keep RunSeriesPoints divided among
// them, but never fewer than MinSeriesPoints (or their seconds, if fewer).
const (
	RunSeriesPoints = 4000
	MinSeriesPoints = 10
)

// summarised returns the suite with every series longer than
// MaxSeriesPoints summarised, or the suite itself when it asks for
// FullSeries. Results are copied where they change, never modified.
func (s Suite) summarised() Suite {
	if s.FullSeries {
		return s
	}
	var runs []Run
	for i, r := range s.Runs {
		res, changed := summariseResult(r.Result, seriesPoints(r.Result))
		if !changed {
			continue
		}
		if runs == nil {
			runs = append([]Run(nil), s.Runs...)
		}
		runs[i].Result = res
	}
	if runs != nil {
		s.Runs = runs
	}
	return s
}

// seriesPoints is the most entries each series of res keeps.
func seriesPoints(res harness.Result) int {
	n := 0
	for _, c := range res.Clients {
		for _, m := range c.Media {
			if m.Quality != nil {
				n++
			}
			n += len(m.Streams)
		}
	}
	return min(MaxSeriesPoints, max(MinSeriesPoints, RunSeriesPoints/max(n, 1)))
}

// summariseResult summarises the series of res longer than points; changed
// says whether any was.
func summariseResult(res harness.Result, points int) (harness.Result, bool) {
	long := false
	for _, c := range res.Clients {
		for _, m := range c.Media {
			if m.Quality != nil && len(m.Quality.Seconds) > points {
				long = true
			}
			for _, st := range m.Streams {
				long = long || len(st.Quality.Seconds) > points
			}
		}
	}
	if !long {
		return res, false
	}
	res.Clients = append([]harness.ClientResult(nil), res.Clients...)
	for i := range res.Clients {
		c := &res.Clients[i]
		c.Media = append([]harness.Media(nil), c.Media...)
		for j := range c.Media {
			m := &c.Media[j]
			if m.Quality != nil {
				q := summariseQuality(*m.Quality, points)
				m.Quality = &q
			}
			m.Streams = append([]harness.StreamStats(nil), m.Streams...)
			for k := range m.Streams {
				m.Streams[k].Quality = summariseQuality(m.Streams[k].Quality, points)
			}
		}
	}
	return res, true
}

// summariseQuality merges q's seconds into entries of the fewest whole
// seconds that leave at most points of them: counts add up, jitter and
// round trip are the largest of the entry's seconds (a summary must not
// hide a spike), a sender's target and a simulcast layer forwarded the
// lowest (nor a dip); its grade
// windows are summarised too (summariseGrades).
func summariseQuality(q harness.Quality, points int) harness.Quality {
	n := len(q.Seconds)
	if n <= points || q.Step != 0 {
		return q
	}
	per := (n + points - 1) / points
	out := make([]media.Second, 0, (n+per-1)/per)
	for i := 0; i < n; i += per {
		e := media.Second{At: q.Seconds[i].At}
		for _, s := range q.Seconds[i:min(i+per, n)] {
			e.Sent += s.Sent
			e.Lost += s.Lost
			e.Packets += s.Packets
			e.Bytes += s.Bytes
			e.Frames += s.Frames
			e.PLIs += s.PLIs
			e.Jitter = max(e.Jitter, s.Jitter)
			e.RTT = max(e.RTT, s.RTT)
			e.Encoded += s.Encoded
			if s.Target > 0 && (e.Target == 0 || s.Target < e.Target) {
				e.Target = s.Target // the lowest: a summary must not hide a dip
			}
			if s.Layer != "" && (e.Layer == "" || media.LayerRank(s.Layer) < media.LayerRank(e.Layer)) {
				e.Layer = s.Layer // the lowest, likewise
			}
		}
		out = append(out, e)
	}
	q.Seconds, q.Step = out, time.Duration(per)*time.Second
	q.Grades = summariseGrades(q.Grades, max(points/4, 1))
	return q
}

// summariseGrades keeps at most points of a flow's grade windows, each the
// lowest-scored of the consecutive windows it stands for (a summary must
// not hide a fall to poor).
func summariseGrades(gs []media.Graded, points int) []media.Graded {
	n := len(gs)
	if n <= points {
		return gs
	}
	per := (n + points - 1) / points
	out := make([]media.Graded, 0, (n+per-1)/per)
	for i := 0; i < n; i += per {
		low := gs[i]
		for _, g := range gs[i:min(i+per, n)] {
			if g.Score < low.Score {
				low = g
			}
		}
		out = append(out, low)
	}
	return out
}

// forJSON is the suite as results.json writes it: summarised (unless
// FullSeries), and, unless FullSeries, without the series of a flow's only
// stream, which repeats the flow's own entry for entry.
func (s Suite) forJSON() Suite {
	s = s.summarised()
	if s.FullSeries {
		return s
	}
	runs := append([]Run(nil), s.Runs...)
	for i := range runs {
		runs[i].Result = dropRepeatedSeries(runs[i].Result)
	}
	s.Runs = runs
	return s
}

// dropRepeatedSeries returns res with the series of every flow's only
// stream left out; res itself is not modified.
func dropRepeatedSeries(res harness.Result) harness.Result {
	res.Clients = append([]harness.ClientResult(nil), res.Clients...)
	for i := range res.Clients {
		c := &res.Clients[i]
		c.Media = append([]harness.Media(nil), c.Media...)
		for j := range c.Media {
			m := &c.Media[j]
			if m.Quality == nil || len(m.Streams) != 1 || len(m.Streams[0].Quality.Seconds) == 0 {
				continue
			}
			m.Streams = append([]harness.StreamStats(nil), m.Streams...)
			m.Streams[0].Quality.Seconds, m.Streams[0].Quality.Step = nil, 0
		}
	}
	return res
}
