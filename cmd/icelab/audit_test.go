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

// auditDefaults gives o the flags' defaults where it leaves them zero
// (confirm -1 stands for an explicit 0).
func auditDefaults(o auditOptions) auditOptions {
	switch o.confirm {
	case 0:
		o.confirm = audit.DefaultConfirm
	case -1:
		o.confirm = 0
	}
	if o.failOn == "" {
		o.failOn = string(audit.Regressed)
	}
	if o.realPar == 0 {
		o.realPar = audit.DefaultRealParallel
	}
	return o
}

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
		{auditOptions{confirm: -1}, auditDir + "/single-domain-443.yaml", `--confirm: 0; want between 1 and 20`},
		{auditOptions{failOn: "changed"}, auditDir + "/single-domain-443.yaml", `--fail-on: "changed"; want regressed or unstable`},
	}
	for _, c := range cases {
		var stderr bytes.Buffer
		o := auditDefaults(c.o)
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
// a dedicated 5349 exits 1 naming corporate-443-only "regressed 1/1", its
// cause that LiveKit hands out TURN/TLS on 443 (the load balancer listens
// on 5349), and writes the four reports with the change.
func TestAuditBaseline(t *testing.T) {
	t.Parallel() // with TestAuditCommand: CPU here (fake-clock cells), mostly waiting there (real-clock cells)
	out := t.TempDir()
	o := &auditOptions{trust: &testTrust, out: out, duration: 35 * time.Second,
		archetypes: []string{"home-router", "corporate-443-only"}, profiles: []string{"pion"},
		confirm: 1} // the default 3 is the same rule at three times the cost (TestConfirmation in audit)
	*o = auditDefaults(*o)
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
	if !strings.Contains(stdout, "1 cells fail the gate (--fail-on regressed) against") ||
		!strings.Contains(stdout, "  corporate-443-only/pion regressed 1/1: TURN/TLS → fails (nothing serves TURN/TLS on turn.example.com:443, where LiveKit sends clients (tls_port 5349))\n") {
		t.Errorf("stdout lacks the confirmed regression and its cause:\n%s", stdout)
	}
	var rep struct {
		Changes []audit.Change `json:"changes"`
	}
	data, err := os.ReadFile(filepath.Join(out, "audit.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &rep); err != nil || len(rep.Changes) != 1 || rep.Changes[0].Verdict() != audit.Regressed {
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
	if md, err := os.ReadFile(filepath.Join(out, "audit.md")); err != nil || !strings.Contains(string(md), "| corporate-443-only | **regressed 1/1** fails: nothing serves TURN/TLS on turn.example.com:443") {
		t.Errorf("audit.md lacks the regression (%v)", err)
	}
	if html, err := os.ReadFile(filepath.Join(out, "audit.html")); err != nil || !strings.Contains(string(html), "regressed 1/1") {
		t.Errorf("audit.html lacks the regression (%v)", err)
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
	t.Parallel()
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
	t.Logf("icelab audit single-domain-443: %.1fs (a figure, not a bound: speed is measured side by side in benchmarks)", wall.Seconds())
	rows := 0
	for l := range strings.Lines(stdout.String()) {
		if f := strings.Split(l, " | "); strings.HasPrefix(l, "| ") && len(f) == 3 && f[0] != "| archetype" {
			rows++
		}
	}
	if !strings.Contains(stdout.String(), "| archetype | browser | pion |") || rows < 15 {
		t.Errorf("%d archetype rows, want at least 15 with a column per profile\n%s", rows, stdout.String())
	}
	if !strings.Contains(stdout.String(), "| corporate-443-only | TURN/TLS ") {
		t.Errorf("corporate-443-only/browser is not TURN/TLS:\n%s", stdout.String())
	}
}

// TestAuditInterrupted proves an audit stopped by a signal exits 130 and
// says its matrix is incomplete rather than passing it off as a verdict.
func TestAuditInterrupted(t *testing.T) {
	o := &auditOptions{trust: &testTrust, out: t.TempDir(), duration: 35 * time.Second,
		archetypes: []string{"home-router"}, profiles: []string{"pion"}, baseline: auditDir + "/dedicated-5349.yaml"}
	*o = auditDefaults(*o)
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
	if !strings.Contains(stderr.String(), "interrupted: the matrix is incomplete") || !strings.Contains(stdout.String(), "**INTERRUPTED: the audit was stopped") {
		t.Errorf("output does not say the audit was interrupted:\n%s\n%s", stdout.String(), stderr.String())
	}
	if strings.Contains(stdout.String(), "## Changes") || strings.Contains(stdout.String(), "fail the gate") {
		t.Errorf("an interrupted audit judged regressions:\n%s", stdout.String())
	}
}
