package main

import (
	"fmt"
	"net"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/pion/stun/v4"
	"golang.org/x/sys/unix"
)

// TestRelayServeKeepsAcceptingAfterEMFILE runs `icelab relay serve` as its
// own process, lowers its file descriptor limit to a few above what it has
// open, and opens more TURN/TCP connections than that allows, so that its
// accept fails with EMFILE. pion/turn's server stops a listener's accept loop
// at its first error, which would end TCP service for good. Once the limit
// is back and the connections are gone, a new TCP client must get its STUN
// Binding answered.
func TestRelayServeKeepsAcceptingAfterEMFILE(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("counts the relay's descriptors in /proc and sets its limit with prlimit")
	}
	dir := t.TempDir()
	path := dir + "/livekit.yaml"
	cfg := "turn:\n  enabled: true\n  domain: turn.icelab.test\n" +
		"  relay_range_start: 45000\n  relay_range_end: 45999\n  users:\n    alice: secret\n"
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	serve := startServe(t, "--config", path, "--addr", "127.0.0.1", "--ephemeral-ports")
	pid := serve.cmd.Process.Pid
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	var saved unix.Rlimit
	if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, nil, &saved); err != nil {
		t.Fatal(err)
	}
	low := unix.Rlimit{Cur: uint64(len(fds) + 2), Max: saved.Max} // the soft limit only
	if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, &low, nil); err != nil {
		t.Skipf("cannot set the relay's descriptor limit: %v", err)
	}

	// More connections than descriptors left: the kernel completes each
	// handshake; the relay's accept runs out.
	var held []net.Conn
	defer func() {
		for _, c := range held {
			_ = c.Close()
		}
	}()
	for range 8 {
		c, err := net.DialTimeout("tcp4", serve.addrs["tcp"], bound)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	if !serve.waitOutput("too many open files", bound) {
		t.Fatalf("the relay's accept did not fail with EMFILE within %v; output:\n%s", bound, serve.output())
	}
	if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, &saved, nil); err != nil {
		t.Fatal(err)
	}
	for _, c := range held {
		_ = c.Close()
	}
	held = nil

	c, err := net.DialTimeout("tcp4", serve.addrs["tcp"], bound)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	req := stun.MustBuild(stun.TransactionID, stun.BindingRequest)
	if _, err := c.Write(req.Raw); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(bound))
	buf := make([]byte, 1500)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("no Binding answer over TCP after EMFILE: %v; output:\n%s", err, serve.output())
	}
	res := &stun.Message{Raw: buf[:n]}
	if err := res.Decode(); err != nil || res.Type != stun.BindingSuccess {
		t.Fatalf("answer to Binding over TCP after EMFILE: %v %v", res.Type, err)
	}
	serve.interrupt(t)
}
