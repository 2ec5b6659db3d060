package audit

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/icelab/icelab/archetypes"
	"github.com/icelab/icelab/harness"
	"github.com/icelab/icelab/relay"
)

// Runner runs harness specs: each on the fake clock unless it needs the
// real one, at most parallel at once, calling done with each result. Both
// harness/fakeclock's Runner and [TestRunner] are Runners.
type Runner interface {
	Run(specs []harness.Spec, parallel int, stop func() bool, done func(i int, res harness.Result), opts ...harness.Option)
}

// Config chooses what an audit runs.
type Config struct {
	// Archetypes and Profiles are the matrix's rows and columns; nil means
	// all of them.
	Archetypes []archetypes.Network
	Profiles   []archetypes.Profile
	// Duration is each call's length on its clock; zero means 35 s: long
	// enough for a UDP whack at 10 s, ICE's 5 s disconnect and a transport
	// fallback to show, and for the browser's whole fallback chain (three
	// attempts with a 10 s deadline each) to end before the call does. A
	// call that ends while a client is between fallback attempts can leave
	// the harness waiting for a peer connection it started during teardown.
	Duration time.Duration
	// Parallel bounds the fake-clock cells run at once (they use the CPU,
	// not the clock); zero means 4.
	Parallel int
	// RealParallel bounds the real-clock cells run at once; zero means
	// DefaultRealParallel. Real-clock cells never run beside fake-clock
	// ones: an audit runs every fake-clock cell first.
	RealParallel int
	// Stop ends the audit early; it is polled.
	Stop func() bool
	// Options go to every run (harness.WithCA for the process's CA).
	Options []harness.Option
	// Progress, if set, is called with each cell as it ends, outside any
	// bubble, one call at a time.
	Progress func(Cell)
	// Confirming, if set, is called with the changes Compare is about to
	// run again, before it does.
	Confirming func([]Change)
}

// Run audits d: every archetype × profile, one call each. Failing cells of
// a deployment whose certificate has a problem run once more with a valid
// certificate, to tell which failures are the certificate's.
func Run(r Runner, d *Deployment, c Config) Matrix {
	c = c.withDefaults()
	m := d.newMatrix(r, c)
	var jobs []job
	for i := range m.Cells {
		jobs = append(jobs, d.cellJob(&m, i, c))
	}
	m.addWall(schedule(r, jobs, c))
	d.finish(r, &m, c)
	return m
}

// withDefaults fills the zero fields of c.
func (c Config) withDefaults() Config {
	if c.Archetypes == nil {
		c.Archetypes = archetypes.All()
	}
	if c.Profiles == nil {
		c.Profiles = archetypes.Profiles()
	}
	if c.Duration == 0 {
		c.Duration = 35 * time.Second
	}
	if c.Parallel == 0 {
		c.Parallel = 4
	}
	if c.RealParallel == 0 {
		c.RealParallel = DefaultRealParallel
	}
	return c
}

// newMatrix is d's matrix with its cells named, not yet run.
func (d *Deployment) newMatrix(r Runner, c Config) Matrix {
	m := Matrix{Deployment: d.Source, TLSProblem: d.TLSProblem, Notes: d.Notes}
	if d.Firewall != nil {
		m.Firewall = d.Firewall.Source
	}
	for _, n := range c.Archetypes {
		for _, p := range c.Profiles {
			m.Cells = append(m.Cells, Cell{Archetype: n.Name, Profile: p.Name, Transport: harness.NoTransport,
				Error: "interrupted", Reason: "interrupted before the call ran"})
			m.specs = append(m.specs, d.spec(d.Config, n, p, c.Duration))
		}
	}
	m.run = &runInfo{r: r, d: d, c: c}
	return m
}

// cellJob is the job that runs m's cell i and fills it.
func (d *Deployment) cellJob(m *Matrix, i int, c Config) job {
	return job{spec: m.specs[i], done: func(res harness.Result) {
		m.Cells[i] = Cell{Archetype: m.Cells[i].Archetype, Profile: m.Cells[i].Profile}
		m.Cells[i].fill(res, d)
		if c.Progress != nil {
			c.Progress(m.Cells[i])
		}
	}}
}

// addWall adds a schedule's wall time to m.
func (m *Matrix) addWall(w wall) {
	m.FakeWall += w.fake
	m.RealWall += w.real
	m.Interrupted = m.Interrupted || w.interrupted
}

// finish attributes failures to the certificate, when it has a problem.
func (d *Deployment) finish(r Runner, m *Matrix, c Config) {
	if jobs := d.tlsJobs(m); len(jobs) > 0 {
		c.Progress = nil
		m.addWall(schedule(r, jobs, c))
	}
}

