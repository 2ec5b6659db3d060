package relay

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestDefaultConfig(t *testing.T) {
	t.Parallel()
	c := DefaultConfig()
	tu, r := c.TURN, c.RTC
	if !tu.Enabled || tu.Domain != "localhost" || tu.UDPPort != 3478 || tu.TLSPort != 5349 ||
		tu.RelayRangeStart != 30000 || tu.RelayRangeEnd != 40000 || tu.ExternalTLS || tu.TLSEnabled() ||
		tu.UserQuota != 10 || tu.AllowPrivatePeers {
		t.Errorf("turn defaults %+v", tu)
	}
	if r.UseExternalIP || r.TCPPort != 7881 || r.PortRangeStart != 50000 || r.PortRangeEnd != 60000 {
		t.Errorf("rtc defaults %+v", r)
	}
	// An empty file means the defaults.
	got, warns, err := ParseConfig("empty.yaml", nil)
	if err != nil || len(warns) != 0 {
		t.Fatalf("empty file: %v %v", warns, err)
	}
	got.Source = ""
	if !reflect.DeepEqual(got, c) {
		t.Errorf("empty file gives %+v, want defaults", got)
	}
}

// writePair writes a valid certificate for domain into dir.
func writePair(t *testing.T, dir, domain string) (certFile, keyFile string) {
	t.Helper()
	l, err := newCA(t).Valid(domain)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, err = l.WriteFiles(dir, "turn")
	if err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// TestParseSeedConfig parses the configuration of the embedded-TURN guide,
// with icelab's extensions, from a file next to its certificate.
func TestParseSeedConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writePair(t, dir, "turn.example.com")
	yaml := `# livekit.yaml
port: 7880
keys:
  devkey: devsecret
logging:
  level: debug
turn:
  enabled: true
  domain: "turn.example.com"
  udp_port: 3478
  tls_port: 5349
  cert_file: turn.crt   # relative to this file
  key_file: turn.key
  relay_range_start: 30000
  relay_range_end: 40000
  external_tls: false
  users:
    alice: s3cret
  user_quota: 3
  allow_private_peers: true
  allowed_peer_cidrs: [127.0.0.0/8, 192.0.2.1]
rtc:
  use_external_ip: true
  node_ip: 203.0.113.10
  tcp_port: 7881
  port_range_start: 50000
  port_range_end: 60000
  use_ice_lite: true
`
	path := filepath.Join(dir, "livekit.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	c, warns, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	// LiveKit replaces an IPv4 node_ip by the address STUN finds when
	// use_external_ip is true; the file sets both, which earns a warning.
	if len(warns) != 1 || warns[0].Key != "rtc.node_ip" || !strings.Contains(warns[0].Msg, "LiveKit ignores an IPv4 node_ip while use_external_ip is true") {
		t.Errorf("warnings %v", warns)
	}
	tu := c.TURN
	if tu.Domain != "turn.example.com" || tu.Certificate == nil || !tu.TLSEnabled() || tu.UserQuota != 3 ||
		!tu.AllowPrivatePeers || tu.Users["alice"] != "s3cret" || c.Keys["devkey"] != "devsecret" {
		t.Errorf("turn %+v keys %v", tu, c.Keys)
	}
	wantPeers := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("192.0.2.1/32")}
	if !reflect.DeepEqual(tu.AllowedPeers, wantPeers) {
		t.Errorf("allowed peers %v, want %v", tu.AllowedPeers, wantPeers)
	}
	if !c.RTC.UseExternalIP || c.RTC.NodeIP != netip.MustParseAddr("203.0.113.10") {
		t.Errorf("rtc %+v", c.RTC)
	}
}

