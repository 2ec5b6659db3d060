package fieldimport

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fuzzImport is the property every input format shares: reading an input
// as format f never panics, refuses what it cannot read with an *Error
// naming the file, and whatever it reads becomes a scenario that loads
// (Convert checks that itself, and any other error is a bug).
func fuzzImport(f *testing.F, format Format, seeds ...string) {
	for _, pattern := range seeds {
		files, err := filepath.Glob(pattern)
		if err != nil || len(files) == 0 {
			f.Fatalf("no seeds match %s: %v", pattern, err)
		}
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := ParseAs("fuzz.json", data, format)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.File != "fuzz.json" {
				t.Fatalf("not an *Error naming the file: %v", err)
			}
			return
		}
		im, err := Convert(d, Options{})
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("a dump that parses does not convert: %v", err)
			}
			return
		}
		if !strings.Contains(string(im.Scenario), "expect:") {
			t.Fatalf("a scenario without expectations:\n%s", im.Scenario)
		}
	})
}

// FuzzInternals fuzzes the webrtc-internals reader from the fixtures'
// dumps.
func FuzzInternals(f *testing.F) {
	f.Add([]byte(`{"PeerConnections":{"1-1":{"updateLog":[{"type":"onicecandidate","value":"{\"candidate\":\"candidate:1 1 udp 1 10.0.0.2 5000 typ host\"}","timestamp":1}]}}}`))
	fuzzImport(f, WebRTCInternals, "testdata/chrome-internals-*.json", "testdata/chromium-symmetric-internals.json")
}

// FuzzGetStats fuzzes the getStats() report reader from the fixtures'
// reports (an array, a map, reports over time).
func FuzzGetStats(f *testing.F) {
	f.Add([]byte(`[["I1",{"type":"local-candidate","candidateType":"host","address":"10.0.0.2","port":1}]]`))
	fuzzImport(f, GetStats, "testdata/chrome-getstats-*.json", "testdata/chromium-*-getstats.json")
}

// FuzzPionGetStats fuzzes the reader of pion's GetStats() JSON from the
// pion fixtures.
func FuzzPionGetStats(f *testing.F) {
	fuzzImport(f, PionGetStats, "testdata/pion-*-direct.json", "testdata/pion-udp-blocked-*.json", "testdata/pion-dtls-filtered.json", "testdata/pion-relay-policy-turn-udp.json")
}
