package archetypes

import (
	"net/netip"

	"github.com/icelab/icelab/harness"
	"github.com/icelab/icelab/middlebox"
	"github.com/icelab/icelab/vnet"
)

// webProxyAddr is the office proxy's address on officeLAN.
var webProxyAddr = netip.MustParseAddr("172.31.0.100")

// WebProxyOnly is an office whose firewall lets only its HTTP proxy out,
// and whose proxy allows CONNECT to port 443 only, as Squid's default
// squid.conf does ("http_access deny CONNECT !SSL_ports"). Clients placed
// in it are configured with the proxy: signalling and TURN over TCP/TLS go
// through CONNECT, UDP nowhere.
func WebProxyOnly() Network {
	rules := []vnet.Rule{
		{Name: "allow-proxy-out", Direction: vnet.Outbound, Local: netip.PrefixFrom(webProxyAddr, 32), Action: vnet.Accept},
		{Name: "drop-other-out", Direction: vnet.Outbound, Action: vnet.Drop},
	}
	n := Network{Layers: []Layer{{Name: "corp", Prefix: officeLAN, NAT: vnet.PortRestricted(), Firewall: rules}}}
	n.Proxy = &harness.ProxySpec{Name: "proxy", Addr: webProxyAddr, Kind: middlebox.HTTPConnect, AllowPorts: []int{443}}
	return n.Named("web-proxy-only",
		"office: only the HTTP proxy goes out, CONNECT to 443 only; clients use the proxy",
		"RFC 9110 §9.3.6 (CONNECT); Squid's default squid.conf (SSL_ports 443); LiveKit firewall tips: TURN/TLS on 443")
}
