package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/icelab/icelab/reports"
)

func writeScenario(t *testing.T, dir, name, body string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestValidate proves validate accepts the catalog and rejects a bad file
// with its file, line and field, exit status 2.
func TestValidate(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := validate(&out, &errOut, []string{"../../scenarios/catalog"}); code != 0 {
		t.Fatalf("catalog: exit %d\n%s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "ok   ../../scenarios/catalog/udp-blocked-ice-tcp.yaml") {
		t.Errorf("output lacks the catalog:\n%s", out.String())
	}

	bad := writeScenario(t, t.TempDir(), "office.yaml", "name: office\nclients:\n  - name: alice\n    fallback: {policy: tcp}\n")
	out.Reset()
	errOut.Reset()
	if code := validate(&out, &errOut, []string{bad}); code != exitInvalid {
		t.Fatalf("exit %d, want %d", code, exitInvalid)
	}
	want := bad + `:4: clients[0].fallback.policy: unknown policy "tcp"; want none, ice-restart, transport, renomination, force-relay`
	if !strings.Contains(errOut.String(), want) {
		t.Errorf("stderr:\n%s\nwant %q", errOut.String(), want)
	}
}

// TestRun proves run runs scenarios on the real clock, prints a verdict and
// the transport per client, writes the reports and exits 1 when a scenario
// misses its expectations.
func TestRun(t *testing.T) {
	if testing.Short() {
		t.Skip("runs calls on the real clock")
	}
	dir := t.TempDir()
	const call = "clients: [{name: alice, publish: [audio]}]\nduration: 2s\n"
	writeScenario(t, dir, "good.yaml", "name: good\n"+call+"expect: {alice: {transport: ICE/UDP}}\n")
	writeScenario(t, dir, "bad.yaml", "name: bad\n"+call+"expect: {alice: {transport: TURN/TLS}}\n")
	out := filepath.Join(dir, "out")

	var stdout, stderr bytes.Buffer
	o := &runOptions{out: out, filter: "good|bad", trust: &testTrust}
	code := o.run(t.Context(), &stdout, &stderr, []string{dir})
	if code != exitFailed {
		t.Fatalf("exit %d, want %d\n%s%s", code, exitFailed, stdout.String(), stderr.String())
	}
	for _, want := range []string{
		"PASS  good  [alice=ICE/UDP]",
		"FAIL  bad  [alice=ICE/UDP]",
		"alice: transport: expected TURN/TLS, observed ICE/UDP",
		"1 of 2 scenarios met their expectations",
	} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, stdout.String())
		}
	}
	for _, f := range []string{reports.JUnitFile, reports.JSONFile, reports.MarkdownFile} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
}
