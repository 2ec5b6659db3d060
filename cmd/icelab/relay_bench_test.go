package main

import (
	"bufio"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/logging"
	"github.com/pion/stun/v4"
	"github.com/pion/turn/v5"
)

// Load of the field report (issue 14): 200 clients, each sending a 1200-byte
// datagram every 5 ms through its own allocation to its own peer.
const (
	loadClients  = 200
	loadSize     = 1200
	loadInterval = 5 * time.Millisecond
	loadDuration = 3 * time.Second
)

// BenchmarkRelayLoad runs the field load against `icelab relay serve` and,
// when coturn's turnserver is installed, against coturn on the same loopback
// with the same clients, and reports loss, the kernel's UDP receive-buffer
// drops, and each relay process's CPU. Each iteration is one full run.
func BenchmarkRelayLoad(b *testing.B) {
	b.Run("relay=icelab", func(b *testing.B) {
		for range b.N {
			runLoad(b, startIcelabRelay(b))
		}
	})
	b.Run("relay=coturn", func(b *testing.B) {
		path, err := exec.LookPath("turnserver")
		if err != nil {
			b.Skip("coturn's turnserver is not installed (Debian: apt-get install coturn); no side-by-side figure")
		}
		for range b.N {
			runLoad(b, startCoturn(b, path))
		}
	})
}

// loadRelay is a relay process under load.
type loadRelay struct {
	pid  int
	addr string // host:port of TURN/UDP (and TURN/TCP)
	tls  string // host:port of TURN/TLS, if any
	// relayPorts is the relay port range, first and last.
	relayPorts [2]int
	// baseline is set for coturn.
	baseline bool
}

// startIcelabRelay runs this test binary as `icelab relay serve`.
func startIcelabRelay(b *testing.B) loadRelay {
	dir := b.TempDir()
	path := filepath.Join(dir, "livekit.yaml")
	cfg := "turn:\n  domain: turn.icelab.test\n  relay_range_start: 47000\n  relay_range_end: 47999\n" +
		"  users: {alice: secret}\n  user_quota: 0\n  allowed_peer_cidrs: [127.0.0.0/8]\n"
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		b.Fatal(err)
	}
	p := startServe(b, "--config", path, "--log-level", "warn", "--ephemeral-ports")
	b.Cleanup(func() { p.interrupt(b) })
	return loadRelay{pid: p.cmd.Process.Pid, addr: p.addrs["udp"], relayPorts: [2]int{47000, 47999}}
}

// startCoturn runs coturn on loopback with the same realm, user and relay
// port range size, TURN/UDP only, and waits until it answers a STUN binding.
func startCoturn(b *testing.B, path string) loadRelay {
	return startCoturnArgs(b, path, "--no-tls", "--no-dtls", "--no-tcp")
}

// startCoturnArgs is startCoturn with coturn's listeners chosen by extra.
func startCoturnArgs(b *testing.B, path string, extra ...string) loadRelay {
	l, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	port := l.LocalAddr().(*net.UDPAddr).Port
	_ = l.Close()
	args := append([]string{"-n", "--no-cli", "--lt-cred-mech", "--listening-ip", "127.0.0.1", "--relay-ip", "127.0.0.1", "--listening-port", strconv.Itoa(port),
		"--min-port", "48000", "--max-port", "48999", "--realm", "turn.icelab.test", "--user", "alice:secret",
		"--allow-loopback-peers", "--pidfile", filepath.Join(b.TempDir(), "turnserver.pid"), "--log-file", "stdout", "--simple-log"}, extra...)
	cmd := exec.Command(path, args...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	b.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(bound):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if err := waitForSTUN(addr, exited); err != nil {
		b.Fatalf("coturn on %s: %v; output:\n%s", addr, err, out.String())
	}
	return loadRelay{pid: cmd.Process.Pid, addr: addr, relayPorts: [2]int{48000, 48999}, baseline: true}
}

// waitForSTUN sends binding requests to addr until one is answered, the
// process exits, or the bound passes.
func waitForSTUN(addr string, exited <-chan error) error {
	c, err := net.Dial("udp4", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	deadline := time.Now().Add(bound)
	buf := make([]byte, 1500)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("exited: %w", err)
		default:
		}
		req := stun.MustBuild(stun.TransactionID, stun.BindingRequest)
		if _, err := c.Write(req.Raw); err != nil {
			return err
		}
		_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if n, err := c.Read(buf); err == nil && stun.IsMessage(buf[:n]) {
			return nil
		}
	}
	return errors.New("no answer to STUN binding requests")
}

// loadFlow is one client with its allocation and its peer.
type loadFlow struct {
	client *turn.Client
	conn   net.PacketConn
	alloc  net.PacketConn
	peer   net.PacketConn
	sent   atomic.Int64
	got    atomic.Int64
}

