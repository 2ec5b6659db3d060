package vnet

import (
	"net/netip"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// probe is one kind of packet crossing a firewall.
type probe struct {
	name    string
	dir     Flow
	proto   Proto
	remote  uint16 // the internet side's port
	payload []byte
	reply   bool // sent in answer to an earlier packet the other way
}

var (
	stunPayload = []byte{0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42}
	dtlsPayload = []byte{22, 0xfe, 0xfd}
	rtpPayload  = []byte{0x80, 0x6f}
)

var probes = []probe{
	{name: "udp stun out", dir: Outbound, proto: UDP, remote: 3478, payload: stunPayload},
	{name: "udp dtls out", dir: Outbound, proto: UDP, remote: 50000, payload: dtlsPayload},
	{name: "udp rtp out", dir: Outbound, proto: UDP, remote: 50000, payload: rtpPayload},
	{name: "udp dtls in reply", dir: Inbound, proto: UDP, remote: 50000, payload: dtlsPayload, reply: true},
	{name: "udp rtp in new", dir: Inbound, proto: UDP, remote: 50000, payload: rtpPayload},
	{name: "tcp out 443", dir: Outbound, proto: TCP, remote: 443},
	{name: "tcp out 80", dir: Outbound, proto: TCP, remote: 80},
	{name: "tcp out 7881", dir: Outbound, proto: TCP, remote: 7881},
	{name: "tcp out 5349", dir: Outbound, proto: TCP, remote: 5349},
	{name: "tcp in reply from 443", dir: Inbound, proto: TCP, remote: 443, reply: true},
	{name: "tcp in new", dir: Inbound, proto: TCP, remote: 40000},
}

// TestFirewallPresets checks each preset against every probe: it blocks
// what it says and nothing else.
func TestFirewallPresets(t *testing.T) {
	tests := []struct {
		name    string
		rules   []Rule
		blocked []string
	}{
		{"none", nil, nil},
		{"block udp", BlockUDP(), []string{"udp stun out", "udp dtls out", "udp rtp out", "udp dtls in reply", "udp rtp in new"}},
		{"only tcp 80/443 out", OnlyTCPOut(80, 443), []string{"udp stun out", "udp dtls out", "udp rtp out", "udp dtls in reply", "udp rtp in new", "tcp out 7881", "tcp out 5349", "tcp in new"}},
		{"block inbound tcp", BlockInboundTCP(), []string{"tcp in new"}},
		{"dtls filtered", DTLSFiltered(), []string{"udp dtls out", "udp dtls in reply"}},
	}
	local := netip.MustParseAddrPort("10.1.0.2:40000")
	remoteIP := netip.MustParseAddr("203.0.113.9")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fw := newFirewall("corp")
			if _, err := fw.Add(tt.rules...); err != nil {
				t.Fatal(err)
			}
			now := time.Now()
			for _, p := range probes {
				remote := netip.AddrPortFrom(remoteIP, p.remote)
				if p.reply {
					// The opening packet goes the other way first.
					opener := &packet{packetHead: packetHead{proto: p.proto, payload: p.payload}}
					fw.verdict(opposite(p.dir), opener, local, remote, now)
				}
				pkt := &packet{packetHead: packetHead{proto: p.proto, payload: p.payload}}
				act, why := fw.verdict(p.dir, pkt, local, remote, now)
				wantBlocked := contains(tt.blocked, p.name)
				if (act != Accept) != wantBlocked {
					t.Errorf("%s: verdict %v (%s), want blocked=%v", p.name, act, why, wantBlocked)
				}
				if act != Accept && !strings.HasPrefix(why, "firewall corp rule ") {
					t.Errorf("%s: reason %q does not name the rule", p.name, why)
				}
			}
		})
	}
}

