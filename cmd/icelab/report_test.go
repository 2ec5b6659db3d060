package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/icelab/icelab/internal/chromium"
	"github.com/icelab/icelab/reports"
)

// TestRunWritesWhatPeopleLookAt runs two catalog scenarios with a capture,
// as `icelab run --capture 4000 --out DIR` does, and checks what a person
// opens: report.html rendered in headless Chromium with every scenario and
// client present, and the TURN/TLS scenario's capture followed by tshark
// with its default settings. Each tool's part skips with a message when the
// tool is not installed (.ci/run installs both).
func TestRunWritesWhatPeopleLookAt(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	var stdout, stderr bytes.Buffer
	o := &runOptions{out: out, clock: clockFake, trust: &testTrust, runner: testRunner{t}, capture: 4000}
	code := o.run(t.Context(), &stdout, &stderr, []string{
		"../../scenarios/catalog/corporate-only-443-tls-port-443.yaml",
		"../../scenarios/catalog/lossy-link-turn-udp.yaml",
	})
	if code != exitOK {
		t.Fatalf("exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
	page := filepath.Join(out, reports.HTMLFile)
	if _, err := os.Stat(page); err != nil {
		t.Fatal(err)
	}

	t.Run("chromium renders report.html", func(t *testing.T) {
		dom := chromium.DumpDOM(t, page)
		for _, want := range []string{
			">corporate-only-443-tls-port-443<", ">lossy-link-turn-udp<", // every scenario
			`data-client="alice"`, `data-client="bob"`, // every client
			"TURN/TLS", "TURN/UDP", `<svg class="timeline"`, `<svg class="chart"`, `class="lost"`,
		} {
			if !strings.Contains(string(dom), want) {
				t.Errorf("Chromium's DOM lacks %q", want)
			}
		}
	})

	t.Run("tshark follows the TURN/TLS stream", func(t *testing.T) {
		tshark, err := exec.LookPath("tshark")
		if err != nil {
			t.Skip("tshark is not installed (.ci/run installs it)")
		}
		capture := filepath.Join(out, reports.PcapFile("corporate-only-443-tls-port-443"))
		// The client's TURN/TLS connection to the node's port 443: TLS
		// records Wireshark decodes from reassembled TCP.
		tls, err := exec.Command(tshark, "-r", capture, "-Y", "tls.record && tcp.port == 443").Output()
		if err != nil {
			t.Fatalf("tshark -Y tls: %v", err)
		}
		if n := strings.Count(string(tls), "\n"); n < 10 {
			t.Fatalf("tshark decoded %d TLS records on port 443, want the handshake and the relayed media:\n%s", n, tls)
		}
		follow, err := exec.Command(tshark, "-r", capture, "-q", "-z", "follow,tcp,hex,0").Output()
		if err != nil {
			t.Fatalf("tshark follow,tcp: %v", err)
		}
		if !strings.Contains(string(follow), "Follow: tcp,hex") || strings.Count(string(follow), "\n") < 20 {
			t.Errorf("tshark's follow,tcp shows no stream:\n%.2000s", follow)
		}
		// A lossless path: nothing Wireshark's TCP analysis flags.
		bad, err := exec.Command(tshark, "-r", capture, "-Y", "tcp.analysis.lost_segment || tcp.analysis.out_of_order || tcp.analysis.retransmission").Output()
		if err != nil {
			t.Fatalf("tshark analysis: %v", err)
		}
		if s := strings.TrimSpace(string(bad)); s != "" {
			t.Errorf("tshark's TCP analysis flags segments of a lossless path:\n%.3000s", s)
		}
	})
}
