package audit_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/icelab/icelab/audit"
	"github.com/icelab/icelab/relay/pki"
)

func write(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestShippedDeployments proves the shipped set-ups load: a production
// certificate path that is not on this machine is stood in for, with a
// note; external_tls puts a load balancer on tls_port.
func TestShippedDeployments(t *testing.T) {
	d, err := audit.LoadDeployment("../deployments/single-domain-443.yaml", audit.Options{CA: testCA})
	if err != nil {
		t.Fatal(err)
	}
	if d.Config.TURN.TLSPort != 443 || d.Config.TURN.Certificate == nil || d.TLSProblem != "" || d.LoadBalancer != nil {
		t.Errorf("single-domain-443: tls_port %d, certificate %t, problem %q, lb %v", d.Config.TURN.TLSPort, d.Config.TURN.Certificate != nil, d.TLSProblem, d.LoadBalancer)
	}
	if len(d.Notes) != 1 || !strings.Contains(d.Notes[0], "/etc/livekit/meet.example.com.crt is not on this machine") {
		t.Errorf("notes %q", d.Notes)
	}
	d, err = audit.LoadDeployment("../deployments/dedicated-5349.yaml", audit.Options{CA: testCA})
	if err != nil {
		t.Fatal(err)
	}
	if d.LoadBalancer == nil || d.LoadBalancer.Port != 5349 || !d.Config.TURN.ExternalTLS {
		t.Errorf("dedicated-5349: lb %v, external_tls %t", d.LoadBalancer, d.Config.TURN.ExternalTLS)
	}
	// An operator's load balancer on 443, which the file cannot say.
	d, err = audit.LoadDeployment("../deployments/dedicated-5349.yaml", audit.Options{CA: testCA, LoadBalancerPort: 443})
	if err != nil {
		t.Fatal(err)
	}
	if d.LoadBalancer == nil || d.LoadBalancer.Port != 443 || !strings.Contains(strings.Join(d.Notes, "\n"), "load balancer on port 443, as the audit was told, terminates TURN/TLS and forwards it to turn.tls_port 5349") {
		t.Errorf("dedicated-5349 with an LB on 443: lb %v, notes %q", d.LoadBalancer, d.Notes)
	}
	fw, err := audit.LoadFirewall("../deployments/firewall-max-compat.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range fw.Inbound {
		got = append(got, a.String())
	}
	if strings.Join(got, ",") != "tcp 443,udp 3478,udp 50000-60000,tcp 7881,tcp 5349" {
		t.Errorf("max-compat inbound %v", got)
	}
}

// TestCertificateProblems proves each certificate defect is found and
// named, with the file and line of cert_file, and that a tls_port without
// cert_file is a TLS problem, not a load error.
func TestCertificateProblems(t *testing.T) {
	dir := t.TempDir()
	const domain = "turn.example.com"
	other, err := pki.NewCA("someone else's CA")
	if err != nil {
		t.Fatal(err)
	}
	valid, _ := other.Valid(domain)
	expired, _ := other.Expired(domain, time.Now())
	wrong, _ := other.WrongName(domain)
	leafOnly := *valid
	leafOnly.CertPEM = leafOnly.CertPEM[:strings.Index(string(leafOnly.CertPEM), "-----END CERTIFICATE-----")+len("-----END CERTIFICATE-----\n")]
	cases := []struct {
		name string
		leaf *pki.Leaf
		want string
	}{
		{"valid", valid, ""},
		{"expired", expired, "the certificate expired on"},
		{"wrong-name", wrong, `does not cover turn.domain "turn.example.com"`},
		{"leaf-only", &leafOnly, "the intermediate that issued it (CN=someone else's CA,O=icelab test CA) is missing"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			write(t, dir, c.name+".crt", string(c.leaf.CertPEM))
			write(t, dir, c.name+".key", string(c.leaf.KeyPEM))
			cfg := write(t, dir, c.name+".yaml", "turn:\n  domain: turn.example.com\n  tls_port: 5349\n  cert_file: "+c.name+".crt\n  key_file: "+c.name+".key\n")
			d, err := audit.LoadDeployment(cfg, audit.Options{CA: testCA})
			if err != nil {
				t.Fatal(err)
			}
			if c.want == "" {
				if d.TLSProblem != "" {
					t.Errorf("problem %q, want none", d.TLSProblem)
				}
				return
			}
			if !strings.Contains(d.TLSProblem, c.want) || !strings.Contains(d.TLSProblem, cfg+":4") {
				t.Errorf("problem %q, want %q at %s:4", d.TLSProblem, c.want, cfg)
			}
		})
	}
	cfg := write(t, dir, "no-cert.yaml", "turn:\n  domain: meet.example.com\n  tls_port: 443\n")
	d, err := audit.LoadDeployment(cfg, audit.Options{CA: testCA})
	if err != nil {
		t.Fatal(err)
	}
	if want := "turn.tls_port 443 is set but turn.cert_file is not (" + cfg + ":3)"; !strings.Contains(d.TLSProblem, want) {
		t.Errorf("problem %q, want %q", d.TLSProblem, want)
	}
	if d.Config.TURN.Certificate != nil || d.Config.TURN.TLSPort != 443 {
		t.Errorf("certificate %t, tls_port %d: want none on 443", d.Config.TURN.Certificate != nil, d.Config.TURN.TLSPort)
	}
}

