package main

import (
	"context"
	"encoding/binary"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Issue 21's external-peer load: coturn's own test client, 200 clients each
// sending 500 messages of 100 bytes every 5 ms through its allocation to
// coturn's UDP echo peer, which sends each one back through the relay.
const (
	uclientClients  = 200
	uclientMessages = 500
	uclientInterval = 5 // ms
)

// BenchmarkRelayExternalPeer runs coturn's turnutils_uclient against
// `icelab relay serve` and then against coturn's turnserver in each
// iteration (so that -count N interleaves them and the machine's load
// falls on both), with turnutils_peer (a UDP echo peer, one per relay run)
// as the external peer, over TURN/UDP, TCP and TLS:
//
//	turnutils_uclient -m 200 -n 500 -z 5 -c [-t] [-S] -e 127.0.0.1 -r PEER
//
// It reports, each unit prefixed with icelab- or coturn-, what the client
// lost (%lost), where the kernel dropped
// datagrams while it ran: at the peer's socket (peer-drops), at the relay's
// allocation sockets (relay-socket-drops, peer to client), at the relay's
// UDP listener and the client's UDP sockets (listener-drops, client-drops;
// TURN/UDP only), the rest (other-lost: dropped inside a relay process or
// the client), and the relay's CPU per message (cpu-µs/msg: the relay
// process's user+system time from before the client starts, through its
// 200 allocations, until the client exits, divided by the messages it sent;
// each message is relayed twice, to the peer and back). It skips when
// coturn is not installed. Run it as
//
//	go test -run '^$' -bench RelayExternalPeer -count 3 ./cmd/icelab/
//
// With ICELAB_BENCH_PEER=timestamps the peer is an echo peer of this test
// with a large buffer (see arrivalPeer) that reports the busiest 1 ms and 5 ms
// of arrivals (peak-per-1ms, peak-per-5ms) instead.
//
// To compare builds side by side, ICELAB_BENCH_RELAYS=NAME=EXE,NAME=EXE
// runs each built icelab EXE in turn (units prefixed with its NAME) before
// coturn in every iteration, instead of this test binary;
// ICELAB_BENCH_TRANSPORTS=tcp,tls runs only those transports.
func BenchmarkRelayExternalPeer(b *testing.B) {
	uclient := coturnTool(b, "turnutils_uclient")
	turnserver := coturnTool(b, "turnserver")
	coturnTool(b, "turnutils_peer")
	dir := b.TempDir()
	turnCert(b, dir, "cmd bench CA")
	type build struct{ name, exe string }
	builds := []build{{"icelab", ""}}
	if v := os.Getenv("ICELAB_BENCH_RELAYS"); v != "" {
		builds = nil
		for _, f := range strings.Split(v, ",") {
			name, exe, ok := strings.Cut(f, "=")
			if !ok {
				b.Fatalf("ICELAB_BENCH_RELAYS: %q is not NAME=EXE", f)
			}
			builds = append(builds, build{name, exe})
		}
	}
	transports := []string{"udp", "tcp", "tls"}
	if v := os.Getenv("ICELAB_BENCH_TRANSPORTS"); v != "" {
		transports = strings.Split(v, ",")
	}
	for _, tr := range transports {
		b.Run("transport="+tr, func(b *testing.B) {
			for range b.N {
				for _, bu := range builds {
					// Each build stops before the next starts: they share
					// the relay port range.
					r, stop := startIcelabRelayTLS(b, dir, bu.exe)
					runUclient(b, uclient, tr, r, bu.name)
					stop()
				}
				runUclient(b, uclient, tr, startCoturnTLS(b, turnserver, dir), "coturn")
			}
		})
	}
}

// startIcelabRelayTLS runs exe (this test binary when "") as `icelab relay
// serve` with TURN/UDP, TCP and TLS (the certificate in dir) on ports the
// kernel picks; stop interrupts it (once; the benchmark's cleanup calls it
// too).
func startIcelabRelayTLS(b *testing.B, dir, exe string) (r loadRelay, stop func()) {
	path := filepath.Join(dir, "livekit.yaml")
	cfg := "turn:\n  domain: turn.icelab.test\n  cert_file: turn.crt\n  key_file: turn.key\n" +
		"  relay_range_start: 47000\n  relay_range_end: 47999\n" +
		"  users: {alice: secret}\n  user_quota: 0\n  allowed_peer_cidrs: [127.0.0.0/8]\n"
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		b.Fatal(err)
	}
	args := []string{"--config", path, "--log-level", "warn", "--ephemeral-ports"}
	var p *serveProc
	if exe == "" {
		p = startServe(b, args...)
	} else {
		p = startServeExe(b, exe, nil, args...)
	}
	stop = sync.OnceFunc(func() { p.interrupt(b) })
	b.Cleanup(stop)
	return loadRelay{pid: p.cmd.Process.Pid, addr: p.addrs["udp"], tls: p.addrs["tls"], relayPorts: [2]int{47000, 47999}}, stop
}

