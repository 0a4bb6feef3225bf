package data

import (
	"math/rand/v2"
	"testing"
)

// spans is what the queue holds, oldest first.
func (q *spanQueue) spans() []retxSpan { return q.buf[q.head:] }

// TestSpanQueueMatchesASlice drives the queue and a plain slice with the
// same random pushes, pushes to the front, pops and repeats, and wants
// them to agree after every step.
func TestSpanQueueMatchesASlice(t *testing.T) {
	r := rand.New(rand.NewPCG(testSeed(t), 1))
	var q spanQueue
	var model []retxSpan
	for step := range 20_000 {
		s := retxSpan{off: int64(step), n: r.IntN(1400)}
		op := r.IntN(10)
		if op == 9 && len(model) > 500 {
			op = 5 // repeats double the queue at worst: keep it short
		}
		switch {
		case op < 4:
			q.push(s)
			model = append(model, s)
		case op < 5:
			q.pushFront(s)
			model = append([]retxSpan{s}, model...)
		case op < 9:
			got, ok := q.pop()
			if ok != (len(model) > 0) || ok && got != model[0] {
				t.Fatalf("step %d: pop %+v %v, want %+v", step, got, ok, model)
			}
			if ok {
				model = model[1:]
			}
		default:
			from := r.IntN(len(model) + 1)
			q.repeatFrom(from)
			model = append(model, model[from:]...)
		}
		if q.len() != len(model) {
			t.Fatalf("step %d: %d spans, want %d", step, q.len(), len(model))
		}
		for i, s := range q.spans() {
			if s != model[i] {
				t.Fatalf("step %d: span %d is %+v, want %+v", step, i, s, model[i])
			}
		}
	}
}

// TestSpanQueueTrickleAllocatesNothing: one span pushed and popped at a
// time, as the session's tail duplicates its packets, reuses the array.
// Appending to a slice re-sliced from its front allocated once a span.
func TestSpanQueueTrickleAllocatesNothing(t *testing.T) {
	var q spanQueue
	q.push(retxSpan{})
	q.pop()
	allocs := testing.AllocsPerRun(1000, func() {
		q.push(retxSpan{n: 1})
		q.push(retxSpan{n: 2})
		q.pop()
		q.pushFront(retxSpan{n: 3})
		q.pop()
		q.pop()
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocations a round, want none", allocs)
	}
}
