package reports

import (
	"embed"
	"fmt"
	"html/template"
	"io"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/icelab/icelab/harness"
	"github.com/icelab/icelab/harness/media"
	"github.com/icelab/icelab/scenarios"
)

// HTMLFile is the name of the HTML report Write creates.
const HTMLFile = "report.html"

//go:embed html.tmpl
var htmlFiles embed.FS

var htmlTemplate = template.Must(template.New("html.tmpl").Funcs(template.FuncMap{
	"seconds": func(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) },
	"lower":   strings.ToLower,
	// capital starts a sentence: "not recorded: …" reads "Not recorded: …".
	"capital": func(s string) string {
		if s == "" {
			return s
		}
		return strings.ToUpper(s[:1]) + s[1:]
	},
}).ParseFS(htmlFiles, "html.tmpl"))

// WriteHTML writes runs as one self-contained HTML page: a summary grid of
// scenario × client, then per scenario and client a timeline of the ICE,
// DTLS and peer connection states with attempts, pair changes and faults on
// one time axis, the candidate pairs each attempt tried, the candidates,
// the media per flow and stream (sent against received, a chart per
// stream), and the network's drops grouped by reason. A client's failure
// reads as a failure only where the run did not meet its expectations; in
// a run that did, it is marked as expected (or, without an expectation for
// the client, as not judged). Each reason is printed once: the summary
// grid shows its headline. A scenario run more than once (Repeats) shows
// how many runs met its expectations and what differed. Charts are inline
// SVG and the page loads nothing, so it opens from disk and in CI artifact
// viewers; html/template escapes every text that came from a scenario file
// or a result.
func WriteHTML(w io.Writer, s Suite) error {
	s = s.summarised()
	page := htmlPage{Counts: s.Counts(), Total: len(s.Runs), Wall: s.Wall, Interrupted: s.Interrupted, Summary: Summary(s)}
	for _, r := range s.Runs {
		page.Runs = append(page.Runs, newHTMLRun(r))
		page.Repeated = page.Repeated || r.Repeats != nil
	}
	return htmlTemplate.Execute(w, page)
}

type htmlPage struct {
	Total       int
	Counts      map[Verdict]int
	Wall        time.Duration
	Interrupted bool
	Summary     string
	// Repeated: some scenario ran more than once; the grid gets a column
	// of runs met.
	Repeated bool
	Runs     []htmlRun
}

type htmlRun struct {
	Run
	Name    string
	ID      string
	Verdict Verdict
	Problem string // why a run without clients did not run, or was cut short
	// Mismatches are the run's, with each client's failure left to its
	// own paragraph.
	Mismatches []scenarios.Mismatch
	// SeriesNote says which flows have no chart in a room (see
	// RunSeriesPoints).
	SeriesNote string
	Clients    []htmlClient
	Drops      []htmlDrop
}

type htmlClient struct {
	*harness.ClientResult
	Transport string
	Media     string // media both ways, with outages
	// Headline is the failure's first clause, for the summary grid;
	// ReasonKind and ReasonLabel say how the failure reads in this run
	// (reasonUnmet, reasonExpected, reasonObserved).
	Headline    string
	ReasonKind  string
	ReasonLabel string
	// GatherOnly are the gather errors the failure does not quote.
	GatherOnly []string
	Attempts   []htmlAttempt
	// LadderSteps and ConfigsSent are the media node's transport ladder
	// for the client and the ICE configurations it sent.
	LadderSteps      []ladderStep
	ConfigsSent      []iceConfigSent
	Checks           []harness.PairCheck // when the client recorded no attempts
	LocalCandidates  []string
	RemoteCandidates []string
	Flows            []htmlFlow
	Timeline         timelineSVG
	Charts           []flowChart
}

// htmlAttempt is an attempt with its candidates labelled once for the run.
type htmlAttempt struct {
	harness.Attempt
	N        int
	Selected string
	Checks   []harness.PairCheck
	// NoChecks says why an attempt lists no pairs (pairsNote).
	NoChecks string
}

// htmlFlow is a row of the media table: a flow, or one of its streams.
type htmlFlow struct {
	Name      string
	Stream    bool // a row for one of the flow's streams
	Sent      uint64
	Received  uint64
	Nothing   bool   // nothing received: no loss or quality figures
	Lost      string // "3 (0.2%)", or "–" for data
	Quality   string // jitter, round trip, freezes
	Recovered string // packets after the owner's recovery; "" for streams
}