// tlsJobs rerun m's failing cells with a valid certificate, when d's has
// a problem; a cell that then connects over TURN/TLS fails because of the
// certificate, and its reason and cause say so first.
func (d *Deployment) tlsJobs(m *Matrix) []job {
	if d.fixed == nil || m.Interrupted {
		return nil
	}
	var jobs []job
	for i, cell := range m.Cells {
		if cell.Works() || cell.Error != "" {
			continue
		}
		s := m.specs[i]
		s.Node.Config = *d.fixed
		jobs = append(jobs, job{spec: s, done: func(res harness.Result) {
			cell := &m.Cells[i]
			if res.Err != "" || len(res.Clients) == 0 || res.Interrupted {
				return
			}
			if res.Clients[0].Transport == harness.TURNTLS && res.Clients[0].LostAt == 0 {
				cell.TLSDependent = true
				cell.Cause = "TURN/TLS certificate: " + shortTLSProblem(d.TLSProblem)
				cell.Reason = "TURN/TLS unusable: " + d.TLSProblem + "; with a valid certificate this cell connects over TURN/TLS. Observed: " + cell.Reason
			}
		}})
	}
	return jobs
}

// clientName is the name of the one client in each cell's call.
const clientName = "user"

// spec builds one cell's call: the node as deployed, one client of the
// profile inside the archetype's network. The client publishes audio and
// data and, alone in the room, receives its own tracks back through the
// node, so media both ways is measured end to end.
func (d *Deployment) spec(cfg relay.Config, n archetypes.Network, p archetypes.Profile, dur time.Duration) harness.Spec {
	spec := harness.Spec{
		Name:     n.Name + "/" + p.Name,
		Node:     harness.NodeSpec{Config: cfg, LoadBalancer: d.LoadBalancer},
		Duration: dur,
	}
	if d.Firewall != nil {
		spec.LANs = append(spec.LANs, d.Firewall.lan())
		spec.Node.LAN = nodeLAN
	}
	n.Apply(&spec, p.Client(clientName))
	return spec
}

// fill sets the cell from its run.
func (c *Cell) fill(res harness.Result, d *Deployment) {
	c.Clock, c.Wall = res.Clock, res.Wall
	c.Transport = harness.NoTransport
	if res.Err != "" {
		c.Error = res.Err
		c.Reason = "the run could not be built: " + res.Err
		return
	}
	if res.Interrupted {
		c.Error = "interrupted"
		c.Reason = "interrupted before the call ended"
		return
	}
	if len(res.Clients) == 0 {
		c.Error = "no client result"
		c.Reason = c.Error
		return
	}
	cr := res.Clients[0]
	c.Transport = cr.Transport
	c.MediaBothWays = cr.MediaBothWays
	if cr.Connected {
		c.ConnectTime = cr.ConnectedAt
	}
	c.Faulted = cr.FailedAt > 0 || len(cr.Attempts) > 1
	c.Recovered = cr.Recovered
	c.LostAt = cr.LostAt
	if cr.Selected != nil {
		c.Candidates = cr.Selected.Local.Type + " → " + cr.Selected.Remote.Type
	}
	if !c.Works() || !c.MediaBothWays {
		c.Reason = cleanReason(cr.Failure)
		c.Cause = classify(c.Reason, d.TLSProblem)
	}
	c.Symptom = symptom(cr, d.Config)
}

// symptom recognises "relay candidates but srflx expected" (likely cause:
// rtc.use_external_ip: false on a node behind a cloud's 1:1 NAT, which
// LiveKit's config-sample.yaml says to set true there): the node offered
// only private host candidates, so the call went through the relay (or
// nowhere) where a direct path was to be expected.
func symptom(cr harness.ClientResult, cfg relay.Config) string {
	if cr.Transport == harness.ICEUDP || cr.Transport == harness.ICETCP {
		return ""
	}
	var private, public []string
	for _, rc := range cr.RemoteCandidates {
		if rc.Type != "host" {
			continue
		}
		ap, err := netip.ParseAddrPort(rc.Address)
		if err != nil {
			continue
		}
		switch {
		case ap.Addr().IsLoopback():
			// the harness's ICE-TCP bridge, not the deployment
		case ap.Addr().IsPrivate():
			private = append(private, ap.Addr().String())
		default:
			public = append(public, ap.Addr().String())
		}
	}
	if len(private) == 0 || len(public) > 0 {
		return ""
	}
	s := fmt.Sprintf("relay candidates but srflx expected: the node offered only private host candidates (%s)", strings.Join(dedupe(private), ", "))
	if !cfg.RTC.UseExternalIP {
		s += "; rtc.use_external_ip is false — set it to true"
	}
	return s
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