// TestParseConfigErrors checks that each mistake is reported with file, line
// and key, and nothing else.
func TestParseConfigErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cert, key := writePair(t, dir, "turn.example.com")
	missing := filepath.Join(dir, "nope.crt")
	cases := []struct {
		name, yaml string
		want       []string
	}{
		{"reversed relay range", "turn:\n  relay_range_start: 30000\n  relay_range_end: 29000\n",
			[]string{"livekit.yaml:3: turn.relay_range_end: 29000 is below relay_range_start 30000"}},
		{"port out of range", "turn:\n  udp_port: 70000\n",
			[]string{"livekit.yaml:2: turn.udp_port: 70000 is out of range 1..65535 (0 turns TURN/UDP and TURN/TCP off)"}},
		{"negative port", "rtc:\n  tcp_port: -1\n", []string{"livekit.yaml:2: rtc.tcp_port: -1 is out of range 1..65535"}},
		{"wrong type", "turn:\n  udp_port: \"three\"\n  enabled: maybe\n",
			[]string{`livekit.yaml:2: turn.udp_port: want an integer, got "three"`, `livekit.yaml:3: turn.enabled: want true or false, got "maybe"`}},
		{"block not a mapping", "turn: [1, 2]\n", []string{"livekit.yaml:1: turn: want a mapping, got a list"}},
		{"tls_port without certificate", "turn:\n  domain: turn.example.com\n  tls_port: 443\n",
			[]string{"livekit.yaml:3: turn.tls_port: 443 is set but cert_file and key_file are empty (set them, or external_tls: true when a load balancer terminates TLS)"}},
		{"udp_port equals tls_port", "turn:\n  udp_port: 443\n  tls_port: 443\n  external_tls: true\n",
			[]string{"livekit.yaml:3: turn.tls_port: 443 is also udp_port, where TURN/TCP listens"}},
		{"missing certificate file", "turn:\n  cert_file: " + missing + "\n  key_file: " + key + "\n",
			[]string{"livekit.yaml:2: turn.cert_file: cannot read " + missing + ": no such file or directory"}},
		{"certificate is a device", "turn:\n  cert_file: /dev/zero\n  key_file: " + key + "\n",
			[]string{"livekit.yaml:2: turn.cert_file: cannot read /dev/zero: not a regular file"}},
		{"cert without key", "turn:\n  cert_file: " + cert + "\n", []string{"livekit.yaml:2: turn.cert_file: set without turn.key_file"}},
		{"key does not match", "turn:\n  cert_file: " + cert + "\n  key_file: " + cert + "\n",
			[]string{"livekit.yaml:2: turn.cert_file: " + cert + " with key_file " + cert + ": tls: "}},
		{"udp_port in relay range", "turn:\n  udp_port: 35000\n", []string{"livekit.yaml:2: turn.udp_port: 35000 lies inside the relay range 30000-40000"}},
		{"bad node_ip", "rtc:\n  node_ip: 1.2.3\n", []string{`livekit.yaml:2: rtc.node_ip: "1.2.3" is not an IP address`}},
		{"bad prefix", "turn:\n  allowed_peer_cidrs: [10.0.0.0/33]\n", []string{`livekit.yaml:2: turn.allowed_peer_cidrs: "10.0.0.0/33" is not a CIDR prefix like 10.0.0.0/8`}},
		{"duplicate key", "turn:\n  udp_port: 3478\n  udp_port: 3479\n", []string{"livekit.yaml:3: turn.udp_port: duplicate key"}},
		{"empty secret", "keys:\n  devkey: \"\"\n", []string{"livekit.yaml:2: keys.devkey: empty secret"}},
		{"invalid yaml", "turn:\n  udp_port: [\n", []string{"livekit.yaml:2: invalid YAML: did not find expected node content"}},
		{"not a mapping", "- a\n- b\n", []string{"livekit.yaml:1: want a mapping of keys at the top level, got a list"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := ParseConfig("livekit.yaml", []byte(tc.yaml))
			if err == nil {
				t.Fatal("no error")
			}
			var issues []error
			if j, ok := err.(interface{ Unwrap() []error }); ok {
				issues = j.Unwrap()
			}
			if len(issues) != len(tc.want) {
				t.Fatalf("got %d issues:\n%v\nwant %d", len(issues), err, len(tc.want))
			}
			for i, is := range issues {
				var ci *ConfigIssue
				if !errors.As(is, &ci) {
					t.Errorf("issue %T is not a *ConfigIssue", is)
				}
				if !strings.HasPrefix(is.Error(), tc.want[i]) {
					t.Errorf("issue %d:\n got  %s\n want %s", i, is, tc.want[i])
				}
			}
		})
	}
}

