package vnet

import (
	"sync/atomic"
	"time"

	"github.com/pion/transport/v5/deadline"
)

// deadlines are a connection's read and write deadlines. Embedded in
// UDPConn and TCPConn, it gives them net.Conn's deadline setters.
type deadlines struct {
	readDeadline  *connDeadline
	writeDeadline *connDeadline
}

// connDeadline is pion's deadline timer, which also knows, without a
// lock, whether a deadline is set: a datagram write checks its deadline
// on every packet, and Done's read lock, taken by every goroutine writing
// on a shared socket, costs more than the rest of the check.
type connDeadline struct {
	*deadline.Deadline
	set atomic.Bool
}

func newDeadlines() deadlines {
	return deadlines{readDeadline: newConnDeadline(), writeDeadline: newConnDeadline()}
}

func newConnDeadline() *connDeadline { return &connDeadline{Deadline: deadline.New()} }

// Set sets the deadline; zero means none.
func (d *connDeadline) Set(t time.Time) {
	d.set.Store(!t.IsZero())
	d.Deadline.Set(t)
}

// exceeded reports whether the deadline has passed.
func (d *connDeadline) exceeded() bool {
	if !d.set.Load() {
		return false
	}
	select {
	case <-d.Done():
		return true
	default:
		return false
	}
}

// SetDeadline sets both deadlines.
func (d deadlines) SetDeadline(t time.Time) error {
	d.readDeadline.Set(t)
	d.writeDeadline.Set(t)
	return nil
}

// SetReadDeadline sets the read deadline.
func (d deadlines) SetReadDeadline(t time.Time) error {
	d.readDeadline.Set(t)
	return nil
}

// SetWriteDeadline sets the write deadline.
func (d deadlines) SetWriteDeadline(t time.Time) error {
	d.writeDeadline.Set(t)
	return nil
}
