package relay

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// lobby holds accepted TCP connections as bare descriptors, outside Go's
// network poller, until their first message has arrived whole: a TLS
// ClientHello record on a TLS listener, a STUN message on a plain one. Only
// then does a connection become a net.Conn with a goroutine of pion's.
//
// Every net.Conn costs the process memory it never returns (the runtime
// keeps each goroutine's descriptor and each poller entry for reuse, about
// 1 KiB a connection), so 12,000 half-open connections that a relay
// accepted into net.Conns would leave it 12 MiB larger for good. coturn
// waits on such connections in its event loop and costs them nothing
// either. A connection that never completes its first message is closed at
// its deadline (turn.tls_handshake_timeout, or first_frame_timeout on a
// plain listener) from here.
//
// One goroutine accepts (keeping a duplicate of each connection's
// descriptor and closing the net.Conn, whose poller entry is reused), one
// waits in epoll_wait on the lobby's descriptors, peeking at
// their bytes (MSG_PEEK) as they arrive (edge-triggered), and closes those
// whose deadline passed.
type lobby struct {
	ln    net.Listener
	tls   bool
	guard *streamGuard

	epfd, wake int
	ready      chan lobbyConn
	// stop is closed by close; done when the wait loop has ended; the
	// loops close accepted and exited as they end.
	stop, done, accepted, exited chan struct{}
	closeOnce                    sync.Once

	mu sync.Mutex
	// waiting are the descriptors in the lobby; queue orders them by
	// deadline (all share one timeout, so accept order), with entries that
	// left marked gone.
	waiting map[int]*lobbyEntry
	queue   []*lobbyEntry
	// peak is the most descriptors that waited at once since the map was
	// made: a Go map keeps its size, so an emptied one that grew is
	// replaced (see tidy).
	peak int
	err  error
}

type lobbyEntry struct {
	fd       int
	src      netip.AddrPort
	accepted time.Time
	deadline time.Time
	gone     bool
}

// lobbyConn is a connection leaving the lobby for pion.
type lobbyConn struct {
	conn     net.Conn
	src      netip.Addr
	accepted time.Time
}

// newLobby starts a lobby on l, or returns nil when l is not the machine's
// TCP listener (a virtual network's), which then accepts as before.
func newLobby(l net.Listener, isTLS bool, guard *streamGuard) (*lobby, error) {
	if _, ok := l.(interface {
		SyscallConn() (syscall.RawConn, error)
	}); !ok {
		return nil, nil // a virtual network's listener
	}
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll: %w", err)
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		_ = unix.Close(epfd)
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wake, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wake)}); err != nil { //nolint:gosec // a descriptor
		_ = unix.Close(epfd)
		_ = unix.Close(wake)
		return nil, fmt.Errorf("epoll: %w", err)
	}
	lb := &lobby{
		ln: l, tls: isTLS, guard: guard, epfd: epfd, wake: wake,
		ready: make(chan lobbyConn), stop: make(chan struct{}), done: make(chan struct{}),
		accepted: make(chan struct{}), exited: make(chan struct{}),
		waiting: map[int]*lobbyEntry{},
	}
	go lb.acceptLoop()
	go lb.waitLoop()
	return lb, nil
}

// timeout is how long a connection may stay in the lobby.
func (lb *lobby) timeout() time.Duration {
	if lb.tls {
		return earliest(lb.guard.handshake, earliest(lb.guard.firstFrame, lb.guard.unallocated))
	}
	return earliest(lb.guard.firstFrame, lb.guard.unallocated)
}

// accept returns the next connection whose first message arrived.
func (lb *lobby) accept() (lobbyConn, error) {
	select {
	case c := <-lb.ready:
		return c, nil
	case <-lb.done:
		lb.mu.Lock()
		defer lb.mu.Unlock()
		if lb.err != nil {
			return lobbyConn{}, lb.err
		}
		return lobbyConn{}, net.ErrClosed
	}
}

// close stops both loops, closes every connection still waiting, and then
// the lobby's own descriptors.
func (lb *lobby) close() {
	lb.closeOnce.Do(func() {
		close(lb.stop)
		_ = lb.ln.Close()
		<-lb.accepted
		lb.wakeUp()
		<-lb.exited
		_ = unix.Close(lb.epfd)
		_ = unix.Close(lb.wake)
	})
}

