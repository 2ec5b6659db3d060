package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// coturnTool returns the path of one of coturn's programs (turnutils_uclient,
// turnutils_peer, turnserver), or skips t saying how to install it.
func coturnTool(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("coturn's %s is not installed (Debian: apt-get install coturn); skipping", name)
	}
	return path
}

// startPeer runs turnutils_peer, coturn's UDP echo peer, on a free loopback
// port and waits until it echoes. It returns the port.
func startPeer(t testing.TB) int {
	t.Helper()
	path := coturnTool(t, "turnutils_peer")
	for range 5 {
		l, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.LocalAddr().(*net.UDPAddr).Port
		_ = l.Close()
		cmd := exec.Command(path, "-p", strconv.Itoa(port), "-L", "127.0.0.1")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		stop := func() {
			_ = cmd.Process.Kill()
			<-exited
		}
		if err := waitEcho(port, exited); err != nil {
			stop()
			t.Logf("turnutils_peer on %d: %v; output %q; trying another port", port, err, out.String())
			continue
		}
		t.Cleanup(stop)
		return port
	}
	t.Fatal("turnutils_peer did not start")
	return 0
}

// waitEcho sends datagrams to the peer on port until one comes back, the
// peer exits, or the bound passes.
func waitEcho(port int, exited <-chan error) error {
	c, err := net.Dial("udp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return err
	}
	defer c.Close()
	buf := make([]byte, 64)
	for deadline := time.Now().Add(bound); time.Now().Before(deadline); {
		select {
		case err := <-exited:
			return fmt.Errorf("exited: %w", err)
		default:
		}
		if _, err := c.Write([]byte("icelab echo?")); err != nil {
			return err
		}
		_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if n, err := c.Read(buf); err == nil && string(buf[:n]) == "icelab echo?" {
			return nil
		}
	}
	return errors.New("no echo")
}

// uclientConfig is a relay serve config for coturn's test client: its user,
// loopback peers, no per-user quota, and the relay range.
func uclientConfig(t testing.TB, relayRange string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "livekit.yaml")
	lo, hi, _ := strings.Cut(relayRange, "-")
	cfg := "turn:\n  domain: turn.icelab.test\n  users: {alice: secret}\n  user_quota: 0\n  allowed_peer_cidrs: [127.0.0.0/8]\n" +
		"  relay_range_start: " + lo + "\n  relay_range_end: " + hi + "\n"
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestRelayServeEvenPortPairsWithCoturnClient runs coturn's test client the
// way issue 21 found it failing: turnutils_uclient allocates an RTP relay
// with EVEN-PORT and an RTCP relay with the RESERVATION-TOKEN it got, from
// two sockets, which the kernel hashes to any of the relay's SO_REUSEPORT
// sockets. Ten runs must all succeed with GOMAXPROCS=2 and 8 (one listener
// socket per CPU), and the relay must count no capacity failure. Before the
// relay kept the pairs itself, 5 of 10 got 508 with GOMAXPROCS=2. The ten
// run at once: each turnutils_uclient run spends about 5 s in its own pauses.
func TestRelayServeEvenPortPairsWithCoturnClient(t *testing.T) {
	uclient := coturnTool(t, "turnutils_uclient")
	peer := startPeer(t)
	for _, procs := range []int{2, 8} {
		t.Run(fmt.Sprintf("GOMAXPROCS=%d", procs), func(t *testing.T) {
			serve := startServeEnv(t, []string{fmt.Sprintf("GOMAXPROCS=%d", procs)},
				"--config", uclientConfig(t, "44000-44999"), "--ephemeral-ports")
			_, port, _ := net.SplitHostPort(serve.addrs["udp"])
			type result struct {
				out []byte
				err error
			}
			results := make(chan result, 10)
			for range 10 {
				go func() {
					ctx, cancel := context.WithTimeout(context.Background(), 3*bound)
					defer cancel()
					out, err := exec.CommandContext(ctx, uclient, "-u", "alice", "-w", "secret", "-e", "127.0.0.1",
						"-r", strconv.Itoa(peer), "-n", "3", "-p", port, "127.0.0.1").CombinedOutput()
					results <- result{out, err}
				}()
			}
			for run := range 10 {
				r := <-results
				// Two sessions (RTP and RTCP), three messages each, echoed.
				if r.err != nil || !strings.Contains(string(r.out), "tot_send_msgs=6, tot_recv_msgs=6") {
					t.Errorf("run %d: %v\n%s", run, r.err, r.out)
				}
			}
			serve.interrupt(t)
			if !strings.Contains(serve.output(), "capacity_failures=0 ") {
				t.Errorf("the relay counted capacity failures:\n%s", serve.output())
			}
		})
	}
}
