package harness_test

import (
	"net"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/icelab/icelab/vnet"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/pion/ice/v4"
	"github.com/pion/stun/v4"
)

// recordingDialer is an ICE proxy dialer that records what pion asks of
// it and dials directly.
type recordingDialer struct {
	host  *vnet.Host
	mu    sync.Mutex
	asked []string
}

func (d *recordingDialer) Dial(network, addr string) (net.Conn, error) {
	d.mu.Lock()
	d.asked = append(d.asked, network+" "+addr)
	d.mu.Unlock()
	return d.host.Dial(network, addr)
}

var _ = Describe("pion's ICE proxy dialer", func() {
	It("carries turn: over TCP and turns: alike, for tcp4 and tcp6, leaving TLS to the dialer, and never UDP (ice v4.4.9, gather.go:1107)", func() {
		synctest.Test(suiteT, func(t *testing.T) {
			g := NewWithT(t)
			n, err := vnet.New(vnet.Config{Seed: 1})
			g.Expect(err).NotTo(HaveOccurred())
			defer n.Close()
			server, err := n.Internet().AddHost(vnet.HostConfig{Name: "turn", Link: vnet.Impairment{Latency: time.Millisecond}})
			g.Expect(err).NotTo(HaveOccurred())
			client, err := n.Internet().AddHost(vnet.HostConfig{Name: "client", Link: vnet.Impairment{Latency: time.Millisecond}})
			g.Expect(err).NotTo(HaveOccurred())

			// Each TCP port records the first byte a connection sends.
			var mu sync.Mutex
			first := map[int]byte{}
			var wg sync.WaitGroup
			var listeners []net.Listener
			defer func() {
				for _, l := range listeners {
					_ = l.Close()
				}
				_ = n.Close() // ends reads still waiting
				wg.Wait()
			}()
			for _, port := range []int{3478, 5349} {
				ln, err := server.ListenTCP("tcp4", &net.TCPAddr{IP: server.Addr().AsSlice(), Port: port})
				g.Expect(err).NotTo(HaveOccurred())
				listeners = append(listeners, ln)
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						c, err := ln.Accept()
						if err != nil {
							return
						}
						b := make([]byte, 1)
						if _, err := c.Read(b); err == nil {
							mu.Lock()
							first[port] = b[0]
							mu.Unlock()
						}
						_ = c.Close()
					}
				}()
			}
			udpToServer := 0
			defer n.Tap(func(e vnet.Event) {
				if e.Proto == vnet.UDP && e.Dst.Addr() == server.Addr() {
					mu.Lock()
					udpToServer++
					mu.Unlock()
				}
			})()

			host := server.Addr().String()
			d := &recordingDialer{host: client}
			agent, err := ice.NewAgentWithOptions(
				ice.WithNet(client),
				ice.WithUrls([]*stun.URI{
					{Scheme: stun.SchemeTypeTURN, Host: host, Port: 3478, Proto: stun.ProtoTypeUDP, Username: "u", Password: "p"},
					{Scheme: stun.SchemeTypeTURN, Host: host, Port: 3478, Proto: stun.ProtoTypeTCP, Username: "u", Password: "p"},
					{Scheme: stun.SchemeTypeTURNS, Host: host, Port: 5349, Proto: stun.ProtoTypeTCP, Username: "u", Password: "p"},
				}),
				ice.WithNetworkTypes([]ice.NetworkType{ice.NetworkTypeUDP4}),
				ice.WithCandidateTypes([]ice.CandidateType{ice.CandidateTypeRelay}),
				ice.WithProxyDialer(d),
				ice.WithLoggerFactory(quietLoggers()),
			)
			g.Expect(err).NotTo(HaveOccurred())
			gatherAll(t, g, agent, nil)
			g.Expect(agent.Close()).To(Succeed())

			d.mu.Lock()
			defer d.mu.Unlock()
			mu.Lock()
			defer mu.Unlock()
			g.Expect(d.asked).To(ConsistOf("tcp4 "+host+":3478", "tcp4 "+host+":5349", "tcp6 "+host+":3478", "tcp6 "+host+":5349"),
				"TCP URLs go through the dialer, once per IP family whatever the agent's network types, and the UDP one does not")
			g.Expect(udpToServer).To(BeNumerically(">", 0), "TURN/UDP goes straight to the server")
			g.Expect(first).To(HaveKeyWithValue(5349, byte(0x00)),
				"pion writes a plain STUN Allocate (first byte 0x00) into the dialer's connection for a turns: URL, not a TLS ClientHello (0x16): a browser does TLS inside its CONNECT tunnel, so the harness's dialer does")
			g.Expect(first).To(HaveKeyWithValue(3478, byte(0x00)))
		})
	})
})
