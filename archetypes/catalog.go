package archetypes

import (
	"net/netip"
	"time"

	"github.com/icelab/icelab/harness"
	"github.com/icelab/icelab/vnet"
)

// Address spaces the archetypes use. RFC 6598 reserves 100.64.0.0/10 for
// the link between a customer's router and a carrier-grade NAT.
var (
	sharedAddressSpace = netip.MustParsePrefix("100.64.0.0/10")
	homeLAN            = netip.MustParsePrefix("192.168.1.0/24")
	hotelProperty      = netip.MustParsePrefix("172.20.0.0/16")
	officeLAN          = netip.MustParsePrefix("172.31.0.0/16")
)

// OpenInternet is a client with a public address and no firewall.
func OpenInternet() Network {
	return Network{}.Named("open-internet",
		"public address, no NAT, no firewall",
		"RFC 8445 §5.1.1.1: host candidates on a public address need no STUN or TURN")
}

// HomeRouter is a consumer router: endpoint-independent mapping,
// address-and-port-dependent filtering, hairpinning.
func HomeRouter() Network {
	return Network{Layers: []Layer{{Name: "home", Prefix: homeLAN, NAT: vnet.PortRestricted()}}}.Named("home-router",
		"consumer NAT: endpoint-independent mapping, port-restricted filtering",
		"RFC 4787 REQ-1 (EIM) with REQ-8 address-and-port-dependent filtering, the most common CPE behaviour; seed: ~80% of users connect directly over ICE/UDP")
}

// FullConeRouter is an older or UPnP-friendly router: endpoint-independent
// mapping and filtering.
func FullConeRouter() Network {
	return Network{Layers: []Layer{{Name: "home", Prefix: homeLAN, NAT: vnet.FullCone()}}}.Named("full-cone-router",
		"NAT with endpoint-independent mapping and filtering",
		"RFC 4787 §5 (EIF), RFC 3489 'full cone'")
}

// AddressRestrictedRouter filters inbound traffic by remote address only.
func AddressRestrictedRouter() Network {
	return Network{Layers: []Layer{{Name: "home", Prefix: homeLAN, NAT: vnet.AddressRestricted()}}}.Named("address-restricted-router",
		"NAT with endpoint-independent mapping, address-dependent filtering",
		"RFC 4787 §5 (ADF), RFC 3489 'restricted cone'")
}

// SymmetricNAT gives every remote endpoint its own external port.
func SymmetricNAT() Network {
	return Network{Layers: []Layer{{Name: "office", Prefix: officeLAN, NAT: vnet.Symmetric()}}}.Named("symmetric-nat",
		"address-and-port-dependent mapping and filtering: STUN-learnt ports are useless to others",
		"RFC 4787 §4.1 (APDM); seed 'When TURN activates': symmetric NAT")
}

// Carrier is a carrier-grade NAT on RFC 6598 shared address space (vnet's
// CarrierGrade: 512-port blocks per subscriber, no hairpinning) with
// address-and-port-dependent mapping: on its own it is a phone on a mobile
// network; put a home router behind it for CGNAT.
func Carrier() Network {
	cgn := vnet.CarrierGrade()
	cgn.Mapping = vnet.AddressPortDependent
	return Network{Layers: []Layer{{Name: "carrier", Prefix: sharedAddressSpace, NAT: cgn}}}.Named("carrier",
		"carrier-grade NAT on 100.64.0.0/10, symmetric, port blocks, no hairpinning",
		"RFC 6598 (shared address space), RFC 6888 (CGN); many deployed CGNs map per destination despite RFC 6888 REQ-1")
}

// CGNAT is a home router whose WAN side is carrier-grade NAT: double NAT,
// the outer symmetric, with RFC 6598 100.64.0.0/10 between the two.
func CGNAT() Network {
	return HomeRouter().Behind(Carrier()).Named("cgnat",
		"home router behind a symmetric carrier NAT, 100.64.0.0/10 between them",
		"RFC 6598 (shared address space between CPE and CGN), RFC 6888; issue 9")
}

// HotelWiFi is a guest access point's NAT behind the property's gateway
// NAT, on a shared and modest uplink.
func HotelWiFi() Network {
	property := Network{Layers: []Layer{{Name: "property", Prefix: hotelProperty, NAT: vnet.PortRestricted(),
		Uplink: vnet.Impairment{Latency: 10 * time.Millisecond, Bandwidth: 4_000_000}}}}
	return HomeRouter().Behind(property).Named("hotel-wifi",
		"double NAT: guest access point behind the property gateway, 4 Mbit/s shared uplink",
		"issue 9 (hotel Wi-Fi, double NAT); RFC 4787 §6 (nested NATs)")
}

// CorporateUDPBlocked is a network that drops all UDP and lets TCP to any
// port out, as many VPNs and some corporate firewalls do.
func CorporateUDPBlocked() Network {
	return Network{Layers: []Layer{{Name: "corp", Prefix: officeLAN, NAT: vnet.PortRestricted(), Firewall: vnet.BlockUDP()}}}.Named("vpn-udp-blocked",
		"VPN-like: all UDP dropped, TCP to any port allowed",
		"seed port reference: 7881/TCP ICE/TCP 'fallback when UDP blocked (VPN, some firewalls)'; seed 'When TURN activates': VPN restrictions")
}

