package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// heartbeatEvery keeps idle proxies and browsers from dropping the stream.
const heartbeatEvery = 15

// events streams the job list as server-sent events: one "jobs" event at
// once and another whenever the list changes, checked every EventInterval.
func (h *handler) events(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		h.fail(w, r, fmt.Errorf("unable to stream events: the connection cannot flush"))
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	t := time.NewTicker(h.opts.EventInterval)
	defer t.Stop()
	var last []byte
	idle := 0
	for {
		b, err := json.Marshal(h.c.Jobs())
		if err != nil {
			return
		}
		switch {
		case !bytes.Equal(b, last):
			if _, err := fmt.Fprintf(w, "event: jobs\ndata: %s\n\n", b); err != nil {
				return
			}
			last, idle = b, 0
			fl.Flush()
		case idle >= heartbeatEvery:
			if _, err := fmt.Fprint(w, ": keepalive\n\n"); err != nil {
				return
			}
			idle = 0
			fl.Flush()
		default:
			idle++
		}
		select {
		case <-r.Context().Done():
			return
		case <-t.C:
		}
	}
}
