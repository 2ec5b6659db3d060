package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const importFixtures = "../../fieldimport/testdata"

// TestImportBadInput proves a dump icelab cannot read, and bad flags, exit
// 2 naming the file, line and what is missing, and write nothing.
func TestImportBadInput(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	unrelated := write("package.json", "{\n  \"name\": \"app\",\n  \"version\": \"1.0.0\"\n}\n")
	truncated := write("cut.txt", "{\"PeerConnections\": {\"1-1\": {\"updateLog\": [\n")
	legacy := write("old.txt", "{\"PeerConnections\": {\"7-1\": {\"stats\": {\n \"Conn-audio-1-0-googRtt\": {\"statsType\": \"googCandidatePair\", \"values\": \"[1]\"}}}}}")
	pion := filepath.Join(importFixtures, "pion-home-router-direct.json")
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no file", []string{"import"}, "accepts 1 arg(s), received 0"},
		{"missing file", []string{"import", filepath.Join(dir, "nope.json")}, "nope.json: no such file or directory"},
		{"a directory", []string{"import", dir}, dir + ": not a regular file"},
		{"unrelated JSON", []string{"import", unrelated}, unrelated + ":1: not a WebRTC dump: want a webrtc-internals dump"},
		{"truncated", []string{"import", truncated}, truncated + ":2: not valid JSON: the JSON ends before its last value is complete (is the file truncated?)"},
		{"legacy goog stats", []string{"import", legacy}, legacy + `:2: PeerConnections["7-1"].stats["Conn-audio-1-0-googRtt"]: this dump holds legacy goog* stats`},
		{"wrong format", []string{"import", "--format", "webrtc-internals", pion}, pion + ":1: PeerConnections: missing"},
		{"unknown format", []string{"import", "--format", "har", pion}, `unknown format "har"`},
		{"unknown connection", []string{"import", "--connection", "9-9", pion}, `no peer connection "9-9"`},
		{"bad clock", []string{"import", "--run", "--clock", "sundial", pion}, `--clock "sundial": want fake or real`},
		{"out in no directory", []string{"import", "--out", filepath.Join(dir, "no", "x.yaml"), pion}, "is not a directory"},
		{"bad config", []string{"import", "--config", write("livekit.yaml", "turn:\n  tls_port: many\n"), pion}, `:2: turn.tls_port: want an integer, got "many"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := execute(t.Context(), c.args, &testTrust, testRunner{t}, &stdout, &stderr); code != exitBadInput {
				t.Errorf("exit %d, want %d\nstderr:\n%s", code, exitBadInput, stderr.String())
			}
			if !strings.Contains(stderr.String(), c.want) {
				t.Errorf("stderr lacks %q:\n%s", c.want, stderr.String())
			}
			if stdout.Len() > 0 {
				t.Errorf("wrote to stdout on bad input:\n%s", stdout.String())
			}
		})
	}
}

// TestImportWritesAScenario proves import writes the scenario to stdout
// (the summary to stderr) or to --out (the summary to stdout), and that
// validate accepts the file.
func TestImportWritesAScenario(t *testing.T) {
	dump := filepath.Join(importFixtures, "chrome-internals-tcp-443-only.json")
	var stdout, stderr bytes.Buffer
	if code := execute(t.Context(), []string{"import", dump}, &testTrust, testRunner{t}, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit %d\n%s", code, stderr.String())
	}
	for _, want := range []string{"name: field-chrome-internals-tcp-443-only\n", "- {only-tcp-out: [80, 443]}", "transport: TURN/TLS"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout.String())
		}
	}
	if want := "scenario written to stdout (a client of a media node, network archetype corporate-443-only): 13 inferences (5 observed, 5 inferred, 3 assumed); field outcome: connected over TURN/TLS (relay ↔ host)"; !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
	}

	out := filepath.Join(t.TempDir(), "office.yaml")
	stdout.Reset()
	stderr.Reset()
	if code := execute(t.Context(), []string{"import", "--out", out, "--report", "Calls from the Lyon office never use UDP", dump}, &testTrust, testRunner{t}, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit %d\n%s", code, stderr.String())
	}
	if !strings.HasPrefix(stdout.String(), "wrote "+out+" (a client of a media node") {
		t.Errorf("stdout:\n%s", stdout.String())
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "name: office\n") || !strings.Contains(string(data), "report: Calls from the Lyon office never use UDP") {
		t.Errorf("the file lacks its name or report:\n%s", data)
	}
	stdout.Reset()
	if code := validate(&stdout, &stderr, []string{out}); code != exitOK {
		t.Errorf("validate: exit %d\n%s", code, stderr.String())
	}
}

// TestImportRun proves --run runs the scenario on the fake clock and says
// the field outcome is reproduced (exit 0), and that a deployment that
// cannot reproduce it (TURN off, where the field relayed over TCP) exits 1
// naming what differs and the inferences to revisit.
func TestImportRun(t *testing.T) {
	dump := filepath.Join(importFixtures, "pion-udp-blocked-turn-tcp.json")
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	code := execute(t.Context(), []string{"import", "--out", filepath.Join(dir, "vpn.yaml"), "--run", dump}, &testTrust, testRunner{t}, &stdout, &stderr)
	if code != exitOK {
		t.Fatalf("exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
	for _, want := range []string{"running vpn on the fake clock", "PASS  vpn  [alice=TURN/TCP]  fake clock",
		"reproduced: the field connected over TURN/TCP (relay ↔ host); icelab connected over TURN/TCP (relay ↔ host)"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout.String())
		}
	}

	cfg := filepath.Join(dir, "livekit.yaml")
	if err := os.WriteFile(cfg, []byte("turn:\n  enabled: false\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "sub", "no-turn.yaml")
	if err := os.Mkdir(filepath.Dir(out), 0o755); err != nil {
		t.Fatal(err)
	}
	stdout.Reset()
	stderr.Reset()
	code = execute(t.Context(), []string{"import", "--out", out, "--config", cfg, "--run", dump}, &testTrust, testRunner{t}, &stdout, &stderr)
	if code != exitNotMet {
		t.Fatalf("exit %d, want %d\n%s%s", code, exitNotMet, stdout.String(), stderr.String())
	}
	for _, want := range []string{"not reproduced: the field connected over TURN/TCP (relay ↔ host); icelab never connected",
		"stage: the field connected, icelab never connected: ICE found no working candidate pair", "revisit, most doubtful first:",
		"] assumed: the media node runs the deployment's livekit.yaml (../livekit.yaml)"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout.String())
		}
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "config_file: ../livekit.yaml") {
		t.Errorf("--config is not referred to from the scenario's directory:\n%s", data)
	}
}
