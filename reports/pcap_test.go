package reports_test

import (
	"bytes"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/icelab/icelab/reports"
	"github.com/icelab/icelab/vnet"
)

// tcpExchange runs, on a fake clock, a TCP connection from a client behind a
// home router to a public server, request one way and a reply larger than
// one segment the other, and returns every event the network saw.
func tcpExchange(t *testing.T) (events []vnet.Event, request, reply []byte) {
	t.Helper()
	request = []byte("GET / HTTP/1.1\r\nHost: icelab\r\n\r\n")
	reply = bytes.Repeat([]byte("icelab-reply "), 4000) // 52 kB: several segments
	synctest.Test(t, func(t *testing.T) {
		n, untap := tappedNetwork(t, &events)
		defer n.Close()
		defer untap()
		srv, err := n.Internet().AddHost(vnet.HostConfig{Name: "server"})
		if err != nil {
			t.Fatal(err)
		}
		home, err := n.Internet().AddRouter(vnet.RouterConfig{Name: "home", NAT: vnet.PortRestricted()})
		if err != nil {
			t.Fatal(err)
		}
		cli, err := home.AddHost(vnet.HostConfig{Name: "client"})
		if err != nil {
			t.Fatal(err)
		}
		ln, err := srv.ListenTCP("tcp4", &net.TCPAddr{IP: srv.Addr().AsSlice(), Port: 443})
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		served := make(chan struct{})
		go func() {
			defer close(served)
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			buf := make([]byte, len(request))
			if _, err := io.ReadFull(c, buf); err == nil {
				_, _ = c.Write(reply)
			}
		}()
		c, err := cli.Dial("tcp4", srv.Addr().String()+":443")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write(request); err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(c)
		if err != nil || !bytes.Equal(got, reply) {
			t.Fatalf("client read %d bytes, %v; want the %d-byte reply", len(got), err, len(reply))
		}
		// The capture ends once the exchange has: both ends closed and
		// their last segments delivered. A packet still in flight when a
		// capture ends is shown where it was last seen, on the sender's
		// side, which is not what this exchange is about.
		_ = c.Close()
		<-served
		synctest.Wait()
	})
	return events, request, reply
}

