package harness_test

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/icelab/icelab/harness"
	. "github.com/icelab/icelab/harness/matchers"
	"github.com/icelab/icelab/vnet"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/pion/ice/v4"
	"github.com/pion/logging"
	"github.com/pion/stun/v4"
	"github.com/pion/transport/v5"
	"github.com/pion/turn/v5"
)

// These specs pin what the pinned pion does where the harness, its
// defaults or the catalog's outcomes depend on it (README, "pion
// behaviour"). A pion upgrade that changes one fails the spec that names
// it, instead of silently changing catalog outcomes. The DTLS handshake
// without a deadline and renomination only among succeeded pairs are
// pinned by the specs "DTLS filtered" and "renomination when a direct path
// opens mid-call"; the ICE timers by vnet's TestUDPWhackAfterICEConnected.
var _ = Describe("pion behaviour the harness depends on", func() {
	It("ranks relay candidates by the protocol to the relay: UDP, then TCP, then TLS (ice v4.4.9; equal in v4.1.0)", func() {
		priority := func(proto string) uint32 {
			c, err := ice.NewCandidateRelay(&ice.CandidateRelayConfig{
				Network: "udp", Address: "203.0.113.10", Port: 50000, Component: 1,
				RelAddr: "198.51.100.2", RelPort: 40000, RelayProtocol: proto,
			})
			Expect(err).NotTo(HaveOccurred())
			return c.Priority()
		}
		udp, tcp, tls := priority("udp"), priority("tcp"), priority("tls")
		Expect(udp).To(BeNumerically(">", tcp), "TURN/UDP above TURN/TCP")
		Expect(tcp).To(BeNumerically(">", tls), "TURN/TCP above TURN/TLS")
	})

	It("gathers srflx candidates from stun: and turn: URLs over UDP only, never from turns: (ice v4.4.9; v4.1.0 sent STUN to turns: over UDP)", func() {
		synctest.Test(suiteT, func(t *testing.T) {
			g := NewWithT(t)
			n, err := vnet.New(vnet.Config{Seed: 1})
			g.Expect(err).NotTo(HaveOccurred())
			defer n.Close()
			server, err := n.Internet().AddHost(vnet.HostConfig{Name: "servers"})
			g.Expect(err).NotTo(HaveOccurred())
			home, err := n.Internet().AddRouter(vnet.RouterConfig{Name: "home", NAT: vnet.PortRestricted()})
			g.Expect(err).NotTo(HaveOccurred())
			client, err := home.AddHost(vnet.HostConfig{Name: "client"})
			g.Expect(err).NotTo(HaveOccurred())

			var mu sync.Mutex
			toPort := map[uint16]int{}
			defer n.Tap(func(e vnet.Event) {
				if e.Proto == vnet.UDP && e.Dst.Addr() == server.Addr() {
					mu.Lock()
					toPort[e.Dst.Port()]++
					mu.Unlock()
				}
			})()

			urls := []*stun.URI{
				{Scheme: stun.SchemeTypeSTUN, Host: server.Addr().String(), Port: 3478, Proto: stun.ProtoTypeUDP},
				{Scheme: stun.SchemeTypeTURNS, Host: server.Addr().String(), Port: 5349, Proto: stun.ProtoTypeTCP, Username: "u", Password: "p"},
			}
			agent, err := ice.NewAgentWithOptions(
				ice.WithNet(client),
				ice.WithUrls(urls),
				ice.WithNetworkTypes([]ice.NetworkType{ice.NetworkTypeUDP4}),
				ice.WithCandidateTypes([]ice.CandidateType{ice.CandidateTypeHost, ice.CandidateTypeServerReflexive}),
				ice.WithLoggerFactory(quietLoggers()),
			)
			g.Expect(err).NotTo(HaveOccurred())
			defer agent.Close()
			gatherAll(t, g, agent, nil)
			mu.Lock()
			defer mu.Unlock()
			g.Expect(toPort[3478]).To(BeNumerically(">", 0), "STUN to the stun: URL (the check can see what it looks for)")
			g.Expect(toPort[5349]).To(BeZero(), "UDP datagrams to the turns: URL's port")
		})
	})

	It("gathers relay candidates only when a UDP network type is configured, whatever carries them to the relay (ice v4.4.9; v4.1.0 gathered them with tcp4 alone)", func() {
		relayCandidates := func(types []ice.NetworkType) int {
			count := 0
			synctest.Test(suiteT, func(t *testing.T) {
				g := NewWithT(t)
				n, err := vnet.New(vnet.Config{Seed: 1})
				g.Expect(err).NotTo(HaveOccurred())
				defer n.Close()
				server, err := n.Internet().AddHost(vnet.HostConfig{Name: "turn"})
				g.Expect(err).NotTo(HaveOccurred())
				client, err := n.Internet().AddHost(vnet.HostConfig{Name: "client"})
				g.Expect(err).NotTo(HaveOccurred())
				ln, err := server.ListenTCP("tcp4", &net.TCPAddr{IP: server.Addr().AsSlice(), Port: 3478})
				g.Expect(err).NotTo(HaveOccurred())
				key := turn.GenerateAuthKey("user", "icelab", "pass")
				srv, err := turn.NewServer(turn.ServerConfig{
					Realm: "icelab",
					AuthHandler: func(ra *turn.RequestAttributes) (string, []byte, bool) {
						return ra.Username, key, ra.Username == "user"
					},
					ListenerConfigs: []turn.ListenerConfig{{Listener: ln, RelayAddressGenerator: &turn.RelayAddressGeneratorStatic{
						RelayAddress: net.IP(server.Addr().AsSlice()), Address: server.Addr().String(), Net: server}}},
					LoggerFactory: quietLoggers(),
				})
				g.Expect(err).NotTo(HaveOccurred())
				defer srv.Close()
				agent, err := ice.NewAgentWithOptions(
					ice.WithNet(client),
					ice.WithUrls([]*stun.URI{{Scheme: stun.SchemeTypeTURN, Host: server.Addr().String(), Port: 3478, Proto: stun.ProtoTypeTCP, Username: "user", Password: "pass"}}),
					ice.WithNetworkTypes(types),
					ice.WithCandidateTypes([]ice.CandidateType{ice.CandidateTypeRelay}),
					ice.WithLoggerFactory(quietLoggers()),
				)
				g.Expect(err).NotTo(HaveOccurred())
				defer agent.Close()
				gatherAll(t, g, agent, func(c ice.Candidate) {
					if c.Type() == ice.CandidateTypeRelay {
						count++
					}
				})
			})
			return count
		}
		Expect(relayCandidates([]ice.NetworkType{ice.NetworkTypeUDP4, ice.NetworkTypeTCP4})).To(Equal(1), "TURN over TCP with udp4 configured")
		Expect(relayCandidates([]ice.NetworkType{ice.NetworkTypeTCP4})).To(BeZero(), "TURN over TCP with tcp4 alone")
	})

	It("so transport fallback on the real clock keeps udp4 beside tcp4, and DTLS filtering is recovered from over TURN/TLS", func() {
		spec := dtlsFiltered(harness.TransportFallback)
		spec.Clients[0].Fallback.Deadline = 5 * time.Second
		// Two 5 s deadlines pass before the TURN/TLS attempt, which
		// connects about a second later on a quiet machine; the bounds
		// leave room for a loaded one, whose TLS handshakes under the race
		// detector take seconds of the real clock.
		spec.Duration = 25 * time.Second
		res := harness.Run(context.Background(), spec, harness.WithCA(ca))
		Expect(res.Err).To(BeEmpty())
		Expect(res.Clock).To(Equal(harness.RealClock))
		alice := res.Client("alice")
		Expect(alice.Attempts).To(ContainElement(SatisfyAll(
			HaveField("Why", "reconnect preferring TCP"), HaveField("Policy", ContainSubstring("networks udp4+tcp4")))))
		Expect(res).To(UseTransport(harness.TURNTLS).For("alice"))
		Expect(res).To(RecoverWithin(20 * time.Second).For("alice"))
	})

	It("dials active ICE-TCP through the operating system, not the agent's transport.Net (ice v4.1.0 and v4.4.9)", func() {
		g := NewWithT(suiteT)
		n, err := vnet.New(vnet.Config{Seed: 1})
		g.Expect(err).NotTo(HaveOccurred())
		defer n.Close()
		h, err := n.Internet().AddHost(vnet.HostConfig{Name: "client"})
		g.Expect(err).NotTo(HaveOccurred())
		bridge := vnet.NewBridge()
		defer bridge.Close()
		_, err = bridge.AddClient(h)
		g.Expect(err).NotTo(HaveOccurred())

		// The passive end: a real socket on loopback.
		ln, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
		g.Expect(err).NotTo(HaveOccurred())
		defer ln.Close()
		accepted := make(chan netip.AddrPort, 1)
		go func() {
			c, err := ln.AcceptTCP()
			if err != nil {
				return
			}
			accepted <- c.RemoteAddr().(*net.TCPAddr).AddrPort()
			_ = c.Close()
		}()

		counted := &dialCounter{Net: h}
		agent, err := ice.NewAgentWithOptions(
			ice.WithNet(counted),
			ice.WithNetworkTypes([]ice.NetworkType{ice.NetworkTypeTCP4}),
			ice.WithCandidateTypes([]ice.CandidateType{ice.CandidateTypeHost}),
			ice.WithIncludeLoopback(),
			ice.WithLoggerFactory(quietLoggers()),
		)
		g.Expect(err).NotTo(HaveOccurred())
		defer agent.Close()
		g.Expect(agent.OnCandidate(func(ice.Candidate) {})).To(Succeed())
		g.Expect(agent.GatherCandidates()).To(Succeed())
		port := ln.Addr().(*net.TCPAddr).Port
		remote, err := ice.NewCandidateHost(&ice.CandidateHostConfig{
			Network: "tcp", Address: "127.0.0.1", Port: port, Component: 1, TCPType: ice.TCPTypePassive,
		})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(agent.AddRemoteCandidate(remote)).To(Succeed())
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() { _, _ = agent.Dial(ctx, "remoteufrag", "remotepasswordremotepassword") }()

		var from netip.AddrPort
		Eventually(accepted).WithTimeout(20 * time.Second).Should(Receive(&from))
		g.Expect(from.Addr().Is4() && from.Addr().As4()[0] == 127).To(BeTrue(), "dialled from a loopback address: %s", from)
		g.Expect(counted.dials.Load()).To(BeZero(), "dials through the agent's transport.Net")
	})
})

