package sfu

import (
	"testing"
	"time"
)

var t0 = time.Unix(1_000_000, 0)

func newLadder(cfg LadderConfig, iceTCP bool) *ladder {
	return &ladder{cfg: cfg, clientICETCP: iceTCP, lastSignal: t0, signalValid: true}
}

var liveKitDefaults = LadderConfig{AllowTCPFallback: true, TURNTLSEnabled: true}

// TestLadderSteps walks LiveKit's ladder from UDP: a client that can do
// ICE-TCP goes to ICE/TCP, then on the next resume's failure of the TCP
// connection to TURN/TLS, where it stays; one that cannot goes to TURN/TLS
// at once; without TURN/TLS the ladder ends at ICE/TCP.
func TestLadderSteps(t *testing.T) {
	l := newLadder(liveKitDefaults, true)
	if d := l.failed(t0, true, connUDP); !d.Moved || d.To != PreferTCP {
		t.Fatalf("from UDP: %+v, want a move to ICE/TCP", d)
	}
	l.configure(l.pref, true) // the resume
	if d := l.failed(t0, true, connTCP); !d.Moved || d.To != PreferTLS {
		t.Fatalf("from TCP: %+v, want a move to TURN/TLS", d)
	}
	l.configure(l.pref, true)
	if d := l.failed(t0, true, connTURN); d.Moved {
		t.Fatalf("from TURN: %+v, want no move", d)
	}
	if d := newLadder(liveKitDefaults, false).failed(t0, true, connUDP); d.To != PreferTLS {
		t.Errorf("a client without ICE-TCP: %+v, want TURN/TLS", d)
	}
	noTLS := liveKitDefaults
	noTLS.TURNTLSEnabled = false
	l = newLadder(noTLS, true)
	l.failed(t0, true, connUDP)
	l.configure(l.pref, true)
	if d := l.failed(t0, true, connTCP); d.Moved || d.To != PreferTCP {
		t.Errorf("without TURN/TLS, from TCP: %+v, want to stay at ICE/TCP", d)
	}
	// An ICE/TCP attempt that never selected a pair (the port blocked):
	// LiveKit's getNext returns none for an unknown connection type.
	l = newLadder(liveKitDefaults, true)
	l.failed(t0, true, connUDP)
	l.configure(l.pref, true)
	if d := l.failed(t0, true, connUnknown); !d.Moved || d.To != PreferNone {
		t.Errorf("ICE/TCP never connected: %+v, want back to none", d)
	}
}

// TestLadderNeedsTwoFailuresWithinAMinute: a connection older than 90 s
// moves only on its second failure, and only within a minute of the one
// before; a single failure, or two an hour apart, do not move it.
func TestLadderNeedsTwoFailuresWithinAMinute(t *testing.T) {
	l := newLadder(liveKitDefaults, false)
	if d := l.failed(t0, false, connUDP); d.Moved {
		t.Fatalf("one failure moved the ladder: %+v", d)
	}
	l.lastSignal = t0.Add(time.Hour)
	if d := l.failed(t0.Add(time.Hour), false, connUDP); d.Moved {
		t.Fatalf("a second failure an hour later moved the ladder: %+v", d)
	}
	l.lastSignal = t0.Add(time.Hour + 30*time.Second)
	if d := l.failed(t0.Add(time.Hour+30*time.Second), false, connUDP); !d.Moved || d.To != PreferTLS {
		t.Fatalf("a failure 30 s after the one before: %+v, want a move to TURN/TLS", d)
	}
}

// TestLadderNeedsARecentValidSignal: a failure while the signal connection
// is stale (not seen for 15 s) or closed does not move the ladder, and
// resets the failure count.
func TestLadderNeedsARecentValidSignal(t *testing.T) {
	l := newLadder(liveKitDefaults, false)
	if d := l.failed(t0.Add(16*time.Second), true, connUDP); d.Moved {
		t.Fatalf("a stale signal moved the ladder: %+v", d)
	}
	l.lastSignal, l.signalValid = t0.Add(16*time.Second), false
	if d := l.failed(t0.Add(17*time.Second), true, connUDP); d.Moved {
		t.Fatalf("a closed signal moved the ladder: %+v", d)
	}
	l.signalValid = true
	if d := l.failed(t0.Add(17*time.Second), true, connUDP); !d.Moved {
		t.Fatalf("a recent, valid signal: %+v, want a move", d)
	}
}

// TestLadderMovesOnceUntilReset: after a move, later failures do nothing
// until the next resume resets the ladder; allow_tcp_fallback off never
// moves it.
func TestLadderMovesOnceUntilReset(t *testing.T) {
	l := newLadder(liveKitDefaults, true)
	l.failed(t0, true, connUDP)
	if d := l.failed(t0, true, connTCP); d.Moved {
		t.Fatalf("a second move before a reset: %+v", d)
	}
	off := liveKitDefaults
	off.AllowTCPFallback = false
	if d := newLadder(off, true).failed(t0, true, connUDP); d.Moved {
		t.Fatalf("allow_tcp_fallback off moved the ladder: %+v", d)
	}
}

// TestLadderRTTThreshold: a signalling round trip at or above
// tcp_fallback_rtt_threshold skips ICE/TCP.
func TestLadderRTTThreshold(t *testing.T) {
	cfg := liveKitDefaults
	cfg.TCPFallbackRTTThreshold = 200 * time.Millisecond
	l := newLadder(cfg, true)
	l.signalRTT = 250 * time.Millisecond
	if d := l.failed(t0, true, connUDP); d.To != PreferTLS {
		t.Errorf("signalling RTT above the threshold: %+v, want TURN/TLS", d)
	}
	l = newLadder(cfg, true)
	l.signalRTT = 150 * time.Millisecond
	if d := l.failed(t0, true, connUDP); d.To != PreferTCP {
		t.Errorf("signalling RTT below the threshold: %+v, want ICE/TCP", d)
	}
}

// TestUDPUnstable: the rule fires when 20 of the last 32 one-second samples
// of the participant's receiver reports show 25% loss or more, not on 19.
func TestUDPUnstable(t *testing.T) {
	cfg := liveKitDefaults
	cfg.TCPFallbackRTTThreshold = 500 * time.Millisecond
	cfg.AllowUDPUnstableFallback = true
	run := func(lossy int) (fired bool) {
		l := newLadder(cfg, true)
		l.signalRTT, l.udpRTT = 50*time.Millisecond, 60*time.Millisecond
		for i := range 32 {
			now := t0.Add(time.Duration(i)*1100*time.Millisecond + time.Second)
			l.lastSignal = now
			loss := uint8(10)
			if i >= 32-lossy {
				loss = 80 // 31%
			}
			if f, _ := l.receiverLoss(now, loss); f {
				fired = true
			}
		}
		return fired
	}
	if run(19) {
		t.Error("19 lossy seconds of 32 fired the rule")
	}
	if !run(20) {
		t.Error("20 lossy seconds of 32 did not fire the rule")
	}
	off := cfg
	off.AllowUDPUnstableFallback = false
	l := newLadder(off, true)
	l.signalRTT, l.udpRTT = 50*time.Millisecond, 60*time.Millisecond
	for i := range 40 {
		now := t0.Add(time.Duration(i) * 1100 * time.Millisecond)
		l.lastSignal = now
		if f, _ := l.receiverLoss(now, 200); f {
			t.Fatal("the rule fired with allow_udp_unstable_fallback off")
		}
	}
}
