package remote_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/ferry-sync/ferry/internal/watch"
	"github.com/ferry-sync/ferry/transport/server"
)

// injected is a real watcher whose events are the test's.
type injected struct {
	watch.Watcher
	events chan fsnotify.Event
}

func (w *injected) Events() <-chan fsnotify.Event { return w.events }

// TestWatchSplitsLargeNoticesIntoFrames: a burst of 4,096 changed paths
// of 4,000 bytes each (with their states, over 16 MiB) is more than one
// control frame may hold (4 MiB); it arrives whole, in several notices,
// without the watch breaking off and coming back armed (a reconnection
// and a rescan).
func TestWatchSplitsLargeNoticesIntoFrames(t *testing.T) {
	const n, pathLen = 4096, 4000
	events := make(chan fsnotify.Event, n)
	e := newEnv(t, func(c *server.Config) {
		c.Watcher = func() (watch.Watcher, error) {
			w, err := watch.NewFS()
			if err != nil {
				return nil, err
			}
			return &injected{Watcher: w, events: events}, nil
		}
	})
	ep := e.mustDial(nil)
	ns, errc := watching(t, ep, nil)
	waitNotice(t, ns, "")

	// 15 directories of 250 bytes, then a name that makes each path
	// 4,000 bytes: no element over 255, no path over 4,096.
	dir := strings.Repeat(strings.Repeat("d", 249)+"/", 15)
	want := map[string]bool{}
	for i := range n {
		name := fmt.Sprintf("%06d", i)
		p := dir + strings.Repeat("f", pathLen-len(dir)-len(name)) + name
		want[p] = true
		events <- fsnotify.Event{Name: filepath.Join(e.root, filepath.FromSlash(p)), Op: fsnotify.Write}
	}
	notices := 0
	timeout := time.After(60 * time.Second)
	for len(want) > 0 {
		select {
		case nt := <-ns:
			if nt.rescan {
				t.Fatalf("a rescan notice after %d notices with %d paths still to come: the watch broke off", notices, len(want))
			}
			notices++
			if len(nt.states) != len(nt.paths) {
				t.Fatalf("notice %d: %d states for %d paths", notices, len(nt.states), len(nt.paths))
			}
			for _, p := range nt.paths {
				delete(want, p)
			}
		case err := <-errc:
			t.Fatalf("Watch returned %v", err)
		case <-timeout:
			t.Fatalf("%d paths still to come after 60s (%d notices)", len(want), notices)
		}
	}
	if notices < 4 {
		t.Errorf("%d paths of %d bytes came in %d notices: more than a frame holds", n, pathLen, notices)
	}
	if strings.Contains(e.log.String(), "watching again") {
		t.Error("the watch was interrupted and watched again")
	}
}
