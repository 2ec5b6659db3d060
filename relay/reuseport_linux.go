package relay

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/pion/transport/v5"
	"github.com/pion/transport/v5/stdnet"
	"golang.org/x/sys/unix"
)

// reusePort lets several UDP sockets share the relay's port, so that several
// read loops serve it. The kernel hashes each client's address to one socket,
// so a client's allocation always sees its datagrams on the same socket.
var reusePort = net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	}); err != nil {
		return err
	}
	return serr
}}

// errPortHeld is a UDP port another socket of the machine holds with
// SO_REUSEPORT, which would let it share the relay's clients.
var errPortHeld = errors.New("another socket holds the port with SO_REUSEPORT and would share the relay's clients")

// listenUDPGroup binds count UDP sockets on addr: on the machine's own
// network with more than one, a SO_REUSEPORT group (a port of 0 is picked by
// the first socket), which must then be alone on the port; elsewhere one
// socket through n.
func listenUDPGroup(n transport.Net, addr netip.AddrPort, count int) ([]net.PacketConn, error) {
	if _, real := n.(*stdnet.Net); !real || count <= 1 {
		c, err := n.ListenPacket("udp4", addr.String())
		if err != nil {
			return nil, err
		}
		if _, ok := c.LocalAddr().(*net.UDPAddr); !ok {
			_ = c.Close()
			return nil, fmt.Errorf("local address %v is not UDP", c.LocalAddr())
		}
		return []net.PacketConn{c}, nil
	}
	var out []net.PacketConn
	fail := func(err error) ([]net.PacketConn, error) {
		for _, c := range out {
			_ = c.Close()
		}
		return nil, err
	}
	for range count {
		c, err := reusePort.ListenPacket(context.Background(), "udp4", addr.String())
		if err != nil {
			return fail(err)
		}
		out = append(out, c)
		addr = netip.AddrPortFrom(addr.Addr(), uint16(c.LocalAddr().(*net.UDPAddr).Port)) //nolint:forcetypeassert,gosec // udp4
	}
	if err := aloneOnPort(out, addr); err != nil {
		return fail(err)
	}
	return out, nil
}

// aloneOnPort checks in /proc/net/udp (which lists the sockets of this
// network namespace) that no socket but ours is bound to addr's port on
// addr's address or the wildcard address.
func aloneOnPort(ours []net.PacketConn, addr netip.AddrPort) error {
	inodes := map[string]bool{}
	for _, c := range ours {
		sc, ok := c.(syscall.Conn)
		if !ok {
			return nil
		}
		raw, err := sc.SyscallConn()
		if err != nil {
			return err
		}
		var st unix.Stat_t
		var serr error
		if err := raw.Control(func(fd uintptr) { serr = unix.Fstat(int(fd), &st) }); err != nil || serr != nil {
			return errors.Join(err, serr)
		}
		inodes[strconv.FormatUint(st.Ino, 10)] = true
	}
	ip := addr.Addr().As4()
	// /proc/net/udp writes an IPv4 address as a little-endian hex word; a
	// dual-stack [::] socket in /proc/net/udp6 receives IPv4 too.
	held := map[string][]string{
		"/proc/net/udp": {
			fmt.Sprintf("%02X%02X%02X%02X:%04X", ip[3], ip[2], ip[1], ip[0], addr.Port()),
			fmt.Sprintf("00000000:%04X", addr.Port()),
		},
		"/proc/net/udp6": {fmt.Sprintf("%032X:%04X", 0, addr.Port())},
	}
	for file, locals := range held {
		if foreignSocket(file, locals, inodes) {
			return errPortHeld
		}
	}
	return nil
}

// foreignSocket reports whether the socket table in file lists a socket on
// one of locals whose inode is not ours. A table it cannot read has none.
func foreignSocket(file string, locals []string, ours map[string]bool) bool {
	f, err := os.Open(file)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 || !slices.Contains(locals, fields[1]) {
			continue
		}
		if !ours[fields[9]] {
			return true
		}
	}
	return false
}

// udpListeners is how many UDP sockets serve udp_port on n.
func udpListeners(n transport.Net, want int) int {
	if _, real := n.(*stdnet.Net); real {
		return max(want, 1)
	}
	return 1
}
