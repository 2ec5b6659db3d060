package vnet

import (
	"time"

	"github.com/pion/transport/v5/deadline"
)

// deadlines are a connection's read and write deadlines. Embedded in
// UDPConn and TCPConn, it gives them net.Conn's deadline setters.
type deadlines struct {
	readDeadline  *deadline.Deadline
	writeDeadline *deadline.Deadline
}

func newDeadlines() deadlines {
	return deadlines{readDeadline: deadline.New(), writeDeadline: deadline.New()}
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
