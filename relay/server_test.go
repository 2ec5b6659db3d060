package relay

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/pion/stun/v4"
	"github.com/pion/transport/v5/stdnet"
	"github.com/pion/turn/v5"
)

// allocate allocates a UDP relay through c and releases it at cleanup.
func allocate(t testing.TB, c *turn.Client) net.PacketConn {
	t.Helper()
	a, err := c.Allocate()
	if err != nil {
		t.Fatalf("Allocate: %v", err)
	}
	t.Cleanup(func() { _ = a.Close() })
	return a
}

// roundTrip sends out from the client through alloc to peer, and back from peer
// to the client. It returns the relayed address the peer saw.
func roundTrip(t testing.TB, alloc net.PacketConn, peer net.PacketConn, out, back string) net.Addr {
	t.Helper()
	if _, err := alloc.WriteTo([]byte(out), peer.LocalAddr()); err != nil {
		t.Fatalf("client write: %v", err)
	}
	buf := make([]byte, 1500)
	n, from := readWithin(t, peer, buf)
	if got := string(buf[:n]); got != out {
		t.Fatalf("peer got %q, want %q", got, out)
	}
	if _, err := peer.WriteTo([]byte(back), from); err != nil {
		t.Fatalf("peer write: %v", err)
	}
	n, src := readWithin(t, alloc, buf)
	if got := string(buf[:n]); got != back {
		t.Fatalf("client got %q, want %q", got, back)
	}
	if src.String() != peer.LocalAddr().String() {
		t.Fatalf("client got data from %s, want peer %s", src, peer.LocalAddr())
	}
	return from
}

// TestAllocateAndRelayOverEachTransport allocates over UDP, TCP and TLS with a
// pion TURN client, relays one datagram each way and reads the counters.
func TestAllocateAndRelayOverEachTransport(t *testing.T) {
	t.Parallel()
	ca := newCA(t)
	cfg := testConfig()
	cfg.TURN.Certificate = leafCert(t)(ca.Valid(testDomain))
	s := startServer(t, cfg)
	tlsCfg := &tls.Config{RootCAs: ca.Pool(), ServerName: testDomain, MinVersion: tls.VersionTLS12}

	for _, tr := range []Transport{UDP, TCP, TLS} {
		t.Run(string(tr), func(t *testing.T) {
			c := dialTURN(t, tr, addrOf(t, s, tr), testUser, testPass, tlsCfg)
			alloc := allocate(t, c)
			peer := newPeer(t)
			seen := roundTrip(t, alloc, peer, "hello", "world!")
			if seen.String() != alloc.LocalAddr().String() {
				t.Errorf("peer saw relay %s, client was given %s", seen, alloc.LocalAddr())
			}
			port := seen.(*net.UDPAddr).Port
			if port < 42000 || port > 42999 {
				t.Errorf("relay port %d outside relay range 42000-42999", port)
			}

			st := s.Stats()
			i := slices.IndexFunc(st.Allocations, func(a AllocationStats) bool { return a.Relay == seen.String() })
			if i < 0 {
				t.Fatalf("allocation %s not in stats %+v", seen, st.Allocations)
			}
			a := st.Allocations[i]
			want := Traffic{ClientToPeer: Counter{1, 5}, PeerToClient: Counter{1, 6}}
			if a.Traffic != want || a.Transport != tr || a.Username != testUser {
				t.Errorf("stats %+v, want traffic %+v over %s for %s", a, want, tr, testUser)
			}
			if !slices.Equal(a.Permissions, []netip.Addr{loopback}) {
				t.Errorf("permissions %v, want [127.0.0.1]", a.Permissions)
			}
			if st.RelayPortsTotal != 1000 || st.RelayPortsInUse < 1 {
				t.Errorf("ports %d/%d, want at least 1 of 1000", st.RelayPortsInUse, st.RelayPortsTotal)
			}
		})
	}
	if got := s.Stats().AllocationsTotal; got != 3 {
		t.Errorf("AllocationsTotal %d, want 3", got)
	}
}

