package fieldimport

import (
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"strings"
	"testing"
)

// TestBadInputIsNamed proves every kind of input that is not a dump icelab
// reads gets an *Error naming the file, the line where it can and what is
// missing, and no panic.
func TestBadInputIsNamed(t *testing.T) {
	fixture, err := os.ReadFile("testdata/pion-home-router-direct.json")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, data string
		line       int
		want       string
	}{
		{"empty", "  \n", 0, "empty file; want a webrtc-internals dump"},
		{"not JSON", "hello", 1, "not valid JSON: invalid character 'h'"},
		{"truncated", string(fixture[:len(fixture)*2/3]), strings.Count(string(fixture[:len(fixture)*2/3]), "\n") + 1,
			"not valid JSON: the JSON ends before its last value is complete (is the file truncated?)"},
		{"trailing garbage", "{\"a\": 1}\n}", 2, "more data after the JSON value ends"},
		{"unrelated object", `{"hello": "world", "answer": 42}`, 1, "not a WebRTC dump: want a webrtc-internals dump (an object with PeerConnections), a getStats() report (stats objects with id and type, as an array, [id, stats] entries or a map), or pion's GetStats() JSON; found an object with keys answer, hello"},
		{"array of numbers", "[1, 2, 3]", 1, "not a WebRTC dump: want a webrtc-internals dump (an object with PeerConnections), a getStats() report (stats objects with id and type, as an array, [id, stats] entries or a map), or pion's GetStats() JSON; found an array of 3 items, the first a number"},
		{"no peer connection", `{"getUserMedia": [], "PeerConnections": {}, "UserAgent": "x"}`, 1, "PeerConnections: empty: the dump holds no peer connection"},
		{"peer connections not an object", `{"PeerConnections": [1]}`, 1, "PeerConnections: want an object of peer connections by id, found an array of 1 items, the first a number"},
		{"a peer connection with nothing", "{\"PeerConnections\": {\n \"1-1\": {\"url\": \"x\"}}}", 2, `PeerConnections["1-1"]: has neither updateLog nor stats`},
		{"update log entry without type", "{\"PeerConnections\": {\"1-1\": {\"updateLog\": [\n {\"value\": \"x\"}]}}}", 2, `PeerConnections["1-1"].updateLog[0].type: missing; every update log entry has a type`},
		{"series values not an array", "{\"PeerConnections\": {\"1-1\": {\"stats\": {\n \"T01-dtlsState\": {\"statsType\": \"transport\",\n \"values\": \"[\\\"new\\\"\"}}}}}", 3,
			`PeerConnections["1-1"].stats["T01-dtlsState"].values: not a JSON array: the JSON ends before its last value is complete`},
		{"series key without attribute", "{\"PeerConnections\": {\"1-1\": {\"stats\": {\"T01\": {}}}}}", 1, `stats["T01"]: want a key "STATSID-ATTRIBUTE"`},
		{"legacy goog stats in a dump", "{\"PeerConnections\": {\"1-1\": {\"stats\": {\n \"Conn-audio-1-0-googActiveConnection\": {\"statsType\": \"googCandidatePair\", \"values\": \"[true]\"}}}}}", 2,
			"holds legacy goog* stats (Chrome's callback-based getStats(), in webrtc-internals before Chrome 80"},
		{"legacy goog stats in a report", `[{"id": "Conn-audio-1-0", "type": "googCandidatePair", "googActiveConnection": "true"}]`, 1, "this report holds legacy goog* stats"},
		{"stats object without type", "[{\"id\": \"T01\", \"type\": \"transport\"},\n {\"id\": \"x\"}]", 2, "[1].type: missing; every stats object has a type"},
		{"report entry of the wrong size", "[[\"T01\", {\"type\": \"transport\"}],\n [\"x\"]]", 2, "[1]: want an [id, stats] entry, found an array of 1 items"},
		{"unknown candidate type", `[{"id": "I1", "type": "local-candidate", "candidateType": "h20t", "address": "10.0.0.2", "port": 1}]`, 0,
			`stats["I1"].candidateType: "h20t" is not a candidate type; want one of host, srflx, prflx, relay`},
		{"rtcstats dump", "RTCStatsDump\n{\"fileFormat\":3}\n", 1, "this is an rtcstats dump"},
		{"deeply nested", strings.Repeat("[", 300) + strings.Repeat("]", 300), 1, "nested more than 200 levels deep"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, err := Parse("dump.json", []byte(c.data))
			if err == nil {
				_, err = Gather(d, "")
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("want an *Error, got %v", err)
			}
			if e.File != "dump.json" || e.Line != c.line || !strings.Contains(e.Error(), c.want) {
				t.Errorf("got %q (line %d)\nwant line %d and %q", e.Error(), e.Line, c.line, c.want)
			}
		})
	}
}

