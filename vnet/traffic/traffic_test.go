package traffic

import (
	"context"
	"encoding/binary"
	"math"
	"net"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/icelab/icelab/vnet"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// home is a home network: a server on the internet, and a phone and a
// laptop on a LAN whose uplink, both ways, is im. The LAN is routed, not
// translated, so the server reaches the phone and the laptop directly.
type home struct {
	server, phone, laptop *vnet.Host
}

func newHome(t *testing.T, im vnet.Impairment) home {
	t.Helper()
	n, err := vnet.New(vnet.Config{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	r, err := n.Internet().AddRouter(vnet.RouterConfig{Name: "home", Uplink: im})
	if err != nil {
		t.Fatal(err)
	}
	var h home
	for _, x := range []struct {
		host   **vnet.Host
		router *vnet.Router
		name   string
		lat    time.Duration
	}{
		{&h.server, n.Internet(), "server", 10 * time.Millisecond},
		{&h.phone, r, "phone", time.Millisecond},
		{&h.laptop, r, "laptop", time.Millisecond},
	} {
		host, err := x.router.AddHost(vnet.HostConfig{Name: x.name, Link: vnet.Impairment{Latency: x.lat}})
		if err != nil {
			t.Fatal(err)
		}
		// Ethernet-sized TCP segments, as on a real LAN.
		if err := host.Link().SetMTU(vnet.MTU{Size: 1500}); err != nil {
			t.Fatal(err)
		}
		*x.host = host
	}
	return h
}

// probe sends a 200-byte datagram every 20 ms from the server to the
// phone for d, as an audio stream does, and returns the one-way delays by
// send time.
func probe(t *testing.T, h home, d time.Duration) map[time.Duration]time.Duration {
	t.Helper()
	in, err := h.phone.ListenPacket("udp4", h.phone.Addr().String()+":5004")
	if err != nil {
		t.Fatal(err)
	}
	out, err := h.server.ListenPacket("udp4", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	start := time.Now()
	delays := map[time.Duration]time.Duration{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 256)
		for {
			if _, _, err := in.ReadFrom(buf); err != nil {
				return
			}
			sent := time.Duration(binary.BigEndian.Uint64(buf))
			delays[sent] = time.Since(start) - sent
		}
	}()
	to := &net.UDPAddr{IP: h.phone.Addr().AsSlice(), Port: 5004}
	payload := make([]byte, 200-28)
	for time.Since(start) < d {
		binary.BigEndian.PutUint64(payload, uint64(time.Since(start)))
		if _, err := out.WriteTo(payload, to); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(3 * time.Second) // the slowest probe's delay, on the fake clock
	_ = in.Close()
	<-done
	return delays
}

// after starts a generator after d on the clock, and stops it when ctx
// ends.
func after[G interface{ Stop() error }](t *testing.T, ctx context.Context, d time.Duration, start func() (G, error)) {
	go func() {
		time.Sleep(d)
		g, err := start()
		if err != nil {
			t.Error(err)
			return
		}
		<-ctx.Done()
		_ = g.Stop()
	}()
}

// median returns the median of the delays of probes sent in [from, to).
func median(delays map[time.Duration]time.Duration, from, to time.Duration) time.Duration {
	var ds []time.Duration
	for sent, d := range delays {
		if sent >= from && sent < to {
			ds = append(ds, d)
		}
	}
	if len(ds) == 0 {
		return -1
	}
	slices.Sort(ds)
	return ds[len(ds)/2]
}

// TestBulkFillsBottleneck checks that a bulk download takes the capacity
// of the link it crosses and stops when asked.
func TestBulkFillsBottleneck(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const capacity = 5_000_000
		h := newHome(t, vnet.Impairment{Bandwidth: capacity, QueueDelay: 100 * time.Millisecond})
		b, err := StartBulk(t.Context(), BulkConfig{Server: h.server, Client: h.laptop})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Second)
		before := b.Received()
		time.Sleep(10 * time.Second)
		rate := float64(b.Received()-before) * 8 / 10
		if err := b.Stop(); err != nil {
			t.Fatal(err)
		}
		// Payload over packets of 1500 bytes: 1460/1500 of the link.
		if rate < 0.9*capacity || rate > capacity {
			t.Errorf("download ran at %.2f Mbit/s on a %.0f Mbit/s link, want 90%% to 100%% of it", rate/1e6, capacity/1e6)
		}
	})
}

// TestBulkOfGivenSize checks that a sized transfer delivers its bytes and
// ends by itself.
func TestBulkOfGivenSize(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHome(t, vnet.Impairment{Bandwidth: 8_000_000})
		b, err := StartBulk(t.Context(), BulkConfig{Server: h.server, Client: h.laptop, Port: 8080, Bytes: 1_000_000})
		if err != nil {
			t.Fatal(err)
		}
		<-b.Done()
		if err := b.Stop(); err != nil || b.Received() != 1_000_000 {
			t.Fatalf("received %d bytes of 1000000, error %v", b.Received(), err)
		}
	})
}

