package reports

import (
	"fmt"
	"io"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/icelab/icelab/vnet"
)

// WritePcap writes captured packets as pcapng with raw IPv4 frames, each
// annotated with where its journey ended and why ("dropped at corp:
// firewall corp rule 1 (block-udp)"), for Wireshark. Headers are
// synthesised from the packet's addresses; TCP carries its flags but not
// its sequence numbers.
func WritePcap(w io.Writer, packets []vnet.Event) error {
	ng, err := pcapgo.NewNgWriter(w, layers.LinkTypeRaw)
	if err != nil {
		return err
	}
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	for i, p := range packets {
		ip := &layers.IPv4{Version: 4, TTL: 64, SrcIP: p.Src.Addr().AsSlice(), DstIP: p.Dst.Addr().AsSlice()}
		var transport gopacket.SerializableLayer
		switch p.Proto {
		case vnet.UDP:
			ip.Protocol = layers.IPProtocolUDP
			udp := &layers.UDP{SrcPort: layers.UDPPort(p.Src.Port()), DstPort: layers.UDPPort(p.Dst.Port())}
			if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
				return err
			}
			transport = udp
		case vnet.TCP:
			ip.Protocol = layers.IPProtocolTCP
			tcp := &layers.TCP{SrcPort: layers.TCPPort(p.Src.Port()), DstPort: layers.TCPPort(p.Dst.Port()), Window: 65535,
				FIN: p.Flags&vnet.FlagFIN != 0, SYN: p.Flags&vnet.FlagSYN != 0, RST: p.Flags&vnet.FlagRST != 0,
				PSH: p.Flags&vnet.FlagPSH != 0, ACK: p.Flags&vnet.FlagACK != 0}
			if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
				return err
			}
			transport = tcp
		default:
			continue
		}
		if err := gopacket.SerializeLayers(buf, opts, ip, transport, gopacket.Payload(p.Payload)); err != nil {
			return fmt.Errorf("packet %d: %w", i, err)
		}
		data := buf.Bytes()
		comment := p.Verdict.String() + " at " + p.Where
		if p.Reason != "" {
			comment += ": " + p.Reason
		}
		ci := gopacket.CaptureInfo{Timestamp: p.Time, CaptureLength: len(data), Length: len(data)}
		if err := ng.WritePacketWithOptions(ci, data, pcapgo.NgPacketOptions{Comments: []string{comment}}); err != nil {
			return fmt.Errorf("packet %d: %w", i, err)
		}
	}
	return ng.Flush()
}
