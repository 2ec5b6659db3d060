package reports_test

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/icelab/icelab/reports"
	"github.com/icelab/icelab/vnet"
)

// fragmentedDatagram sends one 3000-byte datagram without DF across a
// 1280-byte tunnel, which fragments it again, and a TCP connection over 1500-byte
// links, and returns every event the network saw.
func fragmentedDatagram(t *testing.T) []vnet.Event {
	t.Helper()
	var events []vnet.Event
	synctest.Test(t, func(t *testing.T) {
		n, untap := tappedNetwork(t, &events)
		defer n.Close()
		defer untap()
		vpn, err := n.Internet().AddRouter(vnet.RouterConfig{Name: "vpn", NAT: vnet.PortRestricted()})
		if err != nil {
			t.Fatal(err)
		}
		if err := vpn.Uplink().SetMTU(vnet.MTU{Size: 1280}); err != nil {
			t.Fatal(err)
		}
		cli, err := vpn.AddHost(vnet.HostConfig{Name: "client"})
		if err != nil {
			t.Fatal(err)
		}
		srv, err := n.Internet().AddHost(vnet.HostConfig{Name: "server"})
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range []*vnet.Host{cli, srv} {
			if err := h.Link().SetMTU(vnet.MTU{Size: 1500}); err != nil {
				t.Fatal(err)
			}
		}
		cli.SetPMTUDiscovery(vnet.PMTUDiscoveryDont)
		in, err := srv.ListenUDP("udp4", &net.UDPAddr{IP: srv.Addr().AsSlice(), Port: 5000})
		if err != nil {
			t.Fatal(err)
		}
		defer in.Close()
		out, err := cli.ListenUDP("udp4", &net.UDPAddr{})
		if err != nil {
			t.Fatal(err)
		}
		defer out.Close()
		if _, err := out.WriteTo(bytes.Repeat([]byte("fragment "), 333), in.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		_ = in.SetReadDeadline(time.Now().Add(time.Second))
		if k, _, err := in.ReadFrom(make([]byte, 4000)); err != nil || k != 2997 {
			t.Fatalf("read %d bytes, %v", k, err)
		}
		ln, err := srv.ListenTCP("tcp4", &net.TCPAddr{IP: srv.Addr().AsSlice(), Port: 443})
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		c, err := cli.Dial("tcp4", srv.Addr().String()+":443")
		if err != nil {
			t.Fatal(err)
		}
		_ = c.Close()
	})
	return events
}

// TestPcapFragmentsReassembleInTshark writes the capture and has tshark
// reassemble the fragments into the one 3005-byte UDP datagram wherever
// they were captured, and read
// the MSS of 1460 the SYNs announce over 1500-byte links.
func TestPcapFragmentsReassembleInTshark(t *testing.T) {
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("tshark is not installed (.ci/run installs it)")
	}
	path := filepath.Join(t.TempDir(), "fragments.pcapng")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := reports.WritePcap(f, fragmentedDatagram(t)); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(tshark, "-r", path, "-Y", "udp", "-T", "fields", "-e", "udp.length", "-e", "ip.fragment.count", "-e", "data.len").Output()
	if err != nil {
		t.Fatalf("tshark: %v\n%s", err, out)
	}
	// The client's link splits it in 3 (MTU 1500), the tunnel splits the
	// two large ones again (MTU 1280): 5 fragments there; the server's
	// link carries the datagram whole.
	if strings.TrimSpace(string(out)) != "3005\t3\t2997\n3005\t5\t2997\n3005\t\t2997" {
		t.Errorf("tshark does not reassemble a 3005-byte UDP datagram from the fragments:\n%s", out)
	}
	out, err = exec.Command(tshark, "-r", path, "-Y", "tcp.flags.syn == 1", "-T", "fields", "-e", "tcp.options.mss_val").Output()
	if err != nil {
		t.Fatalf("tshark: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "1460") {
		t.Errorf("SYNs carry no MSS of 1460:\n%s", out)
	}
}