// TestBadInput proves errors in the livekit.yaml and the firewall file
// name file, line and key, and nothing panics on odd input.
func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	cfg := write(t, dir, "bad.yaml", "turn:\n  domain: x\n  udp_port: many\n")
	_, err := audit.LoadDeployment(cfg, audit.Options{CA: testCA})
	if err == nil || !strings.Contains(err.Error(), cfg+`:3: turn.udp_port: want an integer, got "many"`) {
		t.Errorf("error %v", err)
	}
	fw := write(t, dir, "fw.yaml", "inbound:\n  - tcp 443\n  - tcp 99999\n  - icmp 1\nnat: double\nports: []\n")
	_, err = audit.LoadDeployment(cfg, audit.Options{CA: testCA, Firewall: fw})
	if err == nil {
		t.Fatal("no error")
	}
	_, err = audit.LoadFirewall(fw)
	for _, want := range []string{
		fw + `:3: inbound[1]: "tcp 99999": "99999" is not a port`,
		fw + `:4: inbound[2]: "icmp 1": protocol "icmp"; want tcp or udp`,
		fw + `:5: nat: "double" is not a node NAT; want none or one-to-one`,
		fw + `:6: ports: unknown key (a typo?); want nat or inbound`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v\nwant %q", err, want)
		}
	}
	for _, body := range []string{"", "[", "- a", "inbound: 3", "inbound: [{a: b}]", "turn: [1]", "turn:\n  cert_file: [x]\n",
		"turn:\n  udp_port: 0\n  tls_port: [1]\n  cert_file: /nope.crt\n  key_file: /nope.key\n",
		"turn:\n  udp_port: '0'\n  tls_port: 443\n  cert_file: /nope.crt\n  key_file: /nope.key\n"} {
		_, _ = audit.ParseFirewall("odd.yaml", []byte(body))
		p := write(t, dir, "odd.yaml", body)
		_, _ = audit.LoadDeployment(p, audit.Options{CA: testCA})
	}
	if _, err := audit.LoadDeployment(filepath.Join(dir, "missing.yaml"), audit.Options{CA: testCA}); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("missing file: %v", err)
	}
}

// TestTransportKeys proves the keys that decide which transports clients
// get reach the cells as LiveKit reads them: turn.udp_port 0 is no
// TURN/UDP (even when the certificate is one the audit stands in for),
// rtc.tcp_port 0 no ICE/TCP, rtc.udp_port one muxed port, node_ip the
// advertised address.
func TestTransportKeys(t *testing.T) {
	d, err := audit.LoadDeployment("../deployments/single-domain-443-no-turn-udp.yaml", audit.Options{CA: testCA})
	if err != nil {
		t.Fatal(err)
	}
	if d.Config.TURN.UDPPort != 0 || d.Config.TURN.TLSPort != 443 || d.Config.TURN.Certificate == nil || d.Config.TURN.UDPEnabled() || !d.Config.TURN.TLSEnabled() {
		t.Errorf("no-turn-udp: udp_port %d, tls_port %d, certificate %t", d.Config.TURN.UDPPort, d.Config.TURN.TLSPort, d.Config.TURN.Certificate != nil)
	}
	dir := t.TempDir()
	cfg := write(t, dir, "rtc.yaml", "turn:\n  domain: turn.example.com\nrtc:\n  tcp_port: 0\n  udp_port: 7882\n  node_ip: 203.0.113.7\n")
	d, err = audit.LoadDeployment(cfg, audit.Options{CA: testCA})
	if err != nil {
		t.Fatal(err)
	}
	r := d.Config.RTC
	if r.ICETCP() || !r.UDPMux() || r.UDPPort != 7882 || r.NodeIP.String() != "203.0.113.7" {
		t.Errorf("rtc: ICE/TCP %t, mux %t on %d, node_ip %v", r.ICETCP(), r.UDPMux(), r.UDPPort, r.NodeIP)
	}
	// Both TURN listeners off is LiveKit's "invalid TURN ports": an
	// error naming the file and line, not an audit of nothing.
	cfg = write(t, dir, "none.yaml", "turn:\n  domain: turn.example.com\n  udp_port: 0\n  tls_port: 0\n")
	if _, err := audit.LoadDeployment(cfg, audit.Options{CA: testCA}); err == nil || !strings.Contains(err.Error(), cfg+":3: turn.udp_port: no TURN listener") {
		t.Errorf("error %v", err)
	}
}