// startCoturnTLS runs coturn as startCoturn does, with TURN/TCP on the
// listening port and TURN/TLS (the certificate in dir) on a second port.
func startCoturnTLS(b *testing.B, path, dir string) loadRelay {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	tlsPort := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	r := startCoturnArgs(b, path, "--no-dtls", "--tls-listening-port", strconv.Itoa(tlsPort),
		"--cert", filepath.Join(dir, "turn.crt"), "--pkey", filepath.Join(dir, "turn.key"))
	r.tls = net.JoinHostPort("127.0.0.1", strconv.Itoa(tlsPort))
	return r
}

var (
	uclientTotals = regexp.MustCompile(`tot_send_msgs=(\d+), tot_recv_msgs=(\d+)`)
	uclientLost   = regexp.MustCompile(`Total lost packets (\d+)`)
)

// runUclient runs turnutils_uclient over tr against r with a fresh
// turnutils_peer and reports the figures BenchmarkRelayExternalPeer lists,
// each unit prefixed with name.
func runUclient(b *testing.B, uclient, tr string, r loadRelay, name string) {
	var peer int
	var arrivals *arrivalPeer
	if os.Getenv("ICELAB_BENCH_PEER") == "timestamps" {
		arrivals = startArrivalPeer(b)
		peer = arrivals.port
	} else {
		peer = startPeer(b)
	}
	peerAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(peer))
	server := r.addr
	args := []string{"-m", strconv.Itoa(uclientClients), "-n", strconv.Itoa(uclientMessages),
		"-z", strconv.Itoa(uclientInterval), "-c", "-u", "alice", "-w", "secret", "-e", "127.0.0.1", "-r", strconv.Itoa(peer)}
	switch tr {
	case "tcp":
		args = append(args, "-t")
	case "tls":
		args, server = append(args, "-t", "-S"), r.tls
	}
	host, port, err := net.SplitHostPort(server)
	if err != nil {
		b.Fatal(err)
	}
	args = append(args, "-p", port, host)
	_, listenPort, _ := net.SplitHostPort(r.addr)
	lp, _ := strconv.Atoi(listenPort)

	rcvbuf0 := udpRcvbufErrors(b)
	peerDrops0 := socketDrops(b, peerAddr)
	cpu0 := procCPU(b, r.pid)
	// Allocation sockets live only while the client runs: watch them.
	watch := watchUDPDrops(func(local, remote int) string {
		switch {
		case local == peer: // the kernel's pick, which may fall in a relay range
			return ""
		case local == lp:
			return "listener"
		case local >= r.relayPorts[0] && local <= r.relayPorts[1]:
			return "relay"
		case remote == lp && tr == "udp":
			return "client"
		}
		return ""
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, uclient, args...).CombinedOutput()
	drops := watch()
	cpu := procCPU(b, r.pid) - cpu0
	if err != nil {
		if r.baseline {
			// Seen once in ten TLS runs: coturn answered a ChannelBind
			// with 400 and turnutils_uclient gave up. The baseline's
			// failure is not the relay's: no coturn figures this time.
			b.Logf("%s: turnutils_uclient %s: %v\n%s", name, strings.Join(args, " "), err, lastLines(string(out), 20))
			return
		}
		b.Fatalf("%s: turnutils_uclient %s: %v\n%s", name, strings.Join(args, " "), err, lastLines(string(out), 20))
	}
	tot := uclientTotals.FindAllStringSubmatch(string(out), -1)
	lost := uclientLost.FindAllStringSubmatch(string(out), -1)
	if len(tot) == 0 || len(lost) == 0 {
		b.Fatalf("turnutils_uclient printed no totals:\n%s", lastLines(string(out), 20))
	}
	sent, _ := strconv.ParseInt(tot[len(tot)-1][1], 10, 64)
	lostN, _ := strconv.ParseInt(lost[len(lost)-1][1], 10, 64)
	if sent == 0 {
		b.Fatalf("turnutils_uclient sent nothing:\n%s", lastLines(string(out), 20))
	}
	peerDrops := socketDrops(b, peerAddr) - peerDrops0
	report := func(v float64, unit string) { b.ReportMetric(v, name+"-"+unit) }
	report(100*float64(lostN)/float64(sent), "%lost")
	report(float64(peerDrops), "peer-drops")
	report(float64(drops["relay"]), "relay-socket-drops")
	if tr == "udp" {
		report(float64(drops["listener"]), "listener-drops")
		report(float64(drops["client"]), "client-drops")
	}
	report(float64(lostN-peerDrops-drops["relay"]-drops["listener"]-drops["client"]), "other-lost")
	report(float64(udpRcvbufErrors(b)-rcvbuf0), "rcvbuf-drops")
	report(float64(cpu.Microseconds())/float64(sent), "cpu-µs/msg")
	if arrivals != nil {
		peak1, peak5 := arrivals.peaks()
		report(float64(peak1), "peak-per-1ms")
		report(float64(peak5), "peak-per-5ms")
	}
}

