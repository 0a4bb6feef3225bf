package main

import (
	"context"
	"fmt"
	"time"

	"github.com/ferry-sync/ferry/agent"
	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/transport/remote"
)

// The agent keeps a job's ferry:// remote open between passes.
var _ agent.Remote = (*remote.Endpoint)(nil)

// dialRemote connects to the `ferry serve` behind a job's ferry:// remote,
// or with ro.lazy only prepares to.
func dialRemote(ctx context.Context, cfg *config.Config, job *config.Job, ro remoteOptions) (endpoint.Endpoint, error) {
	opts, err := remoteOptionsFor(cfg, job, ro)
	if err != nil {
		return nil, err
	}
	var ep *remote.Endpoint
	if ro.lazy {
		ep, err = remote.New(opts)
	} else {
		ep, err = remote.Dial(ctx, opts)
	}
	if err != nil {
		return nil, err
	}
	ro.made(job, ep)
	return ep, nil
}

// keepRemote prepares the remote a running job keeps between passes; it
// connects on first use.
func keepRemote(cfg *config.Config, job *config.Job, ro remoteOptions) (agent.Remote, error) {
	opts, err := remoteOptionsFor(cfg, job, ro)
	if err != nil {
		return nil, err
	}
	ep, err := remote.New(opts)
	if err != nil {
		return nil, err
	}
	ro.made(job, ep)
	return ep, nil
}

// made tells ro.onRemote, if set, about a remote just made for job.
func (ro remoteOptions) made(job *config.Job, ep *remote.Endpoint) {
	if ro.onRemote != nil {
		ro.onRemote(job.Name, ep)
	}
}

func remoteOptionsFor(cfg *config.Config, job *config.Job, ro remoteOptions) (remote.Options, error) {
	opts, err := remote.OptionsFromJob(*job, cfg.File)
	if err != nil {
		return remote.Options{}, err
	}
	opts.AcceptNewHostKey = ro.acceptNewHostKey
	opts.Limits = ro.limits
	if ro.log != nil {
		opts.Log = ro.log
	}
	if opts.KnownHostsFile == "" {
		opts.KnownHostsFile = cfg.KnownHostsPath()
	}
	return opts, nil
}

// transportSummary describes the last UDP data session of a remote, or ""
// when the endpoint moved no data over UDP.
func transportSummary(ep endpoint.Endpoint) string {
	// The concrete type, not an anonymous interface: if DataStats goes,
	// this stops compiling instead of going quiet.
	ds, ok := ep.(*remote.Endpoint)
	if !ok {
		return ""
	}
	st, ok := ds.DataStats()
	if p, from := ds.Proxy(); p != nil && !ok {
		return fmt.Sprintf("transport: over the SSH connection through proxy %s (from %s); UDP cannot pass a proxy", p, from)
	}
	if !ok {
		return "transport: no UDP data session (nothing to move, or streamed over SSH)"
	}
	out := fmt.Sprintf("transport: udp, retransmitted %.2f%%, lost packets %d", 100*st.RetransmitShare(), st.LostPackets)
	if st.Sessions > 1 {
		out = fmt.Sprintf("transport: udp over %d sessions, retransmitted %.2f%%, lost packets %d", st.Sessions, 100*st.RetransmitShare(), st.LostPackets)
	}
	if st.RTT > 0 {
		out += fmt.Sprintf(", rtt %s", st.RTT.Round(100*time.Microsecond))
	}
	if st.Rate > 0 {
		out += fmt.Sprintf(", last rate %.1f Mbit/s", st.Rate/1e6)
	}
	if st.PacketSize > 0 {
		out += fmt.Sprintf(", datagrams of %d bytes", st.PacketSize)
	}
	return out
}

// serverSummary names the server a remote with several ended the pass on,
// "" for a URL that names one.
func serverSummary(ep endpoint.Endpoint) string {
	r, ok := ep.(*remote.Endpoint)
	if !ok || r.Servers() < 2 {
		return ""
	}
	if s := r.Server(); s != "" {
		return fmt.Sprintf("server: %s (of %d)", s, r.Servers())
	}
	return fmt.Sprintf("server: none connected (of %d)", r.Servers())
}