type htmlDrop struct {
	Reason string
	Count  int
}

func newHTMLRun(r Run) htmlRun {
	h := htmlRun{Run: r, Name: r.name(), ID: "scenario-" + strings.TrimSuffix(PcapFile(r.name()), ".pcapng"), Verdict: r.Verdict(), Problem: r.Problem(),
		Mismatches: shownMismatches(r), SeriesNote: r.seriesNote}
	l := newLabels(r.Result)
	for i := range r.Result.Clients {
		c := &r.Result.Clients[i]
		kind := reasonKind(r, c.Name)
		hc := htmlClient{ClientResult: c, Transport: transportOf(c), Media: mediaBothWays(c),
			Headline: headline(c.Failure), ReasonKind: kind, ReasonLabel: reasonLabel(kind), GatherOnly: gatherNotInFailure(c),
			Checks: l.checks(c.Checks), Flows: htmlFlows(c), Timeline: timeline(r.Result, c, l), Charts: flowCharts(r.Result, c),
			LadderSteps: ladderSteps(c), ConfigsSent: iceConfigsSent(c)}
		for _, cand := range c.LocalCandidates {
			hc.LocalCandidates = append(hc.LocalCandidates, l.candidate(cand))
		}
		for _, cand := range c.RemoteCandidates {
			hc.RemoteCandidates = append(hc.RemoteCandidates, l.candidate(cand))
		}
		for j, a := range c.Attempts {
			hc.Attempts = append(hc.Attempts, htmlAttempt{Attempt: a, N: j + 1, Selected: l.pair(a.Selected), Checks: l.checks(a.Checks), NoChecks: pairsNote(c, j)})
		}
		h.Clients = append(h.Clients, hc)
	}
	for reason, n := range r.Result.Drops {
		h.Drops = append(h.Drops, htmlDrop{reason, n})
	}
	sort.Slice(h.Drops, func(i, j int) bool {
		if h.Drops[i].Count != h.Drops[j].Count {
			return h.Drops[i].Count > h.Drops[j].Count
		}
		return h.Drops[i].Reason < h.Drops[j].Reason
	})
	return h
}

// The timeline's geometry, in SVG user units.
const (
	tlLeft   = 110 // room for lane labels
	tlWidth  = 880 // the time axis
	tlLane   = 22
	tlTop    = 10
	tlMarker = 3 // lanes of markers below the states, a fourth for a ladder
)

// timelineSVG is a client's timeline drawn as SVG: one lane per state
// machine, coloured segments for its states, and markers for attempts,
// selected-pair changes and faults.
type timelineSVG struct {
	Width, Height       int
	Axis                []tick
	AxisLeft, AxisRight int
	AxisY               int
	Lanes               []lane
	MarkerLanes         []lane // names only
	Markers             []marker
}

type lane struct {
	Name     string
	Y        int
	Segments []segment
}

type segment struct {
	X, Width int
	State    string
	From, To string // times, for the tooltip
}

type marker struct {
	X, Y  int
	Kind  string // attempt, pair, fault
	Label string
}

type tick struct {
	X     int
	Label string
}

// htmlFlows are the rows of c's media table: each flow as sent against
// received, and under an RTP flow carried by more than one stream, a row
// per stream.
func htmlFlows(c *harness.ClientResult) []htmlFlow {
	var out []htmlFlow
	for _, m := range c.Media {
		f := htmlFlow{Name: flowName(m), Sent: m.Sent, Received: m.Packets, Nothing: m.NothingReceived() && m.Sent > 0,
			Lost: "–", Recovered: fmt.Sprint(m.AfterRecoveryPackets)}
		if m.Quality != nil {
			f.Nothing = m.Quality.NothingReceived
			f.Lost, f.Quality = lostText(m.Quality), qualityText(m.Quality)
		}
		out = append(out, f)
		if len(m.Streams) < 2 {
			continue
		}
		for i, st := range m.Streams {
			q := st.Quality
			out = append(out, htmlFlow{Name: streamName(i, len(m.Streams), st), Stream: true, Sent: q.Sent, Received: q.Packets,
				Nothing: q.NothingReceived, Lost: lostText(&q), Quality: qualityText(&q)})
		}
	}
	return out
}

// lostText is the packets lost and the loss rate: "3 (0.2%)", and how many
// of them were sent out of order.
func lostText(q *harness.Quality) string {
	if q.LostLate > 0 {
		return fmt.Sprintf("%d (%.1f%%; %d sent out of order)", q.Lost, q.LossRate*100, q.LostLate)
	}
	return fmt.Sprintf("%d (%.1f%%)", q.Lost, q.LossRate*100)
}