// wakeUp interrupts the wait loop's epoll_wait.
func (lb *lobby) wakeUp() {
	_, _ = unix.Write(lb.wake, []byte{1, 0, 0, 0, 0, 0, 0, 0})
}

// acceptLoop accepts connections until the listener closes and keeps a
// duplicate of each one's descriptor, closing the net.Conn at once (which
// hands its poller entry back for reuse). Errors a listener recovers from
// (see passingAcceptError) pause it as the gate's Accept does.
func (lb *lobby) acceptLoop() {
	defer close(lb.accepted)
	var pause time.Duration
	for {
		c, err := lb.ln.Accept()
		if err != nil {
			if passingAcceptError(err) {
				pause = min(max(2*pause, 5*time.Millisecond), time.Second)
				lb.guard.st.log.Warn("accept failed; retrying", "listener", addrString(lb.ln.Addr()), "error", err.Error(), "retry_in", pause)
				time.Sleep(pause)
				continue
			}
			lb.mu.Lock()
			lb.err = err
			lb.mu.Unlock()
			lb.wakeUp()
			return
		}
		pause = 0
		fd, err := dupConn(c)
		src, _ := netip.ParseAddrPort(c.RemoteAddr().String())
		_ = c.Close()
		if err != nil {
			lb.guard.st.log.Warn("connection dropped", "client", addrString(c.RemoteAddr()), "error", err.Error())
			continue
		}
		lb.enter(fd, netip.AddrPortFrom(src.Addr().Unmap(), src.Port()))
	}
}

// dupConn duplicates a connection's descriptor (non-blocking, as the
// original's open file is).
func dupConn(c net.Conn) (int, error) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return -1, errors.New("not a socket")
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd, derr := -1, error(nil)
	if err := raw.Control(func(s uintptr) { fd, derr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return -1, err
	}
	return fd, derr
}

// enter puts an accepted descriptor in the lobby, or closes it over the
// per-source limit.
func (lb *lobby) enter(fd int, src netip.AddrPort) {
	select {
	case <-lb.done: // the wait loop ended on an error
		_ = unix.Close(fd)
		return
	default:
	}
	if !lb.guard.enter(src.Addr(), net.TCPAddrFromAddrPort(src)) {
		_ = unix.Close(fd)
		return
	}
	now := time.Now()
	e := &lobbyEntry{fd: fd, src: src, accepted: now}
	if d := lb.timeout(); d > 0 {
		e.deadline = now.Add(d)
	}
	lb.mu.Lock()
	lb.waiting[fd] = e
	lb.peak = max(lb.peak, len(lb.waiting))
	if !e.deadline.IsZero() {
		lb.queue = append(lb.queue, e)
	}
	lb.mu.Unlock()
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLET, Fd: int32(fd)} //nolint:gosec // a descriptor
	if err := unix.EpollCtl(lb.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		lb.drop(e)
	}
}

// waitLoop waits for lobby descriptors to become readable, peeks at them,
// and closes those past their deadline, until the lobby closes.
func (lb *lobby) waitLoop() {
	defer close(lb.exited)
	events := make([]unix.EpollEvent, 256)
	peek := make([]byte, 5+16384+256) // a whole TLS record, or any STUN frame
	for {
		n, err := unix.EpollWait(lb.epfd, events, lb.nextTimeout())
		if err != nil && !errors.Is(err, unix.EINTR) {
			lb.shutdown()
			return
		}
		for _, ev := range events[:max(n, 0)] {
			if int(ev.Fd) == lb.wake {
				lb.shutdown()
				return
			}
			lb.mu.Lock()
			e := lb.waiting[int(ev.Fd)]
			lb.mu.Unlock()
			if e != nil {
				lb.look(e, peek)
			}
		}
		lb.expire()
	}
}

// nextTimeout is epoll_wait's timeout in milliseconds: until the earliest
// deadline, or for ever (-1).
func (lb *lobby) nextTimeout() int {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	for len(lb.queue) > 0 && lb.queue[0].gone {
		lb.pop()
	}
	lb.tidy()
	if len(lb.queue) == 0 {
		return -1
	}
	return max(0, int(time.Until(lb.queue[0].deadline).Milliseconds())+1)
}