// TestNoCandidates proves a report that holds stats but no candidate is
// refused with what is missing.
func TestNoCandidates(t *testing.T) {
	d, err := Parse("early.json", []byte(`[{"id": "T01", "type": "transport", "dtlsState": "new"}]`))
	if err != nil {
		t.Fatal(err)
	}
	_, err = Gather(d, "")
	if err == nil || !strings.Contains(err.Error(), "early.json: no ICE candidates: its stats hold no local-candidate or remote-candidate objects; was the dump taken before ICE started?") {
		t.Errorf("got %v", err)
	}
}

// TestFormats proves each shape is recognised: webrtc-internals, the
// three shapes of a getStats() report, a wrapper holding one, reports
// over time, pion's, and a gzip-compressed dump.
func TestFormats(t *testing.T) {
	pion, err := os.ReadFile("testdata/pion-home-router-direct.json")
	if err != nil {
		t.Fatal(err)
	}
	internals, err := os.ReadFile("testdata/chrome-internals-tcp-443-only.json")
	if err != nil {
		t.Fatal(err)
	}
	chromeInternals := string(internals)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	if _, err := zw.Write([]byte(chromeInternals)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	const obj = `{"id": "I1", "type": "local-candidate", "candidateType": "host", "address": "192.168.1.20", "port": 5000, "protocol": "udp"}`
	cases := []struct {
		name, data string
		format     Format
		snapshots  int
	}{
		{"webrtc-internals", chromeInternals, WebRTCInternals, 4},
		{"webrtc-internals gzipped", gz.String(), WebRTCInternals, 4},
		{"array of stats", "[" + obj + "]", GetStats, 1},
		{"entries", `[["I1", ` + obj + `]]`, GetStats, 1},
		{"map", `{"I1": ` + obj + `}`, GetStats, 1},
		{"a wrapper", `{"state": "connected", "report": [` + obj + `]}`, GetStats, 1},
		{"reports over time", "[[" + obj + "], [" + obj + "]]", GetStats, 2},
		{"pion", string(pion), PionGetStats, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, err := Parse("dump", []byte(c.data))
			if err != nil {
				t.Fatal(err)
			}
			if d.Format != c.format || d.Connections[0].Snapshots != c.snapshots {
				t.Errorf("format %s with %d reports, want %s with %d", d.Format, d.Connections[0].Snapshots, c.format, c.snapshots)
			}
			if _, err := Gather(d, ""); err != nil {
				t.Error(err)
			}
		})
	}
	if _, err := ParseAs("dump", pion, WebRTCInternals); err == nil || !strings.Contains(err.Error(), "PeerConnections: missing; a webrtc-internals dump is an object with PeerConnections") {
		t.Errorf("pion JSON read as webrtc-internals: %v", err)
	}
	if _, err := ParseAs("dump", []byte(chromeInternals), GetStats); err == nil || !strings.Contains(err.Error(), "this is a webrtc-internals dump (it has PeerConnections), not getStats") {
		t.Errorf("webrtc-internals read as getStats: %v", err)
	}
	if _, err := ParseAs("dump", pion, "har"); err == nil || !strings.Contains(err.Error(), `unknown format "har"; want one of webrtc-internals, getStats, pion-getstats`) {
		t.Errorf("unknown format: %v", err)
	}
}