// TestUnauthenticatedGets401 sends a bare Allocate and expects 401 with the
// realm and a nonce, as RFC 8656 asks.
func TestUnauthenticatedGets401(t *testing.T) {
	t.Parallel()
	s := startServer(t, testConfig())
	conn, err := net.Dial("udp4", addrOf(t, s, UDP).String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req := stun.MustBuild(stun.TransactionID, stun.NewType(stun.MethodAllocate, stun.ClassRequest), stun.Fingerprint)
	if _, err := conn.Write(req.Raw); err != nil {
		t.Fatal(err)
	}
	res := readSTUN(t, conn)
	var code stun.ErrorCodeAttribute
	var realm stun.Realm
	var nonce stun.Nonce
	if res.Type.Class != stun.ClassErrorResponse || code.GetFrom(res) != nil || code.Code != stun.CodeUnauthorized {
		t.Fatalf("response %v %v, want 401", res.Type, code)
	}
	if realm.GetFrom(res) != nil || realm.String() != testDomain || nonce.GetFrom(res) != nil || len(nonce) == 0 {
		t.Errorf("401 carries realm %q nonce %q, want realm %q and a nonce", realm, nonce, testDomain)
	}
	if n := len(s.Stats().Allocations); n != 0 {
		t.Errorf("%d allocations after an unauthenticated request", n)
	}
}

func readSTUN(t testing.TB, conn net.Conn) *stun.Message {
	t.Helper()
	if err := conn.SetReadDeadline(time.Now().Add(bound)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	m := &stun.Message{Raw: buf[:n]}
	if err := m.Decode(); err != nil {
		t.Fatalf("decode response: %v", err)
	}
	return m
}

// TestCredentials checks static users and TURN REST credentials: good ones
// allocate, wrong, unknown and expired ones are refused with 401, over UDP and TCP.
func TestCredentials(t *testing.T) {
	t.Parallel()
	s := startServer(t, testConfig())
	now := time.Now()
	restUser, restPass := RESTCredentials(testSecret, "carol", now.Add(time.Hour))
	oldUser, oldPass := RESTCredentials(testSecret, "carol", now.Add(-time.Minute))
	otherUser, otherPass := RESTCredentials("not-the-secret", "carol", now.Add(time.Hour))
	pionUser, pionPass, err := turn.GenerateLongTermTURNRESTCredentials(testSecret, "dave", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, user, pass string
		code             int // 0: allocation succeeds
	}{
		{"static user", testUser, testPass, 0},
		{"rest credentials", restUser, restPass, 0},
		{"pion rest credentials", pionUser, pionPass, 0},
		{"wrong password", testUser, "guess", 401},
		{"unknown user", "mallory", "x", 401},
		{"expired rest credentials", oldUser, oldPass, 401},
		{"rest credentials from another secret", otherUser, otherPass, 401},
		{"rest username with a bad expiry", "soon:carol", restPass, 401},
	}
	failures := uint64(0)
	for _, tr := range []Transport{UDP, TCP} {
		for _, tc := range cases {
			t.Run(string(tr)+"/"+tc.name, func(t *testing.T) {
				c := dialTURN(t, tr, addrOf(t, s, tr), tc.user, tc.pass, nil)
				a, err := c.Allocate()
				if tc.code == 0 {
					if err != nil {
						t.Fatalf("Allocate: %v", err)
					}
					_ = a.Close()
					return
				}
				failures++
				if got := turnCode(err); got != tc.code {
					t.Fatalf("Allocate error %v (code %d), want code %d", err, got, tc.code)
				}
			})
		}
	}
	if got := s.Stats().AuthFailures; got < failures { // retransmissions may add more
		t.Errorf("AuthFailures %d, want at least %d", got, failures)
	}
}

// TestAuthClockIsInjectable shows REST expiry follows WithClock.
func TestAuthClockIsInjectable(t *testing.T) {
	t.Parallel()
	future := time.Now().Add(48 * time.Hour)
	s := startServer(t, testConfig(), WithClock(func() time.Time { return future }))
	user, pass := RESTCredentials(testSecret, "carol", time.Now().Add(time.Hour))
	c := dialTURN(t, UDP, addrOf(t, s, UDP), user, pass, nil)
	if _, err := c.Allocate(); turnCode(err) != 401 {
		t.Fatalf("Allocate with credentials expired on the relay's clock: %v, want 401", err)
	}
	user, pass = RESTCredentials(testSecret, "carol", future.Add(time.Minute))
	c = dialTURN(t, UDP, addrOf(t, s, UDP), user, pass, nil)
	allocate(t, c)
}

// TestPeerPolicyRefusesInternalPeers checks that the relay refuses permissions
// to internal addresses by default and follows allow_private_peers and
// allowed_peer_cidrs.
func TestPeerPolicyRefusesInternalPeers(t *testing.T) {
	t.Parallel()
	peers := map[string]string{
		"loopback": "127.0.0.1", "metadata": "169.254.169.254", "link-local v6": "fe80::1",
		"unspecified": "0.0.0.0", "multicast": "224.0.0.1", "broadcast": "255.255.255.255",
		"rfc1918": "10.1.2.3", "rfc1918 192.168": "192.168.1.1", "cgnat": "100.64.0.1",
		"ula": "fd00::1", "public": "203.0.113.9", "mapped loopback": "::ffff:127.0.0.1",
	}
	policies := []struct {
		name    string
		mutate  func(*Config)
		allowed []string
	}{
		{"default", func(c *Config) { c.TURN.AllowedPeers = nil }, []string{"public"}},
		{"allow_private_peers", func(c *Config) { c.TURN.AllowedPeers = nil; c.TURN.AllowPrivatePeers = true },
			[]string{"public", "rfc1918", "rfc1918 192.168", "cgnat", "ula"}},
		{"allowed_peer_cidrs", func(c *Config) {
			c.TURN.AllowedPeers = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("169.254.169.254/32")}
		}, []string{"public", "loopback", "metadata", "mapped loopback"}},
	}
	for _, pol := range policies {
		t.Run(pol.name, func(t *testing.T) {
			t.Parallel()
			cfg := testConfig()
			pol.mutate(&cfg)
			s := startServer(t, cfg)
			alloc := allocate(t, dialTURN(t, UDP, addrOf(t, s, UDP), testUser, testPass, nil))
			c := dialTURN(t, UDP, addrOf(t, s, UDP), "bob", "bob-password", nil)
			allocate(t, c)
			denied := uint64(0)
			for name, ip := range peers {
				want := slices.Contains(pol.allowed, name)
				peer := &net.UDPAddr{IP: net.ParseIP(ip), Port: 9}
				// Unit level: the policy itself.
				if got := (PeerPolicy{AllowPrivate: cfg.TURN.AllowPrivatePeers, Allowed: cfg.TURN.AllowedPeers}).allowsIP(peer.IP); got != want {
					t.Errorf("policy allows %s (%s) = %v, want %v", name, ip, got, want)
				}
				if peer.IP.To4() == nil {
					continue // the relay is IPv4; pion's client refuses to ask for v6 peers on it
				}
				// Protocol level: CreatePermission through the relay.
				err := c.CreatePermission(peer)
				if (err == nil) != want {
					t.Errorf("CreatePermission %s (%s): %v, want allowed=%v", name, ip, err, want)
				}
				if err != nil {
					denied++
				}
			}
			// Sending to a refused peer is refused too (the client asks for the permission first).
			if _, err := alloc.WriteTo([]byte("x"), &net.UDPAddr{IP: net.ParseIP("169.254.169.254"), Port: 80}); err == nil && !slices.Contains(pol.allowed, "metadata") {
				t.Errorf("write to 169.254.169.254 through the relay succeeded")
			} else if err != nil {
				denied++
			}
			if got := s.Stats().PeersDenied; got < denied { // retransmissions may add more
				t.Errorf("PeersDenied %d, want at least %d", got, denied)
			}
		})
	}
}

// TestUserQuota refuses a user's allocation beyond user_quota with 486, and
// counts allocations per username, not per client address.
func TestUserQuota(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.TURN.UserQuota = 1
	s := startServer(t, cfg)
	addr := addrOf(t, s, UDP)
	first := allocate(t, dialTURN(t, UDP, addr, testUser, testPass, nil))
	_, err := dialTURN(t, UDP, addr, testUser, testPass, nil).Allocate()
	if turnCode(err) != 486 {
		t.Fatalf("second allocation of %s: %v, want 486", testUser, err)
	}
	allocate(t, dialTURN(t, UDP, addr, "bob", "bob-password", nil))
	if got := s.Stats().QuotaRejections; got < 1 { // a retransmitted request is refused again
		t.Errorf("QuotaRejections %d, want at least 1", got)
	}
	// Releasing the first allocation frees the quota.
	_ = first.Close()
	waitStats(t, s, "alice's allocation to go", func(st Stats) bool {
		return !slices.ContainsFunc(st.Allocations, func(a AllocationStats) bool { return a.Username == testUser })
	})
	allocate(t, dialTURN(t, UDP, addr, testUser, testPass, nil))
}

// freePortPair finds two consecutive free UDP ports on loopback.
func freePortPair(t testing.TB) int {
	t.Helper()
	for range 100 {
		a, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := a.LocalAddr().(*net.UDPAddr).Port
		b, err := net.ListenPacket("udp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(p+1)))
		_ = a.Close()
		if err == nil {
			_ = b.Close()
			if p+1 <= 65535 {
				return p
			}
		}
	}
	t.Fatal("no two consecutive free UDP ports")
	return 0
}

// TestRelayRangeExhausted runs a two-port relay range out: the third allocation
// fails at once with 508, and a released port is reused.
func TestRelayRangeExhausted(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	p := freePortPair(t)
	cfg.TURN.RelayRangeStart, cfg.TURN.RelayRangeEnd = p, p+1
	s := startServer(t, cfg)
	addr := addrOf(t, s, UDP)
	first := allocate(t, dialTURN(t, UDP, addr, testUser, testPass, nil))
	allocate(t, dialTURN(t, TCP, addrOf(t, s, TCP), testUser, testPass, nil))
	_, err := dialTURN(t, UDP, addr, testUser, testPass, nil).Allocate()
	if turnCode(err) != 508 {
		t.Fatalf("third allocation in a two-port range: %v, want 508 Insufficient Capacity", err)
	}
	st := s.Stats()
	if st.RelayPortsInUse != 2 || st.RelayPortsTotal != 2 || st.CapacityFailures < 1 {
		t.Errorf("ports %d/%d capacity failures %d, want 2/2 and at least 1", st.RelayPortsInUse, st.RelayPortsTotal, st.CapacityFailures)
	}
	_ = first.Close()
	waitStats(t, s, "a relay port to be released", func(st Stats) bool { return st.RelayPortsInUse == 1 })
	again := allocate(t, dialTURN(t, UDP, addr, testUser, testPass, nil))
	if again.LocalAddr().String() != first.LocalAddr().String() {
		t.Errorf("new allocation on %s, want the released %s", again.LocalAddr(), first.LocalAddr())
	}
}

// TestMalformedInputIsHarmless sends garbage on UDP and TCP and then allocates
// normally.
func TestMalformedInputIsHarmless(t *testing.T) {
	t.Parallel()
	s := startServer(t, testConfig())
	udpAddr, tcpAddr := addrOf(t, s, UDP), addrOf(t, s, TCP)

	garbage := [][]byte{
		{},
		{0x00},
		[]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
		{0x00, 0x01, 0x00, 0x08, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12},                         // length past the end
		{0x00, 0x03, 0x00, 0x04, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0x00, 0x08, 0x00, 0x14}, // bad integrity attribute
		{0x40, 0x00, 0x00, 0x10, 1, 2},                                                                                  // ChannelData on no allocation
		append([]byte{0x17, 0x03, 0x03, 0x00, 0x10}, make([]byte, 16)...),                                               // TLS record
	}
	u, err := net.Dial("udp4", udpAddr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	for _, g := range garbage {
		if _, err := u.Write(g); err != nil {
			t.Fatal(err)
		}
	}
	// A STUN binding on the same socket still gets its answer.
	bind := stun.MustBuild(stun.TransactionID, stun.BindingRequest, stun.Fingerprint)
	if _, err := u.Write(bind.Raw); err != nil {
		t.Fatal(err)
	}
	if res := readSTUN(t, u); res.Type != stun.BindingSuccess || res.TransactionID != bind.TransactionID {
		t.Fatalf("binding answered with %v", res.Type)
	}

	// On TCP garbage ends that connection only.
	tc, err := net.Dial("tcp4", tcpAddr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	if _, err := tc.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	if err := tc.SetReadDeadline(time.Now().Add(bound)); err != nil {
		t.Fatal(err)
	}
	if _, err := tc.Read(make([]byte, 10)); err == nil {
		t.Errorf("relay answered HTTP on its TURN/TCP port")
	} else if ne := (net.Error)(nil); errors.As(err, &ne) && ne.Timeout() {
		t.Errorf("relay kept a connection that sent garbage")
	}

	for _, tr := range []Transport{UDP, TCP} {
		alloc := allocate(t, dialTURN(t, tr, addrOf(t, s, tr), testUser, testPass, nil))
		roundTrip(t, alloc, newPeer(t), "still", "working")
	}
}

// TestPeerWithoutPermissionIsDropped counts datagrams from a peer the client
// has no permission for, and does not deliver them.
func TestPeerWithoutPermissionIsDropped(t *testing.T) {
	t.Parallel()
	s := startServer(t, testConfig())
	alloc := allocate(t, dialTURN(t, UDP, addrOf(t, s, UDP), testUser, testPass, nil))
	peer := newPeer(t)
	relayAddr := roundTrip(t, alloc, peer, "a", "b")
	stranger, err := net.ListenPacket("udp4", "127.0.0.2:0")
	if err != nil {
		t.Skipf("no 127.0.0.2 on this machine: %v", err)
	}
	defer stranger.Close()
	if _, err := stranger.WriteTo([]byte("spam"), relayAddr); err != nil {
		t.Fatal(err)
	}
	st := waitStats(t, s, "the stranger's datagram", func(st Stats) bool {
		return len(st.Allocations) == 1 && st.Allocations[0].Traffic.PeerDropped.Packets == 1
	})
	if got := st.Allocations[0].Traffic; got.PeerDropped != (Counter{1, 4}) || got.PeerToClient != (Counter{1, 1}) {
		t.Errorf("traffic %+v, want one 4-byte datagram dropped and one delivered", got)
	}
	roundTrip(t, alloc, peer, "c", "d") // the client got nothing from the stranger in between
}

// TestExternalIPIsAdvertised binds on loopback but advertises rtc.node_ip when
// rtc.use_external_ip is set.
func TestExternalIPIsAdvertised(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.RTC.UseExternalIP = true
	cfg.RTC.NodeIP = netip.MustParseAddr("203.0.113.7")
	s := startServer(t, cfg)
	for _, a := range s.Addrs() {
		if ip := netip.MustParseAddrPort(a.Addr.String()).Addr(); ip != loopback {
			t.Errorf("%s listener bound on %s, want 127.0.0.1", a.Transport, ip)
		}
	}
	alloc := allocate(t, dialTURN(t, UDP, addrOf(t, s, UDP), testUser, testPass, nil))
	got := alloc.LocalAddr().(*net.UDPAddr)
	if !got.IP.Equal(net.ParseIP("203.0.113.7")) {
		t.Errorf("relayed address %s, want 203.0.113.7", got)
	}

	// WithExternalIP overrides node_ip; without either Start fails.
	s2 := startServer(t, cfg, WithExternalIP(netip.MustParseAddr("198.51.100.1")))
	alloc = allocate(t, dialTURN(t, UDP, addrOf(t, s2, UDP), testUser, testPass, nil))
	if ip := alloc.LocalAddr().(*net.UDPAddr).IP; !ip.Equal(net.ParseIP("198.51.100.1")) {
		t.Errorf("relayed address %s, want 198.51.100.1", ip)
	}
	cfg.RTC.NodeIP = netip.Addr{}
	s3, err := New(cfg, WithBindIP(loopback), WithEphemeralPorts())
	if err != nil {
		t.Fatal(err)
	}
	n, _ := stdnet.NewNet()
	if err := s3.Start(context.Background(), n); err == nil {
		_ = s3.Close()
		t.Fatal("Start without an external address succeeded")
	}
}

// TestTLSCertificateProblems shows what a client verifying against the test CA
// sees for each kind of bad certificate.
func TestTLSCertificateProblems(t *testing.T) {
	t.Parallel()
	ca := newCA(t)
	stranger := newCA(t)
	cases := []struct {
		name  string
		leaf  *tls.Certificate
		roots *x509.CertPool
		check func(error) bool
	}{
		{"valid", leafCert(t)(ca.Valid(testDomain)), ca.Pool(), func(err error) bool { return err == nil }},
		{"wrong name", leafCert(t)(ca.WrongName(testDomain)), ca.Pool(), func(err error) bool {
			var he x509.HostnameError
			return errors.As(err, &he)
		}},
		{"expired", leafCert(t)(ca.Expired(testDomain, time.Now())), ca.Pool(), func(err error) bool {
			var ce x509.CertificateInvalidError
			return errors.As(err, &ce) && ce.Reason == x509.Expired
		}},
		{"unknown authority", leafCert(t)(stranger.Valid(testDomain)), ca.Pool(), func(err error) bool {
			var ue x509.UnknownAuthorityError
			return errors.As(err, &ue)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := testConfig()
			cfg.TURN.Certificate = tc.leaf
			s := startServer(t, cfg)
			tlsCfg := &tls.Config{RootCAs: tc.roots, ServerName: testDomain, MinVersion: tls.VersionTLS12}
			c, conn, err := tryDialTURN(TLS, addrOf(t, s, TLS), testUser, testPass, tlsCfg)
			if err == nil {
				defer conn.Close()
				defer c.Close()
				var a net.PacketConn
				if a, err = c.Allocate(); err == nil {
					_ = a.Close()
				}
			}
			if !tc.check(err) {
				t.Errorf("got %v (%T)", err, err)
			}
		})
	}
}

// TestExternalTLSIsPlainTCP serves plain TURN/TCP on tls_port when a load
// balancer terminates TLS.
func TestExternalTLSIsPlainTCP(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.TURN.ExternalTLS = true
	s := startServer(t, cfg)
	addrs := s.Addrs()
	if len(addrs) != 3 || addrs[2].Transport != TCP {
		t.Fatalf("listeners %v, want udp, tcp and a plain tcp one on tls_port", addrs)
	}
	alloc := allocate(t, dialTURN(t, TCP, addrs[2].Addr, testUser, testPass, nil))
	roundTrip(t, alloc, newPeer(t), "behind", "the-lb") // ChannelData under 9 bytes stalls pion's STUNConn
}

// TestCloseReleasesEverything closes a relay with live allocations on every
// transport; goleak in TestMain checks that no goroutine survives.
func TestCloseReleasesEverything(t *testing.T) {
	t.Parallel()
	ca := newCA(t)
	cfg := testConfig()
	cfg.TURN.Certificate = leafCert(t)(ca.Valid(testDomain))
	s, err := New(cfg, WithBindIP(loopback), WithEphemeralPorts(), WithLoggerFactory(quietLogs()))
	if err != nil {
		t.Fatal(err)
	}
	n, err := stdnet.NewNet()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := s.Start(ctx, n); err != nil {
		t.Fatal(err)
	}
	tlsCfg := &tls.Config{RootCAs: ca.Pool(), ServerName: testDomain, MinVersion: tls.VersionTLS12}
	for _, tr := range []Transport{UDP, TCP, TLS} {
		allocate(t, dialTURN(t, tr, addrOf(t, s, tr), testUser, testPass, tlsCfg))
	}
	// An idle TLS connection that never handshakes must not hold Close up.
	idle, err := net.Dial("tcp4", addrOf(t, s, TLS).String())
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	if got := s.Stats().RelayPortsInUse; got != 3 {
		t.Fatalf("%d relay ports in use, want 3", got)
	}

	cancel() // the context ends the relay
	if err := s.Close(); err != nil {
		buf := make([]byte, 1<<20)
		t.Fatalf("Close: %v\n%s", err, buf[:runtime.Stack(buf, true)])
	}
	if st := s.Stats(); st.RelayPortsInUse != 0 || len(st.Allocations) != 0 {
		t.Errorf("after Close: %d ports, %d allocations", st.RelayPortsInUse, len(st.Allocations))
	}
	if _, err := net.Dial("tcp4", addrOf(t, s, TCP).String()); err == nil {
		t.Errorf("TCP listener still accepts after Close")
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := s.Start(context.Background(), n); err == nil {
		t.Errorf("Start after Close succeeded")
	}
}

func TestNewRejectsUnusableConfig(t *testing.T) {
	t.Parallel()
	for name, mutate := range map[string]func(*Config){
		"disabled":       func(c *Config) { c.TURN.Enabled = false },
		"no credentials": func(c *Config) { c.TURN.Users, c.Keys = nil, nil },
		"reversed range": func(c *Config) { c.TURN.RelayRangeStart, c.TURN.RelayRangeEnd = 40000, 30000 },
		"zero range":     func(c *Config) { c.TURN.RelayRangeStart = 0 },
	} {
		cfg := testConfig()
		mutate(&cfg)
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
	s, err := New(testConfig(), WithBindIP(netip.MustParseAddr("0.0.0.0")), WithEphemeralPorts())
	if err != nil {
		t.Fatal(err)
	}
	n, _ := stdnet.NewNet()
	if err := s.Start(context.Background(), n); err == nil {
		_ = s.Close()
		t.Errorf("Start bound 0.0.0.0")
	}
}

func TestListenAddrURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		l    ListenAddr
		want string
	}{
		{ListenAddr{UDP, &net.UDPAddr{Port: 3478}}, "turn:turn.example.com:3478?transport=udp"},
		{ListenAddr{TCP, &net.TCPAddr{Port: 3478}}, "turn:turn.example.com:3478?transport=tcp"},
		{ListenAddr{TLS, &net.TCPAddr{Port: 5349}}, "turns:turn.example.com:5349?transport=tcp"},
	} {
		if got := tc.l.URL("turn.example.com"); got != tc.want {
			t.Errorf("URL = %q, want %q", got, tc.want)
		}
	}
}
