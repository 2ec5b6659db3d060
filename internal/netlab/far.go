package netlab

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// PublicFar adds a host on the internet, like Public, whose link holds
// every frame for delay in each direction: a server that far away. The
// lab's veths have next to no latency, and the kernel may have no netem,
// so this link is two TAP devices, one in the host's namespace and one on
// the internet's bridge, joined by the lab's own process, which delivers
// each frame delay after it left, in order. Frames arriving while
// maxQueued are already held are dropped, as a full queue would.
func (l *Lab) PublicFar(name string, delay time.Duration) (*NS, error) {
	return l.public(name, func(ns *NS, dev, peer string) error { return l.tapWire(ns, dev, peer, delay) })
}

// FarAvailable reports why a far host (PublicFar) cannot be built here,
// or nil: it needs the TUN/TAP device.
func FarAvailable() error {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("netlab: far links need /dev/net/tun (TUN/TAP): %w", err)
	}
	return unix.Close(fd)
}

// maxQueued is how many frames a far link holds in each direction.
const maxQueued = 4096

// tapWire links ns to the internet through a far link: a TAP device
// named dev inside ns, one named peer in the internet's namespace, and a
// wire between them that holds each frame for delay.
func (l *Lab) tapWire(ns *NS, dev, peer string, delay time.Duration) error {
	inside, err := openTAP(ns, dev)
	if err != nil {
		return err
	}
	outside, err := openTAP(l.inet, peer)
	if err != nil {
		_ = inside.Close()
		return err
	}
	w := &wire{delay: delay, done: make(chan struct{})}
	l.mu.Lock()
	l.wires = append(l.wires, w)
	l.mu.Unlock()
	w.run(inside, outside)
	return nil
}

// openTAP creates a TAP device named dev inside ns (frames without the
// packet-information header) and returns its file, which the device lives
// as long as.
func openTAP(ns *NS, dev string) (*os.File, error) {
	var f *os.File
	err := ns.Do(func() error {
		fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
		if err != nil {
			return fmt.Errorf("netlab: tap %s in %s: %w", dev, ns.Name, err)
		}
		var req struct {
			name  [unix.IFNAMSIZ]byte
			flags uint16
			_     [22]byte
		}
		copy(req.name[:], dev)
		req.flags = unix.IFF_TAP | unix.IFF_NO_PI
		if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.TUNSETIFF, uintptr(unsafe.Pointer(&req))); errno != 0 {
			_ = unix.Close(fd)
			return fmt.Errorf("netlab: tap %s in %s: TUNSETIFF: %w", dev, ns.Name, errno)
		}
		f = os.NewFile(uintptr(fd), "tap "+dev)
		return nil
	})
	return f, err
}

// wire joins two TAP devices, delaying what crosses it.
type wire struct {
	delay time.Duration
	files [2]*os.File
	wg    sync.WaitGroup
	done  chan struct{}
	once  sync.Once
}

func (w *wire) run(a, b *os.File) {
	w.files = [2]*os.File{a, b}
	w.wg.Add(4)
	w.pump(a, b)
	w.pump(b, a)
}

// frame is a frame on a far link and when it is due at the far side.
type frame struct {
	due  time.Time
	data []byte
}

// pump carries frames from one device to the other: a reader that stamps
// each frame with its due time, and a writer that delivers them in order
// when they are due.
func (w *wire) pump(from, to *os.File) {
	q := make(chan frame, maxQueued)
	go func() {
		defer w.wg.Done()
		defer close(q)
		buf := make([]byte, 65536)
		for {
			n, err := from.Read(buf)
			if err != nil {
				return
			}
			select {
			case q <- frame{time.Now().Add(w.delay), bytes.Clone(buf[:n])}:
			default: // the link's queue is full: dropped
			}
		}
	}()
	go func() {
		defer w.wg.Done()
		t := time.NewTimer(0)
		defer t.Stop()
		for f := range q {
			if d := time.Until(f.due); d > 0 {
				t.Reset(d)
				select {
				case <-t.C:
				case <-w.done:
					return
				}
			}
			_, _ = to.Write(f.data) // a frame the device refuses is lost, as on a wire
		}
	}()
}

// close ends the wire: the devices go with their files.
func (w *wire) close() error {
	var errs []error
	w.once.Do(func() {
		close(w.done)
		for _, f := range w.files {
			errs = append(errs, f.Close())
		}
		w.wg.Wait()
	})
	return errors.Join(errs...)
}
