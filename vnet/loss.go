package vnet

import "fmt"

// lossModel decides, packet by packet, which packets the wire loses: it
// draws from r, and a model with memory keeps it in *bad, the state of the
// packet's flow (draws.go).
type lossModel interface {
	lose(r draw, bad *bool) bool
}

// draw is a source of uniform numbers in [0, 1): a packet's draws, or a
// *rand.Rand in tests.
type draw interface{ Float64() float64 }

func newLossModel(p, burst float64) lossModel {
	switch {
	case p == 0:
		return noLoss{}
	case burst == 0:
		return independentLoss(p)
	}
	return newGilbertElliott(p, burst)
}

type noLoss struct{}

func (noLoss) lose(draw, *bool) bool { return false }

// independentLoss loses each packet with the same probability, whatever
// happened to the ones before (a Bernoulli process).
type independentLoss float64

func (p independentLoss) lose(r draw, _ *bool) bool { return r.Float64() < float64(p) }

// gilbertElliott loses packets in bursts: a two-state Markov chain, good
// and bad, moves once per packet of a flow (each flow through a link has
// its own chain; libwebrtc's SimulatedNetwork has one per link, the same
// for a link that carries one flow); a packet is lost in the bad state and
// delivered in the good one. This is the Gilbert–Elliott model (E. N.
// Gilbert, "Capacity of a burst-noise channel", 1960; E. O. Elliott,
// "Estimates of error rates for codes on burst-noise channels", 1963) in
// the two-parameter form libwebrtc's SimulatedNetwork uses for
// avg_burst_loss_length (test/network/simulated_network.cc).
//
// For a loss rate p and a mean burst length L, the chain stays bad with
// probability 1 - 1/L, so a burst lasts L packets on average (its length
// is geometric), and turns bad from good with probability p/((1-p)L), so
// that the stationary probability of the bad state, the long-run loss
// rate, is p. That needs L >= p/(1-p): short bursts cannot make a high
// loss rate.
type gilbertElliott struct {
	enter, stay float64 // P(good→bad), P(bad→bad)
}

func newGilbertElliott(p, burst float64) *gilbertElliott {
	return &gilbertElliott{enter: p / (1 - p) / burst, stay: 1 - 1/burst}
}

func (g *gilbertElliott) lose(r draw, bad *bool) bool {
	if *bad {
		*bad = r.Float64() < g.stay
	} else {
		*bad = r.Float64() < g.enter
	}
	return *bad
}

// validateBurst checks that loss rate p can come in bursts of mean length
// burst (zero: independent losses).
func validateBurst(p, burst float64) error {
	switch {
	case burst == 0:
		return nil
	case !(burst >= 1):
		return fmt.Errorf("loss burst %v is below one packet", burst)
	case p == 1:
		return fmt.Errorf("loss 100%% is one endless burst; a burst length applies to a lower loss rate")
	case p > 0 && p/(1-p) > burst:
		return fmt.Errorf("loss %s cannot come in bursts of %g packets: that rate needs bursts of at least %.3g", percent(p), burst, p/(1-p))
	}
	return nil
}