func opposite(d Flow) Flow {
	if d == Inbound {
		return Outbound
	}
	return Inbound
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestFirewallWhackConditions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		local := netip.MustParseAddrPort("10.1.0.2:40000")
		remote := netip.MustParseAddrPort("203.0.113.9:3478")
		fw := newFirewall("fw")
		if _, err := fw.Add(UDPWhack(10 * time.Second)...); err != nil {
			t.Fatal(err)
		}
		byPackets := newFirewall("fw2")
		if _, err := byPackets.Add(Rule{Name: "after-3", Proto: UDP, AfterPackets: 3, Action: Drop}); err != nil {
			t.Fatal(err)
		}
		pkt := &packet{packetHead: packetHead{proto: UDP, payload: rtpPayload}}
		for i := 1; i <= 5; i++ {
			act, _ := byPackets.verdict(Outbound, pkt, local, remote, time.Now())
			if want := i > 3; (act == Drop) != want {
				t.Errorf("packet %d: %v, want dropped=%v", i, act, want)
			}
		}
		if act, _ := fw.verdict(Outbound, pkt, local, remote, time.Now()); act != Accept {
			t.Fatalf("first packet of a flow: %v", act)
		}
		time.Sleep(9 * time.Second)
		if act, _ := fw.verdict(Inbound, pkt, local, remote, time.Now()); act != Accept {
			t.Fatalf("reply 9 s into the flow: %v", act)
		}
		time.Sleep(time.Second)
		if act, _ := fw.verdict(Outbound, pkt, local, remote, time.Now()); act != Drop {
			t.Fatalf("packet 10 s into the flow: %v, want drop", act)
		}
		// A new flow passes again at first.
		other := netip.MustParseAddrPort("203.0.113.9:3479")
		if act, _ := fw.verdict(Outbound, pkt, local, other, time.Now()); act != Accept {
			t.Fatalf("first packet of a new flow: %v", act)
		}
	})
}

// TestFirewallEndToEnd sends UDP through a router whose rules change while
// traffic flows.
func TestFirewallEndToEnd(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newTestNetwork(t)
		corp := mustRouter(t, n.Internet(), "corp", PortRestricted())
		in := listen(t, mustHost(t, corp, "laptop"), 0)
		out := listenOn(t, mustHost(t, n.Internet(), "sfu"), 50000)

		drops := record(t, n, func(e Event) bool { return e.Verdict == Dropped })

		send(t, in, string(rtpPayload), addrOf(out))
		if _, _, ok := recvFrom(t, out, time.Second); !ok {
			t.Fatal("RTP did not pass an empty firewall")
		}
		ids, err := corp.Firewall().Add(DTLSFiltered()...)
		if err != nil {
			t.Fatal(err)
		}
		send(t, in, string(dtlsPayload), addrOf(out))
		if _, _, ok := recvFrom(t, out, time.Second); ok {
			t.Fatal("DTLS passed a DTLS filter")
		}
		send(t, in, string(rtpPayload), addrOf(out))
		if _, _, ok := recvFrom(t, out, time.Second); !ok {
			t.Fatal("RTP did not pass a DTLS filter")
		}
		corp.Firewall().Remove(ids...)
		send(t, in, string(dtlsPayload), addrOf(out))
		if _, _, ok := recvFrom(t, out, time.Second); !ok {
			t.Fatal("DTLS blocked after the rule was removed")
		}
		events := drops.list()
		if len(events) != 1 || events[0].Where != "corp" || events[0].Class != ClassDTLS ||
			events[0].Reason != "firewall corp rule 1 (dtls-filtered)" {
			t.Fatalf("drop events %v, want one DTLS drop by corp rule 1", events)
		}
	})
}

func TestFirewallReject(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newTestNetwork(t)
		corp := mustRouter(t, n.Internet(), "corp", PortRestricted())
		if _, err := corp.Firewall().Add(Rule{Name: "reject-udp", Proto: UDP, Action: Reject}); err != nil {
			t.Fatal(err)
		}
		h := mustHost(t, corp, "laptop")
		sfu := mustHost(t, n.Internet(), "sfu")
		listenOn(t, sfu, 3478)
		c, err := h.Dial("udp4", netip.AddrPortFrom(sfu.Addr(), 3478).String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_, _ = c.Write(stunPayload)
		if _, err := c.Read(make([]byte, 64)); err == nil || !strings.Contains(err.Error(), "connection refused") {
			t.Fatalf("read after a rejected datagram: %v, want connection refused", err)
		}
	})
}

