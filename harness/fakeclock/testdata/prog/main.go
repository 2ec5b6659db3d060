// Command prog runs specs through fakeclock.Main, for fakeclock's test: it
// prints each result's name, clock, simulated duration and state, and exits
// with status 3 so the test can tell the program's own status from the
// testing package's.
package main

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/icelab/icelab/harness"
	"github.com/icelab/icelab/harness/fakeclock"
)

func main() {
	fakeclock.Main(func(r *fakeclock.Runner) int {
		specs := []harness.Spec{
			{Name: "one", Duration: 30 * time.Second, Clients: []harness.ClientSpec{{Name: "alice", Publish: harness.Publish{Audio: true}}, {Name: "bob", Publish: harness.Publish{Audio: true}}}},
			{Name: "two", Duration: 45 * time.Second, Clients: []harness.ClientSpec{{Name: "carol", Publish: harness.Publish{Audio: true}}, {Name: "dave", Publish: harness.Publish{Audio: true}}}},
		}
		var mu sync.Mutex
		print := func(_ int, res harness.Result) {
			mu.Lock()
			defer mu.Unlock()
			state := "connected"
			for _, c := range res.Clients {
				if !c.Connected {
					state = "not connected: " + c.Failure
				}
			}
			fmt.Printf("%s clock=%s duration=%s interrupted=%t err=%q %s\n", res.Name, res.Clock, res.Duration, res.Interrupted, res.Err, state)
		}
		r.Run(specs, 0, nil, print)
		// A second batch, told to stop once its call has connected: it
		// ends at the next poll, as an interrupted run.
		var polls atomic.Int32
		stop := func() bool { return polls.Add(1) > 50 }
		r.Run([]harness.Spec{{Name: "three", Duration: time.Minute, Clients: specs[0].Clients}}, 1, stop, print)
		return 3
	})
}
