package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pion/logging"
	"github.com/pion/turn/v5"
	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"github.com/icelab/icelab/relay"
	"github.com/icelab/icelab/relay/pki"
)

// testTrust is the test process's one trusted authority (see trust).
var testTrust trust

// runAsIcelab makes the test binary run icelab's main instead of the tests,
// so that a test can run a subcommand as a real process.
const runAsIcelab = "ICELAB_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runAsIcelab) == "1" {
		main()
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

const bound = 10 * time.Second

// turnCert makes a CA named caName and writes a certificate it issues for
// turn.icelab.test to dir/turn.crt and dir/turn.key.
func turnCert(t testing.TB, dir, caName string) *pki.CA {
	t.Helper()
	ca, err := pki.NewCA(caName)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Valid("turn.icelab.test")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := leaf.WriteFiles(dir, "turn"); err != nil {
		t.Fatal(err)
	}
	return ca
}

// TestRelayServe runs `icelab relay serve` on loopback from a livekit.yaml and
// allocates over UDP, TCP and TLS with pion's TURN client on real sockets.
func TestRelayServe(t *testing.T) {
	dir := t.TempDir()
	ca := turnCert(t, dir, "cmd test CA")
	cfg := `turn:
  enabled: true
  domain: turn.icelab.test
  cert_file: turn.crt
  key_file: turn.key
  relay_range_start: 43000
  relay_range_end: 43999
  users:
    alice: secret
  allowed_peer_cidrs: [127.0.0.0/8]
  mystery: 1
keys:
  devkey: devsecret
`
	path := filepath.Join(dir, "livekit.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	outR, outW := io.Pipe()
	var errBuf strings.Builder
	root := newRootCmd(&testTrust)
	root.SetArgs([]string{"relay", "serve", "--config", path, "--addr", "127.0.0.1", "--disable-strict-config", "--ephemeral-ports"})
	root.SetOut(outW)
	root.SetErr(&errBuf)
	done := make(chan error, 1)
	go func() {
		err := root.ExecuteContext(ctx)
		outW.CloseWithError(fmt.Errorf("command ended: %v", err))
		done <- err
	}()

	lines := bufio.NewScanner(outR)
	addrs := map[string]string{}
	for lines.Scan() && lines.Text() != "ready" {
		f := strings.Fields(lines.Text())
		if len(f) == 4 && f[0] == "listening" {
			addrs[f[1]] = f[2]
		}
	}
	if len(addrs) != 3 {
		t.Fatalf("listeners %v (%v), stderr %q", addrs, lines.Err(), errBuf.String())
	}
	go func() { _, _ = io.Copy(io.Discard, outR) }()

	tlsCfg := &tls.Config{RootCAs: ca.Pool(), ServerName: "turn.icelab.test", MinVersion: tls.VersionTLS12}
	for _, tr := range []string{"udp", "tcp", "tls"} {
		t.Run(tr, func(t *testing.T) {
			var (
				conn net.PacketConn
				err  error
			)
			switch tr {
			case "udp":
				conn, err = net.ListenPacket("udp4", "127.0.0.1:0")
			case "tcp":
				var c net.Conn
				c, err = net.DialTimeout("tcp4", addrs[tr], bound)
				if err == nil {
					conn = turn.NewSTUNConn(c)
				}
			case "tls":
				var c net.Conn
				c, err = (&tls.Dialer{Config: tlsCfg}).DialContext(ctx, "tcp4", addrs[tr])
				if err == nil {
					conn = turn.NewSTUNConn(c)
				}
			}
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			quiet := logging.NewDefaultLoggerFactory()
			quiet.DefaultLogLevel = logging.LogLevelDisabled
			c, err := turn.NewClient(&turn.ClientConfig{
				TURNServerAddr: addrs[tr], Username: "alice", Password: "secret", Conn: conn, LoggerFactory: quiet,
			})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := c.Listen(); err != nil {
				t.Fatal(err)
			}
			alloc, err := c.Allocate()
			if err != nil {
				t.Fatalf("allocate over %s: %v", tr, err)
			}
			defer alloc.Close()
			peer, err := net.ListenPacket("udp4", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer peer.Close()
			if _, err := alloc.WriteTo([]byte("hello"), peer.LocalAddr()); err != nil {
				t.Fatal(err)
			}
			_ = peer.SetReadDeadline(time.Now().Add(bound))
			buf := make([]byte, 64)
			n, from, err := peer.ReadFrom(buf)
			if err != nil || string(buf[:n]) != "hello" || from.String() != alloc.LocalAddr().String() {
				t.Fatalf("peer read %q from %v: %v", buf[:n], from, err)
			}
		})
	}

	cancel() // what SIGINT does through signal.NotifyContext
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(bound):
		t.Fatal("serve did not stop")
	}
	if !strings.Contains(errBuf.String(), "turn.mystery: unknown key, ignored") {
		t.Errorf("stderr %q lacks the unknown-key warning", errBuf.String())
	}
}

// runServe runs `icelab relay serve args...` in this process as main does and
// returns its exit status and what it wrote to stderr.
func runServe(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var errOut strings.Builder
	status := execute(context.Background(), append([]string{"relay", "serve"}, args...), &testTrust, nil, io.Discard, &errOut)
	return status, errOut.String()
}

// TestRelayServeRefusesBadInput checks that bad flags and a missing config
// exit with status 2, as --help says, with a message naming what is wrong.
func TestRelayServeRefusesBadInput(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "livekit.yaml")
	if err := os.WriteFile(bad, []byte("turn:\n  relay_range_start: 30000\n  relay_range_end: 29000\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--config", bad}, "livekit.yaml:3: turn.relay_range_end: 29000 is below relay_range_start 30000"},
		{[]string{"--config", bad, "--addr", "nowhere"}, `--addr "nowhere"`},
		{[]string{"--config", bad, "--addr", "0.0.0.0"}, "--addr 0.0.0.0: want a specific IPv4 address"},
		{[]string{"--config", bad, "--log-level", "loud"}, `--log-level "loud"`},
		{[]string{"--config", filepath.Join(dir, "missing.yaml")}, "no such file or directory"},
		{nil, "--config is required"},
		{[]string{"--config", bad, "--no-such-flag"}, "unknown flag: --no-such-flag"},
	} {
		status, stderr := runServe(t, tc.args...)
		if status != exitBadInput || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: status %d, stderr %q; want %d and %q", tc.args, status, stderr, exitBadInput, tc.want)
		}
	}
}

