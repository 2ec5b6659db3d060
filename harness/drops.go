package harness

import (
	"maps"
	"net/netip"
	"sync"
)

// dropLedger attributes what the network dropped to the clients whose
// addresses the packets carried. It has a lock of its own, not the
// runner's: the network reports a drop synchronously from inside calls the
// runner makes while holding its lock (a fault that cuts a link loses the
// link's queue at once), so counting under the runner's lock deadlocked
// the call.
type dropLedger struct {
	mu     sync.Mutex
	owner  map[netip.Addr]string     // address → client
	counts map[string]map[string]int // client → reason → count
}

func newDropLedger() *dropLedger {
	return &dropLedger{owner: map[netip.Addr]string{}, counts: map[string]map[string]int{}}
}

// own says that packets to or from addrs are client's.
func (d *dropLedger) own(client string, addrs ...netip.Addr) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, a := range addrs {
		d.owner[a] = client
	}
}

// count counts a drop for reason against the owner of the first of addrs
// that has one; a drop no client owns is not counted here.
func (d *dropLedger) count(reason string, addrs ...netip.Addr) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, a := range addrs {
		if c, ok := d.owner[a]; ok {
			if d.counts[c] == nil {
				d.counts[c] = map[string]int{}
			}
			d.counts[c][reason]++
			return
		}
	}
}

// of returns a copy of client's drops by reason.
func (d *dropLedger) of(client string) map[string]int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return maps.Clone(d.counts[client])
}
