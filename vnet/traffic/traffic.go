// Package traffic generates cross traffic on a vnet network: the other users
// of a bottleneck that a call shares, as a download started beside a video
// call or a game streaming in bursts. A [Bulk] transfer is a TCP download
// that takes what the bottleneck leaves it (vnet's TCP, with its congestion
// control); an [OnOff] flow is UDP sent at a constant rate in on periods and
// not at all in off periods. libwebrtc's network emulation has the same two
// kinds (FakeTcpCrossTraffic and PulsedPeaksCrossTraffic in
// test/network/cross_traffic.h), ns-3 its OnOffApplication.
//
// Generators run between two vnet hosts placed so that their path crosses
// the bottleneck, and read the time from the time package only, so they run
// on a synctest bubble's fake clock as the network does. The package knows
// vnet hosts and sockets; it knows nothing of WebRTC or of the rest of
// icelab.
package traffic

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"

	"github.com/icelab/icelab/vnet"
)

// BulkConfig describes a bulk TCP transfer.
type BulkConfig struct {
	// Server sends and Client receives, as in a download from Server.
	Server, Client *vnet.Host
	// Port is the server's listening port; zero means 80.
	Port int
	// Bytes ends the transfer after this many bytes; zero sends until
	// the transfer is stopped.
	Bytes int64
	// Upload reverses the direction: Client, which connects, sends, and
	// Server receives, as in an upload to Server (a host behind a NAT can
	// upload; it cannot be connected to).
	Upload bool
}

// Bulk is a running bulk TCP transfer.
type Bulk struct {
	received atomic.Int64
	cancel   context.CancelFunc
	done     chan struct{}
	err      error // set before done closes
	closers  []io.Closer
}

// StartBulk connects Client to Server and starts the transfer. It runs until
// ctx ends, Bytes have arrived, or Stop.
func StartBulk(ctx context.Context, cfg BulkConfig) (*Bulk, error) {
	if cfg.Server == nil || cfg.Client == nil {
		return nil, errors.New("traffic: bulk: a server and a client host are required")
	}
	if cfg.Bytes < 0 {
		return nil, fmt.Errorf("traffic: bulk %s to %s: byte count %d is negative", cfg.Server.Name(), cfg.Client.Name(), cfg.Bytes)
	}
	port := cfg.Port
	if port == 0 {
		port = 80
	}
	fail := func(err error) (*Bulk, error) {
		return nil, fmt.Errorf("traffic: bulk %s to %s: %w", cfg.Server.Name(), cfg.Client.Name(), err)
	}
	l, err := cfg.Server.ListenTCP("tcp4", &net.TCPAddr{IP: cfg.Server.Addr().AsSlice(), Port: port})
	if err != nil {
		return fail(err)
	}
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	client, err := cfg.Client.DialTCP("tcp4", nil, &net.TCPAddr{IP: cfg.Server.Addr().AsSlice(), Port: port})
	if err != nil {
		_ = l.Close()
		<-accepted
		return fail(err)
	}
	server, ok := <-accepted
	_ = l.Close()
	if !ok {
		_ = client.Close()
		return fail(errors.New("accept failed"))
	}
	ctx, cancel := context.WithCancel(ctx)
	b := &Bulk{cancel: cancel, done: make(chan struct{}), closers: []io.Closer{client, server}}
	var wg sync.WaitGroup
	wg.Add(2)
	var sendErr, recvErr error
	var sender, receiver net.Conn = server, client
	if cfg.Upload {
		sender, receiver = client, server
	}
	go func() { // the server writes (the client, uploading)
		defer wg.Done()
		sendErr = write(sender, cfg.Bytes)
		if sendErr == nil {
			_ = sender.(interface{ CloseWrite() error }).CloseWrite()
		}
	}()
	go func() { // the client reads (the server, for an upload)
		defer wg.Done()
		buf := make([]byte, 64<<10)
		for {
			n, err := receiver.Read(buf)
			b.received.Add(int64(n))
			if err != nil {
				if !errors.Is(err, io.EOF) {
					recvErr = err
				}
				return
			}
		}
	}()
	go func() {
		<-ctx.Done()
		for _, c := range b.closers {
			_ = c.Close()
		}
	}()
	go func() {
		wg.Wait()
		if ctx.Err() == nil {
			b.err = errors.Join(sendErr, recvErr)
			if b.err != nil {
				b.err = fmt.Errorf("traffic: bulk %s to %s: %w", cfg.Server.Name(), cfg.Client.Name(), b.err)
			}
		}
		cancel()
		close(b.done)
	}()
	return b, nil
}

// write sends limit bytes, or bytes until the connection closes when limit
// is zero.
func write(c net.Conn, limit int64) error {
	buf := make([]byte, 64<<10)
	for sent := int64(0); limit == 0 || sent < limit; {
		chunk := buf
		if limit > 0 && limit-sent < int64(len(chunk)) {
			chunk = chunk[:limit-sent]
		}
		n, err := c.Write(chunk)
		sent += int64(n)
		if err != nil {
			if limit == 0 || errors.Is(err, net.ErrClosed) {
				return nil // stopped
			}
			return err
		}
	}
	return nil
}

// Received returns how many bytes the receiving end has read so far.
func (b *Bulk) Received() int64 { return b.received.Load() }

// Done is closed when the transfer has ended: all its bytes arrived, it was
// stopped, or it failed.
func (b *Bulk) Done() <-chan struct{} { return b.done }

// Stop ends the transfer, waits for its goroutines, and returns why it
// failed, if it did before it was stopped.
func (b *Bulk) Stop() error {
	b.cancel()
	<-b.done
	return b.err
}