// TestBulkUpload sends from the connecting end: a laptop behind a NAT
// uploads to a server it cannot be reached from, at the uplink's rate.
func TestBulkUpload(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n, err := vnet.New(vnet.Config{Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		defer n.Close()
		r, err := n.Internet().AddRouter(vnet.RouterConfig{Name: "home", NAT: vnet.PortRestricted(),
			Uplink: vnet.Impairment{Bandwidth: 2_000_000}})
		if err != nil {
			t.Fatal(err)
		}
		server, err := n.Internet().AddHost(vnet.HostConfig{Name: "server"})
		if err != nil {
			t.Fatal(err)
		}
		laptop, err := r.AddHost(vnet.HostConfig{Name: "laptop"})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		b, err := StartBulk(t.Context(), BulkConfig{Server: server, Client: laptop, Port: 8080, Bytes: 500_000, Upload: true})
		if err != nil {
			t.Fatal(err)
		}
		<-b.Done()
		if err := b.Stop(); err != nil || b.Received() != 500_000 {
			t.Fatalf("server received %d bytes of 500000, error %v", b.Received(), err)
		}
		// 4 Mbit at 2 Mbit/s: 2 s, and TCP's slow start on top.
		if d := time.Since(start); d < 2*time.Second || d > 4*time.Second {
			t.Errorf("500 kB up a 2 Mbit/s uplink took %v", d)
		}
	})
}