// reusePortListener binds with SO_REUSEPORT, as another program sharing a
// port would.
func reusePortListener() *net.ListenConfig {
	return &net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
		}); err != nil {
			return err
		}
		return serr
	}}
}

// writeConfig writes a livekit.yaml into dir and returns its path.
func writeConfig(t *testing.T, dir, body string) string {
	t.Helper()
	path := filepath.Join(dir, "livekit.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestRelayServeConfigErrors checks that every refusal names the config file
// and exits with status 2: unknown keys are refused as LiveKit refuses them
// (unless --disable-strict-config, and without calling them "ignored"), a
// config with no TURN listener, and a port in use or held by another
// socket with SO_REUSEPORT, which would share the relay's clients, name
// their key.
func TestRelayServeConfigErrors(t *testing.T) {
	dir := t.TempDir()
	busyUDP, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busyUDP.Close()
	sharedUDP, err := reusePortListener().ListenPacket(context.Background(), "udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer sharedUDP.Close()
	busyTCP, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busyTCP.Close()
	turnCert(t, dir, "cmd config CA")
	// The relay range lies below the kernel's ephemeral ports (32768-60999),
	// so that the busy ports the kernel picked above never fall inside it.
	base := "turn:\n  domain: turn.icelab.test\n  relay_range_start: 20000\n  relay_range_end: 20999\n  users: {alice: secret}\n"
	for _, tc := range []struct {
		name, body string
		want       []string
	}{
		{"unknown key", base + "  mystery: 1\n", []string{"livekit.yaml:6: turn.mystery: unknown key\n", "--disable-strict-config"}},
		{"disabled", "turn:\n  enabled: false\n  users: {alice: secret}\n", []string{"livekit.yaml: relay localhost: turn.enabled is false"}},
		{"no credentials", "turn:\n  domain: turn.icelab.test\n", []string{"livekit.yaml: relay turn.icelab.test: no credentials"}},
		{"no TURN listener", base + "  udp_port: 0\n", []string{"livekit.yaml:6: turn.udp_port: no TURN listener"}},
		{"udp port in use", base + fmt.Sprintf("  udp_port: %d\n", busyUDP.LocalAddr().(*net.UDPAddr).Port),
			[]string{"livekit.yaml: relay turn.icelab.test: turn.udp_port", "address already in use"}},
		{"udp port shared by SO_REUSEPORT", base + fmt.Sprintf("  udp_port: %d\n", sharedUDP.LocalAddr().(*net.UDPAddr).Port),
			[]string{"livekit.yaml: relay turn.icelab.test: turn.udp_port", "udp 127.0.0.1:"}},
		{"tls port in use", base + fmt.Sprintf("  udp_port: 0\n  cert_file: turn.crt\n  key_file: turn.key\n  tls_port: %d\n", busyTCP.Addr().(*net.TCPAddr).Port),
			[]string{"livekit.yaml: relay turn.icelab.test: turn.tls_port", "address already in use"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := strings.NewReplacer("turn.crt", filepath.Join(dir, "turn.crt"), "turn.key", filepath.Join(dir, "turn.key")).Replace(tc.body)
			path := writeConfig(t, t.TempDir(), body)
			status, stderr := runServe(t, "--config", path)
			if status != exitBadInput {
				t.Errorf("status %d, want %d; stderr %q", status, exitBadInput, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, strings.ReplaceAll(w, "livekit.yaml", path)) {
					t.Errorf("stderr %q lacks %q", stderr, w)
				}
			}
			if !strings.Contains(stderr, path) {
				t.Errorf("stderr %q does not name the config file %s", stderr, path)
			}
			if strings.Contains(stderr, "ignored") {
				t.Errorf("stderr %q calls a refused key ignored", stderr)
			}
		})
	}
}

// TestRelayServeHelpListsKeys checks that --help lists every key the relay
// reads with its default.
func TestRelayServeHelpListsKeys(t *testing.T) {
	var out strings.Builder
	root := newRootCmd(&testTrust)
	root.SetArgs([]string{"relay", "serve", "--help"})
	root.SetOut(&out)
	root.SetErr(&out)
	if err := root.ExecuteContext(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, k := range relay.ConfigKeys() {
		if !strings.Contains(out.String(), k.Key) || !strings.Contains(out.String(), k.Default) {
			t.Errorf("help lacks %s (default %s)", k.Key, k.Default)
		}
	}
	for _, w := range []string{"--disable-strict-config", "--log-level", "allowed_peer_cidrs: [127.0.0.0/8]"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("help lacks %q", w)
		}
	}
}

// lineWatch collects the lines written to a pipe and lets a test wait for one.
type lineWatch struct {
	lines chan string
	seen  []string
}

func watchLines(r io.Reader) *lineWatch {
	w := &lineWatch{lines: make(chan string, 1024)}
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			w.lines <- sc.Text()
		}
		close(w.lines)
	}()
	return w
}

// wait returns the first line holding every part, waiting up to bound.
func (w *lineWatch) wait(t *testing.T, parts ...string) string {
	t.Helper()
	timeout := time.After(bound)
	for {
		select {
		case l, ok := <-w.lines:
			if !ok {
				t.Fatalf("output ended without a line holding %q; saw:\n%s", parts, strings.Join(w.seen, "\n"))
			}
			w.seen = append(w.seen, l)
			all := true
			for _, p := range parts {
				all = all && strings.Contains(l, p)
			}
			if all {
				return l
			}
		case <-timeout:
			t.Fatalf("no line holding %q within %v; saw:\n%s", parts, bound, strings.Join(w.seen, "\n"))
		}
	}
}

// TestRelayServeLogs checks that `relay serve` logs its bound listeners at
// start, with the loopback URL clients should use and their socket buffers,
// and logs an authentication failure and a refused peer as they happen.
func TestRelayServeLogs(t *testing.T) {
	dir := t.TempDir()
	turnCert(t, dir, "cmd log CA")
	path := writeConfig(t, dir, "turn:\n  domain: turn.icelab.test\n  cert_file: turn.crt\n  key_file: turn.key\n"+
		"  relay_range_start: 46000\n  relay_range_end: 46999\n  users: {alice: secret}\n")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	outR, outW := io.Pipe()
	errR, errW := io.Pipe()
	root := newRootCmd(&testTrust)
	root.SetArgs([]string{"relay", "serve", "--config", path, "--ephemeral-ports"})
	root.SetOut(outW)
	root.SetErr(errW)
	done := make(chan error, 1)
	go func() {
		err := root.ExecuteContext(ctx)
		outW.Close()
		errW.Close()
		done <- err
	}()
	go func() { _, _ = io.Copy(io.Discard, outR) }()
	logs := watchLines(errR)
	addrs := map[string]string{}
	for _, tr := range []string{"udp", "tcp", "tls"} {
		l := logs.wait(t, "level=INFO", `msg="listener bound"`, " transport="+tr+" ", "addr=127.0.0.1:", `url="turn`)
		addrs[tr] = strings.Fields(l[strings.Index(l, "addr="):])[0][len("addr="):]
		switch tr {
		case "udp":
			// The buffer the config asks for (4 MiB), or the kernel's cap;
			// never Linux's doubled figure.
			var rcv int
			_, err := fmt.Sscanf(l[strings.Index(l, "read_buffer_bytes="):], "read_buffer_bytes=%d", &rcv)
			if !strings.Contains(l, `url="turn:127.0.0.1:`) || err != nil || rcv <= 0 || rcv > 4<<20 {
				t.Errorf("udp listener line %q lacks the loopback URL or its buffers (%d, %v)", l, rcv, err)
			}
		case "tls":
			if !strings.Contains(l, `url="turns:127.0.0.1:`) || !strings.Contains(l, `domain_url="turns:turn.icelab.test:`) {
				t.Errorf("tls listener line %q lacks the loopback and domain URLs", l)
			}
		}
	}
	logs.wait(t, `msg="relay ready"`)

	quiet := logging.NewDefaultLoggerFactory()
	quiet.DefaultLogLevel = logging.LogLevelDisabled
	client := func(pass string) (*turn.Client, net.PacketConn) {
		conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		c, err := turn.NewClient(&turn.ClientConfig{TURNServerAddr: addrs["udp"], Username: "alice", Password: pass, Conn: conn, LoggerFactory: quiet})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Listen(); err != nil {
			t.Fatal(err)
		}
		return c, conn
	}
	bad, badConn := client("wrong")
	if _, err := bad.Allocate(); err == nil {
		t.Fatal("allocated with a wrong password")
	}
	bad.Close()
	badConn.Close()
	logs.wait(t, "level=WARN", `msg="authentication failed"`, "user=alice", `reason="wrong password"`)

	good, goodConn := client("secret")
	defer goodConn.Close()
	defer good.Close()
	alloc, err := good.Allocate()
	if err != nil {
		t.Fatal(err)
	}
	defer alloc.Close()
	logs.wait(t, "level=INFO", `msg="allocation created"`, "user=alice")
	if _, err := alloc.WriteTo([]byte("x"), &net.UDPAddr{IP: net.IPv4(10, 9, 8, 7), Port: 9}); err == nil {
		t.Error("relayed to a private peer")
	}
	logs.wait(t, "level=WARN", `msg="peer denied"`, "peer=10.9.8.7")

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(bound):
		t.Fatal("serve did not stop")
	}
}
