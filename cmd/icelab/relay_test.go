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
	"testing"
	"time"

	"github.com/pion/logging"
	"github.com/pion/turn/v5"
	"go.uber.org/goleak"

	"github.com/icelab/icelab/relay/pki"
)

// testTrust is the test process's one trusted authority (see trust).
var testTrust trust

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const bound = 10 * time.Second

// TestRelayServe runs `icelab relay serve` on loopback from a livekit.yaml and
// allocates over UDP, TCP and TLS with pion's TURN client on real sockets.
func TestRelayServe(t *testing.T) {
	dir := t.TempDir()
	ca, err := pki.NewCA("cmd test CA")
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
	cfg := `turn:
  enabled: true
  domain: turn.icelab.test
  udp_port: 0
  tls_port: 0
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
	root.SetArgs([]string{"relay", "serve", "--config", path, "--addr", "127.0.0.1"})
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
			var conn net.PacketConn
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
		{[]string{"relay", "serve", "--config", bad}, "livekit.yaml:3: turn.relay_range_end: 29000 is below relay_range_start 30000"},
		{[]string{"relay", "serve", "--config", bad, "--addr", "nowhere"}, `--addr "nowhere"`},
		{[]string{"relay", "serve"}, "--config is required"},
	} {
		root := newRootCmd(&testTrust)
		root.SetArgs(tc.args)
		root.SetOut(io.Discard)
		root.SetErr(io.Discard)
		err := root.ExecuteContext(context.Background())
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.args, err, tc.want)
		}
	}
}
