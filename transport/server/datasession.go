package server

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/delta/chunk"
	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/transport/cc"
	"github.com/ferry-sync/ferry/transport/control"
	"github.com/ferry-sync/ferry/transport/data"
	"github.com/ferry-sync/ferry/transport/seal"
	"github.com/ferry-sync/ferry/tree"
)

// maxSessionFiles bounds the files one data session may name, so that a
// client cannot make the server hold an unbounded list.
const maxSessionFiles = 1 << 20

// dataSession runs one UDP data session for the client: the server sends
// (download) or receives (upload) the files the client lists.
func (s *session) dataSession(st *stream, ep endpoint.Endpoint, m control.DataSession) error {
	mux, port := s.srv.udp()
	if mux == nil {
		return st.reply(fmt.Errorf("%w: this server does not offer UDP data sessions (started without a UDP port)", control.ErrUnavailable), nil)
	}
	if m.NoEntries && (m.Download || !m.AbsentUnlisted) {
		return st.reply(protocolError("a data session without a file list must be an upload of new files"), nil)
	}
	done, ok := s.takeLane()
	if !ok {
		return st.reply(fmt.Errorf("%w: this connection already runs %d data sessions", control.ErrUnavailable, maxLanes), nil)
	}
	defer done()
	var items []tree.Entry
	for !m.NoEntries {
		msg, err := st.recv()
		if err != nil {
			return err
		}
		if _, ok := msg.(control.OK); ok {
			break
		}
		es, ok := msg.(control.Entries)
		if !ok {
			return st.reply(protocolError("%T while listing a data session's files", msg), nil)
		}
		for _, e := range es.Entries {
			if err := validPaths(e.Path); err != nil {
				return st.reply(err, nil)
			}
		}
		if len(items)+len(es.Entries) > maxSessionFiles {
			return st.reply(protocolError("more than %d files in one data session", maxSessionFiles), nil)
		}
		items = append(items, es.Entries...)
	}

	key := make([]byte, seal.KeyLen)
	if _, err := rand.Read(key); err != nil {
		return st.reply(fmt.Errorf("unable to make a session key: %w", err), nil)
	}
	// Files that changed since the client's scan are reported now, before
	// the session, rather than left for the client to wait on.
	if m.Download {
		kept := items[:0]
		for _, it := range items {
			if err := checkUnchanged(s.ctx, ep, it); err != nil {
				if werr := st.send(control.FileErrorOf(it.Path, err)); werr != nil {
					return werr
				}
				continue
			}
			kept = append(kept, it)
		}
		items = kept
	}
	sc, err := mux.register(rand.Read)
	if err != nil {
		return st.reply(fmt.Errorf("unable to make a session id: %w", err), nil)
	}
	id := sc.id
	defer sc.Close()
	capRate := minRate(s.acct.rateCap, s.srv.cfg.TotalRate)
	log := s.log.With("session", fmt.Sprintf("%x", id[:4]))
	if m.Lanes > 1 {
		log = log.With("lane", m.Lane, "lanes", m.Lanes)
	}
	cfg := data.Config{
		Key: key, Session: id,
		Rate: sessionRate(m.Download, capRate, m.Lanes),
		Log:  log,
	}
	if err := st.send(control.SessionOK{Port: uint32(port), ID: id[:], Key: key, Rate: int64(capRate)}); err != nil {
		return err
	}
	// The client closes the channel when its side is over; that also ends
	// ours, so a session whose client vanished does not wait out the idle
	// timeout. Before that, an upload's client sends the chunk lists of
	// files the server may build from their current versions.
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	lists := newListsIn()
	go func() {
		lists.read(st)
		io.Copy(io.Discard, st.ch)
		cancel()
	}()

	if m.Download {
		files := make([]data.SendFile, len(items))
		for i, it := range items {
			files[i] = data.SendFile{Entry: it, Open: func() (endpoint.FileReader, error) { return openUnchanged(ctx, ep, it) }}
			if m.Lanes > 1 {
				if parts := data.SplitFile(it.Size, m.SplitAt, int(m.Lanes), m.Align); int(m.Lane) < len(parts) {
					files[i].Part = parts[m.Lane]
				}
			}
		}
		snd, err := data.NewSender(sc, cfg)
		if err != nil {
			return st.reply(err, nil)
		}
		leave := s.srv.shares.join(s.acct, func(r config.Rate) { snd.SetConfig(sessionRate(true, r, m.Lanes)) })
		errs, serr := snd.Run(ctx, files)
		leave()
		for i, err := range errs {
			if err != nil {
				if werr := st.send(control.FileErrorOf(items[i].Path, err)); werr != nil {
					return werr
				}
			}
		}
		log.Info("data session ended", "direction", "download", "files", len(items), "share", snd.Stats().Share, "err", serr)
		return st.reply(serr, control.OK{})
	}

	expect := make(map[string]tree.Entry, len(items))
	for _, it := range items {
		expect[it.Path] = it
	}
	var open data.OpenFunc
	open = func(ctx context.Context, f data.FileInfo) (endpoint.FileWriter, error) {
		if err := validPaths(f.Path); err != nil {
			return nil, err
		}
		if f.Split() {
			// One writer for all the parts, whichever lane's arrives
			// first; the connection's Parts outlives this session.
			whole := open
			return s.joinParts().Open(ctx, f, func(ctx context.Context, f data.FileInfo) (endpoint.FileWriter, error) {
				f.Part = chunk.Range{}
				return whole(ctx, f)
			})
		}
		exp, ok := expect[f.Path]
		if !ok {
			if !m.AbsentUnlisted {
				return nil, protocolError("%s was not listed for this data session", f.Path)
			}
			// Only a new file: CreateFile refuses if anything is there.
			exp = tree.Entry{Path: f.Path}
		}
		return ep.CreateFile(ctx, f.Entry(), exp)
	}
	cfg.Seed = func(ctx context.Context, f data.FileInfo, w endpoint.FileWriter) ([]chunk.Range, error) {
		exp, ok := expect[f.Path]
		if !ok {
			exp = tree.Entry{Path: f.Path} // a new file
		}
		if !endpoint.ReuseCandidate(endpoint.Transfer{Source: f.Entry(), Expect: exp}) {
			return nil, nil // too small: no list comes for it
		}
		l, ok := lists.get(ctx, f.Path, f.Hash, f.Size)
		if !ok {
			return nil, nil
		}
		return endpoint.SeedFrom(ctx, ep, exp, w, l)
	}
	rcv, err := data.NewReceiver(sc, cfg, open)
	if err != nil {
		return st.reply(err, nil)
	}
	leave := s.srv.shares.join(s.acct, func(r config.Rate) { rcv.SetConfig(sessionRate(false, r, m.Lanes)) })
	results, serr := rcv.Run(ctx)
	leave()
	failed := 0
	for _, r := range results {
		if r.Err != nil {
			failed++
		}
	}
	log.Info("data session ended", "direction", "upload", "files", len(results), "failed", failed, "err", serr)
	return st.reply(serr, control.OK{})
}

