package vnet

import (
	"container/heap"
	"sync"
	"time"
)

// scheduler runs functions at given times on one goroutine, in order of
// time and, for equal times, of scheduling. It starts its goroutine on first
// use, so a network that never delays a packet runs none.
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

type eventQueue []timedFunc

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	if q[i].at.Equal(q[j].at) {
		return q[i].seq < q[j].seq
	}
	return q[i].at.Before(q[j].at)
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQueue) Push(x any)   { *q = append(*q, x.(timedFunc)) }
func (q *eventQueue) Pop() any {
	old := *q
	n := len(old)
	x := old[n-1]
	old[n-1] = timedFunc{}
	*q = old[:n-1]
	return x
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
	heap.Push(&s.queue, timedFunc{at: t, seq: s.seq, fn: fn})
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
			due = append(due, heap.Pop(&s.queue).(timedFunc).fn)
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
