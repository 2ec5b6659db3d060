package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestExitStatuses proves the documented statuses: usage errors (an
// unknown command, a missing argument, an unknown flag, a bad flag value,
// no command at all) and bad files exit 2, an output location that cannot
// be created exits 2 before anything runs, and a path without scenario
// files is an error in run and validate alike.
func TestExitStatuses(t *testing.T) {
	dir := t.TempDir()
	good := writeScenario(t, dir, "good.yaml", "name: good\nclients: [{name: alice, publish: [audio]}]\nduration: 1s\n")
	notDir := writeScenario(t, dir, "plain-file", "not a directory")
	empty := filepath.Join(dir, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"unknown command", []string{"runn"}, exitBadInput, `unknown command "runn"`},
		{"no command", nil, exitBadInput, "a command is required"},
		{"group without a subcommand", []string{"relay"}, exitBadInput, "icelab relay needs a subcommand"},
		{"unknown subcommand", []string{"relay", "serv"}, exitBadInput, `unknown command "serv" for "icelab relay"`},
		{"run without a path", []string{"run"}, exitBadInput, "requires at least 1 arg"},
		{"unknown flag", []string{"run", "--bogus", good}, exitBadInput, "unknown flag: --bogus"},
		{"bad flag value", []string{"run", "--parallel", "many", good}, exitBadInput, "invalid argument"},
		{"bad clock", []string{"run", "--clock", "sundial", good}, exitBadInput, `--clock "sundial": want fake or real`},
		{"bad shard", []string{"run", "--shard", "3/2", good}, exitBadInput, "want K/N"},
		{"out is a file", []string{"run", "--out", filepath.Join(notDir, "out"), good}, exitBadInput, "--out " + filepath.Join(notDir, "out")},
		{"run an empty directory", []string{"run", "--out", filepath.Join(dir, "out"), empty}, exitBadInput, ""},
		{"validate an empty directory", []string{"validate", empty}, exitBadInput, empty + ": no scenario files"},
		{"validate a missing path", []string{"validate", filepath.Join(dir, "missing")}, exitBadInput, "no such file or directory"},
		{"validate a good file", []string{"validate", good}, exitOK, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := execute(t.Context(), c.args, &testTrust, testRunner{t}, &stdout, &stderr)
			if code != c.code {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, c.code, stdout.String(), stderr.String())
			}
			if !strings.Contains(stderr.String(), c.stderr) {
				t.Errorf("stderr lacks %q:\n%s", c.stderr, stderr.String())
			}
			if strings.Contains(stdout.String(), "running") {
				t.Errorf("ran scenarios despite bad input:\n%s", stdout.String())
			}
		})
	}
	// The empty directory is named in the run's output and reports.
	var stdout, stderr bytes.Buffer
	execute(t.Context(), []string{"run", "--out", filepath.Join(dir, "out"), empty}, &testTrust, testRunner{t}, &stdout, &stderr)
	if want := "ERROR " + empty; !strings.Contains(stdout.String(), want) {
		t.Errorf("run output lacks %q:\n%s\n%s", want, stdout.String(), stderr.String())
	}
}

// TestHelpDocumentsExitStatus proves every command's help states the exit
// statuses, the relay's included.
func TestHelpDocumentsExitStatus(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"run", "--help"}, {"validate", "--help"}, {"relay", "serve", "--help"}} {
		var stdout, stderr bytes.Buffer
		if code := execute(t.Context(), args, &testTrust, nil, &stdout, &stderr); code != exitOK {
			t.Errorf("%v: exit %d\n%s", args, code, stderr.String())
		}
		for _, want := range []string{"Exit status", "  2    bad input", "  130  interrupted"} {
			if !strings.Contains(stdout.String(), want) {
				t.Errorf("%v: help lacks %q:\n%s", args, want, stdout.String())
			}
		}
	}
}

// TestShard proves --shard splits files deterministically by name: the N
// shards are disjoint, hold every file, and do not depend on the order
// the paths were given in.
func TestShard(t *testing.T) {
	dir := t.TempDir()
	var names []string
	for _, n := range []string{"e", "a", "d", "b", "c", "f", "g"} {
		names = append(names, writeScenario(t, dir, n+".yaml", "name: "+n+"\n"))
	}
	forward, _ := scenarioFiles(names)
	reversed := make([]string, len(names))
	for i, n := range names {
		reversed[len(names)-1-i] = n
	}
	backward, _ := scenarioFiles(reversed)
	seen := map[string]int{}
	for k := 1; k <= 3; k++ {
		sh, err := parseShard(strings.Join([]string{string(rune('0' + k)), "3"}, "/"))
		if err != nil {
			t.Fatal(err)
		}
		a, b := sh.of(forward), sh.of(backward)
		if strings.Join(a, ",") != strings.Join(b, ",") {
			t.Errorf("shard %d/3 depends on argument order: %v vs %v", k, a, b)
		}
		if len(a) < 2 || len(a) > 3 {
			t.Errorf("shard %d/3 holds %d of 7 files", k, len(a))
		}
		for _, f := range a {
			seen[f]++
		}
	}
	for _, f := range names {
		if seen[f] != 1 {
			t.Errorf("%s is in %d shards, want 1", f, seen[f])
		}
	}
	for _, bad := range []string{"0/3", "4/3", "1", "a/b", "1/0"} {
		if _, err := parseShard(bad); err == nil {
			t.Errorf("--shard %s accepted", bad)
		}
	}
}

// TestPlurals proves counts read as English: "1 scenario file", "2
// scenario files", "1 client".
func TestPlurals(t *testing.T) {
	dir := t.TempDir()
	one := writeScenario(t, dir, "one.yaml", "name: one\nclients: [{name: alice}]\n")
	var stdout, stderr bytes.Buffer
	if code := validate(&stdout, &stderr, []string{one}); code != exitOK {
		t.Fatalf("exit %d\n%s", code, stderr.String())
	}
	for _, want := range []string{"(one: 1 client, fake clock)", "1 scenario file valid\n"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, stdout.String())
		}
	}
	writeScenario(t, dir, "two.yaml", "name: two\nclients: [{name: alice}, {name: bob}]\n")
	stdout.Reset()
	validate(&stdout, &stderr, []string{dir})
	for _, want := range []string{"(two: 2 clients, fake clock)", "2 scenario files valid\n"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, stdout.String())
		}
	}
}

// TestValidateRepoScenarios proves `icelab validate scenarios` exits 0 on the
// repository as shipped: every file under scenarios/ is a scenario (the
// audit's livekit.yaml and firewall files live in deployments/, which
// validate does not read).
func TestValidateRepoScenarios(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := validate(&stdout, &stderr, []string{"../../scenarios"}); code != exitOK {
		t.Fatalf("icelab validate scenarios: exit %d\n%s\n%s", code, stdout.String(), stderr.String())
	}
	if strings.Contains(stdout.String(), "invalid") {
		t.Errorf("some files are invalid:\n%s", stdout.String())
	}
}