// TestOnOffPattern checks an on/off flow's rate and periods: with fixed
// periods it sends exactly the on periods' datagrams at the rate; with
// random ones, its duty cycle over a long run is On/(On+Off).
func TestOnOffPattern(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHome(t, vnet.Impairment{})
		// 1 Mbit/s of 1250-byte datagrams: one every 10 ms, 100 per on
		// second; 5 on periods in 9.5 s.
		f, err := StartOnOff(t.Context(), OnOffConfig{From: h.server, To: h.phone, Rate: 1_000_000, Size: 1250, On: time.Second, Off: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(9500 * time.Millisecond)
		if err := f.Stop(); err != nil {
			t.Fatal(err)
		}
		sent, bytes := f.Sent()
		recv, _ := f.Received()
		if sent != 500 || bytes != 500*1250 || recv != sent {
			t.Errorf("sent %d datagrams (%d bytes), received %d; want 500 sent and received", sent, bytes, recv)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		h := newHome(t, vnet.Impairment{})
		f, err := StartOnOff(t.Context(), OnOffConfig{From: h.server, To: h.phone, Rate: 100_000, Size: 125, On: time.Second, Off: 3 * time.Second, Random: true, Seed: 3})
		if err != nil {
			t.Fatal(err)
		}
		const run = 2000 * time.Second
		time.Sleep(run)
		if err := f.Stop(); err != nil {
			t.Fatal(err)
		}
		sent, _ := f.Sent()
		// 100 datagrams per on second; about 500 on periods whose
		// lengths vary as much as their mean, and as many off ones.
		duty := float64(sent) / 100 / run.Seconds()
		if math.Abs(duty-0.25) > 0.05 {
			t.Errorf("random on/off flow was on %.1f%% of the time, want 25%% ± 5%%", duty*100)
		}
	})
}

// TestDownloadBesideACall is the field's "someone started a download": an
// audio-like probe crosses a home's 2 Mbit/s downlink while a download
// starts beside it. Behind a drop-tail queue of one second (a
// bufferbloated modem) the probe's delay climbs to between half that
// second and all of it, as TCP's window swings; behind CoDel it stays
// within tens of milliseconds; an on/off flow raises it only while on.
func TestDownloadBesideACall(t *testing.T) {
	const (
		capacity = 2_000_000
		base     = 11*time.Millisecond + 800*time.Microsecond // server and phone links, and a 200-byte datagram at 2 Mbit/s
	)
	for _, tc := range []struct {
		name    string
		im      vnet.Impairment
		atLeast time.Duration // median delay with the download, more than base
		atMost  time.Duration
	}{
		// TCP halves its window at each loss, so the queue swings
		// between full and about half full.
		{"bufferbloat", vnet.Impairment{Bandwidth: capacity, QueueDelay: time.Second}, 500 * time.Millisecond, time.Second},
		{"codel", vnet.Impairment{Bandwidth: capacity, QueueDelay: time.Second, Discipline: vnet.CoDel}, 0, 40 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newHome(t, tc.im)
				ctx, cancel := context.WithCancel(t.Context())
				defer cancel()
				after(t, ctx, 5*time.Second, func() (*Bulk, error) {
					return StartBulk(ctx, BulkConfig{Server: h.server, Client: h.laptop})
				})
				delays := probe(t, h, 20*time.Second)
				cancel()
				quiet, loaded := median(delays, 0, 5*time.Second), median(delays, 10*time.Second, 20*time.Second)
				t.Logf("%s: probe delay %v alone, %v beside the download", tc.name, quiet, loaded)
				if quiet != base {
					t.Errorf("probe delay before the download %v, want the path's %v", quiet, base)
				}
				if extra := loaded - base; extra < tc.atLeast || extra > tc.atMost {
					t.Errorf("probe delay beside the download %v, want %v more than the path's %v to %v", loaded, tc.atLeast, tc.atMost, base)
				}
			})
		})
	}
	t.Run("onoff", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			h := newHome(t, vnet.Impairment{Bandwidth: capacity, QueueDelay: 200 * time.Millisecond})
			// 3 Mbit/s for 2 s every 4 s, from 1 s on: the queue fills
			// in on periods and drains in off ones.
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			after(t, ctx, time.Second, func() (*OnOff, error) {
				return StartOnOff(ctx, OnOffConfig{From: h.server, To: h.laptop, Rate: 3_000_000, On: 2 * time.Second, Off: 2 * time.Second})
			})
			delays := probe(t, h, 13*time.Second)
			cancel()
			on, off := median(delays, 9500*time.Millisecond, 11*time.Second), median(delays, 11500*time.Millisecond, 13*time.Second)
			t.Logf("onoff: probe delay %v while on, %v while off", on, off)
			if on < base+150*time.Millisecond || off != base {
				t.Errorf("probe delay %v while the flow is on, %v while off; want a full 200 ms queue, then the path's %v", on, off, base)
			}
		})
	})
}

func TestConfigErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHome(t, vnet.Impairment{})
		if _, err := StartBulk(t.Context(), BulkConfig{Server: h.server}); err == nil {
			t.Error("bulk without a client started")
		}
		for _, cfg := range []OnOffConfig{
			{From: h.server, To: h.phone, On: time.Second},
			{From: h.server, To: h.phone, Rate: 1000, Size: 20, On: time.Second},
			{From: h.server, To: h.phone, Rate: 1000},
		} {
			if _, err := StartOnOff(t.Context(), cfg); err == nil {
				t.Errorf("on/off %+v started", cfg)
			}
		}
	})
}
