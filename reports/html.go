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
)

// HTMLFile is the name of the HTML report Write creates.
const HTMLFile = "report.html"

//go:embed html.tmpl
var htmlFiles embed.FS

var htmlTemplate = template.Must(template.New("html.tmpl").Funcs(template.FuncMap{
	"seconds": func(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) },
	"lower":   strings.ToLower,
}).ParseFS(htmlFiles, "html.tmpl"))

// WriteHTML writes runs as one self-contained HTML page: a summary grid of
// scenario × client, then per scenario and client a timeline of the ICE,
// DTLS and peer connection states with attempts, pair changes and faults on
// one time axis, the candidates and every candidate pair ICE tried, the
// media per track, and the network's drops grouped by reason. Charts are
// inline SVG and the page loads nothing, so it opens from disk and in CI
// artifact viewers; html/template escapes every text that came from a
// scenario file or a result.
func WriteHTML(w io.Writer, s Suite) error {
	page := htmlPage{Counts: s.Counts(), Total: len(s.Runs), Wall: s.Wall, Interrupted: s.Interrupted}
	for _, r := range s.Runs {
		page.Runs = append(page.Runs, newHTMLRun(r))
	}
	return htmlTemplate.Execute(w, page)
}

type htmlPage struct {
	Total       int
	Counts      map[Verdict]int
	Wall        time.Duration
	Interrupted bool
	Runs        []htmlRun
}

type htmlRun struct {
	Run
	Name    string
	ID      string
	Verdict Verdict
	Problem string // why a run without clients did not run, or was cut short
	Clients []htmlClient
	Drops   []htmlDrop
}

type htmlClient struct {
	*harness.ClientResult
	Transport string
	Media     string // media both ways, with outages
	Timeline  timelineSVG
	Charts    []flowChart
}

type htmlDrop struct {
	Reason string
	Count  int
}

func newHTMLRun(r Run) htmlRun {
	h := htmlRun{Run: r, Name: r.name(), ID: "scenario-" + strings.TrimSuffix(PcapFile(r.name()), ".pcapng"), Verdict: r.Verdict(), Problem: r.Problem()}
	for i := range r.Result.Clients {
		c := &r.Result.Clients[i]
		h.Clients = append(h.Clients, htmlClient{ClientResult: c, Transport: transportOf(c), Media: mediaBothWays(c),
			Timeline: timeline(r.Result, c), Charts: flowCharts(r.Result, c)})
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
	tlMarker = 3 // lanes of markers below the states
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

// timeline lays out c's states and events over the run's duration.
func timeline(res harness.Result, c *harness.ClientResult) timelineSVG {
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
	t := timelineSVG{Width: tlLeft + tlWidth + 20, Height: tlTop + (len(machines)+tlMarker)*tlLane + 20}
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
	for i, name := range []string{"attempts", "selected pair", "faults"} {
		t.MarkerLanes = append(t.MarkerLanes, lane{Name: name, Y: base + i*tlLane})
	}
	t.AxisLeft, t.AxisRight, t.AxisY = tlLeft, tlLeft+tlWidth, base+tlMarker*tlLane+2
	for _, a := range c.Attempts {
		t.Markers = append(t.Markers, marker{X: x(a.At), Y: base, Kind: "attempt", Label: fmt.Sprintf("%.2f s attempt: %s (%s)", a.At.Seconds(), a.Why, a.Policy)})
	}
	for _, p := range c.PairChanges {
		t.Markers = append(t.Markers, marker{X: x(p.At), Y: base + tlLane, Kind: "pair", Label: fmt.Sprintf("%.2f s selected %s", p.At.Seconds(), p.Pair)})
	}
	for _, f := range res.Faults {
		t.Markers = append(t.Markers, marker{X: x(f.At), Y: base + 2*tlLane, Kind: "fault", Label: fmt.Sprintf("%.2f s fault %s: %s", f.At.Seconds(), f.Name, f.What)})
	}
	for i := 0; i <= 10; i++ {
		at := end * time.Duration(i) / 10
		t.Axis = append(t.Axis, tick{X: x(at), Label: fmt.Sprintf("%g s", math.Round(at.Seconds()*10)/10)})
	}
	return t
}

// flowChart is an RTP flow's packets per second drawn as SVG bars, lost
// packets stacked on them, with its outages and freezes shaded.
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

// flowCharts draws each of c's RTP flows with measured quality.
func flowCharts(res harness.Result, c *harness.ClientResult) []flowChart {
	var out []flowChart
	for _, m := range c.Media {
		q := m.Quality
		if q == nil || len(q.Seconds) == 0 {
			continue
		}
		end := max(res.Duration, time.Duration(len(q.Seconds))*time.Second)
		x := func(at time.Duration) int {
			at = min(max(at, 0), end)
			return chLeft + int(int64(chWidth)*int64(at)/int64(end))
		}
		peak := uint64(1)
		for _, s := range q.Seconds {
			peak = max(peak, s.Packets+s.Lost)
		}
		ch := flowChart{Title: m.Track + " " + m.Direction, Width: chLeft + chWidth + 20, Height: chTop + chHeight + 20,
			MaxLabel: fmt.Sprintf("%d pkt/s", peak),
			Summary: fmt.Sprintf("loss %.1f%% (%d lost), jitter up to %d ms, %s, mean %.0f kbit/s, %d freezes (longest %.1f s)",
				q.LossRate*100, q.Lost, q.Jitter.Milliseconds(), rttText(q), q.Bitrate/1e3, len(q.Freezes), q.LongestFreeze.Seconds())}
		for i, s := range q.Seconds {
			x0, x1 := x(time.Duration(i)*time.Second), x(time.Duration(i+1)*time.Second)
			h := int(uint64(chHeight) * s.Packets / peak)
			lh := int(uint64(chHeight) * s.Lost / peak)
			ch.Bars = append(ch.Bars, bar{X: x0, Width: max(x1-x0-1, 1), Y: chTop + chHeight - h, Height: h,
				LostY: chTop + chHeight - h - lh, LostH: lh,
				Label: fmt.Sprintf("%d s: %d packets, %d lost, jitter %d ms", i, s.Packets, s.Lost, s.Jitter.Milliseconds())})
		}
		for _, o := range m.Outages {
			ch.Shades = append(ch.Shades, shade{X: x(o.Start), Width: max(x(o.End)-x(o.Start), 1), Kind: "outage", Label: "outage " + o.String()})
		}
		for _, f := range q.Freezes {
			ch.Shades = append(ch.Shades, shade{X: x(f.Start), Width: max(x(f.End)-x(f.Start), 1), Kind: "freeze", Label: "freeze " + f.String()})
		}
		out = append(out, ch)
	}
	return out
}

func rttText(q *harness.Quality) string {
	if q.RTTMean == 0 {
		return "no round trip measured"
	}
	return fmt.Sprintf("round trip %d ms (highest %d ms)", q.RTTMean.Milliseconds(), q.RTT.Milliseconds())
}
