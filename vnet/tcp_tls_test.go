package vnet

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pion/turn/v5"
	"github.com/pion/webrtc/v4"
)

func TestTLSAndHTTPOverTCP(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newTestNetwork(t)
		web := mustHost(t, n.Internet(), "web")
		cli := mustHost(t, mustRouter(t, n.Internet(), "home", PortRestricted()), "cli")
		cli.Link().Impair(Impairment{Latency: 15 * time.Millisecond, Loss: 0.01})
		if err := n.AddName("web.example", web.Addr()); err != nil {
			t.Fatal(err)
		}
		cert, err := testCA.leaf("web.example")
		if err != nil {
			t.Fatal(err)
		}
		ln := tcpListen(t, web, 443)
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "hello %s over %s", r.RemoteAddr, r.Proto)
		})}
		served := make(chan error, 1)
		go func() { served <- srv.Serve(tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}})) }()
		t.Cleanup(func() {
			_ = srv.Close()
			if err := <-served; !errors.Is(err, http.ErrServerClosed) {
				t.Errorf("serve: %v", err)
			}
		})

		tr := &http.Transport{
			DialContext:     cli.DialContext,
			TLSClientConfig: &tls.Config{RootCAs: testCA.pool},
		}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr}).Get("https://web.example/")
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("hello %s:", cli.ExternalAddr()); len(body) < len(want) || string(body[:len(want)]) != want {
			t.Errorf("body %q, want it to start with %q", body, want)
		}

		// A certificate that does not match the name fails verification,
		// and neither side hangs.
		c, err := cli.Dial("tcp", netip.AddrPortFrom(web.Addr(), 443).String())
		if err != nil {
			t.Fatal(err)
		}
		tc := tls.Client(c, &tls.Config{ServerName: "other.example", RootCAs: testCA.pool})
		err = tc.HandshakeContext(context.Background())
		_ = tc.Close()
		var hostErr x509.HostnameError
		if !errors.As(err, &hostErr) {
			t.Fatalf("handshake with a certificate for another name: %v, want a hostname error", err)
		}
	})
}

// startTURNTCP runs a pion TURN server on h accepting TCP, or TLS when
// cert is set, on port, with user "user", password "pass". Relayed
// allocations are UDP on h.
func startTURNTCP(t testing.TB, h *Host, port int, cert *tls.Certificate) {
	t.Helper()
	ln, err := h.ListenTCP("tcp4", &net.TCPAddr{IP: h.Addr().AsSlice(), Port: port})
	if err != nil {
		t.Fatal(err)
	}
	var l net.Listener = ln
	if cert != nil {
		l = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{*cert}})
	}
	serveTURN(t, h, turn.ServerConfig{ListenerConfigs: []turn.ListenerConfig{{Listener: l, RelayAddressGenerator: relayOn(h)}}})
}

// selectedPair returns a peer's selected pair with the relay protocol of
// its local candidate ("" unless relayed).
func selectedPair(t testing.TB, p *peer) (local, remote webrtc.ICECandidate, relayProto string) {
	t.Helper()
	pair, err := p.pc.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil || pair == nil {
		t.Fatalf("no selected pair: %v", err)
	}
	for _, s := range p.pc.GetStats() {
		if cs, ok := s.(webrtc.ICECandidateStats); ok && cs.Type == webrtc.StatsTypeLocalCandidate &&
			cs.IP == pair.Local.Address && cs.Port == int32(pair.Local.Port) && cs.CandidateType == pair.Local.Typ {
			relayProto = cs.RelayProtocol
		}
	}
	return *pair.Local, *pair.Remote, relayProto
}

