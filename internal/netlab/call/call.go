// Package call runs the pion ends of a namespace lab call, and icelab's
// relay, as child processes inside netlab namespaces. The parent starts a
// child by running its own executable again inside a namespace (Start); the
// child's main or TestMain calls Child first, which runs the role and says
// so. Parent and child speak line-delimited JSON Messages over the child's
// standard input and output: the parent relays offers, answers and trickled
// candidates between the two ends of a call, and each end reports a Result.
//
// It knows pion and the relay; it knows nothing of the cases compared or
// of icelab's scenarios.
package call

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"time"

	"github.com/icelab/icelab/internal/netlab"
)

// envConfig holds a child's Config; its presence makes a process a child.
const envConfig = "ICELAB_NETLAB_CALL"

// Role is what a child runs.
type Role string

// Roles.
const (
	// Peer is a pion peer connection: it offers a data channel (Offer) or
	// answers, trickles its candidates, and reports a Result.
	Peer Role = "peer"
	// Relay is icelab's relay on real sockets; it sends "ready" once it
	// listens and stops when its standard input closes.
	Relay Role = "relay"
)

// Config is a child's configuration.
type Config struct {
	Role Role
	Name string // for messages

	// Peer.
	Offer      bool
	ICEServers []ICEServer
	// ICETCP gathers TCP candidates: active ones towards a passive peer,
	// and passive ones on ICETCPPort when it is set (a media server's
	// ICE-TCP listener).
	ICETCP     bool
	ICETCPPort int
	// Deadline bounds the wait for the peer connection to connect.
	Deadline time.Duration

	// Relay: its address, TURN/UDP and TURN/TCP port, TURN/TLS port and
	// the PEM of its certificate and key (TLS off without them).
	Addr       string
	UDPPort    int
	TLSPort    int
	CertPEM    []byte
	KeyPEM     []byte
	Users      map[string]string
	RelayPorts [2]int

	// TrustPEM is a CA the child trusts (TURN/TLS verification).
	TrustPEM []byte
}

// ICEServer is a STUN or TURN server as webrtc.ICEServer gives it.
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// Message is one line between parent and child.
type Message struct {
	Kind      string          `json:"kind"` // sdp, candidate, result, ready, error
	SDP       json.RawMessage `json:"sdp,omitempty"`
	Candidate json.RawMessage `json:"candidate,omitempty"`
	Result    *Result         `json:"result,omitempty"`
	Error     string          `json:"error,omitempty"`
}

// Result is what one end of a call observed.
type Result struct {
	Connected bool `json:"connected"`
	// ConnectedAfter is the time from the end's start to its peer
	// connection's "connected", in seconds.
	ConnectedAfter float64 `json:"connected_after"`
	// ReportedAfter is the time from the end's start to its report: when
	// it connected, failed, or reached its deadline.
	ReportedAfter float64 `json:"reported_after"`
	State         string  `json:"state"`
	// Local and Remote are the selected pair's candidates.
	Local  Candidate `json:"local"`
	Remote Candidate `json:"remote"`
	// First is the pair selected when the end first connected, given by
	// an end that reports once its selection has settled (the browser
	// end: Chromium may switch pairs after connecting); nil otherwise.
	First *Pair `json:"first,omitempty"`
	// PairChanges is how many times the selected pair changed, from
	// getStats' selectedCandidatePairChanges; 0 where not known.
	PairChanges int `json:"pair_changes,omitempty"`
	// Stats is the end's final stats report (pion's GetStats, or the
	// browser's getStats() as [...report.values()]).
	Stats json.RawMessage `json:"stats,omitempty"`
}

// Pair is a selected pair's two candidates.
type Pair struct {
	Local  Candidate `json:"local"`
	Remote Candidate `json:"remote"`
}

// Transport names the path of the pair from the end that selected it, as
// Result.Transport does.
func (p Pair) Transport() string {
	switch {
	case p.Local.Type == "relay":
		return "TURN/" + upper(p.Local.RelayProtocol)
	case p.Remote.Type == "relay":
		return "TURN/?"
	}
	return "ICE/" + upper(p.Local.Protocol)
}

// Candidate is a selected pair's candidate as the stats give it.
type Candidate struct {
	Type          string `json:"type"`
	Protocol      string `json:"protocol"`
	RelayProtocol string `json:"relay_protocol,omitempty"`
	Address       string `json:"address"`
}

