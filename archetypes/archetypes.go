// Package archetypes is a vocabulary of named client networks ("home
// router", "corporate 443-only", "CGNAT behind a home router") and client
// profiles ("browser", "pion"), so that a field report, an audit cell and a
// Go test say the same thing.
//
// A [Network] is a short declaration: the layers of routers between a
// client and the internet (outermost first), the client's access link and
// the faults its network applies while a call runs. Each constructor is one
// line to call and composes with the others:
//
//	archetypes.HomeRouter().Behind(archetypes.Carrier())   // CGNAT()
//	archetypes.HomeRouter().WithFirewall(vnet.DTLSFiltered()...)
//
// [Network.Place] turns a network into harness LAN specs and faults for one
// client. Every archetype cites where its case comes from: an RFC, vendor
// behaviour, or the seeds' port reference and troubleshooting table.
//
// The package knows harness specs and vnet devices; it must not know
// deployments, scenario files, audits or reports.
package archetypes

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/icelab/icelab/harness"
	"github.com/icelab/icelab/vnet"
)

// Layer is one router between a client and the internet, with the LAN
// behind it.
type Layer struct {
	// Name names the router within the network ("home", "carrier").
	Name string
	// Prefix is the LAN's address space; zero lets vnet pick 10.N.0.0/24.
	Prefix   netip.Prefix
	NAT      vnet.NAT
	Firewall []vnet.Rule
	// Uplink is the impairment of the link to the layer above.
	Uplink vnet.Impairment
}

// Fault is something a network does while a call runs, to its innermost
// layer's firewall or to the client's link.
type Fault struct {
	// Event is "" (counted from the start of the call) or "ice-connected"
	// / "connected" of the client placed in the network.
	Event string
	After time.Duration
	Kind  harness.FaultKind
	Rules []vnet.Rule
	// Impairment is for harness.Impair faults on the client's link.
	Impairment vnet.Impairment
	// What names the fault in results.
	What string
}

// Network is a named client network.
type Network struct {
	Name string
	// Summary says in one line what the network does to WebRTC.
	Summary string
	// Source cites where the case comes from.
	Source string
	// Layers are the routers between the client and the internet,
	// outermost first; none means a public address.
	Layers []Layer
	// Link is the client's access link; zero means the harness default
	// (15 ms each way).
	Link   vnet.Impairment
	Faults []Fault
	// Proxy is an explicit proxy on the innermost layer; clients placed
	// in the network are configured with it, as browsers take the
	// system's proxy setting. Nil means none.
	Proxy *harness.ProxySpec
}

// Behind puts n's layers under outer's innermost one: a home router behind
// a carrier NAT is HomeRouter().Behind(Carrier()). The result keeps n's
// name, link and faults and adds outer's faults; layer names that clash
// get a suffix.
func (n Network) Behind(outer Network) Network {
	out := n
	out.Layers = nil
	used := map[string]bool{}
	for _, l := range slices.Concat(outer.Layers, n.Layers) {
		name := l.Name
		for i := 2; used[name]; i++ {
			name = fmt.Sprintf("%s-%d", l.Name, i)
		}
		used[name] = true
		l.Name = name
		l.Firewall = slices.Clone(l.Firewall)
		out.Layers = append(out.Layers, l)
	}
	out.Faults = slices.Concat(outer.Faults, n.Faults)
	if out.Link == (vnet.Impairment{}) {
		out.Link = outer.Link
	}
	return out
}

// Named renames a network and says what it is and where it comes from.
func (n Network) Named(name, summary, source string) Network {
	n.Name, n.Summary, n.Source = name, summary, source
	return n
}

// WithFirewall appends rules to the innermost layer's firewall (the
// client's own router); on the open internet it adds a layer without NAT,
// as a host firewall or a routed office does.
func (n Network) WithFirewall(rules ...vnet.Rule) Network {
	n.Layers = slices.Clone(n.Layers)
	if len(n.Layers) == 0 {
		n.Layers = []Layer{{Name: "firewall"}}
	}
	last := &n.Layers[len(n.Layers)-1]
	last.Firewall = slices.Concat(last.Firewall, rules)
	return n
}

// WithLink sets the client's access link.
func (n Network) WithLink(im vnet.Impairment) Network {
	n.Link = im
	return n
}