func TestPionTURNOverTCPAndTLS(t *testing.T) {
	for _, tt := range []struct {
		name, url string
		tls       bool
		wrongName bool
		wantProto string
	}{
		{name: "turn tcp", url: "turn:turn.example:3478?transport=tcp", wantProto: "tcp"},
		{name: "turns", url: "turns:turn.example:5349?transport=tcp", tls: true, wantProto: "tls"},
		{name: "turns wrong name", url: "turns:turn.example:5349?transport=tcp", tls: true, wrongName: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				n := newTestNetwork(t)
				turnHost := mustHost(t, n.Internet(), "turn")
				if err := n.AddName("turn.example", turnHost.Addr()); err != nil {
					t.Fatal(err)
				}
				if tt.tls {
					name := "turn.example"
					if tt.wrongName {
						name = "elsewhere.example"
					}
					cert, err := testCA.leaf(name)
					if err != nil {
						t.Fatal(err)
					}
					startTURNTCP(t, turnHost, 5349, &cert)
				} else {
					startTURNTCP(t, turnHost, 3478, nil)
				}
				corp := mustRouter(t, n.Internet(), "corp", Symmetric())
				if _, err := corp.Firewall().Add(BlockUDP()...); err != nil {
					t.Fatal(err)
				}
				client := newPeer(t, mustHost(t, corp, "client"), webrtc.Configuration{
					ICETransportPolicy: webrtc.ICETransportPolicyRelay,
					ICEServers:         []webrtc.ICEServer{{URLs: []string{tt.url}, Username: "user", Credential: "pass"}},
				})
				media := newPeer(t, mustHost(t, n.Internet(), "media"), webrtc.Configuration{})

				if tt.wrongName {
					// Verification fails, so the relay-only client gathers
					// no candidate at all.
					if _, err := client.pc.CreateDataChannel("data", nil); err != nil {
						t.Fatal(err)
					}
					offer, err := client.pc.CreateOffer(nil)
					if err != nil {
						t.Fatal(err)
					}
					gathered := webrtc.GatheringCompletePromise(client.pc)
					if err := client.pc.SetLocalDescription(offer); err != nil {
						t.Fatal(err)
					}
					<-gathered
					if sdp := client.pc.LocalDescription().SDP; strings.Contains(sdp, "a=candidate") {
						t.Fatalf("gathered candidates through a TURN server whose certificate names another host:\n%s", sdp)
					}
					return
				}

				connect(t, client, media)
				l, r, proto := selectedPair(t, client)
				if l.Typ != webrtc.ICECandidateTypeRelay || r.Typ != webrtc.ICECandidateTypeHost || proto != tt.wantProto || l.Protocol != webrtc.ICEProtocolUDP {
					t.Errorf("client selected %s/%s (relay protocol %q) → %s, want relay/udp (%q) → host", l.Typ, l.Protocol, proto, r.Typ, tt.wantProto)
				}
				l, r, proto = selectedPair(t, media)
				if l.Typ != webrtc.ICECandidateTypeHost || r.Typ != webrtc.ICECandidateTypeRelay || proto != "" || r.Protocol != webrtc.ICEProtocolUDP {
					t.Errorf("media selected %s → %s/%s (relay protocol %q), want host → relay/udp", l.Typ, r.Typ, r.Protocol, proto)
				}
			})
		})
	}
}

