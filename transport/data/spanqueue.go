package data

// retxSpan is a span of a file to send again.
type retxSpan struct {
	f   *sfile
	off int64
	n   int
}

// spanQueue holds the spans to send again, oldest first. It reuses its
// array: popping moves a head index, pushing onto an empty queue starts
// again at the array's start, and the live spans are moved down before
// the array would grow while half of it lies before the head. A steady
// trickle of retransmissions, one pushed and one popped at a time (the
// session's tail, a loss now and then), allocates nothing.
type spanQueue struct {
	buf  []retxSpan
	head int
}

func (q *spanQueue) len() int { return len(q.buf) - q.head }

func (q *spanQueue) push(s retxSpan) {
	switch {
	case q.head == len(q.buf):
		clear(q.buf)
		q.buf, q.head = q.buf[:0], 0
	case len(q.buf) == cap(q.buf) && q.head >= len(q.buf)/2:
		n := copy(q.buf, q.buf[q.head:])
		clear(q.buf[n:])
		q.buf, q.head = q.buf[:n], 0
	}
	q.buf = append(q.buf, s)
}

// pushFront puts s before every other span: the next pop returns it.
func (q *spanQueue) pushFront(s retxSpan) {
	if q.head > 0 {
		q.head--
		q.buf[q.head] = s
		return
	}
	q.buf = append(q.buf, retxSpan{})
	copy(q.buf[1:], q.buf)
	q.buf[0] = s
}

func (q *spanQueue) pop() (retxSpan, bool) {
	if q.head == len(q.buf) {
		return retxSpan{}, false
	}
	s := q.buf[q.head]
	q.buf[q.head] = retxSpan{} // the file may finish and go
	q.head++
	return s, true
}

// repeatFrom pushes again, in order, the spans from the i-th on (counted
// from the head).
func (q *spanQueue) repeatFrom(i int) {
	end := len(q.buf)
	for j := q.head + i; j < end; j++ {
		q.buf = append(q.buf, q.buf[j])
	}
}
