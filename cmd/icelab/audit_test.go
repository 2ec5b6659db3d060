package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/icelab/icelab/audit"
)

const auditDir = "../../deployments"

// TestAuditBadInput proves bad input exits 2 with the file, line and key,
// or with the known names, and runs nothing.
func TestAuditBadInput(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "livekit.yaml")
	if err := os.WriteFile(bad, []byte("turn:\n  tls_port: many\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fw := filepath.Join(dir, "fw.yaml")
	if err := os.WriteFile(fw, []byte("inbound:\n  - sctp 5000\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		o    auditOptions
		cfg  string
		want string
	}{
		{auditOptions{}, bad, bad + `:2: turn.tls_port: want an integer, got "many"`},
		{auditOptions{firewall: fw}, auditDir + "/single-domain-443.yaml", fw + `:2: inbound[0]: "sctp 5000": protocol "sctp"; want tcp or udp`},
		{auditOptions{baseline: filepath.Join(dir, "nope.yaml")}, auditDir + "/single-domain-443.yaml", "nope.yaml: no such file"},
		{auditOptions{archetypes: []string{"office"}}, auditDir + "/single-domain-443.yaml", `--archetypes: unknown archetype "office"; known: address-restricted-router, cgnat,`},
		{auditOptions{profiles: []string{"firefox"}}, auditDir + "/single-domain-443.yaml", `--profiles: unknown profile "firefox"; known: browser, pion`},
	}
	for _, c := range cases {
		var stderr bytes.Buffer
		o := c.o
		o.trust, o.duration = &testTrust, 35*time.Second
		if _, code := o.prepare(&stderr, c.cfg); code != exitBadInput {
			t.Errorf("%s: exit %d, want %d", c.want, code, exitBadInput)
		}
		if !strings.Contains(stderr.String(), c.want) {
			t.Errorf("stderr:\n%s\nwant %q", stderr.String(), c.want)
		}
	}
}

// TestAuditBaseline proves the command's verdicts on fake-clock cells: the
// single-domain set-up audited against itself exits 0; moving TURN/TLS to
// a dedicated 5349 exits 1 naming corporate-443-only a regression whose
// reason says LiveKit hands out TURN/TLS on 443 (the load balancer listens
// on 5349), and writes the three reports with the change.
func TestAuditBaseline(t *testing.T) {
	out := t.TempDir()
	o := &auditOptions{trust: &testTrust, out: out, duration: 35 * time.Second,
		archetypes: []string{"home-router", "corporate-443-only"}, profiles: []string{"pion"}}
	o.baseline = auditDir + "/single-domain-443.yaml"
	run := func(cfg string) (int, string) {
		var stdout, stderr bytes.Buffer
		p, code := o.prepare(&stderr, cfg)
		if code != 0 {
			t.Fatalf("prepare: exit %d\n%s", code, stderr.String())
		}
		code = p.execute(t.Context(), &stdout, &stderr, audit.TestRunner{T: t})
		return code, stdout.String()
	}
	code, stdout := run(auditDir + "/single-domain-443.yaml")
	if code != 0 || !strings.Contains(stdout, "No cell changed against the baseline.") {
		t.Fatalf("against itself: exit %d\n%s", code, stdout)
	}
	code, stdout = run(auditDir + "/dedicated-5349.yaml")
	if code != exitNotMet {
		t.Fatalf("dedicated-5349: exit %d, want %d\n%s", code, exitNotMet, stdout)
	}
	if !strings.Contains(stdout, "1 cells regressed against") || !strings.Contains(stdout, "regression corporate-443-only/pion: TURN/TLS → fails: ") {
		t.Errorf("stdout lacks the regression:\n%s", stdout)
	}
	var line string
	for l := range strings.Lines(stdout) {
		if strings.HasPrefix(l, "  regression corporate-443-only/pion") {
			line = l
		}
	}
	if !strings.Contains(line, "LiveKit hands out turns:turn.example.com:443") {
		t.Errorf("the regression's reason does not say LiveKit hands out port 443: %q", line)
	}
	var rep struct {
		Changes []audit.Change `json:"changes"`
	}
	data, err := os.ReadFile(filepath.Join(out, "audit.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &rep); err != nil || len(rep.Changes) != 1 || rep.Changes[0].Kind != audit.Regression {
		t.Errorf("audit.json changes %+v (%v)", rep.Changes, err)
	}
	var suites struct {
		Suites []struct {
			Tests    int `xml:"tests,attr"`
			Failures int `xml:"failures,attr"`
		} `xml:"testsuite"`
	}
	data, err = os.ReadFile(filepath.Join(out, "junit.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := xml.Unmarshal(data, &suites); err != nil || len(suites.Suites) != 1 || suites.Suites[0].Tests != 2 || suites.Suites[0].Failures != 1 {
		t.Errorf("junit.xml %+v (%v): want 2 cases, 1 failure", suites, err)
	}
	if md, err := os.ReadFile(filepath.Join(out, "audit.md")); err != nil || !strings.Contains(string(md), "| **regression** | corporate-443-only | pion |") {
		t.Errorf("audit.md lacks the regression (%v)", err)
	}
}

// TestAuditCommand builds icelab and runs the whole audit of the
// single-domain set-up, as a user would: every archetype × both profiles,
// fake-clock cells through harness/fakeclock, real-clock cells side by
// side, exit 0. The target is under 60 s; the bound here is
// generous because the machine is shared.
func TestAuditCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("builds icelab and runs a real-clock audit")
	}
	bin := filepath.Join(t.TempDir(), "icelab")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	start := time.Now()
	cmd := exec.Command(bin, "audit", "--out", t.TempDir(), auditDir+"/single-domain-443.yaml")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("icelab audit: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	wall := time.Since(start)
	t.Logf("icelab audit single-domain-443: %.1fs", wall.Seconds())
	if wall > 3*time.Minute {
		t.Errorf("took %v", wall)
	}
	rows := map[string]int{}
	for l := range strings.Lines(stdout.String()) {
		f := strings.Split(l, "|")
		if len(f) > 3 && (strings.TrimSpace(f[2]) == "browser" || strings.TrimSpace(f[2]) == "pion") {
			rows[strings.TrimSpace(f[2])]++
		}
	}
	if rows["browser"] < 15 || rows["pion"] < 15 {
		t.Errorf("matrix rows %v, want at least 15 archetypes per profile\n%s", rows, stdout.String())
	}
	if !strings.Contains(stdout.String(), "| corporate-443-only | browser | TURN/TLS |") {
		t.Errorf("corporate-443-only/browser is not TURN/TLS:\n%s", stdout.String())
	}
}

// TestAuditInterrupted proves an audit stopped by a signal exits 130 and
// says its matrix is incomplete rather than passing it off as a verdict.
func TestAuditInterrupted(t *testing.T) {
	o := &auditOptions{trust: &testTrust, out: t.TempDir(), duration: 35 * time.Second,
		archetypes: []string{"home-router"}, profiles: []string{"pion"}, baseline: auditDir + "/dedicated-5349.yaml"}
	var stdout, stderr bytes.Buffer
	p, code := o.prepare(&stderr, auditDir+"/single-domain-443.yaml")
	if code != 0 {
		t.Fatalf("prepare: exit %d\n%s", code, stderr.String())
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel() // as SIGINT does, through main's signal.NotifyContext
	if code := p.execute(ctx, &stdout, &stderr, audit.TestRunner{T: t}); code != exitInterrupted {
		t.Fatalf("exit %d, want %d\n%s%s", code, exitInterrupted, stdout.String(), stderr.String())
	}
	if !strings.Contains(stderr.String(), "interrupted: the matrix is incomplete") || !strings.Contains(stdout.String(), "**Interrupted:**") {
		t.Errorf("output does not say the audit was interrupted:\n%s\n%s", stdout.String(), stderr.String())
	}
	if strings.Contains(stdout.String(), "regress") {
		t.Errorf("an interrupted audit judged regressions:\n%s", stdout.String())
	}
}
