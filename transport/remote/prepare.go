package remote

import (
	"context"
	"time"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/transport/data"
	"github.com/ferry-sync/ferry/tree"
)

// preparedMaxAge is how long a negotiated data session may wait for its
// transfer. The server gives up on a session it has heard nothing from
// over UDP after data.DefaultNoUDPTimeout; a session handed over later
// would look like a blocked UDP path and push the job onto the SSH
// stream, so an older one is dropped and negotiated afresh.
const preparedMaxAge = data.DefaultNoUDPTimeout / 2

// prepared is a data session negotiated ahead of its transfer.
type prepared struct {
	download bool
	c        *conn
	listed   map[string]tree.Entry // what the request named, by path
	cancel   context.CancelFunc    // ends the negotiation or the session's channel
	done     chan struct{}         // closed when the negotiation is over

	// Set under Endpoint.mu by the negotiation.
	ds       *dataSession
	err      error
	at       time.Time   // when the server agreed
	expire   *time.Timer // drops it unused at preparedMaxAge
	released bool        // nobody will take it: the negotiation closes what it gets
}

// Prepare negotiates the UDP data session for items (an upload to, or a
// download from, this endpoint) in the background, so that Upload or
// Download find it ready. It does nothing without a live connection or
// when the data path is not UDP. release closes a session nobody took.
func (e *Endpoint) Prepare(ctx context.Context, items []endpoint.Transfer, download bool) (release func()) {
	nothing := func() {}
	if len(items) == 0 {
		return nothing
	}
	e.mu.Lock()
	c := e.cur
	e.mu.Unlock()
	if c == nil || !c.alive() {
		return nothing
	}
	select {
	case <-c.greeted:
	default:
		return nothing // not worth waiting for: Prepare must not block
	}
	if use, err := e.useUDP(c); err != nil || !use {
		return nothing
	}
	if len(e.planLanes(items)) > 1 {
		return nothing // several sessions, negotiated when the batch runs
	}
	entries := sessionEntries(items, download)
	p := &prepared{download: download, c: c, listed: make(map[string]tree.Entry, len(entries)), done: make(chan struct{})}
	for _, en := range entries {
		p.listed[en.Path] = en
	}
	pctx, cancel := context.WithCancel(ctx)
	p.cancel = cancel
	e.mu.Lock()
	old := e.prepared[download]
	e.prepared[download] = p
	e.mu.Unlock()
	if old != nil {
		e.drop(old)
	}
	go func() {
		defer close(p.done)
		ds, err := e.startSession(pctx, c, sessionRequest(download), entries)
		if ds != nil {
			ds.cancel = cancel
			// Until the session is used, notice if the server ends it.
			ds.peek()
		}
		e.mu.Lock()
		orphan := p.released
		if !orphan {
			p.ds, p.err, p.at = ds, err, time.Now()
			if ds != nil {
				// Closed before the server would give up on it, so its
				// log does not read as a blocked UDP path.
				p.expire = time.AfterFunc(preparedMaxAge, func() { e.expire(p) })
			}
		}
		e.mu.Unlock()
		if orphan && ds != nil {
			ds.close()
		}
	}()
	return func() {
		e.mu.Lock()
		mine := e.prepared[download] == p
		if mine {
			delete(e.prepared, download)
		}
		e.mu.Unlock()
		if mine {
			e.drop(p)
		}
	}
}

// sessionEntries is what a data session request lists: for a download
// every source; for an upload only destinations expected to exist (the
// rest are new files, which the request leaves unlisted).
func sessionEntries(items []endpoint.Transfer, download bool) []tree.Entry {
	var out []tree.Entry
	for _, it := range items {
		if download {
			out = append(out, it.Source)
			continue
		}
		if it.Expect.Kind == tree.Absent {
			continue
		}
		d := it.Expect
		d.Path = it.Source.Path
		out = append(out, d)
	}
	return out
}