// openUnchanged opens a file to send after checking that it is still what
// the client's scan saw.
func openUnchanged(ctx context.Context, ep endpoint.Endpoint, want tree.Entry) (endpoint.FileReader, error) {
	if err := checkUnchanged(ctx, ep, want); err != nil {
		return nil, err
	}
	r, err := ep.OpenFile(ctx, want.Path)
	if err != nil {
		return nil, err
	}
	if r.Size() != want.Size {
		r.Close()
		return nil, fmt.Errorf("%w: %s changed on the server since it was scanned", endpoint.ErrChanged, want.Path)
	}
	return r, nil
}

func checkUnchanged(ctx context.Context, ep endpoint.Endpoint, want tree.Entry) error {
	cur, err := ep.Stat(ctx, want.Path)
	if err != nil {
		return err
	}
	if cur.Kind != tree.File || cur.Size != want.Size || cur.Mtime != want.Mtime {
		return fmt.Errorf("%w: %s changed on the server since it was scanned; the next pass will pick it up", endpoint.ErrChanged, want.Path)
	}
	return nil
}

// sessionRate is the server's side of a data session's rate settings. On a
// download the server sends, and paces with the client's policy once the
// client's feedback names it (fair until then). On an upload the server
// receives, and what it sets travels to the sender as a request that
// overrides the sender's own policy: so it names none, and only its caps
// (user and total) hold. Naming fair here turned every upload's fixed or
// low policy into fair.
//
// A download's sender that is one of lanes sessions of the client's
// transfer (lanes > 1) is 1/lanes of it (cc.Config.Share), so the
// transfer's senders together keep one flow's queue. Its cap needs no
// splitting here: shares divides the caps among all sessions.
func sessionRate(download bool, capRate config.Rate, lanes uint32) cc.Config {
	r := cc.Config{MaxRate: float64(capRate)}
	if download {
		r.Policy = cc.Fair
		if lanes > 1 {
			r.Share = 1 / float64(lanes)
		}
	}
	return r
}

// Bounds on the chunk lists one upload may send, so a client cannot make
// the server hold more than about 100 MB of them.
const (
	maxLists      = 1 << 16
	maxListChunks = 1 << 21
)

// listsIn holds the chunk lists an upload's client sent, which the
// receiver's Seed waits for: complete once the client's OK arrived (or the
// channel ended).
type listsIn struct {
	done chan struct{}
	m    map[string]control.ChunkList // written before done is closed
}

func newListsIn() *listsIn {
	return &listsIn{done: make(chan struct{}), m: map[string]control.ChunkList{}}
}

// read takes ChunkList messages up to OK. Anything else, or lists beyond
// the bounds, ends the lists (files then go whole); the channel is still
// read to its end by the caller.
func (l *listsIn) read(st *stream) {
	defer close(l.done)
	chunks := 0
	for {
		m, err := st.recv()
		if err != nil {
			return
		}
		cl, ok := m.(control.ChunkList)
		if !ok {
			return
		}
		if len(l.m) >= maxLists || chunks+len(cl.List.Chunks) > maxListChunks || validPaths(cl.Path) != nil {
			continue
		}
		chunks += len(cl.List.Chunks)
		l.m[cl.Path] = cl
	}
}

// get waits for the lists to be complete and returns path's, if the
// client sent one for this version (hash and size).
func (l *listsIn) get(ctx context.Context, path string, hash uint64, size int64) (chunk.List, bool) {
	select {
	case <-l.done:
	case <-ctx.Done():
		return chunk.List{}, false
	}
	cl, ok := l.m[path]
	if !ok || cl.Hash != hash || cl.List.Total != size {
		return chunk.List{}, false
	}
	return cl.List, true
}
