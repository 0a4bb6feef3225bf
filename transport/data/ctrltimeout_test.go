package data

import (
	"testing"
	"time"
)

// TestCtrlTimeoutStartsAtOnePTO: an unanswered FILE is sent again one PTO
// after it went out, then at doubling intervals up to 3 s.
func TestCtrlTimeoutStartsAtOnePTO(t *testing.T) {
	r := &sendRun{cfg: Config{FeedbackInterval: 10 * time.Millisecond}}
	r.rtt.have, r.rtt.srtt, r.rtt.rttvar = true, 200*time.Millisecond, 5*time.Millisecond
	pto := r.rtt.pto(r.cfg.FeedbackInterval)
	for n, want := range []time.Duration{pto, pto, 2 * pto, 4 * pto, 8 * pto, 3 * time.Second} {
		if got := r.ctrlTimeout(n); got != min(want, 3*time.Second) {
			t.Errorf("ctrlTimeout(%d) = %v, want %v (PTO %v)", n, got, min(want, 3*time.Second), pto)
		}
	}
	if got := r.ctrlTimeout(50); got != 3*time.Second {
		t.Errorf("ctrlTimeout(50) = %v, want the 3 s cap", got)
	}
}

// TestResultProbeBacksOffToTwoPTO: a file whose data is all acknowledged
// asks for its RESULT again at most two PTOs after the last PROBE, however
// many went unanswered (a lost RESULT is otherwise only asked for 3 s
// later, at the end of a session with nothing else to send); a FILE
// unanswered keeps ctrlTimeout's backoff.
func TestResultProbeBacksOffToTwoPTO(t *testing.T) {
	r := &sendRun{cfg: Config{FeedbackInterval: 10 * time.Millisecond}}
	r.rtt.have, r.rtt.srtt, r.rtt.rttvar = true, 100*time.Millisecond, 5*time.Millisecond
	pto := r.rtt.pto(r.cfg.FeedbackInterval)
	// Mid-session: files still to announce, so ctrlWait backs off.
	for range 200 {
		r.files = append(r.files, &sfile{})
	}
	r.active, r.queued = r.files[:100], 100
	for n := range 8 {
		acked := &sfile{state: sfAcked, txCount: n}
		if got, want := r.fileWait(acked), min(r.ctrlTimeout(n), 2*pto); got != want {
			t.Errorf("acknowledged file, %d PROBEs sent: next in %v, want %v (PTO %v)", n, got, want, pto)
		}
		announced := &sfile{state: sfAnnounced, txCount: n}
		if got, want := r.fileWait(announced), r.ctrlTimeout(n); got != want {
			t.Errorf("announced file, %d FILEs sent: next in %v, want %v", n, got, want)
		}
	}
}

// TestCtrlWaitDoesNotBackOffAtTheTail: once every file is announced and
// few are left, an unanswered control packet (a PROBE whose RESULT was
// lost, a FILE, DONE) goes again every PTO: a doubling wait there held
// the whole session's end, up to 3 s. Before that the backoff stands.
func TestCtrlWaitDoesNotBackOffAtTheTail(t *testing.T) {
	r := &sendRun{cfg: Config{FeedbackInterval: 10 * time.Millisecond}}
	r.rtt.have, r.rtt.srtt, r.rtt.rttvar = true, 100*time.Millisecond, 5*time.Millisecond
	pto := r.rtt.pto(r.cfg.FeedbackInterval)
	for range 200 {
		r.files = append(r.files, &sfile{})
	}
	r.active = r.files[:100]
	r.queued = 100
	if got := r.ctrlWait(3); got != 4*pto {
		t.Errorf("files still to announce: ctrlWait(3) = %v, want the backoff's %v", got, 4*pto)
	}
	r.queued = 200
	if got := r.ctrlWait(3); got != 4*pto {
		t.Errorf("every file announced, 100 in flight: ctrlWait(3) = %v, want the backoff's %v", got, 4*pto)
	}
	r.active = r.files[190:]
	for n := range 8 {
		if got := r.ctrlWait(n); got != pto {
			t.Errorf("tail of 10 files: ctrlWait(%d) = %v, want one PTO (%v)", n, got, pto)
		}
	}
}
