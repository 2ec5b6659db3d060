package vnet

import (
	"bytes"
	"io"
	"testing"
	"testing/synctest"
	"time"
)

// dropNth is a loss model that loses the packets it is asked about at the
// given positions, counting from 1.
type dropNth struct {
	n    int
	drop map[int]bool
}

func (d *dropNth) lose(draw, *bool) bool {
	d.n++
	return d.drop[d.n]
}

// TestSACKRecoversTwoLossesInAWindow loses two data segments of one
// window and checks that SACK loss recovery resends both without waiting
// for the retransmission timer, and that the data arrives whole.
func TestSACKRecoversTwoLossesInAWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newTestNetwork(t)
		srv, cli := mustHost(t, n.Internet(), "server"), mustHost(t, n.Internet(), "client")
		for _, h := range []*Host{srv, cli} {
			_ = h.Link().SetMTU(MTU{Size: 1500})
		}
		_ = srv.Link().ImpairDirection(Up, Impairment{Latency: 20 * time.Millisecond})
		c, s := tcpPair(t, cli, srv, 80)
		if !s.sackOK || !c.sackOK {
			t.Fatal("SACK not negotiated")
		}
		ld := &srv.Link().dirs[Up]
		ld.mu.Lock()
		ld.loss = &dropNth{drop: map[int]bool{30: true, 33: true}}
		ld.mu.Unlock()
		data := bytes.Repeat([]byte("0123456789abcdef"), 20_000) // 320 kB
		go func() {
			_, _ = s.Write(data)
			_ = s.CloseWrite()
		}()
		got, err := io.ReadAll(c)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("read %d of %d bytes (equal %t), error %v", len(got), len(data), bytes.Equal(got, data), err)
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.timeouts != 0 {
			t.Errorf("%d retransmission timeouts, want none: SACK recovery resends both losses", s.timeouts)
		}
	})
}

func TestSACKBlocks(t *testing.T) {
	c := &TCPConn{sackOK: true, rcvNxt: 50}
	for _, r := range [][2]uint32{{700, 800}, {100, 200}, {400, 500}, {300, 400}, {350, 380}} {
		c.insertOOO(oooSegment{seq: r[0], data: make([]byte, r[1]-r[0])})
	}
	c.lastOOO = 300
	var seg Segment
	c.sackBlocks(&seg)
	want := [maxSACKBlocks]SACKBlock{{300, 500}, {700, 800}, {100, 200}}
	if seg.SACK != want {
		t.Errorf("SACK blocks %v, want %v: the most recent first, then from the highest", seg.SACK, want)
	}
	list := mergeBlock(nil, SACKBlock{300, 400})
	list = mergeBlock(list, SACKBlock{100, 200})
	list = mergeBlock(list, SACKBlock{500, 600})
	list = mergeBlock(list, SACKBlock{200, 300})
	if len(list) != 2 || list[0] != (SACKBlock{100, 400}) || list[1] != (SACKBlock{500, 600}) {
		t.Errorf("scoreboard %v, want [{100 400} {500 600}]", list)
	}
}