func runLoad(b *testing.B, r loadRelay) {
	quiet := logging.NewDefaultLoggerFactory()
	quiet.DefaultLogLevel = logging.LogLevelDisabled
	flows := make([]*loadFlow, loadClients)
	for i := range flows {
		f, err := newLoadFlow(r.addr, quiet)
		if err != nil {
			b.Fatalf("client %d: %v", i, err)
		}
		flows[i] = f
		defer f.close()
	}
	var readers sync.WaitGroup
	for _, f := range flows {
		readers.Add(1)
		go func() {
			defer readers.Done()
			buf := make([]byte, 2048)
			for {
				if _, _, err := f.peer.ReadFrom(buf); err != nil {
					return
				}
				f.got.Add(1)
			}
		}()
	}
	drops0 := udpRcvbufErrors(b)
	listenerDrops0 := socketDrops(b, r.addr)
	cpu0 := procCPU(b, r.pid)
	b.ResetTimer()
	start := time.Now()
	var senders sync.WaitGroup
	for _, f := range flows {
		senders.Add(1)
		go func() {
			defer senders.Done()
			payload := make([]byte, loadSize)
			time.Sleep(rand.N(loadInterval)) // spread the clients' phases
			tick := time.NewTicker(loadInterval)
			defer tick.Stop()
			to := f.peer.LocalAddr()
			for end := time.Now().Add(loadDuration); time.Now().Before(end); <-tick.C {
				if _, err := f.alloc.WriteTo(payload, to); err == nil {
					f.sent.Add(1)
				}
			}
		}()
	}
	senders.Wait()
	// Drain: wait until every datagram arrived or nothing arrives for 500 ms.
	var sent, got int64
	for last, idle := int64(-1), time.Now(); time.Since(idle) < 500*time.Millisecond; {
		sent, got = 0, 0
		for _, f := range flows {
			sent, got = sent+f.sent.Load(), got+f.got.Load()
		}
		if got == sent {
			break
		}
		if got != last {
			last, idle = got, time.Now()
		}
		time.Sleep(10 * time.Millisecond) // polling counters for the report, not synchronising
	}
	elapsed := time.Since(start)
	cpu := procCPU(b, r.pid) - cpu0
	b.StopTimer()
	for _, f := range flows {
		_ = f.peer.Close()
	}
	readers.Wait()
	b.ReportMetric(100*float64(sent-got)/float64(sent), "%lost")
	b.ReportMetric(float64(sent)/loadDuration.Seconds(), "pkt/s")
	b.ReportMetric(100*cpu.Seconds()/elapsed.Seconds(), "%relayCPU")
	b.ReportMetric(float64(cpu.Microseconds())/float64(sent), "cpu-µs/msg")
	b.ReportMetric(float64(udpRcvbufErrors(b)-drops0), "rcvbuf-drops")
	b.ReportMetric(float64(socketDrops(b, r.addr)-listenerDrops0), "relay-listener-drops")
}

func newLoadFlow(server string, lf logging.LoggerFactory) (*loadFlow, error) {
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	f := &loadFlow{conn: conn}
	if f.peer, err = net.ListenPacket("udp4", "127.0.0.1:0"); err != nil {
		_ = conn.Close()
		return nil, err
	}
	// The load generator's own sockets must not be where datagrams drop.
	for _, c := range []net.PacketConn{conn, f.peer} {
		if u, ok := c.(*net.UDPConn); ok {
			_ = u.SetReadBuffer(4 << 20)
			_ = u.SetWriteBuffer(4 << 20)
		}
	}
	if f.client, err = turn.NewClient(&turn.ClientConfig{TURNServerAddr: server, STUNServerAddr: server,
		Username: "alice", Password: "secret", Conn: conn, LoggerFactory: lf}); err != nil {
		f.close()
		return nil, err
	}
	if err = f.client.Listen(); err == nil {
		f.alloc, err = f.client.Allocate()
	}
	if err != nil {
		f.close()
		return nil, err
	}
	// Permission and channel binding before the clock starts.
	if _, err := f.alloc.WriteTo([]byte("warm-up"), f.peer.LocalAddr()); err != nil {
		f.close()
		return nil, err
	}
	_ = f.peer.SetReadDeadline(time.Now().Add(bound))
	if _, _, err := f.peer.ReadFrom(make([]byte, 64)); err != nil {
		f.close()
		return nil, fmt.Errorf("warm-up datagram: %w", err)
	}
	_ = f.peer.SetReadDeadline(time.Time{})
	return f, nil
}

func (f *loadFlow) close() {
	if f.alloc != nil {
		_ = f.alloc.Close()
	}
	if f.client != nil {
		f.client.Close()
	}
	_ = f.conn.Close()
	if f.peer != nil {
		_ = f.peer.Close()
	}
}

// udpRcvbufErrors reads the kernel's count of UDP datagrams dropped for a
// full receive buffer (RcvbufErrors in /proc/net/snmp).
func udpRcvbufErrors(b *testing.B) int64 {
	f, err := os.Open("/proc/net/snmp")
	if err != nil {
		b.Skipf("cannot read UDP counters: %v", err)
	}
	defer f.Close()
	var head []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || fields[0] != "Udp:" {
			continue
		}
		if head == nil {
			head = fields
			continue
		}
		for i, h := range head {
			if h == "RcvbufErrors" && i < len(fields) {
				v, _ := strconv.ParseInt(fields[i], 10, 64)
				return v
			}
		}
	}
	b.Skip("no RcvbufErrors counter in /proc/net/snmp")
	return 0
}

// socketDrops reads the drop counter of the UDP socket bound to addr from
// /proc/net/udp: the datagrams the kernel discarded at the relay's listener.
func socketDrops(b *testing.B, addr string) int64 {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		b.Fatal(err)
	}
	ip := ap.Addr().As4()
	// /proc/net/udp writes the address as a little-endian hex word.
	local := fmt.Sprintf("%02X%02X%02X%02X:%04X", ip[3], ip[2], ip[1], ip[0], ap.Port())
	data, err := os.ReadFile("/proc/net/udp")
	if err != nil {
		b.Skipf("cannot read UDP sockets: %v", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) >= 13 && f[1] == local {
			v, _ := strconv.ParseInt(f[len(f)-1], 10, 64)
			return v
		}
	}
	b.Fatalf("no UDP socket %s (%s) in /proc/net/udp", addr, local)
	return 0
}

// procCPU returns a process's user and system CPU time from /proc.
func procCPU(b *testing.B, pid int) time.Duration {
	d, err := cpuOf(pid)
	if err != nil {
		b.Fatal(err)
	}
	return d
}