// Corporate443Only is a corporate firewall that lets only TCP 80 and 443
// out (and their replies).
func Corporate443Only() Network {
	return Network{Layers: []Layer{{Name: "corp", Prefix: officeLAN, NAT: vnet.PortRestricted(), Firewall: vnet.OnlyTCPOut(80, 443)}}}.Named("corporate-443-only",
		"corporate firewall: only TCP 80 and 443 out",
		"seed troubleshooting: 'Clients behind corporate firewall — only port 443 allowed — set turn.tls_port: 443'; LiveKit firewall tips: TURN/TLS on 443")
}

// CorporateTURNAllowed is a corporate firewall that allows TCP 80/443 and
// UDP to the TURN port 3478 only: the SFU's media ports are unreachable,
// its TURN is not.
func CorporateTURNAllowed() Network {
	rules := []vnet.Rule{{Name: "allow-turn-udp-out", Direction: vnet.Outbound, Proto: vnet.UDP, RemotePorts: vnet.Port(3478), Action: vnet.Accept}}
	rules = append(rules, vnet.OnlyTCPOut(80, 443)...)
	// OnlyTCPOut lets only TCP replies in; replies from the TURN server
	// come back over UDP.
	rules = append([]vnet.Rule{{Name: "allow-udp-replies", Direction: vnet.Inbound, Proto: vnet.UDP, State: vnet.StateEstablished, Action: vnet.Accept}}, rules...)
	return Network{Layers: []Layer{{Name: "corp", Prefix: officeLAN, NAT: vnet.PortRestricted(), Firewall: rules}}}.Named("corporate-turn-allowed",
		"corporate firewall: TCP 80/443 and UDP 3478 out, nothing else",
		"LiveKit firewall tips: 'Why TURN may be reachable when the SFU is not'; seed port reference 3478/UDP")
}

// DTLSFilteringDPI lets STUN through and drops DTLS: ICE connects, the
// handshake never completes.
func DTLSFilteringDPI() Network {
	return HomeRouter().WithFirewall(vnet.DTLSFiltered()...).Named("dtls-filtering-dpi",
		"deep packet inspection drops DTLS (RFC 7983 first byte 20-63): ICE connects, DTLS never completes",
		"LiveKit firewall tips: 'there may be filtering specifically for DTLS traffic'; RFC 7983")
}

// UDPWhack10s drops every UDP flow ten seconds after its first packet.
func UDPWhack10s() Network {
	return HomeRouter().WithFirewall(vnet.UDPWhack(10*time.Second)...).Named("udp-whack-10s",
		"UDP flows work for 10 s, then are dropped",
		"LiveKit firewall tips: 'UDP connects briefly but then breaks (a common UDP whack issue)'")
}

// UDPWhackAfterICE blocks all UDP the moment the client's ICE connects.
func UDPWhackAfterICE() Network {
	return HomeRouter().WithFault(Fault{Event: "ice-connected", Kind: harness.AddRules, Rules: vnet.BlockUDP(), What: "udp whack at ice connected"}).Named("udp-whack-after-ice",
		"all UDP dropped from the moment ICE connects",
		"LiveKit firewall tips: 'a firewall or NAT device allowed initial UDP packets through but then blocked subsequent ones'")
}

// LossyMobile is a phone on a mobile network: carrier NAT, 5% loss,
// 150 ms round trip and jitter.
func LossyMobile() Network {
	carrier := Carrier()
	carrier.Layers[0].NAT = vnet.PortRestricted() // RFC 6888 REQ-1: EIM
	return carrier.WithLink(vnet.Impairment{Latency: 75 * time.Millisecond, Jitter: 20 * time.Millisecond, Loss: 0.05}).Named("lossy-mobile",
		"mobile link behind carrier NAT: 5% loss, 150 ms RTT, 20 ms jitter",
		"issue 9; RFC 6888 REQ-1 (EIM carrier NAT); ITU-T G.1050 mobile profiles")
}

// SlowUplink500k is a home router on a 500 kbit/s access link.
func SlowUplink500k() Network {
	return HomeRouter().WithLink(vnet.Impairment{Latency: 20 * time.Millisecond, Bandwidth: 500_000}).Named("slow-uplink-500k",
		"home router on a 500 kbit/s access link (both ways: harness links are symmetric)",
		"issue 9; seed bandwidth table: audio ~32 kbit/s fits, 720p video ~1.5 Mbit/s does not")
}

// ShortUDPTimeout is a home router whose UDP mappings expire after 30 s
// without outbound traffic.
func ShortUDPTimeout() Network {
	nat := vnet.PortRestricted()
	nat.MappingLifetime = 30 * time.Second
	return Network{Layers: []Layer{{Name: "home", Prefix: homeLAN, NAT: nat}}}.Named("short-udp-timeout",
		"home router whose UDP mappings expire after 30 s idle",
		"RFC 4787 REQ-5 (mappings must last >= 2 min; some CPE use 30 s); RFC 7675 consent keeps them alive")
}
