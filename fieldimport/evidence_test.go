package fieldimport

import (
	"reflect"
	"testing"
	"time"
)

// TestUpdateLogValues proves the update log's values are read in the
// forms Chromium has written them: candidates as JSON (newer) and as
// "sdpMid: ..., candidate: ..." text (older, from
// peer_connection_tracker.cc), candidate errors as text and JSON, the
// configuration as JSON and as SerializeConfiguration's text.
func TestUpdateLogValues(t *testing.T) {
	relay := &Candidate{Type: "relay", Protocol: "udp", Address: "198.18.7.9", Port: 61000, RelatedPort: 49152,
		URL: "turns:turn.example.com:443?transport=tcp", RelayProtocol: "tls"}
	for _, v := range []string{
		`{"sdpMid":"0","sdpMLineIndex":0,"candidate":"candidate:3 1 udp 8265983 198.18.7.9 61000 typ relay raddr 10.0.0.2 rport 49152 generation 0","url":"turns:turn.example.com:443?transport=tcp","relayProtocol":"tls"}`,
		"sdpMid: 0, sdpMLineIndex: 0, candidate: candidate:3 1 udp 8265983 198.18.7.9 61000 typ relay raddr 10.0.0.2 rport 49152 generation 0, url: turns:turn.example.com:443?transport=tcp, relayProtocol: tls",
	} {
		got, ok := parseCandidateEvent(v)
		if !ok || !reflect.DeepEqual(got, relay) {
			t.Errorf("%s\ngot  %+v\nwant %+v", v, got, relay)
		}
	}
	tcp, ok := parseCandidateLine("a=candidate:2 1 TCP 1518280447 10.0.0.2 9 typ host tcptype active generation 0")
	if !ok || tcp.Protocol != "tcp" || tcp.TCPType != "active" || tcp.Port != 9 || tcp.Type != "host" {
		t.Errorf("ICE-TCP candidate: %+v", tcp)
	}
	for _, bad := range []string{"", "candidate:1 1 udp", "candidate:1 1 udp 1 10.0.0.2 99999 typ host", "candidate:1 1 udp 1 10.0.0.2 5000 type host"} {
		if c, ok := parseCandidateLine(bad); ok {
			t.Errorf("%q read as %+v", bad, c)
		}
	}

	want := CandidateError{URL: "stun:stun.example.org:19302", Code: 701, Text: "STUN binding request timed out."}
	for _, v := range []string{
		"url: stun:stun.example.org:19302\naddress: 10.0.0.2\nport: 50000\nhost_candidate: 10.0.0.2:50000\nerror_text: STUN binding request timed out.\nerror_code: 701",
		`{"address":"10.0.0.2","port":50000,"url":"stun:stun.example.org:19302","errorCode":701,"errorText":"STUN binding request timed out."}`,
	} {
		if got := parseCandidateError(Event{Value: v}); !reflect.DeepEqual(got, want) {
			t.Errorf("%q\ngot  %+v\nwant %+v", v, got, want)
		}
	}

	wantCfg := &Config{ICEServers: []string{"stun:stun.example.org:19302", "turn:turn.example.org:3478?transport=udp"}, Policy: "relay"}
	for _, v := range []string{
		"{ iceServers: [stun:stun.example.org:19302, turn:turn.example.org:3478?transport=udp], iceTransportPolicy: relay, bundlePolicy: max-bundle, rtcpMuxPolicy: require, iceCandidatePoolSize: 0 }",
		`{"iceServers":[{"urls":["stun:stun.example.org:19302"]},{"urls":"turn:turn.example.org:3478?transport=udp"}],"iceTransportPolicy":"relay"}`,
	} {
		r := &reader{file: "dump", data: []byte(v)}
		got, err := r.rtcConfiguration(&jvalue{kind: jString, s: v}, "rtcConfiguration")
		if err != nil || !reflect.DeepEqual(got, wantCfg) {
			t.Errorf("%s\ngot  %+v (%v)\nwant %+v", v, got, err, wantCfg)
		}
	}
}

// TestTimes proves the update log's times are read in each form: epoch
// milliseconds (a number, or its text), Date.toJSON, and the en-US
// rendering older webrtc-internals wrote; anything else is unknown,
// not an error.
func TestTimes(t *testing.T) {
	at := time.Date(2024, 1, 15, 10, 0, 1, 0, time.UTC)
	for _, s := range []string{"1705312801000", "2024-01-15T10:00:01.000Z", "1/15/2024, 10:00:01 AM"} {
		if got := parseTime(s); !got.Equal(at) {
			t.Errorf("%q read as %v, want %v", s, got, at)
		}
	}
	for _, s := range []string{"", "15.1.2024, 10:00:01", "-5", "1e300"} {
		if got := parseTime(s); !got.IsZero() {
			t.Errorf("%q read as %v, want unknown", s, got)
		}
	}
	if eventType("oniceconnectionstatechange") != "iceconnectionstatechange" || eventType("onnegotiationneeded") != "negotiationneeded" || eventType("addIceCandidate") != "addIceCandidate" {
		t.Error("event types")
	}
	if unwrapJSONString(`"checking"`) != "checking" || unwrapJSONString("checking") != "checking" || unwrapJSONString(`{"a":1}`) != `{"a":1}` {
		t.Error("values")
	}
	if legacyICEState("kICEConnectionStateConnected") != "connected" || legacyICEState("ICEConnectionStateFailed") != "failed" {
		t.Error("legacy ICE states")
	}
}
