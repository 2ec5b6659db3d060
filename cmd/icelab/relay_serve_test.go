package main

import (
	"bufio"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestRelayServeSurvivesHostileLengths runs `icelab relay serve` as its own
// process on loopback and, over real TCP and TLS, sends STUN headers whose
// lengths once made the relay spin for good (issue 15), each completed with
// zeros. The relay must end each connection; the process's CPU time over a
// quiet second afterwards must be that of an idle process (a spinning read
// loop burns the whole second); and SIGINT must end it with status 0 within
// the bound.
func TestRelayServeSurvivesHostileLengths(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads the relay's CPU time from /proc")
	}
	dir := t.TempDir()
	ca := turnCert(t, dir, "cmd hostile CA")
	path := filepath.Join(dir, "livekit.yaml")
	cfg := "turn:\n  enabled: true\n  domain: turn.icelab.test\n" +
		"  cert_file: turn.crt\n  key_file: turn.key\n  relay_range_start: 44000\n  relay_range_end: 44999\n" +
		"  users:\n    alice: secret\n"
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	serve := startServe(t, "--config", path, "--addr", "127.0.0.1", "--ephemeral-ports")

	tlsCfg := &tls.Config{RootCAs: ca.Pool(), ServerName: "turn.icelab.test", MinVersion: tls.VersionTLS12}
	for _, tr := range []string{"tcp", "tls"} {
		for _, length := range []int{65516, 65520, 65524, 65528, 65532, 65535} {
			var (
				c   net.Conn
				err error
			)
			if tr == "tls" {
				c, err = (&tls.Dialer{NetDialer: &net.Dialer{Timeout: bound}, Config: tlsCfg}).Dial("tcp4", serve.addrs[tr])
			} else {
				c, err = net.DialTimeout("tcp4", serve.addrs[tr], bound)
			}
			if err != nil {
				t.Fatalf("dial %s: %v", tr, err)
			}
			msg := make([]byte, 20+length)
			binary.BigEndian.PutUint16(msg[0:2], 0x0001)
			binary.BigEndian.PutUint16(msg[2:4], uint16(length)) //nolint:gosec // < 65536
			binary.BigEndian.PutUint32(msg[4:8], 0x2112A442)
			wrote := make(chan struct{})
			go func() { // the relay may close before the body is written
				defer close(wrote)
				_, _ = c.Write(msg)
			}()
			_ = c.SetReadDeadline(time.Now().Add(bound))
			_, err = io.Copy(io.Discard, c)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("%s length %d: relay kept the connection for %v", tr, length, bound)
			}
			_ = c.Close()
			<-wrote
		}
	}

	// An idle process uses a few milliseconds in a second; a spinning read
	// loop uses the whole second of a core.
	const window = time.Second
	before := serve.cpu(t)
	start := time.Now()
	<-time.After(window) // a measurement window, not a synchronisation
	used, elapsed := serve.cpu(t)-before, time.Since(start)
	if used > elapsed/4 {
		t.Errorf("relay used %v of CPU in %v after the hostile connections ended", used, elapsed)
	}
	t.Logf("relay CPU after the hostile connections: %v in %v", used, elapsed)
	serve.interrupt(t)
}

// serveProc is `icelab relay serve` running as a child process.
type serveProc struct {
	cmd   *exec.Cmd
	addrs map[string]string // transport -> host:port
	out   *strings.Builder
	outMu *sync.Mutex
	// grew is closed and replaced, under outMu, whenever out grows.
	grew   *chan struct{}
	exited chan error
}

// startServe runs this test binary as `icelab relay serve args...` and waits
// for its "ready" line.
func startServe(t testing.TB, args ...string) *serveProc {
	t.Helper()
	return startServeEnv(t, nil, args...)
}

// startServeEnv is startServe with env added to the process's environment
// (such as GOMAXPROCS=8).
func startServeEnv(t testing.TB, env []string, args ...string) *serveProc {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return startServeExe(t, exe, env, args...)
}

// startServeExe runs exe (this test binary, or a built icelab) as
// `icelab relay serve args...` with env added, and waits for "ready".
func startServeExe(t testing.TB, exe string, env []string, args ...string) *serveProc {
	t.Helper()
	cmd := exec.Command(exe, append([]string{"relay", "serve"}, args...)...)
	cmd.Env = append(append(os.Environ(), runAsIcelab+"=1"), env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	grew := make(chan struct{})
	p := &serveProc{cmd: cmd, addrs: map[string]string{}, out: &strings.Builder{}, outMu: &sync.Mutex{}, grew: &grew, exited: make(chan error, 1)}
	cmd.Stderr = &lockedWriter{p.out, p.outMu, p.grew}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // only if the test failed before interrupt
		<-p.exited
	})
	ready := make(chan struct{})
	go func() {
		lines := bufio.NewScanner(stdout)
		seen := false
		for lines.Scan() {
			p.outMu.Lock()
			p.out.WriteString(lines.Text() + "\n")
			close(*p.grew)
			*p.grew = make(chan struct{})
			p.outMu.Unlock()
			if f := strings.Fields(lines.Text()); !seen && len(f) == 4 && f[0] == "listening" {
				p.addrs[f[1]] = f[2]
			}
			if !seen && lines.Text() == "ready" {
				seen = true
				close(ready)
			}
		}
		p.exited <- cmd.Wait()
	}()
	select {
	case <-ready:
	case <-time.After(bound):
		t.Fatalf("relay serve not ready within %v; output:\n%s", bound, p.output())
	}
	return p
}

func (p *serveProc) output() string {
	p.outMu.Lock()
	defer p.outMu.Unlock()
	return p.out.String()
}

// waitOutput waits until the process's output contains s, for at most
// bound, and says whether it does.
func (p *serveProc) waitOutput(s string, bound time.Duration) bool {
	deadline := time.After(bound)
	for {
		p.outMu.Lock()
		found, grew := strings.Contains(p.out.String(), s), *p.grew
		p.outMu.Unlock()
		if found {
			return true
		}
		select {
		case <-grew:
		case <-deadline:
			return false
		}
	}
}

// cpu returns the process's user and system CPU time from /proc.
func (p *serveProc) cpu(t testing.TB) time.Duration {
	t.Helper()
	d, err := cpuOf(p.cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// cpuOf reads a process's user and system CPU time from /proc/PID/stat.
func cpuOf(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the parenthesised command name; utime and stime are the
	// 14th and 15th fields of the line, in clock ticks (100 a second on Linux).
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0, fmt.Errorf("parse /proc/%d/stat %q", pid, s)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("parse /proc/%d/stat %q: %w", pid, s, err)
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
}

// interrupt sends SIGINT and requires exit status 0 within the bound.
func (p *serveProc) interrupt(t testing.TB) {
	t.Helper()
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.exited:
		p.exited <- err // for the cleanup
		if err != nil {
			t.Fatalf("relay serve after SIGINT: %v; output:\n%s", err, p.output())
		}
	case <-time.After(bound):
		t.Fatalf("relay serve did not exit within %v of SIGINT; output:\n%s", bound, p.output())
	}
}

type lockedWriter struct {
	w    io.Writer
	mu   *sync.Mutex
	grew *chan struct{} // closed and replaced on every write
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n, err := l.w.Write(b)
	close(*l.grew)
	*l.grew = make(chan struct{})
	return n, err
}
