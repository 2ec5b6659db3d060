package sfu

import (
	"strings"
)

// LiveKit's ICE/TCP step is enforced by the node alone
// (pkg/rtc/transport.go, filterCandidates and friends): it drops its own
// candidates that are not TCP from what it sends, and the client's that are
// not TCP from what it receives, so that only an ICE-TCP pair can form. The
// client is told nothing.

// isTCPCandidate reports whether an ICE candidate line is a TCP one, as
// LiveKit tells them apart: by "tcp" in the line (a relay candidate's line
// says udp, whatever carries it to its relay).
func isTCPCandidate(line string) bool {
	return strings.Contains(strings.ToLower(line), "tcp")
}

// keepTCPCandidates removes every candidate line that is not TCP from an
// SDP.
func keepTCPCandidates(sdp string) string {
	lines := strings.SplitAfter(sdp, "\n")
	out := lines[:0]
	for _, l := range lines {
		if strings.HasPrefix(strings.TrimSpace(l), "a=candidate:") && !isTCPCandidate(l) {
			continue
		}
		out = append(out, l)
	}
	return strings.Join(out, "")
}

// iceUfrag returns the first ice-ufrag of an SDP: a new one is an ICE
// restart.
func iceUfrag(sdp string) string {
	for _, l := range strings.Split(sdp, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "a=ice-ufrag:"); ok {
			return v
		}
	}
	return ""
}