// TestPcapCarriesTCPAsWiresharkFollowsIt writes a capture of a TCP exchange
// through a NAT and reads it back: one interface per place a packet was
// seen, the client's link showing both directions with LAN addresses, and
// on it each direction's sequence numbers continuing from segment to
// segment, so a reader can reassemble the stream.
func TestPcapCarriesTCPAsWiresharkFollowsIt(t *testing.T) {
	events, request, reply := tcpExchange(t)
	var out bytes.Buffer
	if err := reports.WritePcap(&out, events); err != nil {
		t.Fatal(err)
	}
	r, err := pcapgo.NewNgReader(bytes.NewReader(out.Bytes()), pcapgo.DefaultNgReaderOptions)
	if err != nil {
		t.Fatal(err)
	}
	type dir struct{ src, dst string }
	next := map[dir]uint32{}   // the sequence number each direction's next data must carry
	stream := map[dir][]byte{} // each direction's bytes in order
	frames := 0
	places := map[string]bool{}
	for _, e := range events {
		places[e.Where] = true
	}
	// The addresses each interface saw in each direction, to check that
	// every conversation meets both its directions on one interface.
	directions := map[string][]string{}
	for {
		data, ci, err := r.ReadPacketData()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		ifc, err := r.Interface(ci.InterfaceIndex)
		if err != nil {
			t.Fatalf("frame %d names interface %d: %v", frames, ci.InterfaceIndex, err)
		}
		if !places[ifc.Name] {
			t.Fatalf("frame %d is on interface %q, where no packet was seen", frames, ifc.Name)
		}
		frames++
		pkt := gopacket.NewPacket(data, layers.LayerTypeIPv4, gopacket.Default)
		if ip, _ := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4); ip != nil {
			k := ifc.Name + " " + ip.SrcIP.String() + " " + ip.DstIP.String()
			if ip.DstIP.String() < ip.SrcIP.String() {
				k = ifc.Name + " " + ip.DstIP.String() + " " + ip.SrcIP.String()
			}
			directions[k] = append(directions[k], ip.SrcIP.String())
		}
		if ifc.Name != "client-eth0" {
			continue
		}
		ip, _ := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		tcp, _ := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if ip == nil || tcp == nil {
			t.Fatalf("frame %d on the client's link is not IPv4/TCP: %v", frames, pkt)
		}
		d := dir{net.JoinHostPort(ip.SrcIP.String(), tcp.SrcPort.String()), net.JoinHostPort(ip.DstIP.String(), tcp.DstPort.String())}
		if !strings.HasPrefix(d.src, "10.") && !strings.HasPrefix(d.dst, "10.") {
			t.Errorf("frame %d on the client's link, %s -> %s, has no LAN address", frames, d.src, d.dst)
		}
		if tcp.SYN {
			next[d] = tcp.Seq + 1
			continue
		}
		if len(tcp.Payload) == 0 {
			continue
		}
		if want, ok := next[d]; !ok || tcp.Seq != want {
			t.Fatalf("%s -> %s: segment with seq %d, want %d (after %d bytes)", d.src, d.dst, tcp.Seq, want, len(stream[d]))
		}
		next[d] = tcp.Seq + uint32(len(tcp.Payload))
		stream[d] = append(stream[d], tcp.Payload...)
	}
	if frames == 0 || frames >= len(events) {
		t.Fatalf("read %d frames from %d events: want one per packet and view, fewer than the events", frames, len(events))
	}
	for k, srcs := range directions {
		if !slices.Contains(srcs, srcs[0]) || slices.IndexFunc(srcs, func(s string) bool { return s != srcs[0] }) < 0 {
			t.Errorf("conversation %s: one direction only, from %s", k, srcs[0])
		}
	}
	var gotRequest, gotReply bool
	for _, b := range stream {
		gotRequest = gotRequest || bytes.Equal(b, request)
		gotReply = gotReply || bytes.Equal(b, reply)
	}
	if !gotRequest || !gotReply {
		t.Errorf("reassembled from the client's link: request %t, reply %t; want both", gotRequest, gotReply)
	}
}

// TestPcapTsharkFollowsTheStream runs tshark with its default settings on
// the capture, when tshark is installed: it must decode the TCP stream and
// find nothing wrong with its sequence numbers.
func TestPcapTsharkFollowsTheStream(t *testing.T) {
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("tshark is not installed (.ci/run installs it)")
	}
	events, request, _ := tcpExchange(t)
	path := filepath.Join(t.TempDir(), "exchange.pcapng")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := reports.WritePcap(f, events); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(tshark, "-r", path, "-q", "-z", "follow,tcp,ascii,0").Output()
	if err != nil {
		t.Fatalf("tshark follow: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), strings.TrimSpace(string(request[:14]))) || !strings.Contains(string(out), "icelab-reply icelab-reply") {
		t.Errorf("tshark's follow,tcp does not show the request and the reply:\n%.2000s", out)
	}
	out, err = exec.Command(tshark, "-r", path, "-Y", "tcp.analysis.lost_segment || tcp.analysis.ack_lost_segment || tcp.analysis.out_of_order || tcp.analysis.retransmission").Output()
	if err != nil {
		t.Fatalf("tshark analysis: %v\n%s", err, out)
	}
	if s := strings.TrimSpace(string(out)); s != "" {
		t.Errorf("tshark's TCP analysis flags segments of a lossless exchange:\n%.3000s", s)
	}
}

// tappedNetwork makes a network whose every event is appended to events
// (with its payload copied) until untap; the caller closes the network
// after untapping it.
func tappedNetwork(t *testing.T, events *[]vnet.Event) (n *vnet.Network, untap func()) {
	t.Helper()
	n, err := vnet.New(vnet.Config{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	return n, n.Tap(func(e vnet.Event) {
		e.Payload = append([]byte(nil), e.Payload...)
		mu.Lock()
		*events = append(*events, e)
		mu.Unlock()
	})
}
