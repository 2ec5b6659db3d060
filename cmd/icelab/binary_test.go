package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/icelab/icelab/reports"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// icelabBinary builds the command once per test process: fakeclock.Main
// and signals can only be tested on a program of its own.
func icelabBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the icelab binary")
	}
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "icelab-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "icelab")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = errors.New(string(out))
		}
	})
	if binErr != nil {
		t.Fatalf("go build: %v", binErr)
	}
	return binPath
}

// TestBinaryRunsOnTheFakeClock proves the built command runs a scenario in
// a synctest bubble: ten minutes of call end well before ten minutes of
// wall time, and every label says fake. It fails if fakeclock.Main stops
// working in the command (a Go upgrade that breaks testing.Main).
func TestBinaryRunsOnTheFakeClock(t *testing.T) {
	bin := icelabBinary(t)
	dir := t.TempDir()
	writeScenario(t, dir, "long.yaml", "name: long\nclients: [{name: alice, publish: [audio]}]\nduration: 10m\nexpect: {alice: {transport: ICE/UDP}}\n")
	out := filepath.Join(dir, "out")
	cmd := exec.Command(bin, "run", "--out", out, dir)
	start := time.Now()
	stdout, err := cmd.Output()
	if err != nil {
		t.Fatalf("icelab run: %v\n%s", err, stdout)
	}
	if wall := time.Since(start); wall > 3*time.Minute {
		t.Errorf("10 minutes of call took %s of wall time: not on the fake clock", wall)
	}
	if want := "PASS  long  [alice=ICE/UDP]  fake clock, 600.0s of call in"; !strings.Contains(string(stdout), want) {
		t.Errorf("output lacks %q:\n%s", want, stdout)
	}
	data, err := os.ReadFile(filepath.Join(out, reports.JSONFile))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Runs []struct {
			Result struct {
				Clock    string
				Duration float64
			}
		}
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Runs) != 1 || doc.Runs[0].Result.Clock != "fake" || doc.Runs[0].Result.Duration != 600 {
		t.Errorf("results.json runs = %+v, want one fake-clock run of 600 s", doc.Runs)
	}
}

// TestBinaryInterrupted proves that SIGINT or SIGTERM during icelab run
// ends it within a bound with status 130 and reports saying so: signalled
// once two runs are in flight (one on each clock), those are INTERRUPTED
// and the third not run; signalled as soon as the run begins, whatever
// has started is INTERRUPTED and the rest SKIP. Nothing is judged.
func TestBinaryInterrupted(t *testing.T) {
	bin := icelabBinary(t)
	cases := []struct {
		name     string
		sig      syscall.Signal
		inFlight int // "start" lines to wait for; 0: the "running" line
	}{
		{"SIGINT with two runs in flight", syscall.SIGINT, 2},
		{"SIGTERM with two runs in flight", syscall.SIGTERM, 2},
		{"SIGINT as the run begins", syscall.SIGINT, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			const expect = "expect: {alice: {transport: TURN/TLS}}\n" // not met: judging it would FAIL
			writeScenario(t, dir, "a-fake.yaml", "name: a-fake\nclients: [{name: alice, publish: [audio]}]\nduration: 1h\n"+expect)
			writeScenario(t, dir, "b-real.yaml", "name: b-real\nclients: [{name: alice, publish: [audio], network_types: [udp4, tcp4]}]\nduration: 1h\n"+expect)
			writeScenario(t, dir, "c-waits.yaml", "name: c-waits\nclients: [{name: alice, publish: [audio]}]\nduration: 1h\n"+expect)
			out := filepath.Join(dir, "out")
			cmd := exec.Command(bin, "run", "--verbose", "--parallel", "2", "--out", out, dir)
			pipe, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			// Wait for the moment to signal; the output ending first fails
			// below.
			lines := bufio.NewScanner(pipe)
			var stdout strings.Builder
			for started := 0; lines.Scan(); {
				stdout.WriteString(lines.Text() + "\n")
				if strings.HasPrefix(lines.Text(), "start ") {
					started++
				}
				if c.inFlight == 0 && strings.HasPrefix(lines.Text(), "running ") || c.inFlight > 0 && started == c.inFlight {
					break
				}
			}
			if err := cmd.Process.Signal(c.sig); err != nil {
				t.Fatal(err)
			}
			signalled := time.Now()
			exited := make(chan error, 1)
			go func() {
				for lines.Scan() {
					stdout.WriteString(lines.Text() + "\n")
				}
				exited <- cmd.Wait()
			}()
			var werr error
			select {
			case werr = <-exited:
			case <-time.After(time.Minute):
				_ = cmd.Process.Kill()
				<-exited
				t.Fatalf("icelab run did not exit within a minute of %s\n%s", c.sig, stdout.String())
			}
			t.Logf("exited %s after the signal", time.Since(signalled).Round(time.Millisecond))
			var exit *exec.ExitError
			if !errors.As(werr, &exit) || exit.ExitCode() != exitInterrupted {
				t.Fatalf("exit: %v, want status %d\nstdout:\n%s\nstderr:\n%s", werr, exitInterrupted, stdout.String(), stderr.String())
			}
			wantOut := []string{"interrupted by a signal"}
			wantFiles := map[string][]string{
				reports.JUnitFile:    {`message="not run: interrupted before it started"`},
				reports.JSONFile:     {`"interrupted": true`, `"verdict": "SKIP"`},
				reports.MarkdownFile: {"interrupted by a signal", "Skipped: not run: interrupted before it started"},
			}
			if c.inFlight > 0 {
				// The fake-clock runs go first; the real-clock one waits
				// for them (runAll's launchGroups).
				wantOut = append(wantOut, "INTERRUPTED a-fake", "INTERRUPTED c-waits", "SKIP  b-real")
				wantFiles[reports.JUnitFile] = append(wantFiles[reports.JUnitFile], `type="interrupted"`)
				wantFiles[reports.JSONFile] = append(wantFiles[reports.JSONFile], `"verdict": "INTERRUPTED"`)
				wantFiles[reports.MarkdownFile] = append(wantFiles[reports.MarkdownFile], "**INTERRUPTED**", "2 interrupted")
			}
			for _, want := range wantOut {
				if !strings.Contains(stdout.String(), want) {
					t.Errorf("output lacks %q:\n%s", want, stdout.String())
				}
			}
			if strings.Contains(stdout.String(), "FAIL") || strings.Contains(stdout.String(), "PASS") {
				t.Errorf("a cut-short run was judged:\n%s", stdout.String())
			}
			for file, wants := range wantFiles {
				data, err := os.ReadFile(filepath.Join(out, file))
				if err != nil {
					t.Fatal(err)
				}
				for _, want := range wants {
					if !strings.Contains(string(data), want) {
						t.Errorf("%s lacks %q:\n%s", file, want, data)
					}
				}
			}
		})
	}
}
