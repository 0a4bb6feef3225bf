package remote

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferry-sync/ferry/delta/chunk"
	"github.com/ferry-sync/ferry/endpoint"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/transport/cc"
	"github.com/ferry-sync/ferry/transport/control"
	"github.com/ferry-sync/ferry/transport/data"
	"github.com/ferry-sync/ferry/transport/seal"
	"github.com/ferry-sync/ferry/transport/wire"
	"github.com/ferry-sync/ferry/tree"
)

// ErrNoUDP is wrapped when the UDP data path cannot be used: the server
// offers none, or (as data.ErrNoUDP) nothing came back over it.
var ErrNoUDP = data.ErrNoUDP

// udpRetryAfter is how long `transport: auto` keeps to the SSH stream
// after UDP turned out blocked, before trying UDP again.
const udpRetryAfter = 10 * time.Minute

// tailWait bounds the wait for the server's last word on a data session
// (files it could not open) once our side of the session is over.
const tailWait = 5 * time.Second

// useUDP decides the data path of the next transfer batch.
// c's Hello must have been answered.
func (e *Endpoint) useUDP(c *conn) (bool, error) {
	switch e.opts.Transport {
	case config.TCP:
		return false, nil
	case config.UDP:
		if c.welcome.UDPPort == 0 && e.opts.UDPPort == 0 {
			return false, fmt.Errorf("transport is udp but the server offers no UDP data port: %w (set transport: auto or tcp, or start ferry serve with --udp-port)", ErrNoUDP)
		}
		return true, nil
	}
	if c.welcome.UDPPort == 0 && e.opts.UDPPort == 0 || e.proxy != nil {
		// A network that needs a proxy for TCP will not pass UDP.
		return false, nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return time.Now().After(e.udpBlockedUntil), nil
}

// fallBack records that UDP is blocked and says so once.
func (e *Endpoint) fallBack(err error) {
	e.mu.Lock()
	e.udpBlockedUntil = time.Now().Add(udpRetryAfter)
	e.mu.Unlock()
	e.log.Warn("UDP data path blocked; sending over the SSH connection instead (slower on long or lossy paths)", "err", err, "retry_udp_in", udpRetryAfter)
}

// transfer runs items over UDP when it can and over the SSH stream
// otherwise (or after UDP turned out blocked with transport: auto). With
// several servers, the files whose transfer the lost connection cut off
// go on on the next server that answers, from what the shared root holds
// of them (their partial files), up to once per other server.
func (e *Endpoint) transfer(ctx context.Context, items []endpoint.Transfer, udp func(*conn, []endpoint.Transfer) ([]error, error), stream func(endpoint.Transfer) error) []error {
	errs, c := e.transferOn(ctx, items, udp, stream)
	for round := 0; round < e.failover() && c != nil && ctx.Err() == nil; round++ {
		again := lostFiles(errs)
		if len(again) == 0 {
			break
		}
		sub := make([]endpoint.Transfer, len(again))
		for j, i := range again {
			sub[j] = items[i]
		}
		e.log.Warn("connection to ferry server lost during a transfer; going on on another server",
			"server", c.t.String(), "files", len(sub), "err", errs[again[0]])
		var subErrs []error
		subErrs, c = e.transferOn(ctx, sub, udp, stream)
		for j, i := range again {
			errs[i] = subErrs[j]
		}
	}
	return errs
}

// transferOn runs items on the live connection, which it returns (nil
// when none could be made).
func (e *Endpoint) transferOn(ctx context.Context, items []endpoint.Transfer, udp func(*conn, []endpoint.Transfer) ([]error, error), stream func(endpoint.Transfer) error) ([]error, *conn) {
	if len(items) == 0 {
		return nil, nil
	}
	c, err := e.conn(ctx)
	if err != nil {
		return fill(len(items), err), nil
	}
	if err := c.ready(ctx); err != nil {
		return fill(len(items), err), nil
	}
	use, err := e.useUDP(c)
	if err != nil {
		return fill(len(items), err), c
	}
	if use {
		errs, serr := udp(c, items)
		if serr == nil || !errors.Is(serr, data.ErrNoUDP) || e.opts.Transport == config.UDP {
			return errs, c
		}
		e.fallBack(serr)
	}
	e.forgetStats() // what moved now moved over SSH
	return e.each(ctx, items, stream), c
}

func fill(n int, err error) []error {
	errs := make([]error, n)
	for i := range errs {
		errs[i] = err
	}
	return errs
}

// rates is the cc policy for one direction, within the server's cap.
func (e *Endpoint) rates(limit config.Rate, serverCap int64) cc.Config {
	e.mu.Lock()
	bw := e.opts.Bandwidth
	e.mu.Unlock()
	return ratesFor(bw, limit, serverCap)
}

func ratesFor(bw config.Bandwidth, limit config.Rate, serverCap int64) cc.Config {
	c := cc.Config{Policy: cc.Policy(bw.Policy), TargetRate: float64(bw.TargetRate), MinRate: float64(bw.MinRate), MaxRate: float64(limit)}
	if c.Policy == "" {
		c.Policy = cc.Fair
	}
	if serverCap > 0 && (c.MaxRate == 0 || float64(serverCap) < c.MaxRate) {
		c.MaxRate = float64(serverCap)
	}
	return c
}

// startSession asks the server for a data session over entries and opens
// the local UDP socket. FileErrors the server sends before agreeing are
// returned by path.
func (e *Endpoint) startSession(ctx context.Context, c *conn, req control.DataSession, entries []tree.Entry) (*dataSession, error) {
	download := req.Download
	e.mu.Lock()
	limit := limitFor(e.opts.Bandwidth, download)
	e.mu.Unlock()
	req.Rate = int64(limit)
	// An upload of new files only lists nothing: the server can answer at
	// once instead of waiting for an empty list (a round trip saved).
	req.NoEntries = !download && req.AbsentUnlisted && len(entries) == 0
	k, err := open(ctx, c, req)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*dataSession, error) {
		k.close()
		return nil, err
	}
	for len(entries) > 0 {
		n := min(len(entries), 512)
		if err := k.send(control.Entries{Entries: entries[:n]}); err != nil {
			return fail(err)
		}
		entries = entries[n:]
	}
	if !req.NoEntries {
		if err := k.send(control.OK{}); err != nil {
			return fail(err)
		}
	}
	early := map[string]error{}
	var ok control.SessionOK
	for {
		m, err := k.recv()
		if err != nil {
			return fail(err)
		}
		if fe, isFE := m.(control.FileError); isFE {
			early[fe.Path] = fe.Err()
			continue
		}
		var isOK bool
		if ok, isOK = m.(control.SessionOK); !isOK {
			return fail(fmt.Errorf("%w: %T in answer to a data session", control.ErrProtocol, m))
		}
		break
	}
	if len(ok.ID) != wire.SessionIDLen || len(ok.Key) != seal.KeyLen || ok.Port == 0 || ok.Port > 65535 {
		return fail(fmt.Errorf("%w: bad data session parameters", control.ErrProtocol))
	}
	port := int(ok.Port)
	if e.opts.UDPPort != 0 {
		port = e.opts.UDPPort
	}
	host, _, _ := net.SplitHostPort(c.client.RemoteAddr().String())
	peer, err := net.ResolveUDPAddr("udp", net.JoinHostPort(host, fmt.Sprint(port)))
	if err != nil {
		return fail(fmt.Errorf("unable to address the server's UDP port: %w", err))
	}
	network := "udp4"
	if peer.IP.To4() == nil {
		network = "udp6"
	}
	pc, err := data.Listen(network, ":0", e.log)
	if err != nil {
		return fail(err)
	}
	ds := &dataSession{c: c, k: k, pc: pc, early: early, serverCap: ok.Rate,
		cfg: data.Config{Key: ok.Key, Peer: peer, Log: e.log, Rate: e.rates(limit, ok.Rate), NoUDPTimeout: e.opts.NoUDPTimeout}}
	copy(ds.cfg.Session[:], ok.ID)
	e.log.Debug("data session", "download", download, "peer", peer.String(), "max_rate", ds.cfg.Rate.MaxRate)
	return ds, nil
}

