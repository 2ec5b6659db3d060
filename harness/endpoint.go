package harness

import (
	"context"
	"crypto/x509"
	"fmt"
	"net/netip"
	"time"

	"github.com/icelab/icelab/harness/media"
	"github.com/icelab/icelab/middlebox"
	"github.com/icelab/icelab/vnet"
	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/logging"
	"github.com/pion/webrtc/v4"
)

// endpoint is what every pion peer of a call has, whichever kind it is: a
// client that signals to a media node, or a peer of a peer-to-peer call.
// It is a host placed as its ClientSpec says (access link, MTU, path MTU
// discovery), the proxy and inspection CAs it is configured with, and the
// pion settings an application on that host makes each peer connection
// with. What differs between kinds — signalling to a node over HTTPS, or
// offers and answers handed over out of band — is the kind's own.
type endpoint struct {
	spec    ClientSpec
	host    *vnet.Host
	loggers logging.LoggerFactory
	// proxy is the endpoint's proxy settings; nil means none.
	proxy *clientProxy
}

// placeEndpoint adds cs's host to the network with its access link (15 ms
// each way when the spec sets none), MTU and path MTU discovery, and names
// its addresses in the run's events.
func (r *runner) placeEndpoint(kind string, cs ClientSpec) (endpoint, error) {
	link := cs.Link
	if link == (vnet.Impairment{}) {
		link = vnet.Impairment{Latency: defaultClientLatency}
	}
	host, err := r.topo.addHost(cs.Name, cs.LAN, netip.Addr{}, link)
	if err != nil {
		return endpoint{}, fmt.Errorf("%s %s: %w", kind, cs.Name, err)
	}
	if err := host.Link().SetMTU(cs.MTU); err != nil {
		return endpoint{}, fmt.Errorf("%s %s: %w", kind, cs.Name, err)
	}
	host.SetPMTUDiscovery(cs.PMTUDiscovery)
	r.drops.own(cs.Name, knownAddrs(host)...)
	return endpoint{spec: cs, host: host, loggers: r.o.loggers}, nil
}

// configureProxy gives the endpoint its proxy dialer and the CAs of the
// TLS-inspecting proxies it trusts (cs.Proxy, cs.Trust).
func (e *endpoint) configureProxy(proxies map[string]*middlebox.Proxy, runCA *x509.Certificate) error {
	if e.spec.Proxy == "" && len(e.spec.Trust) == 0 {
		return nil
	}
	cp := &clientProxy{name: e.spec.Proxy, runCA: runCA}
	for _, t := range e.spec.Trust {
		cp.trusted = append(cp.trusted, proxies[t].Config().CA.Cert)
	}
	if e.spec.Proxy != "" {
		p := proxies[e.spec.Proxy]
		d, err := middlebox.NewDialer(p.Config().Kind, p.Addr().String(), e.host, e.spec.ProxyAuth)
		if err != nil {
			return fmt.Errorf("%s: %w", e.spec.Name, err)
		}
		cp.dialer = d
	}
	e.proxy = cp
	return nil
}

// attempt is what one peer connection of an endpoint is made with.
type attempt struct {
	types    []webrtc.NetworkType
	servers  []webrtc.ICEServer
	policy   webrtc.ICETransportPolicy
	deadline time.Duration // bounds ICE+DTLS; zero: pion's default (none)
	obs      *observer     // records pion's warnings
}

// newPeerConnection makes a peer connection on the endpoint's host with
// the settings every kind shares: vnet as pion's network, no mDNS (unless
// the spec hides its host candidates so), no
// close on the remote's DTLS close_notify, the
// network types and ICE servers of the attempt, pion's warnings recorded,
// a bounded SCTP retransmission timeout, the DTLS deadline, the proxy
// dialer for TURN over TCP and TLS, and the DTLS certificate. tune adds a
// kind's own settings (a client's renomination, ICE-TCP's loopback
// candidate); it may be nil. With GCC, the peer connection's estimator is
// returned beside it (nil without congestion control).
func (e *endpoint) newPeerConnection(ctx context.Context, a attempt, tune func(*webrtc.SettingEngine) error) (*webrtc.PeerConnection, media.Estimator, error) {
	var se webrtc.SettingEngine
	se.SetNet(e.host)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	if e.spec.MDNS {
		// pion's mDNS listener binds on vnet and its responder does not
		// start; the host candidates carry the name all the same
		// (ice v4.4.9 agent.go:500-512, gather.go:393).
		se.SetICEMulticastDNSMode(ice.MulticastDNSModeQueryAndGather)
		se.SetMulticastDNSHostName(mdnsName(e.spec.Name))
	}
	se.SetNetworkTypes(a.types)
	if e.spec.SRTPReplayWindow > 0 {
		se.SetSRTPReplayProtectionWindow(e.spec.SRTPReplayWindow)
	}
	se.LoggerFactory = captureFactory{base: e.loggers, record: a.obs.pionLog}
	se.SetSCTPRTOMax(2 * time.Second)
	// pion closes a peer connection when its remote's DTLS close_notify
	// arrives, and that path takes pion's SCTP lock while sctp's Abort waits
	// up to 200 ms (DESIGN.md): a goroutine waiting on a mutex is not
	// durably blocked, so inside a synctest bubble the clock never reaches
	// those 200 ms and the call never ends. Endpoints close their own peer
	// connections, and ICE tells them a remote went away.
	se.DisableCloseByDTLS(true)
	if a.deadline > 0 {
		se.SetDTLSConnectContextMaker(func() (context.Context, func()) {
			return context.WithTimeout(context.Background(), a.deadline)
		})
	}
	e.applyProxy(ctx, &se, a.servers)
	if tune != nil {
		if err := tune(&se); err != nil {
			return nil, nil, err
		}
	}
	certs, err := e.spec.DTLSCertificate.certificates()
	if err != nil {
		return nil, nil, err
	}
	// pion's defaults but its stats interceptor (media.ClientInterceptors),
	// and GCC if the client's senders adapt.
	var m webrtc.MediaEngine
	var ir interceptor.Registry
	var est media.Estimator
	var estimated func(media.Estimator)
	if e.spec.CongestionControl == GCC {
		// Called while pion builds the connection's interceptors.
		estimated = func(x media.Estimator) { est = x }
	}
	if err := media.ClientInterceptors(&m, &ir, se.LoggerFactory, estimated, e.spec.Publish.Simulcast); err != nil {
		return nil, nil, err
	}
	api := webrtc.NewAPI(webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(&m), webrtc.WithInterceptorRegistry(&ir))
	pc, err := api.NewPeerConnection(webrtc.Configuration{ICEServers: a.servers, ICETransportPolicy: a.policy, Certificates: certs})
	if err != nil {
		return nil, nil, err
	}
	return pc, est, nil
}
