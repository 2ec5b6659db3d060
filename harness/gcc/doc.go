// Package gcc is send-side congestion control as a browser runs it:
// Google congestion control (draft-ietf-rmcat-gcc-02) on transport-wide
// feedback (draft-holmer-rmcat-transport-wide-cc-extensions-01), after
// libwebrtc's goog_cc — a trendline estimator of the queueing delay's
// growth with an adaptive threshold, additive-increase and
// multiplicative-decrease rate control on the acknowledged bitrate, and a
// loss-based bound — as a pion interceptor whose estimate a sender's
// encoder follows.
//
// It exists beside pion/interceptor's gcc package for one reason: a test
// must give the same answer every time. pion's GCC (v0.1.51) hands each
// feedback to two goroutines (pkg/gcc delay_based_bwe.go: the arrival
// groups and the received rate) whose results meet in one rate
// controller in whichever order they finish (rate_controller.go
// onReceivedRate and onDelayStats), so the same packets and the same
// feedback give a different bitrate from run to run. Here a feedback is
// taken whole, in the goroutine that reads it, and nothing else changes
// the estimate.
//
// The package knows RTP, RTCP and pion's interceptor interfaces; it knows
// nothing of media, networks or the harness.
package gcc