// dataSession is an agreed UDP session: its control channel, local
// socket and parameters.
type dataSession struct {
	c         *conn // the connection it was negotiated on
	k         *channel
	pc        net.PacketConn
	cfg       data.Config
	early     map[string]error // files the server refused before starting
	serverCap int64
	// first, when set, receives the channel's next message, read by
	// peek while the session waited to be used.
	first chan received
	// cancel, when set, ends the context the session was negotiated
	// under (a prepared session).
	cancel func()
}

type received struct {
	m   control.Msg
	err error
}

// peek reads the channel's next message in the background. Before the
// session is used the server says nothing unless it gave up on it.
func (ds *dataSession) peek() {
	ds.first = make(chan received, 1)
	go func() {
		m, err := ds.k.recv()
		ds.first <- received{m, err}
	}()
}

// ended reports whether the server already ended a session that was
// waiting to be used.
func (ds *dataSession) ended() bool {
	if ds.first == nil {
		return false
	}
	select {
	case r := <-ds.first:
		ds.first = make(chan received, 1)
		ds.first <- r
		return true
	default:
		return false
	}
}

// next returns the channel's next message, the peeked one first.
func (ds *dataSession) next() (control.Msg, error) {
	if ds.first != nil {
		r := <-ds.first
		ds.first = nil
		return r.m, r.err
	}
	return ds.k.recv()
}

