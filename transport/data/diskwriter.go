package data

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/ferry-sync/ferry/endpoint"
)

// The receiver's disk work for open files (writes, checkpoints, the hand-off
// to Commit, Abort) runs on one goroutine, in the order the loop asked for
// it, so that the loop never waits on the disk: a write can stall for
// milliseconds while the filesystem commits its journal, and a stalled loop
// reads as network queueing to the sender's rate controller.

type diskOp uint8

const (
	opWrite diskOp = iota
	opCheckpoint
	opCommit
	opAbort
)

type diskReq struct {
	op   diskOp
	f    *rfile
	w    endpoint.FileWriter
	off  int64
	data []byte // opWrite: payload; opCheckpoint: the checkpoint
	body []byte // pooled packet buffer that data points into, released after writing
}

// diskQueue is how many requests may wait; at 1.3 KB a packet, about 5 MB.
const diskQueue = 4096

// maxCoalesce bounds one write built from consecutive packets of a file.
const maxCoalesce = 1 << 20

type diskWriter struct {
	rr   *recvRun
	in   chan diskReq
	errs chan writeErr // write failures, for the loop to fail the file early
	done chan struct{}

	buf    []byte
	bodies [][]byte // packet bodies of the write being built
}

type writeErr struct {
	f   *rfile
	err error
}

func newDiskWriter(rr *recvRun) *diskWriter {
	d := &diskWriter{rr: rr, in: make(chan diskReq, diskQueue), errs: make(chan writeErr, 64), done: make(chan struct{})}
	go d.run()
	return d
}

// close waits for every queued request to be done.
func (d *diskWriter) close() {
	close(d.in)
	<-d.done
}

func (d *diskWriter) run() {
	defer close(d.done)
	var next diskReq
	haveNext := false
	for {
		var q diskReq
		if haveNext {
			q, next, haveNext = next, diskReq{}, false
		} else {
			var ok bool
			if q, ok = <-d.in; !ok {
				return
			}
		}
		switch q.op {
		case opWrite:
			next, haveNext = d.write(q)
		case opCheckpoint:
			if q.f.werr == nil {
				if err := q.f.res.SaveCheckpoint(q.data); err != nil {
					d.rr.cfg.Log.Warn("unable to save resume checkpoint", "path", q.f.info.Path, "err", err)
				}
			}
		case opCommit:
			d.commit(q.f, q.w)
		case opAbort:
			_ = q.w.Abort()
		}
	}
}

// write writes q, merged with the requests queued right behind it that
// continue the same file, and returns the first request it did not take
// (ok false if none).
func (d *diskWriter) write(q diskReq) (next diskReq, ok bool) {
	f, w, off := q.f, q.w, q.off
	data := q.data
	bodies := append(d.bodies[:0], q.body)
merge:
	for len(data) < maxCoalesce {
		select {
		case n, open := <-d.in:
			if !open {
				break merge
			}
			if n.op != opWrite || n.f != f || n.off != off+int64(len(data)) {
				next, ok = n, true
				break merge
			}
			if len(bodies) == 1 {
				d.buf = append(d.buf[:0], data...)
			}
			d.buf = append(d.buf, n.data...)
			data = d.buf
			bodies = append(bodies, n.body)
		default:
			break merge
		}
	}
	if f.werr == nil {
		if _, err := w.WriteAt(data, off); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				err = fmt.Errorf("%w: %w", endpoint.ErrNoSpace, err)
			}
			f.werr = fmt.Errorf("unable to write %s: %w", f.info.Path, err)
			select {
			case d.errs <- writeErr{f, f.werr}:
			default: // Commit reports it
			}
		}
	}
	for _, b := range bodies {
		release(b)
	}
	clear(bodies)
	d.bodies = bodies[:0]
	return next, ok
}

// commit starts the file's Commit on a helper goroutine once every write
// queued before it is done; at most commitWorkers run at once.
func (d *diskWriter) commit(f *rfile, w endpoint.FileWriter) {
	rr := d.rr
	werr := f.werr
	go func() {
		rr.commitSem <- struct{}{}
		err := werr
		if err == nil {
			err = w.Commit()
		}
		if err != nil {
			_ = w.Abort()
		}
		<-rr.commitSem
		rr.jobs <- func() { rr.committed(f, err) }
	}()
}
