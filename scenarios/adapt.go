package scenarios

import (
	"fmt"
	"time"

	"github.com/icelab/icelab/harness"
	"go.yaml.in/yaml/v3"
)

// AdaptBound is an expectation on how a sender follows the path: after
// After, the bitrate it encodes (Second.Encoded, one-second means) reaches
// Below or less (or Above or more) within Within. It judges the client's
// own publications, where their sender's figures are kept: a flow its
// sender encoded nothing for is not judged.
type AdaptBound struct {
	After, Within time.Duration
	// Exactly one of Below and Above is set, in bits per second.
	Below, Above int64
}

// String says what the bound expects: "below 500 kbit/s within 3 s of
// 25 s".
func (a AdaptBound) String() string {
	what := "below " + bitrate(float64(a.Below))
	if a.Above > 0 {
		what = "above " + bitrate(float64(a.Above))
	}
	return fmt.Sprintf("encoded %s within %s of %s", what, secs(a.Within), secs(a.After))
}

// reached returns when the flow's encoded bitrate first met the bound
// after a.After: the start of that second; ok false if it never did
// within the call.
func (a AdaptBound) reached(q *harness.Quality) (at time.Duration, ok bool) {
	step := max(q.Step, time.Second)
	for _, s := range q.Seconds {
		if s.At+step <= a.After {
			continue
		}
		bps := int64(float64(s.Encoded*8) / step.Seconds())
		if (a.Below > 0 && bps <= a.Below) || (a.Above > 0 && bps >= a.Above) {
			return max(s.At, a.After), true
		}
	}
	return 0, false
}

// checkAdapts judges each of the client's publications against bounds.
func checkAdapts(client string, c *harness.ClientResult, bounds []AdaptBound) []Mismatch {
	var out []Mismatch
	for _, m := range c.Media {
		q := m.Quality
		if q == nil || !encodedAny(q) {
			continue
		}
		for _, a := range bounds {
			at, ok := a.reached(q)
			switch {
			case !ok:
				out = append(out, Mismatch{Client: client, Field: "media.adapts", Expected: a.String(),
					Observed: fmt.Sprintf("%s: never (%s)", flowName(m), encodedAround(q, a.After))})
			case at-a.After > a.Within:
				out = append(out, Mismatch{Client: client, Field: "media.adapts", Expected: a.String(),
					Observed: fmt.Sprintf("%s: after %s (%s)", flowName(m), secs(at-a.After), encodedAround(q, a.After))})
			}
		}
	}
	return out
}

func encodedAny(q *harness.Quality) bool {
	for _, s := range q.Seconds {
		if s.Encoded > 0 {
			return true
		}
	}
	return false
}

// encodedAround says what the sender encoded in the second before t and
// the few after it.
func encodedAround(q *harness.Quality, t time.Duration) string {
	step := max(q.Step, time.Second)
	s := ""
	for _, sec := range q.Seconds {
		if sec.At+step < t || sec.At > t+5*step {
			continue
		}
		if s != "" {
			s += ", "
		}
		s += fmt.Sprintf("%s at %s", bitrate(float64(sec.Encoded*8)/step.Seconds()), secs(sec.At))
	}
	if s == "" {
		return "nothing encoded then"
	}
	return "encoded " + s
}

func secs(d time.Duration) string {
	return fmt.Sprintf("%g s", d.Round(100*time.Millisecond).Seconds())
}

// adapts reads media.adapts: a list of {after, within, below | above}.
func (p *parser) adapts(path string, v *yaml.Node) []AdaptBound {
	out := []AdaptBound{}
	p.list(v, path, func(path string, _ int, v *yaml.Node) {
		var a AdaptBound
		p.fields(v, path, map[string]field{
			"after":  func(path string, v *yaml.Node) { p.duration(v, path, true, &a.After) },
			"within": func(path string, v *yaml.Node) { p.duration(v, path, false, &a.Within) },
			"below":  func(path string, v *yaml.Node) { p.bitrate(v, path, &a.Below) },
			"above":  func(path string, v *yaml.Node) { p.bitrate(v, path, &a.Above) },
		})
		_, hasWithin := fieldNode(v, "within")
		_, hasAfter := fieldNode(v, "after")
		switch {
		case !hasAfter:
			p.errorf(v, join(path, "after"), "missing; when the change the sender must follow happens, e.g. 25s")
		case !hasWithin:
			p.errorf(v, join(path, "within"), "missing; how long the sender may take, e.g. 3s")
		case (a.Below > 0) == (a.Above > 0):
			p.errorf(v, path, "want exactly one of below and above, a bitrate such as 500kbps")
		default:
			out = append(out, a)
		}
	})
	return out
}