// tail is what the server said on the control channel while the session
// ran: files it could not send, then its final answer.
type tail struct {
	fileErrs map[string]error
	final    error // the server's session error, or a lost channel
}

// watch reads the control channel while the session runs. If the channel
// fails (server or connection gone) it cancels the session at once, rather
// than letting it wait out the UDP idle timeout.
func (ds *dataSession) watch(cancel context.CancelCauseFunc) <-chan tail {
	out := make(chan tail, 1)
	go func() {
		t := tail{fileErrs: map[string]error{}}
		defer func() { out <- t }()
		for {
			m, err := ds.next()
			if err != nil {
				if errors.Is(err, ErrDisconnected) {
					cancel(fmt.Errorf("control connection lost during the data session: %w", err))
				}
				t.final = err
				return
			}
			if fe, ok := m.(control.FileError); ok {
				t.fileErrs[fe.Path] = fe.Err()
				continue
			}
			return
		}
	}()
	return out
}

func (ds *dataSession) close() {
	ds.pc.Close()
	ds.k.close()
	if ds.cancel != nil {
		ds.cancel()
	}
}

// sessionRequest is the DataSession a batch asks for. An upload lists
// only the destinations expected to exist; the rest are new files
// (AbsentUnlisted), which for a first sync is all of them.
func sessionRequest(download bool) control.DataSession {
	return control.DataSession{Download: download, AbsentUnlisted: !download}
}

// openSession takes the session prepared for this batch, or negotiates one.
func (e *Endpoint) openSession(ctx context.Context, c *conn, items []endpoint.Transfer, download bool) (*dataSession, error) {
	if ds := e.takePrepared(ctx, c, items, download); ds != nil {
		return ds, nil
	}
	return e.startSession(ctx, c, sessionRequest(download), sessionEntries(items, download))
}

func (e *Endpoint) uploadUDP(ctx context.Context, c *conn, items []endpoint.Transfer, src endpoint.Endpoint, progress endpoint.Progress, hashed *sums) ([]error, error) {
	if plan := e.planLanes(items); len(plan) > 1 {
		return e.uploadLanes(ctx, c, items, plan, src, progress, hashed)
	}
	ds, err := e.openSession(ctx, c, items, false)
	if err != nil {
		return fill(len(items), err), err
	}
	defer ds.close()
	errs, st, serr := e.sendOn(ctx, ds, items, nil, 1, src, progress, hashed)
	if st != nil {
		e.remember(data.Sum(*st))
	}
	return errs, serr
}