func TestRuleValidation(t *testing.T) {
	fw := newFirewall("fw")
	for _, r := range []Rule{
		{Name: "no action"},
		{Name: "reversed", Action: Drop, RemotePorts: PortRange{Min: 10, Max: 5}},
		{Name: "negative", Action: Drop, After: -time.Second},
	} {
		if _, err := fw.Add(r); err == nil || !strings.Contains(err.Error(), r.Name) {
			t.Errorf("rule %q: error %v, want one naming the rule", r.Name, err)
		}
	}
}

// TestFirewallDroppedPacketLeavesNoState checks connection tracking as
// netfilter does it: a dropped first packet does not open a flow, so when
// both ends send at once (ICE checks), the one the firewall lets out opens
// it and the other end's next packet is a reply.
func TestFirewallDroppedPacketLeavesNoState(t *testing.T) {
	fw := newFirewall("dc")
	if _, err := fw.Add(
		Rule{Name: "allow-replies", Direction: Inbound, State: StateEstablished, Action: Accept},
		Rule{Name: "drop-the-rest", Direction: Inbound, Action: Drop},
	); err != nil {
		t.Fatal(err)
	}
	local := netip.MustParseAddrPort("10.1.0.2:50000")
	remote := netip.MustParseAddrPort("203.0.113.9:40000")
	now := time.Now()
	steps := []struct {
		dir  Flow
		want Action
	}{
		{Inbound, Drop},    // the remote end's check arrives first
		{Inbound, Drop},    // and again: still no state
		{Outbound, Accept}, // our check goes out and opens the flow
		{Inbound, Accept},  // the remote end's next check is a reply
	}
	for i, s := range steps {
		pkt := &packet{packetHead: packetHead{proto: UDP, payload: stunPayload}}
		if act, why := fw.verdict(s.dir, pkt, local, remote, now); act != s.want {
			t.Fatalf("step %d (%v): %v (%s), want %v", i+1, s.dir, act, why, s.want)
		}
	}
}

// TestFirewallRateLimit sends UDP at twice a throttle's rate for ten
// seconds: what arrives is the rate plus its burst, and every drop names
// the limit. Sent at half the rate, everything arrives.
func TestFirewallRateLimit(t *testing.T) {
	for _, tt := range []struct {
		name     string
		interval time.Duration // between 1250-byte datagrams: 1278 bytes on the wire
		min, max int           // datagrams delivered of 1000
	}{
		// 1.02 Mbit/s offered to a 500 kbit/s policer: 62,500 B/s for 10 s
		// plus a 6,250-byte burst is 493 datagrams of 1,278 bytes.
		{"twice the rate", 10 * time.Millisecond, 488, 498},
		{"half the rate", 40 * time.Millisecond, 1000, 1000},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				n := newTestNetwork(t)
				guest := mustRouter(t, n.Internet(), "guest", PortRestricted())
				if _, err := guest.Firewall().Add(ThrottleUDP(500_000)...); err != nil {
					t.Fatal(err)
				}
				drops := record(t, n, func(e Event) bool { return e.Verdict == Dropped })
				in := listen(t, mustHost(t, guest, "phone"), 0)
				out := listenOn(t, mustHost(t, n.Internet(), "server"), 5000)
				payload := strings.Repeat("x", 1250)
				pace := time.NewTicker(tt.interval) // the sender's pace, on the bubble's clock
				defer pace.Stop()
				for range 1000 {
					send(t, in, payload, addrOf(out))
					<-pace.C
				}
				got := 0
				for {
					if _, _, ok := recvFrom(t, out, time.Millisecond); !ok {
						break
					}
					got++
				}
				if got < tt.min || got > tt.max {
					t.Errorf("%d of 1000 datagrams arrived, want %d to %d", got, tt.min, tt.max)
				}
				for _, e := range drops.list() {
					if e.Reason != "firewall guest rule 1 (throttle-udp): over 500 kbit/s" {
						t.Fatalf("drop reason %q", e.Reason)
					}
				}
				if d := len(drops.list()); d != 1000-got {
					t.Errorf("%d drops recorded for %d datagrams lost", d, 1000-got)
				}
			})
		})
	}
}
