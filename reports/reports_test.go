package reports_test

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/icelab/icelab/harness"
	"github.com/icelab/icelab/reports"
	"github.com/icelab/icelab/scenarios"
	"github.com/icelab/icelab/vnet"
)

func ptr[T any](v T) *T { return &v }

// runs is a passing run, a failing run and a skipped one.
func runs() []reports.Run {
	pass := &scenarios.Scenario{
		File: "catalog/open.yaml", Name: "open", Report: "Most users | never hit TURN",
		Spec:   harness.Spec{Clients: []harness.ClientSpec{{Name: "alice"}}},
		Expect: map[string]scenarios.Expectation{"alice": {Transports: []harness.Transport{harness.ICEUDP}}},
	}
	fail := &scenarios.Scenario{
		File: "catalog/corp.yaml", Name: "corp", Report: "Clients behind corporate firewall: only port 443 allowed",
		Spec:   harness.Spec{Clients: []harness.ClientSpec{{Name: "alice"}}},
		Expect: map[string]scenarios.Expectation{"alice": {Transports: []harness.Transport{harness.TURNTLS}, Connected: ptr(true)}},
	}
	pair := &harness.Pair{Local: harness.Candidate{Type: "host", Protocol: "udp", Address: "203.0.113.3:1"}, Remote: harness.Candidate{Type: "host", Protocol: "udp", Address: "203.0.113.2:2"}}
	passRes := harness.Result{Name: "open", Clock: harness.FakeClock, Duration: 15 * time.Second, Clients: []harness.ClientResult{{
		Name: "alice", Transport: harness.ICEUDP, Connected: true, ConnectedAt: 200 * time.Millisecond, Selected: pair, MediaBothWays: true,
		PeerConnectionStates: []harness.StateChange{{At: 0, State: "connecting"}, {At: 200 * time.Millisecond, State: "connected"}},
	}}}
	failRes := harness.Result{Name: "corp", Clock: harness.FakeClock, Duration: 40 * time.Second, Clients: []harness.ClientResult{{
		Name: "alice", Transport: harness.NoTransport, Failure: "TCP to port 5349 dropped by firewall corp rule 4 (drop-all)",
		ICEStates: []harness.StateChange{{At: 100 * time.Millisecond, State: "checking"}, {At: 30 * time.Second, State: "failed"}},
	}}, Drops: map[string]int{"TCP to port 5349 dropped": 6}}
	return []reports.Run{
		reports.NewRun(pass, passRes),
		reports.NewRun(fail, failRes),
		{Scenario: &scenarios.Scenario{Name: "later"}, Skipped: "needs ICE-TCP"},
	}
}