// dialCounter is a transport.Net that counts the TCP dials made through it.
type dialCounter struct {
	transport.Net
	dials atomic.Int32
}

func (d *dialCounter) Dial(network, address string) (net.Conn, error) {
	d.dials.Add(1)
	return d.Net.Dial(network, address)
}

func (d *dialCounter) DialTCP(network string, laddr, raddr *net.TCPAddr) (transport.TCPConn, error) {
	d.dials.Add(1)
	return d.Net.DialTCP(network, laddr, raddr)
}

func (d *dialCounter) CreateDialer(dialer *net.Dialer) transport.Dialer {
	return counting{d, d.Net.CreateDialer(dialer)}
}

type counting struct {
	d     *dialCounter
	inner transport.Dialer
}

func (c counting) Dial(network, address string) (net.Conn, error) {
	c.d.dials.Add(1)
	return c.inner.Dial(network, address)
}

func quietLoggers() logging.LoggerFactory {
	lf := logging.NewDefaultLoggerFactory()
	lf.DefaultLogLevel = logging.LogLevelDisabled
	return lf
}

// gatherAll has agent gather, handing each candidate to each (when not
// nil), and waits for the end of gathering, for at most a minute.
func gatherAll(t *testing.T, g Gomega, agent *ice.Agent, each func(ice.Candidate)) {
	t.Helper()
	done := make(chan struct{})
	g.Expect(agent.OnCandidate(func(c ice.Candidate) {
		switch {
		case c == nil:
			close(done)
		case each != nil:
			each(c)
		}
	})).To(Succeed())
	g.Expect(agent.GatherCandidates()).To(Succeed())
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("gathering did not complete within a minute")
	}
}
