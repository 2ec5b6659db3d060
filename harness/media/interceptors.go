package media

import (
	"github.com/icelab/icelab/harness/gcc"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/interceptor/pkg/report"
	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/logging"
	"github.com/pion/webrtc/v4"
)

// NACKHistory is how many packets a sender keeps per stream to answer NACKs
// from: pion's default is 1024, some 1.5 MB a stream once full, which a
// media node pays once per subscription. libwebrtc keeps what it sent in
// the last max(1 s, 3 × RTT) (modules/rtp_rtcp/source/rtp_packet_history,
// kMinPacketDurationMs and kMinPacketDurationRtt); 256 packets are 1.4 s of
// the harness's 1.5 Mbit/s video, 3 × RTT for round trips up to 470 ms. A
// retransmission asked for later than that would arrive too late to play.
const NACKHistory = 256

// NodeMaxBitrate bounds a media node's estimate of what it may send one
// subscriber: far above any room the harness runs.
const NodeMaxBitrate = 100_000_000

// Interceptors registers pion's default codecs and interceptors (NACK
// generator and responder, RTCP reports, simulcast header extensions, the
// transport-wide congestion control header), in pion's order, with a NACK
// responder that keeps NACKHistory packets per stream without copying them
// (see nackResponder): whoever writes through it must not reuse a payload
// it has written. pion's stats interceptor, which feeds GetStats' RTP
// entries, is left out: the media node never reads them (its meters count
// what flows), and it costs a lock and a map lookup per packet and
// subscription. Under them all, each stream's reads share one attributes
// map (attributesFactory).
//
// With a non-nil estimated, what the node sends runs send-side congestion
// control as LiveKit's does with rtc.congestion_control.use_send_side_bwe
// (pkg/rtc/transport.go: transport-wide sequence numbers on every packet,
// an estimate per peer connection from the subscriber's feedback): package
// gcc's estimator, handed to estimated as each peer connection is built,
// for the node to choose simulcast layers by. LiveKit's default is the
// subscriber's REMB, which pion's receivers do not send. pion's
// interceptors log to lf (nil: pion's default, the process's stderr).
func Interceptors(m *webrtc.MediaEngine, ir *interceptor.Registry, lf logging.LoggerFactory, estimated func(*gcc.Estimator)) error {
	if err := m.RegisterDefaultCodecs(); err != nil {
		return err
	}
	ir.Add(attributesFactory{}) // first: the innermost reader
	if estimated != nil {
		if err := congestionControl(m, ir, estimated, NodeMaxBitrate); err != nil {
			return err
		}
	}
	// webrtc.ConfigureNack, with the responder replaced.
	generator, err := nack.NewGeneratorInterceptor(nack.WithGeneratorLoggerFactory(lf))
	if err != nil {
		return err
	}
	m.RegisterFeedback(webrtc.RTCPFeedback{Type: "nack"}, webrtc.RTPCodecTypeVideo)
	m.RegisterFeedback(webrtc.RTCPFeedback{Type: "nack", Parameter: "pli"}, webrtc.RTPCodecTypeVideo)
	ir.Add(nackResponderFactory{size: NACKHistory})
	ir.Add(generator)
	return defaultsAfterNACK(m, ir, lf)
}

// defaultsAfterNACK registers what webrtc.RegisterDefaultInterceptors
// registers after NACK, but stats: RTCP reports, simulcast header
// extensions and transport-wide congestion control feedback, logging to
// lf (nil: pion's default logger factory, as without the option).
func defaultsAfterNACK(m *webrtc.MediaEngine, ir *interceptor.Registry, lf logging.LoggerFactory) error {
	if err := webrtc.ConfigureRTCPReportsWithOptions(ir,
		[]report.ReceiverOption{report.WithReceiverLoggerFactory(lf)},
		report.WithSenderLoggerFactory(lf)); err != nil {
		return err
	}
	if err := webrtc.ConfigureSimulcastExtensionHeaders(m); err != nil {
		return err
	}
	return webrtc.ConfigureTWCCSenderWithOptions(m, ir, twcc.WithLoggerFactory(lf))
}

// ClientInterceptors registers what webrtc.NewAPI registers for an
// application that configures none (pion's default codecs; NACK generator
// and responder, RTCP reports, simulcast header extensions, the
// transport-wide congestion control feedback, each with logger), in pion's
// order, but pion's stats interceptor: a client stands for a pion
// application, and what it puts on the wire is pion's default, but nothing
// reads the RTP entries of its GetStats (the harness reads its candidate
// pairs, which pion's ICE agent reports without an interceptor), and the
// stats interceptor is a layer of every packet's receive path with a lock,
// a map lookup and a queue send per packet, and parses every RTCP packet
// once more. It sends nothing: the wire does not change.
//
// With a non-nil estimated, the sender also runs Google congestion control
// as a browser does (package gcc: libwebrtc's goog_cc, deterministic,
// where pion/interceptor's gcc is not) on transport-wide feedback, with
// the transport-wide sequence number stamped on every packet sent
// (webrtc.ConfigureTWCCHeaderExtensionSender), starting at StartBitrate
// and capped at what the harness's media can use (simulcast: its layers
// together); estimated gets the
// peer connection's estimator when the connection is made. Congestion
// control sits nearest the wire, as in pion's bandwidth-estimation
// examples, so that it sees every packet, retransmissions included, each
// stamped before it. Publish paces what the encoder makes (PacingFactor).
func ClientInterceptors(m *webrtc.MediaEngine, ir *interceptor.Registry, lf logging.LoggerFactory, estimated func(Estimator), simulcast bool) error {
	if err := m.RegisterDefaultCodecs(); err != nil {
		return err
	}
	// webrtc.RegisterDefaultInterceptorsWithOptions, without
	// ConfigureStatsInterceptorWithOptions, under an attributes map per
	// stream (attributesFactory: first, so the innermost reader).
	ir.Add(attributesFactory{})
	if estimated != nil {
		top := MaxVideoBitrate
		if simulcast {
			top = SimulcastMax(SimulcastLayers())
		}
		if err := congestionControl(m, ir, func(e *gcc.Estimator) { estimated(e) }, top+AudioBitrate); err != nil {
			return err
		}
	}
	if err := webrtc.ConfigureNackWithOptions(m, ir,
		[]nack.GeneratorOption{nack.WithGeneratorLoggerFactory(lf)},
		nack.WithResponderLoggerFactory(lf)); err != nil {
		return err
	}
	return defaultsAfterNACK(m, ir, lf)
}

// congestionControl registers send-side GCC (package gcc) and the
// transport-wide sequence numbers it needs, handing each peer connection's
// estimator to estimated; the estimate stays under max, what the sender's
// media can use. gcc's interceptor goes first, nearest the wire, so that it
// sees each packet stamped as it leaves.
func congestionControl(m *webrtc.MediaEngine, ir *interceptor.Registry, estimated func(*gcc.Estimator), max int) error {
	ir.Add(gcc.NewInterceptorFactory(gcc.Config{Start: StartBitrate, Min: MinVideoBitrate, Max: max}, estimated))
	return webrtc.ConfigureTWCCHeaderExtensionSender(m, ir)
}
