package audit

import "testing"

// TestClassify proves each kind of failure gets its deciding fact in a
// few words, deployment facts before the user's network, and that random
// TURN user names are taken out of the account.
func TestClassify(t *testing.T) {
	cases := []struct{ reason, tls, want string }{
		{"ICE never connected: no candidate pair succeeded; pion: Failed to connect to relay: dial tcp4 203.0.113.3:443: connect: connection refused; LiveKit hands out turns:turn.example.com:443 whatever turn.tls_port is (5349 here, and the load balancer listens on 5349): nothing serves TURN/TLS on 443; STUN datagrams dropped by firewall user-corp rule 4 (drop-all) (19)",
			"", "nothing serves TURN/TLS on turn.example.com:443, where LiveKit sends clients (tls_port 5349)"},
		{"ICE never connected: no candidate pair succeeded; pion: Failed to connect to relay: tls: failed to verify certificate: x509: certificate is valid for meet.example.com, not turn.example.org; STUN datagrams dropped by firewall user-corp rule 4 (drop-all) (19)",
			"", "certificate does not name turn.example.org (it names meet.example.com)"},
		{"initial: not connected within 15s (ICE checking, DTLS new); TCP to port 5349 dropped by firewall user-corp rule 2 (only-443) (4)",
			"", "TCP 5349 dropped by the corporate firewall (only-443)"},
		{"initial: not connected within 15s; STUN datagrams dropped by firewall user-corp rule 1 (block-udp) (3); TCP to port 7881 dropped by firewall node-net rule 5 (not allowed in fw.yaml) (18)",
			"", "TCP 7881 dropped by the node's security group"},
		{"DTLS never completed: ICE connected but the peer connection stayed connecting; LiveKit hands out turns:turn.example.com:443 whatever turn.tls_port is (5349 here, and no load balancer); DTLS datagrams dropped by firewall user-home rule 1 (dtls-filtered) (6)",
			"", "DTLS dropped by the home router's firewall (dtls-filtered)"},
		{"TURN/TLS unusable: turn.cert_file /etc/x.crt (a.yaml:4): the certificate expired on 2026-01-01; with a valid certificate …",
			"turn.cert_file /etc/x.crt (a.yaml:4): the certificate expired on 2026-01-01", "TURN/TLS certificate: the certificate expired on 2026-01-01"},
		{"ICE never connected; pion: proxy squid: CONNECT turn.example.com:5349 denied (403)", "", "web proxy refused CONNECT turn.example.com:5349 (403)"},
		{"ICE never connected; x509: certificate signed by unknown authority (issuer \"Corp TLS Inspection CA\")", "", `certificate not trusted: issuer "Corp TLS Inspection CA" unknown to the client`},
		{"signal connection: dial tcp 203.0.113.3:443: i/o timeout", "", "signalling failed: dial tcp 203.0.113.3:443: i/o timeout"},
		{"initial: signal closed while connecting; LiveKit hands out turns:turn.example.com:443 whatever turn.tls_port is (5349 here, and no load balancer): nothing serves TURN/TLS on 443; TCP to port 7881 dropped by firewall node-net rule 5 (not allowed in deployments/firewall-minimum.yaml) (18)",
			"", "nothing serves TURN/TLS on turn.example.com:443, where LiveKit sends clients (tls_port 5349); TCP 7881 dropped by the node's security group"},
		{"ICE never connected; failed to allocate on TURN client 203.0.113.4:3478 all retransmissions failed", "", "no relay candidate: TURN/UDP allocation unanswered"},
		{"media did not flow both ways", "", "media did not flow both ways"},
	}
	for _, c := range cases {
		if got := classify(c.reason, c.tls); got != c.want {
			t.Errorf("classify(%.60q…)\n got %q\nwant %q", c.reason, got, c.want)
		}
	}
	in := "ICE never connected; failed to allocate on TURN client 203.0.113.4:3478 all retransmissions failed for Xomn5g3z+F9AyXW/; failed to allocate on TURN client 203.0.113.4:3478 all retransmissions failed for zgUiNrsI1n26ETqq; LiveKit hands out"
	want := "ICE never connected; failed to allocate on TURN client 203.0.113.4:3478 all retransmissions failed; LiveKit hands out"
	if got := cleanReason(in); got != want {
		t.Errorf("cleanReason:\n got %q\nwant %q", got, want)
	}
}
