package vnet

import (
	"sync"
	"time"
)

// scheduler runs functions at given times on one goroutine, in order of
// time and, for equal times, of scheduling: the timeouts of fragment
// reassembly, which are rare. Packets are not scheduled here; each link
// direction runs its own (linkdir.go). It starts its goroutine on first
// use, so a network that never reassembles runs none.
type scheduler struct {
	mu      sync.Mutex
	queue   eventQueue
	seq     uint64
	wake    chan struct{}
	done    chan struct{}
	exited  chan struct{}
	started bool
	closed  bool
}

type timedFunc struct {
	at  time.Time
	seq uint64
	fn  func()
}

// eventQueue is the scheduler's heap.
type eventQueue = timeHeap[timedFunc]

func (f timedFunc) before(o timedFunc) bool {
	if f.at.Equal(o.at) {
		return f.seq < o.seq
	}
	return f.at.Before(o.at)
}

// at schedules fn to run at t. After close, fn is dropped.
func (s *scheduler) at(t time.Time, fn func()) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	if !s.started {
		s.started = true
		s.wake = make(chan struct{}, 1)
		s.done = make(chan struct{})
		s.exited = make(chan struct{})
		go s.run()
	}
	s.seq++
	s.queue.push(timedFunc{at: t, seq: s.seq, fn: fn})
	first := s.queue[0].seq == s.seq
	s.mu.Unlock()
	if first {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

func (s *scheduler) run() {
	defer close(s.exited)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	var due []func()
	for {
		s.mu.Lock()
		now := time.Now()
		for len(s.queue) > 0 && !s.queue[0].at.After(now) {
			due = append(due, s.queue.pop().fn)
		}
		wait := time.Duration(-1)
		if len(s.queue) > 0 {
			wait = s.queue[0].at.Sub(now)
		}
		s.mu.Unlock()

		for i, fn := range due {
			fn()
			due[i] = nil
		}
		if len(due) > 0 {
			due = due[:0]
			continue // running them may have scheduled more that are due
		}
		if wait >= 0 {
			timer.Reset(wait)
		}
		select {
		case <-s.done:
			return
		case <-s.wake:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// close stops the scheduler and drops what it has not run.
func (s *scheduler) close() {
	s.mu.Lock()
	s.closed = true
	started := s.started
	s.queue = nil
	s.mu.Unlock()
	if started {
		close(s.done)
		<-s.exited
	}
}
