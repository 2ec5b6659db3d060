package archetypes_test

import (
	"testing"

	"github.com/icelab/icelab/archetypes"
	"github.com/icelab/icelab/harness"
	"github.com/icelab/icelab/middlebox"
)

// TestWebProxyOnlyPlacesItsProxy proves a client placed in the web-proxy
// office gets the office's proxy, on its own LAN, as its proxy setting,
// and that a client's own setting wins.
func TestWebProxyOnlyPlacesItsProxy(t *testing.T) {
	var spec harness.Spec
	n := archetypes.WebProxyOnly()
	n.Apply(&spec, harness.ClientSpec{Name: "user"})
	n.Apply(&spec, harness.ClientSpec{Name: "other", Proxy: "mine"})
	if len(spec.Proxies) != 2 {
		t.Fatalf("proxies %+v, want one per placed client", spec.Proxies)
	}
	p := spec.Proxies[0]
	if p.Name != "user-proxy" || p.LAN != "user-corp" || p.Kind != middlebox.HTTPConnect || len(p.AllowPorts) != 1 || p.AllowPorts[0] != 443 {
		t.Errorf("proxy %+v, want user-proxy on user-corp, http, CONNECT to 443 only", p)
	}
	if spec.Clients[0].Proxy != "user-proxy" || spec.Clients[0].LAN != "user-corp" {
		t.Errorf("client %+v, want it on user-corp using user-proxy", spec.Clients[0])
	}
	if spec.Clients[1].Proxy != "mine" {
		t.Errorf("a client's own proxy setting was replaced: %q", spec.Clients[1].Proxy)
	}
	rule := spec.LANs[0].Firewall[0]
	if !rule.Local.Contains(p.Addr) {
		t.Errorf("the firewall's first rule %+v does not let the proxy %v out", rule, p.Addr)
	}
}