func TestParseConfigWarnings(t *testing.T) {
	t.Parallel()
	yaml := "redis:\n  address: x\nturn:\n  udp_prot: 3478\nrtc:\n  use_external_ip: true\n  stun_servers: []\nfrobnicate: 1\n"
	_, warns, err := ParseConfig("livekit.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"livekit.yaml:4: turn.udp_prot: unknown key, ignored",
		"livekit.yaml:8: frobnicate: unknown key, ignored",
		"livekit.yaml:6: rtc.use_external_ip: true without rtc.node_ip: the relay needs the external address from the caller",
	}
	var got []string
	for _, w := range warns {
		got = append(got, w.Error())
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("warnings\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestCertificateNameMismatchWarns(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cert, key := writePair(t, dir, "other.example.com")
	_, warns, err := ParseConfig("livekit.yaml", []byte("turn:\n  domain: turn.example.com\n  cert_file: "+cert+"\n  key_file: "+key+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) != 1 || !strings.HasPrefix(warns[0].Error(), "livekit.yaml:3: turn.cert_file: "+cert+` does not cover domain "turn.example.com"`) {
		t.Errorf("warnings %v", warns)
	}
}

// FuzzParseConfig checks that no input panics or yields an impossible config.
// Run with -fuzzminimizetime 10x: the default minimization budget makes the
// progress line sit at 0 execs/sec while it minimizes.
func FuzzParseConfig(f *testing.F) {
	for _, s := range []string{
		"", "turn:\n  enabled: true\n  udp_port: 3478\n  relay_range_start: 30000\n  relay_range_end: 40000\n",
		"turn: &a\n  users: *a\n", "rtc:\n  node_ip: ::ffff:1.2.3.4\n", "keys: {a: b}\nturn: {tls_port: 0, external_tls: yes}\n",
		"turn:\n  allowed_peer_cidrs: [1.2.3.4, \"::/0\", {x: 1}]\n", "turn:\n  <<: {udp_port: 1}\n", "[", "turn: !!binary aGk=\n",
		"turn:\n  user_quota: 99999999999999999999\n", "turn:\n  cert_file: /dev/null\n  key_file: /dev/null\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, _, err := ParseConfig("fuzz.yaml", data)
		if err != nil {
			return
		}
		if c.TURN.RelayRangeEnd < c.TURN.RelayRangeStart || c.TURN.UDPPort < 0 || c.TURN.UDPPort > 65535 {
			t.Fatalf("accepted impossible config %+v", c.TURN)
		}
	})
}

// TestConfigKeysAreRead sets every documented key in a file and requires the
// parser to know each one, so that --help never lists a key the relay ignores.
func TestConfigKeysAreRead(t *testing.T) {
	t.Parallel()
	values := map[string]string{
		"keys": "{k: s}", "turn.domain": "turn.example.com", "turn.users": "{u: p}",
		"turn.allowed_peer_cidrs": "[10.0.0.0/8]", "rtc.node_ip": "203.0.113.1",
		"turn.cert_file": "c.pem", "turn.key_file": "k.pem",
	}
	for _, k := range ConfigKeys() {
		v, ok := values[k.Key]
		if !ok {
			v = k.Default
		}
		block, key, nested := strings.Cut(k.Key, ".")
		doc := block + ": " + v + "\n"
		if nested {
			doc = block + ":\n  " + key + ": " + v + "\n"
		}
		_, warns, _ := ParseConfig("keys.yaml", []byte(doc))
		for _, w := range warns {
			if w.Unknown {
				t.Errorf("%s is documented but unknown to the parser: %v", k.Key, w)
			}
		}
	}
	if !strings.Contains(ConfigKeysHelp(), "turn.listener_socket_buffer") {
		t.Errorf("help lacks the buffer keys:\n%s", ConfigKeysHelp())
	}
}
