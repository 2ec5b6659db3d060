package scenarios

import (
	"fmt"
	"strings"
	"time"

	"github.com/icelab/icelab/harness"
	"github.com/icelab/icelab/harness/media"
	"go.yaml.in/yaml/v3"
)

// LayerBound is an expectation on the simulcast layer the media node
// forwards the client on each of its subscriptions to a simulcast
// publication: from After to the end of the call, every second's layer
// (harness.Quality's Second.Layer) is at least Min or at most Max (q, h or
// f, lowest to highest). A subscription to a publication without simulcast
// is not judged; a client with none fails the bound.
type LayerBound struct {
	After    time.Duration
	Min, Max string
}

// String says what the bound expects: "layer f or higher from 20 s".
func (l LayerBound) String() string {
	if l.Min != "" {
		return fmt.Sprintf("layer %s or higher from %s", l.Min, secs(l.After))
	}
	return fmt.Sprintf("layer %s or lower from %s", l.Max, secs(l.After))
}

// layerNames are the layers a bound can name, lowest first.
func layerNames() []string {
	var out []string
	for _, l := range media.SimulcastLayers() {
		out = append(out, l.RID)
	}
	return out
}

// checkLayers judges the client's simulcast subscriptions against b.
func checkLayers(client string, c *harness.ClientResult, b *LayerBound) []Mismatch {
	if b == nil {
		return nil
	}
	var out []Mismatch
	judged := 0
	for _, m := range c.Media {
		q := m.Quality
		if q == nil || !q.Simulcast {
			continue
		}
		judged++
		step := max(q.Step, time.Second)
		var wrong []string
		for _, s := range q.Seconds {
			if s.At+step <= b.After {
				continue
			}
			r := media.LayerRank(s.Layer)
			if (b.Min != "" && r < media.LayerRank(b.Min)) || (b.Max != "" && r > media.LayerRank(b.Max)) {
				wrong = append(wrong, fmt.Sprintf("%s at %s", s.Layer, secs(s.At)))
			}
		}
		if len(wrong) > 0 {
			if len(wrong) > 4 {
				wrong = append(wrong[:4], fmt.Sprintf("and %d seconds more", len(wrong)-4))
			}
			out = append(out, Mismatch{Client: client, Field: "media.layer", Expected: b.String(),
				Observed: fmt.Sprintf("%s: %s (%s)", flowName(m), strings.Join(wrong, ", "), q.LayerCourse())})
		}
	}
	if judged == 0 {
		out = append(out, Mismatch{Client: client, Field: "media.layer", Expected: b.String(),
			Observed: "no subscription to a simulcast publication"})
	}
	return out
}

// layerBound reads media.layer: {after, min | max}.
func (p *parser) layerBound(path string, v *yaml.Node) *LayerBound {
	var b LayerBound
	p.fields(v, path, map[string]field{
		"after": func(path string, v *yaml.Node) { p.duration(v, path, true, &b.After) },
		"min":   func(path string, v *yaml.Node) { p.enum(v, path, "simulcast layer", layerNames(), &b.Min) },
		"max":   func(path string, v *yaml.Node) { p.enum(v, path, "simulcast layer", layerNames(), &b.Max) },
	})
	if (b.Min != "") == (b.Max != "") {
		p.errorf(v, path, "want exactly one of min and max, a layer: q, h or f")
		return nil
	}
	return &b
}
