package reports

import (
	"encoding/binary"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/icelab/icelab/vnet"
)

// fragmentFrame is an IPv4 fragment as it was on the wire: the IP header
// with its identification, offset and MF bit, and its share of the
// datagram. The first fragment carries the transport header, with the
// datagram's length; the UDP checksum is left out (zero: none, as RFC 768
// allows) since it covers bytes other fragments carry. Wireshark
// reassembles the fragments with its default settings.
func fragmentFrame(buf gopacket.SerializeBuffer, p vnet.Event) ([]byte, error) {
	f := p.Fragment
	ip := &layers.IPv4{Version: 4, TTL: 64, Id: f.ID, FragOffset: uint16(f.Offset / 8),
		SrcIP: p.Src.Addr().AsSlice(), DstIP: p.Dst.Addr().AsSlice()}
	if f.More {
		ip.Flags = layers.IPv4MoreFragments
	}
	data := p.Payload
	switch p.Proto {
	case vnet.UDP:
		ip.Protocol = layers.IPProtocolUDP
		if f.Offset == 0 {
			hdr := make([]byte, 8, 8+len(p.Payload))
			binary.BigEndian.PutUint16(hdr[0:], p.Src.Port())
			binary.BigEndian.PutUint16(hdr[2:], p.Dst.Port())
			binary.BigEndian.PutUint16(hdr[4:], uint16(8+f.Length))
			data = append(hdr, p.Payload...)
		}
	case vnet.TCP:
		ip.Protocol = layers.IPProtocolTCP
		if f.Offset == 0 {
			tb := gopacket.NewSerializeBuffer()
			if err := tcpHeader(p).SerializeTo(tb, gopacket.SerializeOptions{FixLengths: true}); err != nil {
				return nil, err
			}
			data = append(append([]byte(nil), tb.Bytes()...), p.Payload...)
		}
	default:
		return nil, nil
	}
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, ip, gopacket.Payload(data)); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
