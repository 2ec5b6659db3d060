package sfu

import (
	"fmt"
	"math/bits"
	"time"
)

// Preference is the transport the node makes a participant's peer
// connections prefer, as LiveKit's ICECandidateType (livekit/protocol
// livekit_internal.proto: ICT_NONE, ICT_TCP, ICT_TLS).
type Preference int

// Preferences, in ladder order.
const (
	PreferNone Preference = iota
	PreferTCP
	PreferTLS
)

func (p Preference) String() string {
	switch p {
	case PreferTCP:
		return "ICE/TCP"
	case PreferTLS:
		return "TURN/TLS"
	}
	return "none"
}

// connType is what carried a peer connection's last selected pair, as
// LiveKit classifies it (pkg/rtc/types/ice.go): by the remote candidate of
// the pair, a relay (or a peer-reflexive candidate at a relay's address)
// being TURN. Unknown when nothing is selected, which an ICE restart brings
// back (pkg/rtc/transport.go clears it with the local description).
type connType int

const (
	connUnknown connType = iota
	connUDP
	connTCP
	connTURN
)

func (c connType) String() string {
	return [...]string{"unknown", "UDP", "TCP", "TURN"}[c]
}

// LadderConfig is what drives the transport ladder, from the node's
// livekit.yaml (LiveKit's pkg/config/config.go).
type LadderConfig struct {
	// AllowTCPFallback is rtc.allow_tcp_fallback: LiveKit's default is
	// true (unset), and false turns the ladder off.
	AllowTCPFallback bool
	// TCPFallbackRTTThreshold is rtc.tcp_fallback_rtt_threshold: a step
	// to ICE/TCP needs the signalling round trip below it; zero disables
	// the check (LiveKit's default) and the UDP-unstable rule.
	TCPFallbackRTTThreshold time.Duration
	// AllowUDPUnstableFallback is rtc.allow_udp_unstable_fallback.
	AllowUDPUnstableFallback bool
	// TURNTLSEnabled: the deployment serves TURN/TLS (turn.enabled and a
	// tls_port, LiveKit's TURNSEnabled).
	TURNTLSEnabled bool
}

// LiveKit's constants (pkg/rtc/transportmanager.go, pkg/rtc/transport.go,
// pkg/rtc/participant.go, at livekit/livekit 788d4c35).
const (
	failureCountThreshold   = 2
	failureWindow           = time.Minute
	shortConnectionLimit    = 90 * time.Second
	signalRecentLimit       = 15 * time.Second // PingTimeoutSeconds
	udpLossUnstableFraction = 255 * 25 / 100   // FractionLost of 63/256 and up
	udpLossUnstableCount    = 20               // of the last 32 samples
	mediaRTTUpdateInterval  = 5 * time.Second
	lossSampleInterval      = time.Second
	iceConfigCacheTTL       = 5 * time.Minute
	disconnectAfterFailure  = 5 * time.Second
	pingInterval            = 5 * time.Second
	pingTimeout             = 15 * time.Second
	// Server ICE timeouts (pkg/rtc/transport.go): disconnected after 10 s
	// without traffic, failed 5 s later, a keepalive every 2 s.
	iceDisconnectedTimeout = 10 * time.Second
	iceFailedTimeout       = 5 * time.Second
	iceKeepalive           = 2 * time.Second
)

// ladder is one participant's transport ladder, LiveKit's TransportManager:
// on an ICE failure it moves the participant's preferred transport one step
// down none → ICE/TCP → TURN/TLS → none, if the signal connection was seen
// recently and is valid; a short-lived connection moves at once, others on
// the second failure within a minute; it moves once until reset, and every
// resume resets it (configure with reset). Its UDP-unstable rule treats
// sustained loss reported by the participant as a short-lived failure.
// Not safe for concurrent use: the participant holds its lock.
type ladder struct {
	cfg          LadderConfig
	clientICETCP bool

	pref         Preference
	failures     int
	lastFailure  time.Time
	reconfigured bool
	lastSignal   time.Time
	signalValid  bool

	// The UDP-unstable rule: a 32-sample register of lossy seconds, fed by
	// the highest FractionLost of the participant's receiver reports per
	// second; off for the session once a preference other than none is set.
	lossBits     uint32
	lossMax      uint8
	lossSampleAt time.Time
	lossOff      bool
	udpRTT       time.Duration
	udpRTTAt     time.Time
	signalRTT    time.Duration
}

// decision is what one ladder event did: moved to To, or not, and why.
type decision struct {
	From, To Preference
	Moved    bool
	Why      string
}

// recentSignal reports whether the participant's signal connection was seen
// within the last 15 s.
func (l *ladder) recentSignal(now time.Time) bool {
	return now.Sub(l.lastSignal) < signalRecentLimit
}