// pop drops the queue's first entry, clearing its slot so that the array
// does not keep it alive; lb.mu must be held.
func (lb *lobby) pop() {
	lb.queue[0] = nil
	lb.queue = lb.queue[1:]
}

// tidy lets a flood's memory go once the lobby is empty: the queue's array
// and a map that grew past a few thousand entries; lb.mu must be held.
func (lb *lobby) tidy() {
	if len(lb.queue) == 0 {
		lb.queue = nil
	}
	if len(lb.waiting) == 0 && lb.peak > 1024 {
		lb.waiting, lb.peak = map[int]*lobbyEntry{}, 0
	}
}

// look peeks at a readable descriptor: a whole first message, or bytes that
// cannot begin one, send it on; the end of the stream closes it; part of a
// message keeps it waiting.
func (lb *lobby) look(e *lobbyEntry, buf []byte) {
	n, _, err := unix.Recvfrom(e.fd, buf, unix.MSG_PEEK|unix.MSG_DONTWAIT)
	switch {
	case errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR):
		return
	case err != nil || n == 0:
		lb.drop(e)
		return
	}
	if !firstMessageDecided(buf[:n], lb.tls) {
		return
	}
	lb.mu.Lock()
	if e.gone {
		lb.mu.Unlock()
		return
	}
	e.gone = true
	delete(lb.waiting, e.fd)
	lb.mu.Unlock()
	_ = unix.EpollCtl(lb.epfd, unix.EPOLL_CTL_DEL, e.fd, nil)
	f := os.NewFile(uintptr(e.fd), "turn-client") //nolint:gosec // a descriptor
	c, err := net.FileConn(f)                     // a duplicate, in Go's poller
	_ = f.Close()
	if err != nil {
		lb.guard.leave(e.src.Addr())
		return
	}
	select {
	case lb.ready <- lobbyConn{conn: c, src: e.src.Addr(), accepted: e.accepted}:
	case <-lb.stop:
		_ = c.Close()
		lb.guard.leave(e.src.Addr())
	}
}

// firstMessageDecided reports whether b, the first bytes of a connection,
// holds a whole first message, or cannot begin one (which the gate or TLS
// then refuses at once).
func firstMessageDecided(b []byte, isTLS bool) bool {
	if isTLS {
		if len(b) < 5 {
			return b[0] != 0x16 // a handshake record, or not TLS at all
		}
		if b[0] != 0x16 {
			return true
		}
		return len(b) >= 5+int(b[3])<<8|int(b[4])
	}
	n, err := frameLen(b, false)
	return err != nil || n > 0 && len(b) >= n
}

// expire closes the descriptors whose deadline passed, counted by the
// deadline that closed them.
func (lb *lobby) expire() {
	now := time.Now()
	var expired []*lobbyEntry
	lb.mu.Lock()
	for len(lb.queue) > 0 && (lb.queue[0].gone || !lb.queue[0].deadline.After(now)) {
		if e := lb.queue[0]; !e.gone {
			expired = append(expired, e)
		}
		lb.pop()
	}
	lb.mu.Unlock()
	stage := deadlineFirstFrame
	if lb.tls && lb.guard.handshake != 0 && lb.guard.handshake <= earliest(lb.guard.firstFrame, lb.guard.unallocated) {
		stage = deadlineHandshake
	}
	for _, e := range expired {
		if lb.drop(e) {
			lb.guard.timedOut(stage, net.TCPAddrFromAddrPort(e.src), now.Sub(e.accepted))
		}
	}
}

// drop closes a lobby descriptor; false when it had left already.
func (lb *lobby) drop(e *lobbyEntry) bool {
	lb.mu.Lock()
	if e.gone {
		lb.mu.Unlock()
		return false
	}
	e.gone = true
	delete(lb.waiting, e.fd)
	lb.mu.Unlock()
	_ = unix.EpollCtl(lb.epfd, unix.EPOLL_CTL_DEL, e.fd, nil)
	_ = unix.Close(e.fd)
	lb.guard.leave(e.src.Addr())
	return true
}

// shutdown ends the wait loop: Accept returns, every waiting descriptor
// closes.
func (lb *lobby) shutdown() {
	close(lb.done)
	lb.mu.Lock()
	var left []*lobbyEntry
	for _, e := range lb.waiting {
		left = append(left, e)
	}
	lb.mu.Unlock()
	for _, e := range left {
		lb.drop(e)
	}
}