// arrivalPeer is a UDP echo peer like turnutils_peer with an 8 MiB receive
// buffer (capped at net.core.rmem_max), so that it drops little, which notes the kernel's arrival time
// of each datagram (SO_TIMESTAMPNS): how bursty a relay's forwarding is.
// turnutils_peer keeps the system's default buffer (212992 bytes: 256
// datagrams of 100 bytes on loopback), so a burst of more than 256
// datagrams faster than it reads is lost there.
type arrivalPeer struct {
	port  int
	conn  *net.UDPConn
	done  chan struct{}
	times []int64 // nanoseconds, in arrival order
}

func startArrivalPeer(b *testing.B) *arrivalPeer {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	_ = c.SetReadBuffer(8 << 20)
	raw, err := c.SyscallConn()
	if err != nil {
		b.Fatal(err)
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1)
	}); err != nil || serr != nil {
		_ = c.Close()
		b.Skipf("SO_TIMESTAMPNS: %v %v", err, serr)
	}
	p := &arrivalPeer{port: c.LocalAddr().(*net.UDPAddr).Port, conn: c, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		buf, oob := make([]byte, 2048), make([]byte, 128)
		for {
			n, oobn, _, addr, err := c.ReadMsgUDP(buf, oob)
			if err != nil {
				return
			}
			msgs, _ := syscall.ParseSocketControlMessage(oob[:oobn])
			for _, m := range msgs {
				if m.Header.Level == syscall.SOL_SOCKET && m.Header.Type == syscall.SCM_TIMESTAMPNS && len(m.Data) >= 16 {
					sec, nsec := int64(binary.NativeEndian.Uint64(m.Data[0:8])), int64(binary.NativeEndian.Uint64(m.Data[8:16]))
					p.times = append(p.times, sec*1e9+nsec)
				}
			}
			_, _ = c.WriteToUDP(buf[:n], addr)
		}
	}()
	b.Cleanup(p.stop)
	return p
}

func (p *arrivalPeer) stop() {
	_ = p.conn.Close()
	<-p.done
}

// peaks stops the peer and returns the most datagrams that arrived within
// any 1 ms and any 5 ms.
func (p *arrivalPeer) peaks() (in1ms, in5ms int) {
	p.stop()
	slices.Sort(p.times)
	peak := func(w int64) int {
		best, j := 0, 0
		for i, t := range p.times {
			for t-p.times[j] >= w {
				j++
			}
			best = max(best, i-j+1)
		}
		return best
	}
	return peak(int64(time.Millisecond)), peak(int64(5 * time.Millisecond))
}

// watchUDPDrops samples /proc/net/udp every 100 ms until the function it
// returns is called, and then returns, for each class that classify gives
// a loopback socket by its local and remote ports, the datagrams the kernel
// dropped at those sockets meanwhile (sockets that closed count with their
// last sample).
func watchUDPDrops(classify func(local, remote int) string) func() map[string]int64 {
	type sock struct {
		class       string
		first, last int64
	}
	socks := map[string]*sock{} // by inode
	sample := func(seen bool) {
		data, err := os.ReadFile("/proc/net/udp")
		if err != nil {
			return
		}
		for _, line := range strings.Split(string(data), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) < 13 || !strings.HasPrefix(f[1], "0100007F:") {
				continue
			}
			local, _ := strconv.ParseInt(f[1][9:], 16, 32)
			_, rp, _ := strings.Cut(f[2], ":")
			remote, _ := strconv.ParseInt(rp, 16, 32)
			class := classify(int(local), int(remote))
			if class == "" {
				continue
			}
			d, _ := strconv.ParseInt(f[len(f)-1], 10, 64)
			if s, ok := socks[f[9]]; ok {
				s.last = max(s.last, d)
			} else if seen {
				socks[f[9]] = &sock{class: class, last: d} // opened since: all its drops count
			} else {
				socks[f[9]] = &sock{class: class, first: d, last: d}
			}
		}
	}
	sample(false)
	stop, done := make(chan struct{}), make(chan map[string]int64)
	go func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				sample(true)
			case <-stop:
				sample(true)
				sums := map[string]int64{}
				for _, s := range socks {
					sums[s.class] += s.last - s.first
				}
				done <- sums
				return
			}
		}
	}()
	return func() map[string]int64 {
		close(stop)
		return <-done
	}
}
