package agent

import (
	"context"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/config"
)

// TestScheduleFollowsRulesOnItsClock: a Schedule starts from the rule in
// force and applies the next one when its clock crosses the boundary,
// waking whoever waits on Limits.
func TestScheduleFollowsRulesOnItsClock(t *testing.T) {
	day := time.Date(2026, 3, 2, 0, 0, 0, 0, time.Local)
	clock := newFakeClock(day.Add(9*time.Hour + 30*time.Minute))
	bw := config.Bandwidth{Download: 7, Schedule: []config.BandwidthRule{
		{Cron: "0 9 * * *", Upload: rate(5)},
		{Cron: "0 10 * * *", Upload: rate(0)},
	}}
	s, err := NewSchedule(bw, clock)
	if err != nil {
		t.Fatal(err)
	}
	got, changed := s.Limits().Load()
	if got.Upload != 5 || got.Download != 7 {
		t.Fatalf("at 09:30: %+v, want the 09:00 rule's upload 5 and download 7", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() {
		defer close(ran)
		s.Run(ctx)
	}()
	clock.AdvanceTo(day.Add(10*time.Hour + time.Second))
	select {
	case <-changed:
	case <-time.After(10 * time.Second):
		t.Fatal("crossing 10:00 did not change the limits")
	}
	if got := s.Limits().Bandwidth(); got.Upload != 0 || got.Download != 7 {
		t.Fatalf("after 10:00: %+v, want upload 0 and download 7", got)
	}
	cancel()
	<-ran

	// Without rules there is nothing to follow.
	s, err = NewSchedule(config.Bandwidth{Upload: 3}, clock)
	if err != nil {
		t.Fatal(err)
	}
	s.Run(context.Background())
	if got := s.Limits().Bandwidth(); got.Upload != 3 {
		t.Fatalf("no rules: %+v", got)
	}
}
