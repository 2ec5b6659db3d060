package scenarios_test

import (
	"maps"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/icelab/icelab/harness"
	"github.com/icelab/icelab/middlebox"
	"github.com/icelab/icelab/scenarios"
)

// TestProxiesDecode proves network.proxies and a client's proxy and trust
// reach the harness spec, whatever the order of lans and proxies.
func TestProxiesDecode(t *testing.T) {
	doc := `name: x
network:
  proxies:
    - {name: inspector, lan: corp, addr: 10.20.0.100, kind: http, port: 8080, allow_ports: [443, 8443], inspect: http-only, issuer: Corp CA}
    - {name: socks, lan: corp, kind: socks5, users: {bob: s3cret}}
  lans:
    - {name: corp, prefix: 10.20.0.0/24}
clients:
  - {name: alice, lan: corp, proxy: inspector, trust: [inspector]}
  - {name: bob, lan: corp, proxy: socks, proxy_auth: {username: bob, password: s3cret}}
`
	s, err := (&scenarios.Loader{CA: testCA}).Parse("office.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	want := []harness.ProxySpec{
		{Name: "inspector", LAN: "corp", Addr: netip.MustParseAddr("10.20.0.100"), Kind: middlebox.HTTPConnect, Port: 8080,
			AllowPorts: []int{443, 8443}, Inspect: middlebox.HTTPOnly, Issuer: "Corp CA"},
		{Name: "socks", LAN: "corp", Kind: middlebox.SOCKS5, Users: map[string]string{"bob": "s3cret"}},
	}
	if got := s.Spec.Proxies; len(got) != 2 || !equalProxy(got[0], want[0]) || !equalProxy(got[1], want[1]) {
		t.Errorf("proxies %+v, want %+v", got, want)
	}
	if a := s.Spec.Clients[0]; a.Proxy != "inspector" || !slices.Equal(a.Trust, []string{"inspector"}) {
		t.Errorf("alice: proxy %q trust %v", a.Proxy, a.Trust)
	}
	if b := s.Spec.Clients[1]; b.Proxy != "socks" || b.Trust != nil || b.ProxyAuth == nil || *b.ProxyAuth != (middlebox.Credentials{Username: "bob", Password: "s3cret"}) {
		t.Errorf("bob: proxy %q trust %v auth %+v", b.Proxy, b.Trust, b.ProxyAuth)
	}
}

func equalProxy(a, b harness.ProxySpec) bool {
	return a.Name == b.Name && a.LAN == b.LAN && a.Addr == b.Addr && a.Kind == b.Kind && a.Port == b.Port &&
		slices.Equal(a.AllowPorts, b.AllowPorts) && a.Inspect == b.Inspect && a.Issuer == b.Issuer && maps.Equal(a.Users, b.Users)
}