// qualityText is the rest of a flow's quality: jitter, round trip,
// freezes.
func qualityText(q *harness.Quality) string {
	s := fmt.Sprintf("jitter up to %d ms, %s", q.Jitter.Milliseconds(), rttText(q))
	if n := len(q.Freezes); n > 0 {
		s += fmt.Sprintf(", %s (longest %.1f s)", Plural(n, "freeze"), q.LongestFreeze.Seconds())
	}
	return s
}

// timeline lays out c's states and events over the run's duration.
func timeline(res harness.Result, c *harness.ClientResult, l labels) timelineSVG {
	end := res.Duration
	if end <= 0 {
		end = time.Second
	}
	x := func(at time.Duration) int {
		at = min(max(at, 0), end)
		return tlLeft + int(int64(tlWidth)*int64(at)/int64(end))
	}
	machines := []struct {
		name   string
		states []harness.StateChange
	}{{"ICE", c.ICEStates}, {"DTLS", c.DTLSStates}, {"peer connection", c.PeerConnectionStates}}
	markerLanes := []string{"attempts", "selected pair", "faults"}
	if len(c.Ladder) > 0 {
		markerLanes = append(markerLanes, "ladder")
	}
	t := timelineSVG{Width: tlLeft + tlWidth + 20, Height: tlTop + (len(machines)+len(markerLanes))*tlLane + 20}
	for i, m := range machines {
		l := lane{Name: m.name, Y: tlTop + i*tlLane}
		for j, s := range m.states {
			to := end
			if j+1 < len(m.states) {
				to = m.states[j+1].At
			}
			l.Segments = append(l.Segments, segment{X: x(s.At), Width: max(x(to)-x(s.At), 1), State: s.State,
				From: fmt.Sprintf("%.2f s", s.At.Seconds()), To: fmt.Sprintf("%.2f s", to.Seconds())})
		}
		t.Lanes = append(t.Lanes, l)
	}
	base := tlTop + len(machines)*tlLane
	for i, name := range markerLanes {
		t.MarkerLanes = append(t.MarkerLanes, lane{Name: name, Y: base + i*tlLane})
	}
	t.AxisLeft, t.AxisRight, t.AxisY = tlLeft, tlLeft+tlWidth, base+len(markerLanes)*tlLane+2
	for _, a := range c.Attempts {
		t.Markers = append(t.Markers, marker{X: x(a.At), Y: base, Kind: "attempt", Label: fmt.Sprintf("%.2f s attempt: %s (%s)", a.At.Seconds(), a.Why, a.Policy)})
	}
	for _, p := range c.PairChanges {
		t.Markers = append(t.Markers, marker{X: x(p.At), Y: base + tlLane, Kind: "pair", Label: fmt.Sprintf("%.2f s selected %s", p.At.Seconds(), l.pair(&p.Pair))})
	}
	for _, f := range res.Faults {
		t.Markers = append(t.Markers, marker{X: x(f.At), Y: base + 2*tlLane, Kind: "fault", Label: fmt.Sprintf("%.2f s fault %s: %s", f.At.Seconds(), f.Name, f.What)})
	}
	for _, s := range ladderSteps(c) {
		t.Markers = append(t.Markers, marker{X: x(s.At), Y: base + 3*tlLane, Kind: "ladder", Label: "ladder " + s.String()})
	}
	for i := 0; i <= 10; i++ {
		at := end * time.Duration(i) / 10
		t.Axis = append(t.Axis, tick{X: x(at), Label: fmt.Sprintf("%g s", math.Round(at.Seconds()*10)/10)})
	}
	return t
}

// flowChart is one RTP stream's packets per second drawn as SVG bars,
// lost packets stacked on them, with its flow's outages and freezes
// shaded. Its axis is the stream's own: a quarter above the most packets
// its sender sent in a second (arrivals straddle second boundaries), so
// neither another stream nor a burst of late arrivals sets the scale; a
// second that received more is drawn to the top and marked clipped.
type flowChart struct {
	Title         string
	Summary       string
	Width, Height int
	Bars          []bar
	Shades        []shade
	MaxLabel      string
}

type bar struct {
	X, Width     int
	Y, Height    int // received
	LostY, LostH int // lost, above the received
	Clipped      bool
	Label        string
}

type shade struct {
	X, Width int
	Kind     string // outage, freeze
	Label    string
}

