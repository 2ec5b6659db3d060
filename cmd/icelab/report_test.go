package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
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

// TestReportsShowTheLadder runs catalog files in which LiveKit's transport
// ladder steps (and one in which a failure leaves it where it was) and
// checks that report.html and report.md show each decision results.json
// records, with when and why, and each ICE configuration the node sent.
func TestReportsShowTheLadder(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	var stdout, stderr bytes.Buffer
	o := &runOptions{out: out, clock: clockFake, trust: &testTrust, runner: testRunner{t}}
	code := o.run(t.Context(), &stdout, &stderr, []string{
		"../../scenarios/catalog/livekit-ladder-udp-whack-10s-to-turn-tls.yaml",
		"../../scenarios/catalog/livekit-ladder-udp-unstable.yaml",
		"../../scenarios/catalog/livekit-ladder-failure-while-signal-cut.yaml",
	})
	if code != exitOK {
		t.Fatalf("exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
	var doc struct {
		Runs []struct {
			Result struct {
				Clients []struct {
					Name   string
					Ladder []struct {
						At          float64
						LadderEvent struct {
							Trigger, From, To, Why string
							Moved                  bool
						} `json:"ladder_event"`
					}
					ICEConfigs []struct {
						At            float64
						SentICEConfig struct {
							Why     string
							Servers []string
						} `json:"sent_ice_config"`
					} `json:"ice_configs"`
				}
			}
		}
	}
	readJSON(t, filepath.Join(out, reports.JSONFile), &doc)
	html := readText(t, filepath.Join(out, reports.HTMLFile))
	md := readText(t, filepath.Join(out, reports.MarkdownFile))
	steps, moved := 0, 0
	for _, r := range doc.Runs {
		for _, c := range r.Result.Clients {
			if len(c.ICEConfigs) == 0 {
				t.Errorf("%s: results.json records no ICE configuration sent", c.Name)
			}
			for _, s := range c.Ladder {
				e := s.LadderEvent
				step := "no step"
				if e.From != "" {
					step = "stays at " + e.From
				}
				if e.Moved {
					step = e.From + " → " + e.To
					moved++
				}
				steps++
				row := fmt.Sprintf("<tr><td>%.2f s</td><td>%s</td><td>%s</td><td>%s</td>", s.At, template.HTMLEscapeString(e.Trigger), template.HTMLEscapeString(step), template.HTMLEscapeString(e.Why))
				if !strings.Contains(html, row) {
					t.Errorf("report.html lacks the ladder row %s", row)
				}
				line := fmt.Sprintf("- %.2f s: %s: %s (%s", s.At, e.Trigger, step, e.Why)
				if !strings.Contains(md, line) {
					t.Errorf("report.md lacks the ladder line %q", line)
				}
			}
			for _, s := range c.ICEConfigs {
				if line := fmt.Sprintf("- %.2f s, %s: ", s.At, s.SentICEConfig.Why); !strings.Contains(md, line) {
					t.Errorf("report.md lacks the ICE configuration %q", line)
				}
				for _, u := range s.SentICEConfig.Servers {
					if !strings.Contains(html, template.HTMLEscapeString(u)) {
						t.Errorf("report.html lacks the ICE server %s", u)
					}
				}
			}
		}
	}
	if moved < 2 || steps == moved {
		t.Errorf("%d ladder decisions, %d of them steps: want a step in each of two files and a decision that left the ladder where it was", steps, moved)
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func readText(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