// TestProxiesReject proves every mistake in proxies and in what clients
// say of them is reported at its line and field.
func TestProxiesReject(t *testing.T) {
	lans := "network:\n  lans: [{name: corp, prefix: 10.20.0.0/24}]\n"
	proxies := func(body string) string { return lans + "  proxies:\n    - " + body + "\n" }
	alice := "clients:\n  - {name: alice, lan: corp}\n"
	tests := []struct{ name, doc, want string }{
		{"client names an unknown proxy", "name: x\n" + lans + "clients:\n  - {name: alice, proxy: ghost}\n",
			`office.yaml:5: clients[0].proxy: unknown proxy "ghost"; network.proxies defines none`},
		{"client names an unknown proxy among some", "name: x\n" + proxies("{name: squid, lan: corp, kind: http}") + "clients:\n  - {name: alice, proxy: ghost}\n",
			`office.yaml:7: clients[0].proxy: unknown proxy "ghost"; want one of: squid`},
		{"proxy on no LAN", "name: x\n" + proxies("{name: squid, kind: http}") + alice,
			`office.yaml:5: network.proxies[0].lan: missing; a proxy sits on a LAN`},
		{"proxy on the internet", "name: x\n" + proxies("{name: squid, lan: internet, kind: http}") + alice,
			`office.yaml:5: network.proxies[0].lan: a proxy sits on a LAN`},
		{"proxy on an unknown LAN", "name: x\n" + proxies("{name: squid, lan: office, kind: http}") + alice,
			`office.yaml:5: network.proxies[0].lan: unknown LAN "office"`},
		{"bad kind", "name: x\n" + proxies("{name: squid, lan: corp, kind: ftp}") + alice,
			`office.yaml:5: network.proxies[0].kind: unknown proxy kind "ftp"`},
		{"no kind", "name: x\n" + proxies("{name: squid, lan: corp}") + alice,
			`office.yaml:5: network.proxies[0].kind: missing; want http, socks5`},
		{"no name", "name: x\n" + proxies("{lan: corp, kind: http}") + alice,
			`office.yaml:5: network.proxies[0].name: missing`},
		{"bad inspect", "name: x\n" + proxies("{name: squid, lan: corp, kind: http, inspect: all}") + alice,
			`office.yaml:5: network.proxies[0].inspect: unknown TLS inspection "all"`},
		{"inspecting socks5", "name: x\n" + proxies("{name: s, lan: corp, kind: socks5, inspect: pass-through}") + alice,
			`office.yaml:5: network.proxies[0].inspect: TLS inspection is done by an http (CONNECT) proxy, not socks5`},
		{"issuer without inspect", "name: x\n" + proxies("{name: squid, lan: corp, kind: http, issuer: X}") + alice,
			`office.yaml:5: network.proxies[0].issuer: an issuer needs inspect`},
		{"addr outside the LAN", "name: x\n" + proxies("{name: squid, lan: corp, kind: http, addr: 10.21.0.5}") + alice,
			`office.yaml:5: network.proxies[0].addr: 10.21.0.5 is outside LAN corp's prefix 10.20.0.0/24`},
		{"bad port", "name: x\n" + proxies("{name: squid, lan: corp, kind: http, allow_ports: [443, 70000]}") + alice,
			`office.yaml:5: network.proxies[0].allow_ports[1]`},
		{"duplicate proxy", "name: x\n" + lans + "  proxies:\n    - {name: p, lan: corp, kind: http}\n    - {name: p, lan: corp, kind: socks5}\n" + alice,
			`office.yaml:6: network.proxies[1].name: proxy "p" is defined twice (first at line 5)`},
		{"proxy named like a client", "name: x\n" + proxies("{name: alice, lan: corp, kind: http}") + alice,
			`office.yaml:5: network.proxies: "alice" is both a proxy and a client`},
		{"proxy named like a LAN", "name: x\n" + proxies("{name: corp, lan: corp, kind: http}") + alice,
			`office.yaml:5: network.proxies[0].name: "corp" is both a proxy and a LAN`},
		{"trust of a proxy that does not inspect", "name: x\n" + proxies("{name: squid, lan: corp, kind: http}") + "clients:\n  - {name: alice, lan: corp, trust: [squid]}\n",
			`office.yaml:7: clients[0].trust[0]: proxy "squid" does not inspect TLS`},
		{"trust of an unknown proxy", "name: x\n" + proxies("{name: box, lan: corp, kind: http, inspect: http-only}") + "clients:\n  - {name: alice, lan: corp, trust: [ghost]}\n",
			`office.yaml:7: clients[0].trust[0]: unknown proxy "ghost"; want one of: box`},
		{"credentials without a proxy", "name: x\n" + lans + "clients:\n  - {name: alice, proxy_auth: {username: a, password: b}}\n",
			`office.yaml:5: clients[0].proxy_auth: credentials without a proxy; set proxy: too`},
		{"credentials without a user", "name: x\n" + proxies("{name: squid, lan: corp, kind: http}") + "clients:\n  - {name: alice, proxy: squid, proxy_auth: {password: b}}\n",
			`office.yaml:7: clients[0].proxy_auth.username: missing`},
		{"no users", "name: x\n" + proxies("{name: squid, lan: corp, kind: http, users: {}}") + alice,
			`office.yaml:5: network.proxies[0].users: empty; want user: password pairs`},
		{"LAN too small with its proxy", "name: x\nnetwork:\n  lans: [{name: corp, prefix: 10.20.0.0/30}]\n  proxies: [{name: p, lan: corp, kind: http}]\n" + alice,
			`office.yaml:3: network.lans[0].prefix: 10.20.0.0/30 has room for 1 host besides its router, but 2 are on it: client alice, proxy p`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := (&scenarios.Loader{CA: testCA, HostPrefixes: []netip.Prefix{}}).Parse("office.yaml", []byte(tt.doc))
			if err == nil {
				t.Fatalf("parsed %+v; want error %q", s.Spec.Proxies, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error:\n%v\nwant it to contain:\n%s", err, tt.want)
			}
		})
	}
}
