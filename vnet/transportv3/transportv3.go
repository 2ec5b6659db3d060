// Package transportv3 lets pion libraries built on
// github.com/pion/transport/v3 — webrtc v4.2.1 and earlier v4 releases, turn/v4
// up to v4.1.3 and turn/v3 — run on an icelab
// virtual network host.
//
// A [vnet.Host] implements transport/v5's Net. The generations' interfaces
// have the same methods, but the ones that return a transport type (a
// UDPConn, a TCPConn, an Interface) differ in that type's package, so a
// host needs this thin view to be a transport/v3 Net. Every socket it opens
// is the host's own: NAT, firewall and faults apply as to any other.
//
// It knows vnet's host and pion's transport/v3 interfaces, nothing else.
package transportv3

import (
	"net"

	"github.com/icelab/icelab/vnet"
	"github.com/pion/transport/v3"
	current "github.com/pion/transport/v5"
)

// Net returns host as a transport/v3 Net.
func Net(host *vnet.Host) transport.Net { return hostNet{host} }

// hostNet is a host seen through transport/v3. Methods whose results name no
// transport type are the host's own, promoted.
type hostNet struct{ *vnet.Host }

var _ transport.Net = hostNet{}

// ListenUDP listens for UDP on the host.
func (n hostNet) ListenUDP(network string, laddr *net.UDPAddr) (transport.UDPConn, error) {
	return n.Host.ListenUDP(network, laddr)
}

// DialUDP opens a connected UDP socket from the host.
func (n hostNet) DialUDP(network string, laddr, raddr *net.UDPAddr) (transport.UDPConn, error) {
	return n.Host.DialUDP(network, laddr, raddr)
}

// ListenTCP listens for TCP on the host.
func (n hostNet) ListenTCP(network string, laddr *net.TCPAddr) (transport.TCPListener, error) {
	l, err := n.Host.ListenTCP(network, laddr)
	if err != nil {
		return nil, err
	}
	return listener{l}, nil
}

// DialTCP opens a TCP connection from the host.
func (n hostNet) DialTCP(network string, laddr, raddr *net.TCPAddr) (transport.TCPConn, error) {
	return n.Host.DialTCP(network, laddr, raddr)
}

// Interfaces lists the host's interfaces.
func (n hostNet) Interfaces() ([]*transport.Interface, error) {
	ifcs, err := n.Host.Interfaces()
	if err != nil {
		return nil, err
	}
	out := make([]*transport.Interface, 0, len(ifcs))
	for _, ifc := range ifcs {
		out = append(out, convert(ifc.Interface, ifc.Addrs))
	}
	return out, nil
}

// InterfaceByIndex returns the interface with the given index.
func (n hostNet) InterfaceByIndex(index int) (*transport.Interface, error) {
	ifc, err := n.Host.InterfaceByIndex(index)
	if err != nil {
		return nil, err
	}
	return convert(ifc.Interface, ifc.Addrs), nil
}

// InterfaceByName returns the named interface.
func (n hostNet) InterfaceByName(name string) (*transport.Interface, error) {
	ifc, err := n.Host.InterfaceByName(name)
	if err != nil {
		return nil, err
	}
	return convert(ifc.Interface, ifc.Addrs), nil
}

// CreateDialer returns a dialer that dials from the host.
func (n hostNet) CreateDialer(d *net.Dialer) transport.Dialer {
	return n.Host.CreateDialer(d)
}

// convert copies an interface and its addresses into transport/v3's type.
func convert(ifc net.Interface, addrs func() ([]net.Addr, error)) *transport.Interface {
	out := transport.NewInterface(ifc)
	as, err := addrs()
	if err != nil { // an interface without addresses
		return out
	}
	for _, a := range as {
		out.AddAddress(a)
	}
	return out
}

// listener is a host's TCP listener whose accepted connections are
// transport/v3 TCPConns.
type listener struct {
	current.TCPListener
}

// AcceptTCP waits for the next connection.
func (l listener) AcceptTCP() (transport.TCPConn, error) {
	return l.TCPListener.AcceptTCP()
}