// WithFault adds a fault.
func (n Network) WithFault(f Fault) Network {
	n.Faults = slices.Concat(n.Faults, []Fault{f})
	return n
}

// Placement is a network placed for one client in a harness spec.
type Placement struct {
	LANs   []harness.LANSpec
	LAN    string // the client's LAN; "" for the internet
	Link   vnet.Impairment
	Faults []harness.Fault
	// Proxies are the network's proxy, if it has one, and Proxy its name,
	// the client's proxy setting.
	Proxies []harness.ProxySpec
	Proxy   string
}

// Place lays the network out for the named client: LAN names are prefixed
// with the client's so that several clients can share a spec.
func (n Network) Place(client string) Placement {
	var p Placement
	parent := ""
	for _, l := range n.Layers {
		name := client + "-" + l.Name
		p.LANs = append(p.LANs, harness.LANSpec{Name: name, Parent: parent, LANPrefix: l.Prefix,
			NAT: l.NAT, Firewall: slices.Clone(l.Firewall), Uplink: l.Uplink})
		parent = name
	}
	p.LAN, p.Link = parent, n.Link
	if n.Proxy != nil && parent != "" {
		px := *n.Proxy
		px.Name, px.LAN, px.AllowPorts = client+"-"+px.Name, parent, slices.Clone(px.AllowPorts)
		p.Proxies, p.Proxy = []harness.ProxySpec{px}, px.Name
	}
	for i, f := range n.Faults {
		hf := harness.Fault{Name: f.What, Kind: f.Kind, Rules: slices.Clone(f.Rules), Impairment: f.Impairment,
			When: harness.Trigger{After: f.After, Event: f.Event}}
		if hf.Name == "" {
			hf.Name = fmt.Sprintf("%s fault %d", n.Name, i+1)
		}
		if f.Event != "" {
			hf.When.Client = client
		}
		switch f.Kind {
		case harness.AddRules, harness.ClearRules:
			hf.Target = parent
		default:
			hf.Target = client
		}
		p.Faults = append(p.Faults, hf)
	}
	return p
}

// Apply adds client to spec inside the network: its LANs, its faults, and
// the client on the innermost LAN with the network's link unless the client
// sets its own.
func (n Network) Apply(spec *harness.Spec, client harness.ClientSpec) {
	p := n.Place(client.Name)
	spec.LANs = append(spec.LANs, p.LANs...)
	spec.Faults = append(spec.Faults, p.Faults...)
	spec.Proxies = append(spec.Proxies, p.Proxies...)
	if client.Proxy == "" {
		client.Proxy = p.Proxy
	}
	client.LAN = p.LAN
	if client.Link == (vnet.Impairment{}) {
		client.Link = p.Link
	}
	spec.Clients = append(spec.Clients, client)
}

// All returns every named network of the library, in a stable order.
func All() []Network {
	return []Network{
		OpenInternet(), HomeRouter(), FullConeRouter(), AddressRestrictedRouter(), SymmetricNAT(),
		CGNAT(), HotelWiFi(), CorporateUDPBlocked(), Corporate443Only(), DTLSFilteringDPI(),
		UDPWhack10s(), UDPWhackAfterICE(), LossyMobile(), SlowUplink500k(), ShortUDPTimeout(),
		CorporateTURNAllowed(), WebProxyOnly(),
	}
}

// Names lists the library's network names, sorted.
func Names() []string {
	var names []string
	for _, n := range All() {
		names = append(names, n.Name)
	}
	sort.Strings(names)
	return names
}

// Lookup returns the named network; the error lists the known names.
func Lookup(name string) (Network, error) {
	for _, n := range All() {
		if n.Name == name {
			return n, nil
		}
	}
	return Network{}, fmt.Errorf("unknown archetype %q; known: %s", name, strings.Join(Names(), ", "))
}

// Select returns the named networks in the order given; an empty list
// selects them all. The error names every unknown one and lists the known.
func Select(names []string) ([]Network, error) {
	if len(names) == 0 {
		return All(), nil
	}
	var (
		out     []Network
		unknown []string
	)
	for _, name := range names {
		n, err := Lookup(name)
		if err != nil {
			unknown = append(unknown, fmt.Sprintf("%q", name))
			continue
		}
		out = append(out, n)
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("unknown archetype %s; known: %s", strings.Join(unknown, ", "), strings.Join(Names(), ", "))
	}
	return out, nil
}