// expire drops p if nobody took it in time.
func (e *Endpoint) expire(p *prepared) {
	e.mu.Lock()
	mine := e.prepared[p.download] == p
	if mine {
		delete(e.prepared, p.download)
	}
	e.mu.Unlock()
	if mine {
		e.log.Debug("prepared data session expired unused", "download", p.download)
		e.drop(p)
	}
}

// drop closes a prepared session that was taken by nobody (or refused),
// whether or not its negotiation is over.
func (e *Endpoint) drop(p *prepared) {
	e.mu.Lock()
	p.released = true
	ds := p.ds
	p.ds = nil
	if p.expire != nil {
		p.expire.Stop()
	}
	e.mu.Unlock()
	if ds != nil {
		ds.close()
	}
	p.cancel()
}

// takePrepared hands over the session prepared for this transfer, if
// there is one that is still fresh, on connection c, and lists what the
// transfer needs; otherwise it returns nil and the caller negotiates.
func (e *Endpoint) takePrepared(ctx context.Context, c *conn, items []endpoint.Transfer, download bool) *dataSession {
	e.mu.Lock()
	p := e.prepared[download]
	delete(e.prepared, download)
	e.mu.Unlock()
	if p == nil {
		return nil
	}
	// A negotiation under way started earlier than a new one would.
	select {
	case <-p.done:
	case <-ctx.Done():
		e.drop(p)
		return nil
	}
	e.mu.Lock()
	ds, err, at := p.ds, p.err, p.at
	p.ds = nil
	p.released = true
	if p.expire != nil {
		p.expire.Stop()
	}
	e.mu.Unlock()
	why := ""
	switch {
	case ds == nil:
		why = "negotiation failed"
		if err != nil {
			why += ": " + err.Error()
		}
	case p.c != c:
		why = "negotiated on an earlier connection"
	case time.Since(at) > preparedMaxAge:
		why = "waited too long"
	case ds.ended():
		why = "the server ended it"
	case !p.covers(items):
		why = "it lists other files"
	}
	if why != "" {
		e.log.Debug("prepared data session not used; negotiating afresh", "download", download, "why", why)
		if ds != nil {
			ds.close()
		}
		p.cancel()
		return nil
	}
	// Caps may have changed since the negotiation.
	e.mu.Lock()
	limit := limitFor(e.opts.Bandwidth, download)
	e.mu.Unlock()
	ds.cfg.Rate = e.rates(limit, ds.serverCap)
	e.log.Debug("data session ready", "download", download, "prepared_for", time.Since(at).Round(time.Millisecond))
	return ds
}

// covers reports whether the prepared request fits a transfer of items:
// a download session sends exactly what it listed, so the lists must be
// equal; an upload session must list every destination the transfer
// expects to exist, as it expects it, and none it expects to be new
// (those the server creates only where nothing is). Listed paths the
// upload does not send are never looked at.
func (p *prepared) covers(items []endpoint.Transfer) bool {
	if p.download {
		if len(items) != len(p.listed) {
			return false
		}
		for _, it := range items {
			if got, ok := p.listed[it.Source.Path]; !ok || got != it.Source {
				return false
			}
		}
		return true
	}
	for _, it := range items {
		got, listed := p.listed[it.Source.Path]
		if it.Expect.Kind == tree.Absent {
			if listed {
				return false
			}
			continue
		}
		d := it.Expect
		d.Path = it.Source.Path
		if !listed || got != d {
			return false
		}
	}
	return true
}

// releasePrepared closes every prepared session (the endpoint closes).
func (e *Endpoint) releasePrepared() {
	e.mu.Lock()
	var ps []*prepared
	for k, p := range e.prepared {
		ps = append(ps, p)
		delete(e.prepared, k)
	}
	e.mu.Unlock()
	for _, p := range ps {
		e.drop(p)
	}
}

// limitFor is the client-side cap of one direction.
func limitFor(bw config.Bandwidth, download bool) config.Rate {
	if download {
		return bw.Download
	}
	return bw.Upload
}
