package reports

import (
	"cmp"
	"fmt"
	"slices"
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
// A room with more series than that allows (over 400: some 15 clients
// each sending audio and video to all the others) keeps the series of the
// flows worst off only, MinSeriesPoints entries each, as many as the
// budget holds; every other flow keeps its figures (bitrate, loss,
// freezes, grade) without its seconds, and the run says so (a 64-client
// room's reports were 45 MB of JSON and 17 MB of HTML with a series for
// each of its 8,064 flows, and 8,064 charts).
const (
	RunSeriesPoints = 4000
	MinSeriesPoints = 10
)

// summarised returns the suite with every series longer than its run
// allows summarised, and in a room the series of all but the flows worst
// off left out (see RunSeriesPoints), or the suite itself when it asks
// for FullSeries. Results are copied where they change, never modified.
func (s Suite) summarised() Suite {
	if s.FullSeries {
		return s
	}
	var runs []Run
	for i, r := range s.Runs {
		plan := planSeries(r.Result)
		res, changed := summariseResult(r.Result, plan)
		if !changed {
			continue
		}
		if runs == nil {
			runs = append([]Run(nil), s.Runs...)
		}
		runs[i].Result = res
		runs[i].seriesNote = plan.note()
	}
	if runs != nil {
		s.Runs = runs
	}
	return s
}

// seriesPlan is how a run's series are kept: at most points entries each,
// and, when keep is set, only for the flows it holds.
type seriesPlan struct {
	points int
	keep   map[flowIndex]bool // nil: every flow keeps its series
	flows  int                // flows with a series
}

// flowIndex names a flow of a result: its client's and its own index.
type flowIndex struct{ client, media int }

// seriesOf is how many series a flow has: its own and its streams'.
func seriesOf(m harness.Media) int {
	n := len(m.Streams)
	if m.Quality != nil {
		n++
	}
	return n
}

// planSeries plans the series of res: every flow's in an equal share of
// RunSeriesPoints while each share is at least MinSeriesPoints; beyond
// that, the flows worst off first (nothing received; then the lowest grade
// score, the longest freeze, the highest loss; then in the result's
// order), as many as RunSeriesPoints holds at MinSeriesPoints each.
func planSeries(res harness.Result) seriesPlan {
	type ranked struct {
		at     flowIndex
		series int
		q      harness.Quality
	}
	var flows []ranked
	n := 0
	for i, c := range res.Clients {
		for j, m := range c.Media {
			k := seriesOf(m)
			if k == 0 {
				continue
			}
			n += k
			f := ranked{at: flowIndex{i, j}, series: k}
			if m.Quality != nil {
				f.q = *m.Quality
			} else if len(m.Streams) > 0 {
				f.q = m.Streams[0].Quality
			}
			flows = append(flows, f)
		}
	}
	if n*MinSeriesPoints <= RunSeriesPoints {
		return seriesPlan{points: min(MaxSeriesPoints, max(MinSeriesPoints, RunSeriesPoints/max(n, 1)))}
	}
	slices.SortStableFunc(flows, func(a, b ranked) int {
		if a.q.NothingReceived != b.q.NothingReceived {
			if a.q.NothingReceived {
				return -1
			}
			return 1
		}
		return cmp.Or(
			cmp.Compare(lowestScore(a.q), lowestScore(b.q)),
			cmp.Compare(b.q.LongestFreeze, a.q.LongestFreeze),
			cmp.Compare(b.q.LossRate, a.q.LossRate))
	})
	plan := seriesPlan{points: MinSeriesPoints, keep: map[flowIndex]bool{}, flows: len(flows)}
	budget := RunSeriesPoints / MinSeriesPoints
	for _, f := range flows {
		if f.series > budget {
			break
		}
		budget -= f.series
		plan.keep[f.at] = true
	}
	return plan
}

// lowestScore is the lowest score of q's grade windows, 100 without any.
func lowestScore(q harness.Quality) float64 {
	low := 100.0
	for _, g := range q.Grades {
		low = min(low, g.Score)
	}
	return low
}

// note says what the plan left out, for a run whose reports it shaped;
// empty when every flow keeps its series.
func (p seriesPlan) note() string {
	if p.keep == nil {
		return ""
	}
	return fmt.Sprintf("Per-second series of %d of the run's %d flows, those worst off (nothing received first, then by grade, longest freeze and loss), %d entries each at most; the other flows keep their figures without their seconds (icelab run --full-series keeps every series).",
		len(p.keep), p.flows, p.points)
}

// summariseResult summarises the series of res as plan says; changed says
// whether any was.
func summariseResult(res harness.Result, plan seriesPlan) (harness.Result, bool) {
	long := plan.keep != nil
	for _, c := range res.Clients {
		for _, m := range c.Media {
			if m.Quality != nil && len(m.Quality.Seconds) > plan.points {
				long = true
			}
			for _, st := range m.Streams {
				long = long || len(st.Quality.Seconds) > plan.points
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
			summarise := func(q harness.Quality) harness.Quality { return summariseQuality(q, plan.points) }
			if plan.keep != nil && !plan.keep[flowIndex{i, j}] {
				summarise = func(q harness.Quality) harness.Quality { return withoutSeries(q, plan.points) }
			}
			if m.Quality != nil {
				q := summarise(*m.Quality)
				m.Quality = &q
			}
			m.Streams = append([]harness.StreamStats(nil), m.Streams...)
			for k := range m.Streams {
				m.Streams[k].Quality = summarise(m.Streams[k].Quality)
			}
		}
	}
	return res, true
}

// withoutSeries is q with its seconds left out and its grade windows
// summarised as a series of points entries would have them.
func withoutSeries(q harness.Quality, points int) harness.Quality {
	q.Seconds, q.Step = nil, 0
	q.Grades = summariseGrades(q.Grades, max(points/4, 1))
	return q
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
			e.LostLate += s.LostLate
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
