package reports

import (
	"encoding/binary"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/icelab/icelab/vnet"
)

// windowShift is the TCP window scale the capture's SYNs announce (RFC 7323):
// vnet's receive windows exceed the 16-bit header field, so every later
// segment's window is written shifted right by it, as a Linux stack with
// large buffers would send it. Wireshark applies it once it has seen both
// SYNs of a connection.
const windowShift = 7

// WritePcap writes captured packets as pcapng with raw IPv4 frames, for
// Wireshark, from the network's events about them.
//
// A packet is written once for each way it looked on its path: with its LAN
// addresses before a NAT, with its public ones after. Each frame is on an
// interface named after a link next to one end of its conversation (see
// views), so a conversation's two directions meet on one interface whichever
// side of a NAT it is watched from, and no frame repeats another for
// Wireshark to take as a retransmission. The frame's
// comment tells the view's journey: "forwarded at alice-eth0; translated at
// corp to 203.0.113.4:40001->203.0.113.2:443" or "dropped at corp: firewall
// corp rule 1 (block-udp)". TCP segments carry their real sequence and
// acknowledgement numbers, flags and window, so Wireshark reassembles
// streams (TURN over TCP and TLS, ICE-TCP, HTTPS) with its default
// settings. Events without a packet number are a frame each.
func WritePcap(w io.Writer, packets []vnet.Event) error {
	frames := views(packets)
	first := "vnet"
	if len(frames) > 0 {
		first = frames[0].Where
	}
	ng, err := pcapgo.NewNgWriterInterface(w, iface(first), pcapgo.DefaultNgWriterOptions)
	if err != nil {
		return err
	}
	ids := map[string]int{first: 0}
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	for i, f := range frames {
		id, ok := ids[f.Where]
		if !ok {
			if id, err = ng.AddInterface(iface(f.Where)); err != nil {
				return fmt.Errorf("interface %s: %w", f.Where, err)
			}
			ids[f.Where] = id
		}
		data, err := frame(buf, opts, f.Event)
		if err != nil {
			return fmt.Errorf("frame %d (packet %d): %w", i, f.Packet, err)
		}
		if data == nil {
			continue
		}
		ci := gopacket.CaptureInfo{Timestamp: f.Time, CaptureLength: len(data), Length: len(data), InterfaceIndex: id}
		if err := ng.WritePacketWithOptions(ci, data, pcapgo.NgPacketOptions{Comments: []string{strings.Join(f.journey, "; ")}}); err != nil {
			return fmt.Errorf("frame %d (packet %d): %w", i, f.Packet, err)
		}
	}
	return ng.Flush()
}

// view is one way a packet looked on its path: the event that shows it
// (where and when it is written) and what happened to it while it looked so.
type view struct {
	vnet.Event
	journey []string

	links     []vnet.Event // the links it crossed looking so
	delivered bool         // a host took it in looking so
}

// views groups events into one view per packet and addresses, ordered by
// the time each is shown. A view is shown on a link next to an end of the
// conversation: the link into the host that received it, or else the first
// link it crossed, which is the sender's or the one out of the NAT that
// made it. So a conversation's two directions meet on one interface: on the
// client's link with LAN addresses, on the server's with public ones.
func views(events []vnet.Event) []*view {
	type key struct {
		packet   uint64
		src, dst netip.AddrPort
	}
	var out []*view
	seen := map[key]*view{}
	for _, e := range events {
		step := e.Verdict.String() + " at " + e.Where
		switch {
		case e.Verdict == vnet.Translated:
			step += fmt.Sprintf(" to %s->%s", e.NewSrc, e.NewDst)
		case e.Reason != "":
			step += ": " + e.Reason
		}
		k := key{e.Packet, e.Src, e.Dst}
		v := seen[k]
		if v == nil || e.Packet == 0 {
			v = &view{Event: e}
			seen[k] = v
			out = append(out, v)
		}
		v.journey = append(v.journey, step)
		switch e.Verdict {
		case vnet.Forwarded: // only links forward unchanged
			v.links = append(v.links, e)
		case vnet.Delivered:
			v.delivered = true
		}
	}
	for _, v := range out {
		switch {
		case len(v.links) == 0:
		case v.delivered:
			v.Event = withPlace(v.Event, v.links[len(v.links)-1])
		default:
			v.Event = withPlace(v.Event, v.links[0])
		}
	}
	slices.SortStableFunc(out, func(a, b *view) int { return a.Time.Compare(b.Time) })
	return out
}

// withPlace is e as seen at on's place and time.
func withPlace(e, on vnet.Event) vnet.Event {
	e.Where, e.Time = on.Where, on.Time
	return e
}

// iface describes the place called where as a pcapng interface.
func iface(where string) pcapgo.NgInterface {
	i := pcapgo.DefaultNgInterface
	i.Name = where
	i.Description = "icelab vnet: " + where
	i.LinkType = layers.LinkTypeRaw
	return i
}

// frame serialises p as an IPv4 packet into buf and returns its bytes, or
// nil for a protocol a capture cannot show.
func frame(buf gopacket.SerializeBuffer, opts gopacket.SerializeOptions, p vnet.Event) ([]byte, error) {
	if p.Fragment != nil {
		return fragmentFrame(buf, p) // pcap_fragment.go
	}
	ip := &layers.IPv4{Version: 4, TTL: 64, Flags: layers.IPv4DontFragment, SrcIP: p.Src.Addr().AsSlice(), DstIP: p.Dst.Addr().AsSlice()}
	var transport interface {
		gopacket.SerializableLayer
		SetNetworkLayerForChecksum(gopacket.NetworkLayer) error
	}
	switch p.Proto {
	case vnet.UDP:
		ip.Protocol = layers.IPProtocolUDP
		transport = &layers.UDP{SrcPort: layers.UDPPort(p.Src.Port()), DstPort: layers.UDPPort(p.Dst.Port())}
	case vnet.TCP:
		ip.Protocol = layers.IPProtocolTCP
		transport = tcpHeader(p)
	default:
		return nil, nil
	}
	if err := transport.SetNetworkLayerForChecksum(ip); err != nil {
		return nil, err
	}
	if err := gopacket.SerializeLayers(buf, opts, ip, transport, gopacket.Payload(p.Payload)); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// tcpHeader is p's TCP header. A SYN announces the window scale and carries
// its window unscaled; every other segment's window is scaled (RFC 7323 2.2).
func tcpHeader(p vnet.Event) *layers.TCP {
	tcp := &layers.TCP{
		SrcPort: layers.TCPPort(p.Src.Port()), DstPort: layers.TCPPort(p.Dst.Port()),
		Seq: p.Seq, Ack: p.Ack,
		FIN: p.Flags&vnet.FlagFIN != 0, SYN: p.Flags&vnet.FlagSYN != 0, RST: p.Flags&vnet.FlagRST != 0,
		PSH: p.Flags&vnet.FlagPSH != 0, ACK: p.Flags&vnet.FlagACK != 0,
	}
	if tcp.SYN {
		tcp.Window = uint16(min(p.Window, 0xffff))
		tcp.Options = []layers.TCPOption{
			{OptionType: layers.TCPOptionKindWindowScale, OptionLength: 3, OptionData: []byte{windowShift}},
			{OptionType: layers.TCPOptionKindNop, OptionLength: 1},
		}
		if p.MSS > 0 {
			tcp.Options = append(tcp.Options, layers.TCPOption{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: binary.BigEndian.AppendUint16(nil, p.MSS)})
		}
	} else {
		tcp.Window = uint16(min(p.Window>>windowShift, 0xffff))
	}
	return tcp
}