// TestWrite proves the three reports carry what CI and people need: one
// JUnit test case per scenario with expected against observed and the
// timeline, every result in JSON, and a summary table in Markdown.
func TestWrite(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	rs := runs()
	if v := []reports.Verdict{rs[0].Verdict(), rs[1].Verdict(), rs[2].Verdict()}; v[0] != reports.Pass || v[1] != reports.Fail || v[2] != reports.Skip {
		t.Fatalf("verdicts = %v", v)
	}
	if err := reports.Write(dir, reports.Suite{Runs: rs, Wall: 3 * time.Second}); err != nil {
		t.Fatal(err)
	}

	var junit struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Skipped  int `xml:"skipped,attr"`
		Suites   []struct {
			Cases []struct {
				Name    string `xml:"name,attr"`
				Failure *struct {
					Message string `xml:"message,attr"`
					Text    string `xml:",chardata"`
				} `xml:"failure"`
				Skipped *struct{} `xml:"skipped"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	readInto(t, filepath.Join(dir, reports.JUnitFile), func(b []byte) error { return xml.Unmarshal(b, &junit) })
	if junit.Tests != 3 || junit.Failures != 1 || junit.Skipped != 1 || len(junit.Suites) != 1 || len(junit.Suites[0].Cases) != 3 {
		t.Fatalf("junit = %+v", junit)
	}
	c := junit.Suites[0].Cases[1]
	if c.Name != "corp" || c.Failure == nil {
		t.Fatalf("case = %+v", c)
	}
	if want := "alice: transport: expected TURN/TLS, observed none"; !strings.Contains(c.Failure.Message, want) {
		t.Errorf("failure message %q lacks %q", c.Failure.Message, want)
	}
	for _, want := range []string{"30.000s  ice failed", "TCP to port 5349 dropped by firewall corp rule 4"} {
		if !strings.Contains(c.Failure.Text, want) {
			t.Errorf("failure body lacks %q:\n%s", want, c.Failure.Text)
		}
	}
	if junit.Suites[0].Cases[2].Skipped == nil {
		t.Error("skipped run is not marked skipped")
	}

	var doc struct {
		Runs []struct {
			Verdict    string
			Mismatches []struct{ Client, Field string }
			Result     struct {
				Clients []struct {
					Selected    *struct{ Local struct{ Type string } }
					ConnectedAt float64 `json:"connected_at"`
				}
			}
		} `json:"runs"`
	}
	readInto(t, filepath.Join(dir, reports.JSONFile), func(b []byte) error { return json.Unmarshal(b, &doc) })
	if len(doc.Runs) != 3 || doc.Runs[0].Result.Clients[0].Selected == nil || doc.Runs[1].Verdict != "FAIL" || len(doc.Runs[1].Mismatches) != 2 {
		t.Fatalf("json = %+v", doc)
	}
	if got := doc.Runs[0].Result.Clients[0].ConnectedAt; got != 0.2 {
		t.Errorf("connected_at = %v, want 0.2 (seconds)", got)
	}

	md, err := os.ReadFile(filepath.Join(dir, reports.MarkdownFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"3 scenarios: 1 passed, 1 failed, 0 errors, 1 skipped in 3.00s of wall time.",
		"| [open](#open) | Most users \\| never hit TURN | fake | alice | ICE/UDP | host → host | – | yes, 0.20s | yes | – | – | – | PASS |",
		"| [corp](#corp) | Clients behind corporate firewall: only port 443 allowed | fake | alice | none | – | – | no | no | – | – | – | FAIL |",
		"## corp", "- **alice** `transport`: expected TURN/TLS, observed none",
		"Skipped: needs ICE-TCP",
	} {
		if !strings.Contains(string(md), want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}

func readInto(t *testing.T, path string, decode func([]byte) error) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := decode(b); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func TestWritePcap(t *testing.T) {
	at := time.Date(2000, 1, 1, 0, 0, 1, 0, time.UTC)
	packets := []vnet.Event{
		{Time: at, Where: "media", Proto: vnet.UDP, Src: netip.MustParseAddrPort("10.1.0.2:40000"), Dst: netip.MustParseAddrPort("203.0.113.2:3478"),
			Verdict: vnet.Delivered, Payload: []byte{0, 1, 0, 0}},
		{Time: at.Add(time.Millisecond), Where: "corp", Proto: vnet.TCP, Flags: vnet.FlagSYN, Src: netip.MustParseAddrPort("10.1.0.2:40001"),
			Dst: netip.MustParseAddrPort("203.0.113.2:5349"), Verdict: vnet.Dropped, Reason: "firewall corp rule 4 (drop-all)"},
	}
	var buf bytes.Buffer
	if err := reports.WritePcap(&buf, packets); err != nil {
		t.Fatal(err)
	}
	written := append([]byte(nil), buf.Bytes()...)
	r, err := pcapgo.NewNgReader(&buf, pcapgo.DefaultNgReaderOptions)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			break
		}
		p := gopacket.NewPacket(data, layers.LayerTypeIPv4, gopacket.Default)
		if ip, ok := p.NetworkLayer().(*layers.IPv4); ok {
			got = append(got, fmt.Sprintf("%s %s>%s %s", ci.Timestamp.Format("05.000"), ip.SrcIP, ip.DstIP, p.TransportLayer().LayerType()))
		}
	}
	want := []string{"01.000 10.1.0.2>203.0.113.2 UDP", "01.001 10.1.0.2>203.0.113.2 TCP"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("read back %q, want %q", got, want)
	}
	if !bytes.Contains(written, []byte("dropped at corp: firewall corp rule 4 (drop-all)")) {
		t.Error("the drop reason is not in the capture's packet comments")
	}
}