// Without keep-alives, each HTTP/1.1 request ends with the server closing
// first (Go's net/http server just closes: it does the CloseWrite and 500 ms
// wait only when it leaves a request body unread), then the client closing.
// The model's teardown matches what Linux 6.18 does on the wire:
//
//   - Plain HTTP: the server's FIN, the client's FIN, the server's ACK from
//     TIME-WAIT. No reset.
//   - HTTPS: the client sends close_notify before its FIN, new data for a
//     socket that was closed, so the server resets it (RST, seq = the
//     segment's ack) and forgets the connection; the client's FIN, already
//     in flight, finds no connection and is reset too ("port closed"), and
//     that reset finds none at the client ("no connection for reset").
//     Neither the client nor the server sees an error.
func TestHTTPWithoutKeepAlivesTeardown(t *testing.T) {
	for _, useTLS := range []bool{false, true} {
		name := map[bool]string{false: "http", true: "https"}[useTLS]
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				n := newTestNetwork(t)
				web := mustHost(t, n.Internet(), "web")
				cli := mustHost(t, n.Internet(), "cli")
				if err := cli.Link().Impair(Impairment{Latency: 15 * time.Millisecond}); err != nil {
					t.Fatal(err)
				}
				if err := n.AddName("web.example", web.Addr()); err != nil {
					t.Fatal(err)
				}
				events := record(t, n, func(e Event) bool {
					return e.Proto == TCP && (e.Where == "web" || e.Where == "cli")
				})
				var ln net.Listener = tcpListen(t, web, 443)
				if useTLS {
					cert, err := testCA.leaf("web.example")
					if err != nil {
						t.Fatal(err)
					}
					ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}})
				}
				srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					fmt.Fprintf(w, "hello %s", r.RemoteAddr)
				})}
				served := make(chan error, 1)
				go func() { served <- srv.Serve(ln) }()
				t.Cleanup(func() {
					_ = srv.Close()
					if err := <-served; !errors.Is(err, http.ErrServerClosed) {
						t.Errorf("serve: %v", err)
					}
				})
				tr := &http.Transport{
					DialContext:       cli.DialContext,
					TLSClientConfig:   &tls.Config{RootCAs: testCA.pool},
					DisableKeepAlives: true,
				}
				defer tr.CloseIdleConnections()
				client := &http.Client{Transport: tr}
				scheme := map[bool]string{false: "http", true: "https"}[useTLS]
				const requests = 4
				for i := range requests {
					resp, err := client.Get(scheme + "://web.example:443/")
					if err != nil {
						t.Fatalf("request %d: %v", i, err)
					}
					body, err := io.ReadAll(resp.Body)
					_ = resp.Body.Close()
					if err != nil || !strings.HasPrefix(string(body), "hello ") {
						t.Fatalf("request %d: body %q, %v", i, body, err)
					}
				}
				time.Sleep(5 * time.Second) // any retransmission plays out

				defer func() {
					if t.Failed() {
						for _, e := range events.list() {
							t.Logf("%v [%v]", e, e.Flags)
						}
					}
				}()
				// What the teardown cost, per connection (the client's
				// port): resets, and segments refused or dropped.
				resets := map[uint16]int{}
				for _, e := range events.list() {
					port := e.Src.Port()
					if e.Where == "cli" {
						port = e.Dst.Port()
					}
					if e.Flags&FlagRST != 0 {
						resets[port]++
						if e.Where == "cli" && e.Flags&FlagACK != 0 {
							// The RST|ACK of a close with data unread: the
							// server never has any.
							t.Errorf("the server reset with unread data: %v", e)
						}
					}
					if e.Verdict != Delivered && (e.Flags&^(FlagFIN|FlagACK|FlagRST) != 0 || e.Size != 40) {
						t.Errorf("lost more than a teardown segment: %v [%v]", e, e.Flags)
					}
				}
				if !useTLS {
					if len(resets) != 0 {
						t.Errorf("plain HTTP teardown drew resets: %v", resets)
					}
					if got := web.tcpConnCount(); got != requests {
						t.Errorf("server has %d connections, want its %d in TIME-WAIT", got, requests)
					}
					return
				}
				// The details vary with goroutine scheduling, each as Linux
				// would answer it. Most often the server resets the
				// client's close_notify (a bare RST whose sequence number
				// is that segment's ack) and then the FIN behind it, which
				// finds no connection; the client drops that second reset.
				// But the client may send close_notify and FIN before it
				// takes in the server's FIN, so that the first reset is
				// below its window and ignored; or it may close with the
				// server's close_notify unread, or see it arrive just after
				// its close(), and reset the server itself.
				if len(resets) != requests {
					t.Errorf("%d connections ended with resets, want all %d: %v", len(resets), requests, resets)
				}
				if got := web.tcpConnCount() + cli.tcpConnCount(); got != 0 {
					t.Errorf("%d connections left", got)
				}
			})
		})
	}
}
