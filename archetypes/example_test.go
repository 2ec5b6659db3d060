package archetypes_test

import (
	"fmt"

	"github.com/icelab/icelab/archetypes"
	"github.com/icelab/icelab/harness"
	"github.com/icelab/icelab/vnet"
)

// Networks compose: a home router behind a carrier NAT is CGNAT; a
// firewall rule added to it lands on the client's own router.
func ExampleNetwork_Behind() {
	n := archetypes.HomeRouter().Behind(archetypes.Carrier()).WithFirewall(vnet.DTLSFiltered()...)
	spec := harness.Spec{}
	n.Apply(&spec, archetypes.Browser().Client("alice"))
	for _, l := range spec.LANs {
		fmt.Printf("%s (parent %q) %s, %d firewall rules\n", l.Name, l.Parent, l.LANPrefix, len(l.Firewall))
	}
	fmt.Println("alice on", spec.Clients[0].LAN, "needs the real clock:", spec.NeedsRealClock())
	// Output:
	// alice-carrier (parent "") 100.64.0.0/10, 0 firewall rules
	// alice-home (parent "alice-carrier") 192.168.1.0/24, 1 firewall rules
	// alice on alice-home needs the real clock: true
}