// sendOn runs the sending side of data session ds for items (parts[i],
// when set, is the byte range of items[i] this session sends), as one of
// lanes sessions sharing the caps. It returns one error per item, the
// session's figures (nil if it never ran) and its error. A file scanned
// unhashed is hashed just before it is announced, its hash kept in hashed.
func (e *Endpoint) sendOn(ctx context.Context, ds *dataSession, items []endpoint.Transfer, parts []chunk.Range, lanes int, src endpoint.Endpoint, progress endpoint.Progress, hashed *sums) ([]error, *data.Stats, error) {
	cfg := ds.cfg
	cfg.Rate = shareOf(cfg.Rate, lanes)
	tally := newTally(progress, func() { e.log.Debug("first data acknowledged") }, false)
	cfg.Progress = tally.report
	// A large file scanned unhashed would hold back every file after it
	// while the opener reads it whole to hash it: such files go last,
	// hashed meanwhile in the background (preHash).
	order, large := sendOrder(items)
	files := make([]data.SendFile, len(items))
	var whole []endpoint.Transfer // files the server may build from their current versions
	// The sender's opener hashes one file at a time.
	hr := &hashReader{ctx: ctx}
	for k, i := range order {
		it := items[i]
		files[k] = data.SendFile{Entry: it.Source, Open: func() (endpoint.FileReader, error) { return src.OpenFile(ctx, it.Source.Path) }}
		switch {
		case it.Source.Hash != 0:
		case large[i]:
			files[k].Hash = func(endpoint.FileReader) (uint64, error) { return hashed.once(ctx, src, it.Source) }
		default:
			files[k].Hash = func(r endpoint.FileReader) (uint64, error) {
				h, err := hr.sum(r, it.Source)
				if err == nil {
					hashed.put(it.Source.Path, h)
				}
				return h, err
			}
		}
		if parts != nil && parts[i].Len != 0 {
			files[k].Part = parts[i]
			continue
		}
		whole = append(whole, it)
	}
	pctx, stopPre := context.WithCancel(ctx)
	preDone := make(chan struct{})
	go func() {
		defer close(preDone)
		for i, l := range large {
			if l {
				_, _ = hashed.once(pctx, src, items[i].Source) // the opener takes the result
			}
		}
	}()
	defer func() {
		stopPre()
		<-preDone
	}()
	s, err := data.NewSender(ds.pc, cfg)
	if err != nil {
		return fill(len(items), err), nil, err
	}
	sctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	listed := make(chan struct{})
	go func() {
		defer close(listed)
		if err := e.sendLists(sctx, ds.k, whole, src); err != nil {
			e.log.Debug("unable to send chunk lists; files go whole", "err", err)
		}
	}()
	defer func() {
		cancel(nil)
		<-listed
	}()
	ds.watch(cancel)
	unregister := e.track(s, ds.c, false, ds.serverCap, lanes)
	sent, serr := s.Run(sctx, files)
	unregister()
	st := s.Stats()
	errs := make([]error, len(items))
	for k, i := range order {
		if k < len(sent) {
			errs[i] = sent[k]
		}
	}
	errs, serr = markLost(errs, serr)
	for i, err := range errs {
		if err == nil {
			tally.complete(items[i].Source.Path, partSize(items[i], parts, i))
		}
	}
	return errs, &st, serr
}

// preHashSize is the size from which a file scanned unhashed is hashed in
// the background and sent after the others (sendOrder).
const preHashSize = 1 << 20

