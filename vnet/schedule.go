package vnet

import (
	"fmt"
	"time"
)

// Schedule changes a link direction's impairment over time, as libwebrtc's
// network emulation changes a link's BuiltInNetworkBehaviorConfig in a
// test's scenario: capacity dropping mid-call, latency rising when a train
// enters a tunnel, a burst of loss.
type Schedule struct {
	// Steps are the changes in time order.
	Steps []Step
}

// Step is one change of a schedule.
type Step struct {
	// At is when the step takes effect, after the impairment holding the
	// schedule was set (at the start of a run for a link built with it).
	At time.Duration
	// Impairment is the link's whole impairment from At on; it has no
	// schedule of its own. What a step does not mention is perfect: a
	// step that changes only the capacity repeats the latency.
	Impairment Impairment
}

func (s *Schedule) validate() error {
	for i, st := range s.Steps {
		switch {
		case st.At < 0:
			return fmt.Errorf("schedule step %d: time %v is negative", i+1, st.At)
		case i > 0 && st.At < s.Steps[i-1].At:
			return fmt.Errorf("schedule step %d at %v comes before step %d at %v: steps must be in time order", i+1, st.At, i, s.Steps[i-1].At)
		case st.Impairment.Schedule != nil:
			return fmt.Errorf("schedule step %d at %v has a schedule of its own", i+1, st.At)
		case st.Impairment.Down != nil:
			return fmt.Errorf("schedule step %d at %v has a down direction; a direction's schedule belongs to that direction", i+1, st.At)
		}
		if err := st.Impairment.validateStep(); err != nil {
			return fmt.Errorf("schedule step %d at %v: %w", i+1, st.At, err)
		}
	}
	return nil
}