// failed handles a failure of a peer connection whose last selected pair
// was conn, at now: LiveKit's handleConnectionFailed.
func (l *ladder) failed(now time.Time, short bool, conn connType) decision {
	d := decision{From: l.pref, To: l.pref}
	switch {
	case !l.cfg.AllowTCPFallback:
		d.Why = "rtc.allow_tcp_fallback is off"
		return d
	case l.reconfigured:
		d.Why = "already moved once since the last resume"
		return d
	case !l.recentSignal(now):
		l.failures, l.lastFailure = 0, time.Time{}
		d.Why = fmt.Sprintf("signal connection not seen for %.1f s (the ladder needs it within 15 s)", now.Sub(l.lastSignal).Seconds())
		return d
	case !l.signalValid:
		l.failures, l.lastFailure = 0, time.Time{}
		d.Why = "signal connection closed"
		return d
	}
	next := l.next(conn)
	what := fmt.Sprintf("last pair %s", conn)
	if short {
		what = "short-lived connection, " + what
	} else {
		l.failures++
		last := l.lastFailure
		l.lastFailure = now
		if l.failures < failureCountThreshold || now.Sub(last) > failureWindow {
			d.Why = fmt.Sprintf("failure %d, %s: the ladder moves on the second within a minute", l.failures, what)
			if l.failures >= failureCountThreshold {
				d.Why = fmt.Sprintf("failure %d, %.0f s after the one before: the ladder moves on two within a minute", l.failures, now.Sub(last).Seconds())
			}
			return d
		}
		what = fmt.Sprintf("failure %d within %.0f s, %s", l.failures, now.Sub(last).Seconds(), what)
	}
	if next == l.pref {
		d.Why = what + ": no further step from " + l.pref.String()
		return d
	}
	l.reconfigured = true
	l.configure(next, false)
	d.To, d.Moved, d.Why = next, true, what
	return d
}

// next is the step after a failure whose last pair was conn (LiveKit's
// getNext): UDP moves to ICE/TCP when the client can do ICE-TCP and the
// signalling round trip allows, else to TURN/TLS if the deployment serves
// it; TCP moves to TURN/TLS; TURN stays; a connection that never selected a
// pair since its last ICE restart goes back to none.
func (l *ladder) next(conn connType) Preference {
	switch conn {
	case connUDP:
		if l.pref != PreferNone {
			return PreferNone
		}
		if l.clientICETCP && (l.cfg.TCPFallbackRTTThreshold == 0 || l.signalRTT < l.cfg.TCPFallbackRTTThreshold) {
			return PreferTCP
		}
		if l.cfg.TURNTLSEnabled {
			return PreferTLS
		}
	case connTCP:
		if l.cfg.TURNTLSEnabled {
			return PreferTLS
		}
		return l.pref
	case connTURN:
		return l.pref
	}
	return PreferNone
}

// configure sets the preference, LiveKit's configureICE: a reset (at join
// and every resume) or a change clears the failure count, the last failure
// and the loss register; reconfigured is set by a change made by the
// ladder itself and cleared by a reset. Any preference other than none
// turns the UDP-unstable rule off for the session.
func (l *ladder) configure(p Preference, reset bool) (changed bool) {
	changed = p != l.pref
	if reset || changed {
		l.failures, l.lastFailure, l.lossBits = 0, time.Time{}, 0
		l.reconfigured = !reset
	}
	if !changed {
		return false
	}
	l.pref = p
	if p != PreferNone {
		l.lossOff = true
	}
	return true
}

// receiverLoss takes the FractionLost of a receiver report block from the
// participant (on a track the node sends it) at now, and returns whether
// the UDP-unstable rule fires: at most one sample a second, the highest
// loss seen since the last, shifted into a 32-sample register; it fires on
// a lossy sample when 20 of the last 32 were at 63/256 or more, the media
// round trip is known, the signalling round trip is below 1.3 times it and
// below the threshold, and the signal is recent.
func (l *ladder) receiverLoss(now time.Time, fractionLost uint8) (fire bool, why string) {
	l.lossMax = max(l.lossMax, fractionLost)
	if now.Sub(l.lossSampleAt) <= lossSampleInterval {
		return false, ""
	}
	sample := l.lossMax
	l.lossMax, l.lossSampleAt = 0, now
	if l.cfg.TCPFallbackRTTThreshold == 0 || !l.cfg.AllowUDPUnstableFallback || l.lossOff {
		return false, ""
	}
	l.lossBits <<= 1
	if sample < udpLossUnstableFraction {
		return false, ""
	}
	l.lossBits |= 1
	n := bits.OnesCount32(l.lossBits)
	if n < udpLossUnstableCount || l.udpRTT <= 0 ||
		float64(l.signalRTT) >= 1.3*float64(l.udpRTT) || l.signalRTT >= l.cfg.TCPFallbackRTTThreshold || !l.recentSignal(now) {
		return false, ""
	}
	l.lossBits = 0
	return true, fmt.Sprintf("UDP unstable: %d of the last 32 seconds' receiver reports at 25%% loss or more (signalling RTT %v, media RTT %v)",
		n, l.signalRTT.Round(time.Millisecond), l.udpRTT.Round(time.Millisecond))
}

// mediaRTT takes a round trip measured from the participant's receiver
// reports: at most one update every 5 s, smoothed as LiveKit does.
func (l *ladder) mediaRTT(now time.Time, rtt time.Duration) {
	if !l.udpRTTAt.IsZero() && now.Sub(l.udpRTTAt) < mediaRTTUpdateInterval {
		return
	}
	l.udpRTTAt = now
	if l.udpRTT == 0 {
		l.udpRTT = rtt
		return
	}
	l.udpRTT += (rtt - l.udpRTT) / 2
}