// sendOrder is the order in which a session sends items: as given, but
// large files scanned unhashed (large[i]) after the rest.
func sendOrder(items []endpoint.Transfer) (order []int, large []bool) {
	order = make([]int, 0, len(items))
	large = make([]bool, len(items))
	for i, it := range items {
		if large[i] = it.Source.Hash == 0 && it.Source.Size >= preHashSize; !large[i] {
			order = append(order, i)
		}
	}
	for i, l := range large {
		if l {
			order = append(order, i)
		}
	}
	return order, large
}

func (e *Endpoint) downloadUDP(ctx context.Context, c *conn, items []endpoint.Transfer, dst endpoint.Endpoint, progress endpoint.Progress, lists map[string]chunk.List) ([]error, error) {
	if plan := e.planLanes(items); len(plan) > 1 {
		return e.downloadLanes(ctx, c, items, plan, dst, progress, lists)
	}
	ds, err := e.openSession(ctx, c, items, true)
	if err != nil {
		return fill(len(items), err), err
	}
	defer ds.close()
	errs, st, serr := e.receiveOn(ctx, ds, items, nil, 1, nil, dst, progress, lists)
	if st != nil {
		e.remember(data.Sum(*st))
	}
	return errs, serr
}

// receiveOn runs the receiving side of data session ds for items (parts
// as for sendOn), as one of lanes sessions sharing the caps; joined
// gathers the parts of split files (nil when there are none).
func (e *Endpoint) receiveOn(ctx context.Context, ds *dataSession, items []endpoint.Transfer, parts []chunk.Range, lanes int, joined *data.Parts, dst endpoint.Endpoint, progress endpoint.Progress, lists map[string]chunk.List) ([]error, *data.Stats, error) {
	byPath := make(map[string]int, len(items))
	for i, it := range items {
		byPath[it.Source.Path] = i
	}
	early, cfg := ds.early, ds.cfg
	cfg.Rate = shareOf(cfg.Rate, lanes)
	tally := newTally(progress, func() { e.log.Debug("first data written") }, true)
	cfg.Progress = tally.report
	errs := make([]error, len(items))
	done := make([]bool, len(items))
	for p, err := range early {
		if i, ok := byPath[p]; ok {
			errs[i], done[i] = err, true
		}
	}
	if len(early) == len(items) {
		return errs, nil, nil
	}
	open := func(ctx context.Context, f data.FileInfo) (endpoint.FileWriter, error) {
		i, ok := byPath[f.Path]
		if !ok {
			return nil, fmt.Errorf("%w: server sent %s, which was not asked for", control.ErrProtocol, f.Path)
		}
		it := items[i]
		if f.Size != it.Source.Size || f.Hash != it.Source.Hash {
			return nil, fmt.Errorf("%w: server sent a different %s than it listed", endpoint.ErrChanged, f.Path)
		}
		if f.Split() {
			if joined == nil || parts == nil || parts[i] != f.Part {
				return nil, fmt.Errorf("%w: server sent part %d+%d of %s, which was not asked for", control.ErrProtocol, f.Part.Off, f.Part.Len, f.Path)
			}
			return joined.Open(ctx, f, func(ctx context.Context, _ data.FileInfo) (endpoint.FileWriter, error) {
				return dst.CreateFile(ctx, it.Source, it.Expect)
			})
		}
		return dst.CreateFile(ctx, it.Source, it.Expect)
	}
	if len(lists) > 0 {
		cfg.Seed = seedFrom(dst, items, lists)
	}
	r, err := data.NewReceiver(ds.pc, cfg, open)
	if err != nil {
		return fill(len(items), err), nil, err
	}
	sctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	tails := ds.watch(cancel)
	unregister := e.track(r, ds.c, true, ds.serverCap, lanes)
	results, serr := r.Run(sctx)
	unregister()
	st := r.Stats()
	for _, res := range results {
		if i, ok := byPath[res.File.Path]; ok {
			errs[i], done[i] = res.Err, true
		}
	}
	errs, serr = markLost(errs, serr)
	// The server's last word: files it could not open once the session
	// was running. Bounded, so a server that never answers cannot hang
	// the transfer.
	stop := time.AfterFunc(tailWait, ds.k.close)
	defer stop.Stop()
	t := <-tails
	for p, err := range t.fileErrs {
		if i, ok := byPath[p]; ok && !done[i] {
			errs[i], done[i] = err, true
		}
	}
	if serr == nil && t.final != nil {
		serr = t.final
		if errors.Is(t.final, ErrDisconnected) || errors.Is(t.final, control.ErrUnavailable) {
			// The server went away as the session ended: files that
			// did not make it are worth retrying.
			for i, err := range errs {
				if done[i] && err != nil && !isFinal(err) {
					errs[i] = fmt.Errorf("%w: %w", ErrDisconnected, err)
				}
			}
		}
	}
	for i := range errs {
		if done[i] && errs[i] == nil {
			tally.complete(items[i].Source.Path, partSize(items[i], parts, i))
		}
		if !done[i] {
			cause := serr
			if cause == nil {
				cause = fmt.Errorf("%w: the data session ended without it", ErrDisconnected)
			}
			errs[i] = fmt.Errorf("unable to download %s: %w", items[i].Source.Path, cause)
		}
	}
	return errs, &st, serr
}

