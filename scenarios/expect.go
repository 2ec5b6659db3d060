package scenarios

import (
	"github.com/icelab/icelab/harness"
	"go.yaml.in/yaml/v3"
)

var candidateTypes = []string{"host", "srflx", "prflx", "relay", "none"}

// ladderSteps are the preferences the media node's transport ladder moves
// a client to (LiveKit's ICT_NONE, ICT_TCP, ICT_TLS).
var ladderSteps = []string{"ICE/TCP", "TURN/TLS", "none"}

var pcStates = []string{"new", "connecting", "connected", "disconnected", "failed", "closed"}

func (p *parser) expectations(path string, v *yaml.Node) {
	p.pairs(v, path, func(name string, k, v *yaml.Node) {
		fp := join(path, name)
		if _, ok := p.clients[name]; !ok {
			p.errorf(k, fp, "unknown client %q; want one of: %s", name, oneOf(mapKeys(p.clients)))
			return
		}
		p.s.Expect[name] = p.expectation(fp, v)
	})
}

func (p *parser) expectation(path string, v *yaml.Node) Expectation {
	return p.expectationWith(path, v, nil)
}

// expectationWith reads an expectation with the extra fields of its kind
// (a peer's with:); a nil field removes one the kind does not have.
func (p *parser) expectationWith(path string, v *yaml.Node, extra map[string]field) Expectation {
	var e Expectation
	boolPtr := func(dst **bool) field {
		return func(path string, v *yaml.Node) {
			var b bool
			if p.boolean(v, path, &b) {
				*dst = &b
			}
		}
	}
	handlers := map[string]field{
		"transport": func(path string, v *yaml.Node) {
			one := func(path string, v *yaml.Node) {
				var s string
				if p.enum(v, path, "transport", transports, &s) {
					e.Transports = append(e.Transports, harness.Transport(s))
				}
			}
			if v.Kind == yaml.SequenceNode {
				p.list(v, path, func(path string, _ int, v *yaml.Node) { one(path, v) })
				return
			}
			one(path, v)
		},
		"connected": boolPtr(&e.Connected),
		"candidates": func(path string, v *yaml.Node) {
			p.fields(v, path, map[string]field{
				"local":  func(path string, v *yaml.Node) { e.LocalCandidates = p.candidateTypes(path, v) },
				"remote": func(path string, v *yaml.Node) { e.RemoteCandidates = p.candidateTypes(path, v) },
			})
		},
		"media": func(path string, v *yaml.Node) {
			q := &e.Quality
			p.fields(v, path, map[string]field{
				"both_ways":      boolPtr(&e.MediaBothWays),
				"flowing_at_end": boolPtr(&e.FlowingAtEnd),
				"min_bitrate":    func(path string, v *yaml.Node) { p.bitrate(v, path, &q.MinBitrate) },
				"max_loss": func(path string, v *yaml.Node) {
					var f float64
					if p.fraction(v, path, &f) {
						q.MaxLoss = &f
					}
				},
				"max_rtt":     func(path string, v *yaml.Node) { p.duration(v, path, false, &q.MaxRTT) },
				"max_jitter":  func(path string, v *yaml.Node) { p.duration(v, path, false, &q.MaxJitter) },
				"max_freeze":  func(path string, v *yaml.Node) { p.duration(v, path, false, &q.MaxFreeze) },
				"min_freeze":  func(path string, v *yaml.Node) { p.duration(v, path, false, &q.MinFreeze) },
				"adapts":      func(path string, v *yaml.Node) { q.Adapts = p.adapts(path, v) },
				"layer":       func(path string, v *yaml.Node) { q.Layer = p.layerBound(path, v) },
				"min_grade":   func(path string, v *yaml.Node) { q.MinGrade = p.grade(path, v) },
				"max_grade":   func(path string, v *yaml.Node) { q.MaxGrade = p.grade(path, v) },
				"max_bitrate": func(path string, v *yaml.Node) { p.bitrate(v, path, &q.MaxBitrate) },
				"min_loss": func(path string, v *yaml.Node) {
					var f float64
					if p.fraction(v, path, &f) {
						q.MinLoss = &f
					}
				},
			})
		},
		"ladder": func(path string, v *yaml.Node) {
			e.Ladder = []string{}
			p.list(v, path, func(path string, _ int, v *yaml.Node) {
				var s string
				if p.enum(v, path, "ladder step", ladderSteps, &s) {
					e.Ladder = append(e.Ladder, s)
				}
			})
		},
		"recovered":        boolPtr(&e.Recovered),
		"recover_within":   func(path string, v *yaml.Node) { p.duration(v, path, false, &e.RecoverWithin) },
		"failure_contains": func(path string, v *yaml.Node) { p.str(v, path, &e.FailureContains) },
		"final_state": func(path string, v *yaml.Node) {
			p.enum(v, path, "peer connection state", pcStates, &e.FinalState)
		},
	}
	for k, f := range extra {
		if f == nil {
			delete(handlers, k)
			continue
		}
		handlers[k] = f
	}
	p.fields(v, path, handlers)
	return e
}

// candidateTypes reads a candidate type, or a list of acceptable ones.
func (p *parser) candidateTypes(path string, v *yaml.Node) []string {
	var out []string
	one := func(path string, v *yaml.Node) {
		var s string
		if p.enum(v, path, "candidate type", candidateTypes, &s) {
			out = append(out, s)
		}
	}
	if v.Kind == yaml.SequenceNode {
		p.list(v, path, func(path string, _ int, v *yaml.Node) { one(path, v) })
		return out
	}
	one(path, v)
	return out
}
