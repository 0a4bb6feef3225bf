package cputime

import (
	"testing"
	"time"
)

func TestUsedGrowsWithWork(t *testing.T) {
	before := Used()
	if before == 0 {
		t.Fatal("no CPU time at all: getrusage failed")
	}
	// Spin until the process has used measurably more CPU (bounded).
	deadline := time.Now().Add(10 * time.Second)
	x := 0
	for time.Now().Before(deadline) {
		for i := range 1_000_000 {
			x += i
		}
		if Used() > before {
			return
		}
	}
	t.Fatalf("CPU time did not grow in 10 s of spinning (%d)", x)
}