// session is a running data session whose rate policy SetBandwidth
// changes live, and whose figures Link reads.
type session struct {
	set       func(cc.Config)
	download  bool
	serverCap int64
	// stats reads the session's figures while it runs; rtt is the round
	// trip measured over the connection when the session cannot know it
	// (a receiver), in nanoseconds.
	stats func() data.Stats
	rtt   *atomic.Int64
	lanes int // sessions of its transfer, sharing the caps evenly
}

// running is a data session's side that SetBandwidth and Link reach.
type running interface {
	SetConfig(cc.Config)
	Stats() data.Stats
}

var (
	_ running = (*data.Sender)(nil)
	_ running = (*data.Receiver)(nil)
)

func (e *Endpoint) track(s running, c *conn, download bool, serverCap int64, lanes int) func() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.nextSession++
	id := e.nextSession
	rtt := new(atomic.Int64)
	if download && c != nil && c.client != nil {
		// The receiver of a session never sees a round trip of its own:
		// one SSH request over the same path stands in for it.
		go func() {
			start := time.Now()
			if _, _, err := c.client.SendRequest("keepalive@openssh.com", true, nil); err == nil {
				rtt.Store(int64(max(time.Since(start), time.Microsecond)))
			}
		}()
	}
	e.sessions[id] = session{set: s.SetConfig, download: download, serverCap: serverCap, stats: s.Stats, rtt: rtt, lanes: lanes}
	// Caps changed since the session was negotiated apply from its start.
	s.SetConfig(shareOf(ratesFor(e.opts.Bandwidth, limitFor(e.opts.Bandwidth, download), serverCap), lanes))
	return func() {
		// The session's last figures move to the ended total under the
		// same lock that removes it, so Link never sees its bytes twice
		// or not at all.
		st := s.Stats()
		e.mu.Lock()
		defer e.mu.Unlock()
		delete(e.sessions, id)
		e.ended = data.Sum(e.ended, st)
	}
}

