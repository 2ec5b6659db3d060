package scenarios_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/icelab/icelab/scenarios"
	"github.com/icelab/icelab/vnet"
)

// writeTrace writes a trace file at name in dir.
func writeTrace(t *testing.T, dir, name, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// everyMillisecond is a trace of an opportunity every millisecond for n
// ms: 12 Mbit/s.
func everyMillisecond(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		b.WriteString(strconv.Itoa(i) + "\n")
	}
	return b.String()
}

// TestLinkModels parses every link field: burst loss, reordering, queues
// in bytes, packets and time, CoDel, a trace relative to the file, and a
// schedule whose steps start from the link before them.
func TestLinkModels(t *testing.T) {
	dir := t.TempDir()
	writeTrace(t, dir, "traces/lte.trace", everyMillisecond(100))
	doc := `name: links
network:
  lans:
    - name: hotel
      link:
        latency: 40ms
        loss: 2%
        loss_burst: 3
        reorder: 1%
        reorder_delay: 5ms
        bandwidth: 3Mbps
        queue: 1s
        discipline: codel
        codel: {target: 10ms, interval: 200ms}
        schedule:
          - {at: 10s, bandwidth: 500kbps}
          - {at: 20s, bandwidth: unlimited, latency: 80ms}
          - {at: 25s, trace: traces/lte.trace, queue: 100 packets}
clients:
  - name: phone
    lan: hotel
    link:
      trace: traces/lte.trace
      queue: 30000
      down: {latency: 30ms, trace: traces/lte.trace, queue: 20 packets, schedule: [{at: 3s, loss: 5%}]}
faults:
  - kind: impair
    target: phone
    when: {after: 5s}
    impairment: {latency: 15ms, queue: 64 packets, bandwidth: 1Mbps, schedule: [{at: 2s, loss: 10%}]}
duration: 30s
`
	s, err := scenarios.Parse(filepath.Join(dir, "links.yaml"), []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	up := s.Spec.LANs[0].Uplink
	if up.Latency != 40*time.Millisecond || up.Loss != 0.02 || up.LossBurst != 3 || up.Reorder != 0.01 || up.ReorderDelay != 5*time.Millisecond ||
		up.Bandwidth != 3_000_000 || up.QueueDelay != time.Second || up.Discipline != vnet.CoDel ||
		up.CoDelTarget != 10*time.Millisecond || up.CoDelInterval != 200*time.Millisecond {
		t.Errorf("hotel link %v", up)
	}
	if up.Schedule == nil || len(up.Schedule.Steps) != 3 {
		t.Fatalf("hotel schedule %+v, want 3 steps", up.Schedule)
	}
	steps := up.Schedule.Steps
	if st := steps[0]; st.At != 10*time.Second || st.Impairment.Bandwidth != 500_000 || st.Impairment.Latency != 40*time.Millisecond || st.Impairment.LossBurst != 3 {
		t.Errorf("step 1 %v: %v, want the link with 500kbps", st.At, st.Impairment)
	}
	if st := steps[1]; st.Impairment.Bandwidth != 0 || st.Impairment.Latency != 80*time.Millisecond {
		t.Errorf("step 2 %v: %v, want no capacity limit and 80ms", st.At, st.Impairment)
	}
	if st := steps[2].Impairment; st.Trace == nil || st.Trace.Opportunities() != 100 || st.QueuePackets != 100 || st.QueueDelay != 0 || st.Bandwidth != 0 {
		t.Errorf("step 3: %v, want the trace with a queue of 100 packets", st)
	}
	phone := s.Spec.Clients[0].Link
	if phone.Trace != steps[2].Impairment.Trace || phone.QueueBytes != 30000 || phone.Latency != 0 {
		t.Errorf("phone link %v, want the same trace read once, a 30000-byte queue", phone)
	}
	if d := phone.Down; d == nil || d.Latency != 30*time.Millisecond || d.Trace != phone.Trace || d.QueuePackets != 20 || d.QueueBytes != 0 ||
		d.Schedule == nil || d.Schedule.Steps[0].Impairment.Loss != 0.05 || d.Schedule.Steps[0].Impairment.Latency != 30*time.Millisecond {
		t.Errorf("phone link down %v, want the up fields with 30ms, a 20-packet queue and its own schedule", d)
	}
	f := s.Spec.Faults[0].Impairment
	if f.QueuePackets != 64 || f.Schedule == nil || f.Schedule.Steps[0].Impairment.Loss != 0.1 || f.Schedule.Steps[0].Impairment.Bandwidth != 1_000_000 {
		t.Errorf("fault impairment %v, steps %+v", f, f.Schedule)
	}
	for _, im := range []vnet.Impairment{up, phone, f} {
		if err := im.Validate(); err != nil {
			t.Errorf("%v: %v", im, err)
		}
	}
}

// TestLinkErrors names the file, line and field of each link mistake.
func TestLinkErrors(t *testing.T) {
	dir := t.TempDir()
	writeTrace(t, dir, "bad.trace", "1\n2\nten\n")
	writeTrace(t, dir, "ok.trace", "1\n2\n")
	file := filepath.Join(dir, "x.yaml")
	link := func(body string) string {
		return "name: x\nnetwork:\n  lans:\n    - name: a\n      link: " + body + "\nclients: [{name: c, lan: a}]\nduration: 30s\n"
	}
	for _, tc := range []struct{ doc, want string }{
		{link("{bandwidth: 1Mbps, queue: 10 pints}"), `x.yaml:5: network.lans[0].link.queue: "10 pints" is not a queue size`},
		{link("{bandwidth: 1Mbps, queue: 0ms}"), `x.yaml:5: network.lans[0].link.queue: 0ms is not a queue's time`},
		{link("{queue: 100 packets}"), `x.yaml:5: network.lans[0].link.queue: a queue applies only with a bandwidth or a trace`},
		{link("{discipline: codel}"), `x.yaml:5: network.lans[0].link.discipline: a queue discipline applies only with a bandwidth or a trace`},
		{link("{bandwidth: 1Mbps, discipline: red}"), `x.yaml:5: network.lans[0].link.discipline: unknown queue discipline "red"; want drop-tail, codel`},
		{link("{bandwidth: 1Mbps, codel: {target: 5ms}}"), `x.yaml:5: network.lans[0].link.codel: codel tunes a CoDel queue; add discipline: codel`},
		{link("{bandwidth: 1Mbps, discipline: codel, codel: {target: 200ms}}"), `x.yaml:5: network.lans[0].link.codel: target 200ms is not below interval`},
		{link("{loss: 2%, loss_burst: 0.5}"), `x.yaml:5: network.lans[0].link.loss_burst: want a mean burst length in packets from 1`},
		{link("{loss_burst: 3}"), `x.yaml:5: network.lans[0].link.loss_burst: a loss burst length needs a loss rate`},
		{link("{loss: 80%, loss_burst: 2}"), `x.yaml:5: network.lans[0].link.loss_burst: loss 80% cannot come in bursts of 2 packets`},
		{link("{reorder_delay: 5ms}"), `x.yaml:5: network.lans[0].link.reorder_delay: a reorder delay needs a reorder rate`},
		{link("{reorder: 120%}"), `x.yaml:5: network.lans[0].link.reorder: 120% is not between 0 and 1`},
		{link("{trace: missing.trace}"), `x.yaml:5: network.lans[0].link.trace: trace missing.trace:`},
		{link("{trace: bad.trace}"), `bad.trace:3: "ten" is not a millisecond count`},
		{link("{trace: ok.trace, bandwidth: 1Mbps}"), ""}, // the later field wins
		{link("{schedule: []}"), `x.yaml:5: network.lans[0].link.schedule: empty`},
		{link("{schedule: [{bandwidth: 1Mbps}]}"), `x.yaml:5: network.lans[0].link.schedule[0].at: missing`},
		{link("{schedule: [{at: 10s}]}"), `x.yaml:5: network.lans[0].link.schedule[0]: a step at 10s that changes nothing`},
		{link("{schedule: [{at: 10s, loss: 1%}, {at: 5s, loss: 2%}]}"), `x.yaml:5: network.lans[0].link.schedule[1].at: 5s comes before the step above's 10s`},
		{link("{schedule: [{at: 1m, loss: 1%}]}"), `x.yaml:5: network.lans[0].link.schedule[0].at: 1m0s is after the run's end at 30s`},
		{link("{schedule: [{at: 1s, queue: 10 packets}]}"), `x.yaml:5: network.lans[0].link.schedule[0].queue: a queue applies only with a bandwidth or a trace`},
		{link("{schedule: [{at: 1s, schedule: []}]}"), `x.yaml:5: network.lans[0].link.schedule[0].schedule: unknown field "schedule"`},
		{link("{down: {down: {}}}"), `x.yaml:5: network.lans[0].link.down.down: unknown field "down"`},
		{link("{bandwidth: 1Mbps, down: {loss_burst: 2}}"), `x.yaml:5: network.lans[0].link.down.loss_burst: a loss burst length needs a loss rate`},
	} {
		_, err := scenarios.Parse(file, []byte(tc.doc))
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%q: %v", tc.doc, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%q:\n error %v\n want one containing %q", tc.doc, err, tc.want)
		}
	}
}
