package vnet

// timeHeap is a binary min-heap of values ordered by their before method.
// It is typed, so pushing a value does not box it as container/heap does,
// and costs no allocation once the heap has grown.
type timeHeap[T interface{ before(T) bool }] []T

func (h timeHeap[T]) len() int { return len(h) }

func (h *timeHeap[T]) push(v T) {
	*h = append(*h, v)
	s := *h
	for i := len(s) - 1; i > 0; {
		parent := (i - 1) / 2
		if !s[i].before(s[parent]) {
			break
		}
		s[i], s[parent] = s[parent], s[i]
		i = parent
	}
}

func (h *timeHeap[T]) pop() T {
	s := *h
	var zero T
	top, last := s[0], len(s)-1
	s[0], s[last] = s[last], zero
	s = s[:last]
	for i := 0; ; {
		l, r, small := 2*i+1, 2*i+2, i
		if l < last && s[l].before(s[small]) {
			small = l
		}
		if r < last && s[r].before(s[small]) {
			small = r
		}
		if small == i {
			break
		}
		s[i], s[small] = s[small], s[i]
		i = small
	}
	*h = s
	return top
}
