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
	for n := range 8 {
		acked := &sfile{state: sfAcked, txCount: n}
		if got, want := r.ctrlWait(acked), min(r.ctrlTimeout(n), 2*pto); got != want {
			t.Errorf("acknowledged file, %d PROBEs sent: next in %v, want %v (PTO %v)", n, got, want, pto)
		}
		announced := &sfile{state: sfAnnounced, txCount: n}
		if got, want := r.ctrlWait(announced), r.ctrlTimeout(n); got != want {
			t.Errorf("announced file, %d FILEs sent: next in %v, want %v", n, got, want)
		}
	}
}
