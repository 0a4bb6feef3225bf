package remote

import (
	"fmt"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/transport/proxy"
)

// ProxyUDPError is the error of a job that wants `transport: udp` while its
// SSH connection goes through a proxy. A proxy in the job's own key is a
// config error (config.Job.EnsureValid); one from the environment can only
// be found when the job connects.
type ProxyUDPError struct {
	Proxy config.Proxy
	From  string // "the job's proxy key" or the environment variable
}

func (e *ProxyUDPError) Error() string {
	fix := "set transport: auto or tcp to send the data over the SSH connection"
	if e.From != fromJob {
		fix += ", or proxy: none (or NO_PROXY) to connect directly"
	}
	return fmt.Sprintf("transport is udp, but the connection goes through proxy %s (from %s): a proxy carries only the SSH connection (TCP), and ferry's UDP data cannot pass through it; %s",
		e.Proxy, e.From, fix)
}

// proxyFailed is a failure to connect through the proxy. It is worth
// retrying like any failed connection (ErrDisconnected), but reads as what
// it is: no connection was made, so none was lost.
type proxyFailed struct{ err error }

func (e proxyFailed) Error() string   { return e.err.Error() }
func (e proxyFailed) Unwrap() []error { return []error{ErrDisconnected, e.err} }

// fromJob is proxyFrom for a proxy set in the job.
const fromJob = "the job's proxy key"

// useProxy finds the proxy of the SSH connection, from the job's proxy key
// or else the environment, and says once which one is used.
func (e *Endpoint) useProxy() error {
	var p *config.Proxy
	from := fromJob
	switch e.opts.Proxy {
	case config.ProxyNone:
		return nil
	case "":
		var err error
		p, from, err = proxy.FromEnvironment(e.opts.Getenv, e.opts.Host, e.opts.Port)
		if err != nil {
			return err
		}
		if p == nil {
			return nil
		}
	default:
		var err error
		p, err = config.ParseProxy(e.opts.Proxy)
		if err != nil {
			return fmt.Errorf("proxy: %w", err)
		}
	}
	d, err := proxy.New(*p, e.dialer)
	if err != nil {
		return err
	}
	e.proxy, e.proxyFrom, e.dialer = p, from, d
	data := "over the SSH connection (UDP cannot pass a proxy)"
	if e.opts.Transport == config.UDP {
		data = "nowhere: transport is udp, which cannot pass a proxy"
	}
	e.log.Info("connecting through a proxy; file data goes "+data, "proxy", p.String(), "from", from)
	return nil
}

// Proxy is the proxy the SSH connection goes through, and where it was
// set; nil when it connects directly.
func (e *Endpoint) Proxy() (*config.Proxy, string) {
	return e.proxy, e.proxyFrom
}
