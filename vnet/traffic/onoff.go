package traffic

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/icelab/icelab/vnet"
)

// OnOffConfig describes a UDP flow that alternates between sending at a
// constant rate and silence, as ns-3's OnOffApplication does.
type OnOffConfig struct {
	// From sends to To's Port; zero means 9 (discard).
	From, To *vnet.Host
	Port     int
	// Rate is the sending rate in on periods, in bits per second of
	// datagrams on the wire (IPv4 and UDP headers counted).
	Rate int64
	// Size is a datagram's size on the wire in bytes; zero means 1200.
	Size int
	// On and Off are how long on and off periods last. With Random they
	// are the means of exponential distributions, drawn anew for each
	// period from a source seeded by Seed; otherwise every period lasts
	// exactly this long. The flow starts with an on period.
	On, Off time.Duration
	Random  bool
	Seed    uint64
}

// OnOff is a running on/off UDP flow.
type OnOff struct {
	sent, received atomic.Int64 // datagrams
	size           int
	cancel         context.CancelFunc
	wg             sync.WaitGroup
	errMu          sync.Mutex
	err            error
}

// udpOverhead is the IPv4 and UDP headers a datagram carries on the wire.
const udpOverhead = 28

// StartOnOff starts the flow; it runs until ctx ends or Stop.
func StartOnOff(ctx context.Context, cfg OnOffConfig) (*OnOff, error) {
	if cfg.From == nil || cfg.To == nil {
		return nil, errors.New("traffic: on/off: a sending and a receiving host are required")
	}
	name := fmt.Sprintf("traffic: on/off %s to %s", cfg.From.Name(), cfg.To.Name())
	if cfg.Size == 0 {
		cfg.Size = 1200
	}
	if cfg.Port == 0 {
		cfg.Port = 9
	}
	switch {
	case cfg.Rate <= 0:
		return nil, fmt.Errorf("%s: rate %d bit/s is not positive", name, cfg.Rate)
	case cfg.Size <= udpOverhead || cfg.Size > 65507+udpOverhead:
		return nil, fmt.Errorf("%s: datagram size %d is outside %d to %d bytes", name, cfg.Size, udpOverhead+1, 65507+udpOverhead)
	case cfg.On <= 0 || cfg.Off < 0:
		return nil, fmt.Errorf("%s: on %v and off %v: on must be positive, off not negative", name, cfg.On, cfg.Off)
	}
	in, err := cfg.To.ListenPacket("udp4", fmt.Sprintf("%s:%d", cfg.To.Addr(), cfg.Port))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	out, err := cfg.From.ListenPacket("udp4", "0.0.0.0:0")
	if err != nil {
		_ = in.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	f := &OnOff{size: cfg.Size, cancel: cancel}
	f.wg.Add(3)
	go func() {
		defer f.wg.Done()
		<-ctx.Done()
		_ = in.Close()
		_ = out.Close()
	}()
	go func() {
		defer f.wg.Done()
		buf := make([]byte, cfg.Size)
		for {
			if _, _, err := in.ReadFrom(buf); err != nil {
				return
			}
			f.received.Add(1)
		}
	}()
	go func() {
		defer f.wg.Done()
		f.send(ctx, out, &net.UDPAddr{IP: cfg.To.Addr().AsSlice(), Port: cfg.Port}, cfg)
	}()
	return f, nil
}

// send paces datagrams at cfg.Rate in on periods. It keeps to the rate on
// average when sleeps overrun, as on the real clock, by sending at once
// what is due.
func (f *OnOff) send(ctx context.Context, out net.PacketConn, to net.Addr, cfg OnOffConfig) {
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x6f6e6f6666))
	period := func(mean time.Duration) time.Duration {
		if !cfg.Random {
			return mean
		}
		return time.Duration(rng.ExpFloat64() * float64(mean))
	}
	gap := time.Duration(int64(cfg.Size) * 8 * int64(time.Second) / cfg.Rate)
	payload := make([]byte, cfg.Size-udpOverhead)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	wait := func(until time.Time) bool {
		timer.Reset(time.Until(until))
		select {
		case <-ctx.Done():
			return false
		case <-timer.C:
			return true
		}
	}
	for next := time.Now(); ; {
		end := next.Add(period(cfg.On))
		for ; next.Before(end); next = next.Add(gap) {
			if d := time.Until(next); d > 0 && !wait(next) {
				return
			}
			if _, err := out.WriteTo(payload, to); err != nil {
				if ctx.Err() == nil && !errors.Is(err, net.ErrClosed) && !errors.Is(err, os.ErrDeadlineExceeded) {
					f.errMu.Lock()
					f.err = err
					f.errMu.Unlock()
				}
				return
			}
			f.sent.Add(1)
		}
		next = end.Add(period(cfg.Off))
		if !wait(next) {
			return
		}
	}
}

// Sent returns how many datagrams the flow has sent and their bytes on the
// wire.
func (f *OnOff) Sent() (datagrams, bytes int64) {
	n := f.sent.Load()
	return n, n * int64(f.size)
}

// Received returns how many datagrams have arrived and their bytes on the
// wire.
func (f *OnOff) Received() (datagrams, bytes int64) {
	n := f.received.Load()
	return n, n * int64(f.size)
}

// Stop ends the flow, waits for its goroutines, and returns why sending
// failed, if it did.
func (f *OnOff) Stop() error {
	f.cancel()
	f.wg.Wait()
	f.errMu.Lock()
	defer f.errMu.Unlock()
	if f.err != nil {
		return fmt.Errorf("traffic: on/off: %w", f.err)
	}
	return nil
}