// Transport names the path from this end, as icelab reports it: ICE/UDP,
// ICE/TCP, or TURN/<relay protocol> when either end is relayed.
func (r Result) Transport() string {
	if !r.Connected {
		return "none"
	}
	return Pair{r.Local, r.Remote}.Transport()
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	if len(b) == 0 {
		return "?"
	}
	return string(b)
}

// Child runs the process as a lab child when it was started as one: it
// returns the status to exit with and true, or 0 and false in any other
// process.
func Child() (int, bool) {
	raw, ok := os.LookupEnv(envConfig)
	if !ok {
		return 0, false
	}
	var cfg Config
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		fmt.Fprintf(os.Stderr, "netlab child: config: %v\n", err)
		return 2, true
	}
	out := &writer{enc: json.NewEncoder(os.Stdout)}
	in := make(chan Message, 16)
	go func() {
		defer close(in)
		dec := json.NewDecoder(os.Stdin)
		for {
			var m Message
			if err := dec.Decode(&m); err != nil {
				return
			}
			in <- m
		}
	}()
	var err error
	switch cfg.Role {
	case Peer:
		err = runPeer(cfg, in, out)
	case Relay:
		err = runRelay(cfg, in, out)
	default:
		err = fmt.Errorf("unknown role %q", cfg.Role)
	}
	if err != nil {
		out.send(Message{Kind: "error", Error: err.Error()})
		fmt.Fprintf(os.Stderr, "netlab child %s: %v\n", cfg.Name, err)
		return 1, true
	}
	return 0, true
}

// writer sends messages to the parent from any goroutine.
type writer struct {
	mu  sync.Mutex
	enc *json.Encoder
}

func (w *writer) send(m Message) {
	w.mu.Lock()
	defer w.mu.Unlock()
	_ = w.enc.Encode(m)
}

// Proc is a running child.
type Proc struct {
	Name string
	cmd  *exec.Cmd
	in   io.WriteCloser
	mu   sync.Mutex
	enc  *json.Encoder
	// Msgs delivers the child's messages; it closes when the child's
	// output ends.
	Msgs   <-chan Message
	stderr *netlab.TailBuffer
	done   chan struct{}
	err    error
}

// Start runs this executable again inside ns as a child with cfg.
func Start(ctx context.Context, ns *netlab.NS, cfg Config) (*Proc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("child %s: executable: %w", cfg.Name, err)
	}
	raw, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("child %s: config: %w", cfg.Name, err)
	}
	cmd := ns.Command(ctx, exe)
	cmd.Env = append(os.Environ(), envConfig+"="+string(raw))
	p := &Proc{Name: cfg.Name, cmd: cmd, stderr: netlab.NewTailBuffer(8 << 10), done: make(chan struct{})}
	cmd.Stderr = p.stderr
	if p.in, err = cmd.StdinPipe(); err != nil {
		return nil, fmt.Errorf("child %s: stdin: %w", cfg.Name, err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("child %s: stdout: %w", cfg.Name, err)
	}
	p.enc = json.NewEncoder(p.in)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("child %s: start in %s: %w", cfg.Name, ns.Name, err)
	}
	msgs := make(chan Message, 64)
	p.Msgs = msgs
	go func() {
		defer close(msgs)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		for sc.Scan() {
			var m Message
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				msgs <- m
			}
		}
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Send writes a message to the child.
func (p *Proc) Send(m Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.enc.Encode(m); err != nil {
		return fmt.Errorf("child %s: send %s: %w", p.Name, m.Kind, err)
	}
	return nil
}

// Stop closes the child's input, which ends it, and waits for it.
func (p *Proc) Stop() error {
	_ = p.in.Close()
	for range p.Msgs { //nolint:revive // drain until the child's output ends
	}
	<-p.done
	var ee *exec.ExitError
	if p.err != nil && !errors.As(p.err, &ee) {
		return fmt.Errorf("child %s: %w", p.Name, p.err)
	}
	if p.err != nil {
		return fmt.Errorf("child %s: %w: %s", p.Name, p.err, p.stderr.String())
	}
	return nil
}

// Stderr returns the end of the child's standard error.
func (p *Proc) Stderr() string { return p.stderr.String() }
