package archetypes_test

import (
	"fmt"

	"github.com/icelab/icelab/archetypes"
)

// A peer-to-peer call is one line per network, as in tailscale natlab's
// RunConnectivityTest(name, route, easy, hard): harness.RunT runs it.
func ExamplePeerToPeer() {
	spec := archetypes.PeerToPeer("office to home", archetypes.SymmetricNAT(), archetypes.HomeRouter())
	for _, p := range spec.Peers {
		fmt.Printf("%s on %s, publishing %+v\n", p.Name, p.LAN, p.Publish)
	}
	for _, l := range spec.LANs {
		fmt.Printf("%s %s %s\n", l.Name, l.LANPrefix, l.NAT.Mapping)
	}
	fmt.Println("relay:", spec.Servers[0].Name, "on the internet:", spec.Servers[0].LAN == "")
	// Output:
	// alice on alice-office, publishing {Audio:true Video:false Data:true Simulcast:false}
	// bob on bob-home, publishing {Audio:true Video:false Data:true Simulcast:false}
	// alice-office 172.31.0.0/16 address-and-port-dependent
	// bob-home 192.168.1.0/24 endpoint-independent
	// relay: turn on the internet: true
}