// Link returns the live figures of the newest data session running in
// the direction asked (download: toward this side), and false when none
// runs.
func (e *Endpoint) Link(download bool) (endpoint.Link, bool) {
	e.mu.Lock()
	id, s := -1, session{}
	var running []session
	for i, x := range e.sessions {
		if x.download != download {
			continue
		}
		running = append(running, x)
		if i > id {
			id, s = i, x
		}
	}
	bw := e.opts.Bandwidth
	e.mu.Unlock()
	if id < 0 {
		return endpoint.Link{}, false
	}
	// The sessions of a transfer split over several (sessions: N) each
	// run 1/N of its rates: the transfer's figures are their sum.
	all := make([]data.Stats, len(running))
	for i, x := range running {
		all[i] = x.stats()
	}
	st := data.Sum(all...)
	l := endpoint.Link{RTT: st.RTT, Rate: st.Rate, Target: st.Target, Min: st.Min, Retransmitted: st.RetransmitShare()}
	if download {
		// The receiver paces nothing: the bounds are those it asks the
		// sender to keep to.
		want := ratesFor(bw, limitFor(bw, download), s.serverCap)
		l.Target, l.Min, l.RTT = want.TargetRate, want.MinRate, time.Duration(s.rtt.Load())
	}
	if l.Target == 0 || s.serverCap > 0 && l.Target > float64(s.serverCap) {
		l.Target = max(float64(limitFor(bw, download)), 0)
		if s.serverCap > 0 && (l.Target == 0 || l.Target > float64(s.serverCap)) {
			l.Target = float64(s.serverCap)
		}
	}
	return l, true
}

// forgetStats drops the last UDP session's figures when files go over
// the SSH stream instead, so they are not reported for this batch.
func (e *Endpoint) forgetStats() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.lastStats, e.haveStats = data.Stats{}, false
}

// remember keeps the last session's figures for DataStats.
func (e *Endpoint) remember(st data.Stats) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.lastStats, e.haveStats = st, true
}

// DataStats returns the figures of the last UDP data session (rate, RTT,
// retransmissions), and false if there was none.
func (e *Endpoint) DataStats() (data.Stats, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.lastStats, e.haveStats
}

// tally passes a session's progress on and, when a file is done, reports
// whatever part of it the session did not, so totals add up: on a download
// the bytes the receiver already held (a resumed or seeded partial, which
// the sender verified rather than sent), on an upload bytes whose
// acknowledgement the file's result overtook.
type tally struct {
	p     endpoint.Progress
	first func() // called once, on the first bytes the session moves
	// restReused: what complete reports was held, not sent (downloads).
	restReused bool
	mu         sync.Mutex
	got        map[string]int64
}

func newTally(p endpoint.Progress, first func(), restReused bool) *tally {
	return &tally{p: p, first: first, restReused: restReused, got: map[string]int64{}}
}

func (t *tally) report(path string, n int64, reused bool) {
	t.mu.Lock()
	first := len(t.got) == 0 && n > 0
	t.got[path] += n
	t.mu.Unlock()
	if first && t.first != nil {
		t.first()
	}
	report(t.p, path, n, reused)
}

func (t *tally) complete(path string, size int64) {
	t.mu.Lock()
	rest := size - t.got[path]
	t.got[path] = size
	t.mu.Unlock()
	report(t.p, path, rest, t.restReused)
}

// markLost makes a session that ended because the peer went away (closed,
// idle, control channel lost) look like any lost connection: errors that
// wrap ErrDisconnected, which callers retry.
func markLost(errs []error, serr error) ([]error, error) {
	if serr == nil || errors.Is(serr, ErrDisconnected) ||
		!(errors.Is(serr, data.ErrPeerClosed) || errors.Is(serr, data.ErrIdle) || errors.Is(serr, control.ErrUnavailable)) {
		return errs, serr
	}
	for i, err := range errs {
		if err != nil && errors.Is(err, serr) && !errors.Is(err, ErrDisconnected) {
			errs[i] = fmt.Errorf("%w: %w", ErrDisconnected, err)
		}
	}
	return errs, fmt.Errorf("%w: %w", ErrDisconnected, serr)
}

// isFinal reports errors that say something about the file itself, which a
// retry over a new connection would not change.
func isFinal(err error) bool {
	for _, s := range []error{endpoint.ErrChanged, endpoint.ErrExists, endpoint.ErrInTheWay, endpoint.ErrNotEmpty, endpoint.ErrHashMismatch,
		endpoint.ErrNoSpace, fs.ErrNotExist, fs.ErrPermission, tree.ErrInvalidPath, ErrDisconnected} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}