// chart geometry
const (
	chLeft   = 60
	chWidth  = 880
	chHeight = 90
	chTop    = 6
)

// flowCharts draws each stream of c's RTP flows, one chart per stream.
func flowCharts(res harness.Result, c *harness.ClientResult) []flowChart {
	var out []flowChart
	for _, m := range c.Media {
		for i, st := range m.Streams {
			title := flowName(m)
			if len(m.Streams) > 1 {
				title += ", " + streamName(i, len(m.Streams), st)
			}
			if ch, ok := streamChart(res, m, st.Quality, title); ok {
				out = append(out, ch)
			}
		}
	}
	return out
}

// streamChart draws one stream's seconds; ok is false for a stream with
// no seconds to draw.
func streamChart(res harness.Result, m harness.Media, q harness.Quality, title string) (flowChart, bool) {
	if len(q.Seconds) == 0 {
		return flowChart{}, false
	}
	end := max(res.Duration, time.Duration(len(q.Seconds))*max(q.Step, time.Second))
	x := func(at time.Duration) int {
		at = min(max(at, 0), end)
		return chLeft + int(int64(chWidth)*int64(at)/int64(end))
	}
	peak := uint64(0)
	for _, s := range q.Seconds {
		peak = max(peak, s.Sent)
	}
	if peak == 0 {
		// Sent elsewhere, or not known: the arrivals set the scale.
		for _, s := range q.Seconds {
			peak = max(peak, s.Packets+s.Lost)
		}
	}
	peak = max(peak+(peak+3)/4, 1)
	// A summarised series (Step) draws a bar per entry, its counts per
	// entry, and says so.
	step, unit := time.Second, "pkt/s"
	if q.Step > time.Second {
		step, unit = q.Step, fmt.Sprintf("pkt per %g s", q.Step.Seconds())
	}
	ch := flowChart{Title: title, Width: chLeft + chWidth + 20, Height: chTop + chHeight + 20,
		MaxLabel: fmt.Sprintf("%d %s", peak, unit), Summary: qualitySummary(&q)}
	for i, s := range q.Seconds {
		x0, x1 := x(time.Duration(i)*step), x(time.Duration(i+1)*step)
		got, lost := min(s.Packets, peak), min(s.Lost, peak-min(s.Packets, peak))
		h := int(uint64(chHeight) * got / peak)
		lh := int(uint64(chHeight) * lost / peak)
		label := fmt.Sprintf("%d s: sent %d, received %d, lost %d, jitter %d ms", i, s.Sent, s.Packets, s.Lost, s.Jitter.Milliseconds())
		if step > time.Second {
			from := time.Duration(i) * step
			label = fmt.Sprintf("%d s to %d s: sent %d, received %d, lost %d, highest jitter %d ms", int(from.Seconds()), int((from + step).Seconds()), s.Sent, s.Packets, s.Lost, s.Jitter.Milliseconds())
		}
		if s.Encoded > 0 {
			label += fmt.Sprintf(", sender encoded %s", media.FormatBitrate(float64(s.Encoded*8)/step.Seconds()))
			if s.Target > 0 {
				label += fmt.Sprintf(" for a target of %s", media.FormatBitrate(float64(s.Target)))
			}
		}
		clipped := s.Packets+s.Lost > peak
		if clipped {
			label += fmt.Sprintf(" (above the axis's %d %s: drawn to the top)", peak, unit)
		}
		ch.Bars = append(ch.Bars, bar{X: x0, Width: max(x1-x0-1, 1), Y: chTop + chHeight - h, Height: h,
			LostY: chTop + chHeight - h - lh, LostH: lh, Clipped: clipped, Label: label})
	}
	for _, o := range m.Outages {
		ch.Shades = append(ch.Shades, shade{X: x(o.Start), Width: max(x(o.End)-x(o.Start), 1), Kind: "outage", Label: "outage " + o.String()})
	}
	if m.Quality != nil {
		for _, f := range m.Quality.Freezes {
			ch.Shades = append(ch.Shades, shade{X: x(f.Start), Width: max(x(f.End)-x(f.Start), 1), Kind: "freeze", Label: "freeze " + f.String()})
		}
	}
	return ch, true
}

func rttText(q *harness.Quality) string {
	if q.RTTMean == 0 {
		return "no round trip measured"
	}
	return fmt.Sprintf("round trip %d ms (highest %d ms)", q.RTTMean.Milliseconds(), q.RTT.Milliseconds())
}
