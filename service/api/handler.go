package api

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ferry-sync/ferry/agent"
)

// RequestHeader marks a request as made by ferry's own page or client. A
// browser cannot add it to a cross-site request without a CORS preflight,
// which this API never grants.
const RequestHeader = "X-Ferry-Request"

// Options configures NewHandler. All fields may be zero.
type Options struct {
	// Token, when set, is required on TCP as "Authorization: Bearer TOKEN"
	// for /api/ and /metrics. The unix socket never needs it.
	Token string
	// Page serves GET / and the page's assets (web.Handler()).
	Page http.Handler
	// Metrics serves GET /metrics (metrics.Metrics.Handler()).
	Metrics http.Handler
	Log     *slog.Logger
	// EventInterval is how often /api/v1/events looks for changes; default 1s.
	EventInterval time.Duration
	// Versions, when set, serves GET /api/v1/jobs/{name}/versions and
	// POST /api/v1/jobs/{name}/restore.
	Versions Versions
}

type handler struct {
	c    Controller
	opts Options
	log  *slog.Logger
	mux  *http.ServeMux
}

// NewHandler returns the control API for c. One handler can serve both the
// unix socket and the TCP listener: it tells them apart by the connection's
// local address.
func NewHandler(c Controller, opts Options) http.Handler {
	h := &handler{c: c, opts: opts, log: opts.Log, mux: http.NewServeMux()}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.opts.EventInterval <= 0 {
		h.opts.EventInterval = time.Second
	}
	m := h.mux
	m.HandleFunc("GET /api/v1/jobs", h.jobs)
	m.HandleFunc("GET /api/v1/jobs/{name}", h.job)
	m.HandleFunc("GET /api/v1/rates", h.rates)
	m.HandleFunc("POST /api/v1/jobs/{name}/stop", h.action(c.Stop))
	m.HandleFunc("POST /api/v1/jobs/{name}/resume", h.action(c.Resume))
	m.HandleFunc("POST /api/v1/jobs/{name}/sync-now", h.syncNow)
	m.HandleFunc("POST /api/v1/jobs/{name}/reset-sync", h.action(c.ResetSync))
	m.HandleFunc("GET /api/v1/jobs/{name}/conflicts", h.conflicts)
	m.HandleFunc("POST /api/v1/jobs/{name}/resolve", h.resolve)
	m.HandleFunc("PUT /api/v1/jobs/{name}/bandwidth", h.bandwidth)
	m.HandleFunc("GET /api/v1/events", h.events)
	if opts.Versions != nil {
		m.HandleFunc("GET /api/v1/jobs/{name}/versions", h.versionsList)
		m.HandleFunc("POST /api/v1/jobs/{name}/restore", h.versionsRestore)
	}
	if opts.Metrics != nil {
		m.Handle("GET /metrics", opts.Metrics)
	}
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if opts.Page != nil && !strings.HasPrefix(r.URL.Path, "/api/") && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			opts.Page.ServeHTTP(w, r)
			return
		}
		h.fail(w, r, &requestError{status: http.StatusNotFound, msg: fmt.Sprintf("no endpoint %s %s", r.Method, r.URL.Path)})
	})
	return h
}

// ServeHTTP checks who is asking before routing.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	if err := h.admit(r); err != nil {
		h.fail(w, r, err)
		return
	}
	h.mux.ServeHTTP(w, r)
}

// admit enforces the TCP rules; the unix socket's peer was vetted at accept.
func (h *handler) admit(r *http.Request) error {
	addr, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if _, ok := addr.(*net.UnixAddr); ok {
		return nil
	}
	guarded := strings.HasPrefix(r.URL.Path, "/api/") || r.URL.Path == "/metrics"
	authed := false
	if h.opts.Token == "" {
		// Without a token only loopback is served, and only under a
		// loopback name: a hostile page that rebinds its own DNS name to
		// 127.0.0.1 is then still refused.
		if tcp, ok := addr.(*net.TCPAddr); !ok || !tcp.IP.IsLoopback() {
			return &requestError{status: http.StatusForbidden, msg: "this listener has no token and only answers on loopback: restart ferry with a token to serve other hosts"}
		}
		if !loopbackHost(r.Host) {
			return &requestError{status: http.StatusForbidden, msg: fmt.Sprintf("host %q is not a loopback name: open the page as http://127.0.0.1:PORT/ or http://localhost:PORT/", r.Host)}
		}
	} else if guarded || r.Header.Get("Authorization") != "" {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(h.opts.Token)) != 1 {
			return &requestError{status: http.StatusUnauthorized, msg: "missing or wrong token: send \"Authorization: Bearer TOKEN\" (the page takes it as #token=TOKEN in its address)"}
		}
		authed = true
	}
	if !guarded {
		return nil
	}
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
	default:
		return &requestError{status: http.StatusForbidden, msg: "cross-site requests are refused"}
	}
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return nil
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || !strings.EqualFold(u.Host, r.Host) {
			return &requestError{status: http.StatusForbidden, msg: fmt.Sprintf("requests from origin %q are refused", o)}
		}
	}
	if !authed && r.Header.Get(RequestHeader) != "1" {
		return &requestError{status: http.StatusForbidden, msg: "state-changing requests need the header \"" + RequestHeader + ": 1\" or the token"}
	}
	return nil
}

func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// status finds a job by name; ok is false when there is none.
func (h *handler) status(name string) (agent.JobStatus, bool) {
	for _, j := range h.c.Jobs() {
		if j.Name == name {
			return j, true
		}
	}
	return agent.JobStatus{}, false
}

func (h *handler) known(r *http.Request) (agent.JobStatus, error) {
	name := r.PathValue("name")
	j, ok := h.status(name)
	if !ok {
		return j, &requestError{status: http.StatusNotFound, msg: fmt.Sprintf("no job named %q: `ferry status` lists the jobs", name)}
	}
	return j, nil
}

func (h *handler) jobs(w http.ResponseWriter, r *http.Request) {
	jobs := h.c.Jobs()
	if jobs == nil {
		jobs = []agent.JobStatus{}
	}
	h.reply(w, jobs)
}

func (h *handler) rates(w http.ResponseWriter, r *http.Request) {
	hs := h.c.RateHistory()
	if hs == nil {
		hs = []agent.RateHistory{}
	}
	h.reply(w, hs)
}

func (h *handler) job(w http.ResponseWriter, r *http.Request) {
	j, err := h.known(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.reply(w, j)
}

// action runs a body-less command and replies with the job's new status.
func (h *handler) action(do func(job string) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var empty struct{}
		if err := decode(w, r, &empty, true); err != nil {
			h.fail(w, r, err)
			return
		}
		h.apply(w, r, do)
	}
}

func (h *handler) apply(w http.ResponseWriter, r *http.Request, do func(job string) error) {
	j, err := h.known(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if err := do(j.Name); err != nil {
		status := http.StatusConflict // the job's current state refused it
		switch {
		case errors.Is(err, agent.ErrNoJob): // a reload removed it meanwhile
			status = http.StatusNotFound
		case errors.Is(err, agent.ErrNotRunning):
			status = http.StatusServiceUnavailable
		}
		h.fail(w, r, &requestError{status: status, msg: err.Error()})
		return
	}
	h.log.Info("control request", "method", r.Method, "path", r.URL.Path, "job", j.Name)
	// Reply with the status after the change; a reload may have just
	// removed the job, and then the status before it is all there is.
	if now, ok := h.status(j.Name); ok {
		j = now
	}
	h.reply(w, j)
}

func (h *handler) conflicts(w http.ResponseWriter, r *http.Request) {
	j, err := h.known(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	recs, err := h.c.Conflicts(j.Name)
	if err != nil {
		h.fail(w, r, fmt.Errorf("unable to list conflicts of job %q: %w", j.Name, err))
		return
	}
	h.reply(w, NewConflicts(recs))
}

func (h *handler) syncNow(w http.ResponseWriter, r *http.Request) {
	var req SyncNowRequest
	if err := decode(w, r, &req, true); err != nil {
		h.fail(w, r, err)
		return
	}
	h.apply(w, r, func(job string) error {
		return h.c.SyncNowWith(job, agent.SyncNowOptions{AllowDeletes: req.AllowDeletes, AllowChanges: req.AllowChanges})
	})
}

func (h *handler) resolve(w http.ResponseWriter, r *http.Request) {
	var req ResolveRequest
	if err := decode(w, r, &req, false); err != nil {
		h.fail(w, r, err)
		return
	}
	if err := req.check(); err != nil {
		h.fail(w, r, badRequest("%v", err))
		return
	}
	h.apply(w, r, func(job string) error { return h.c.Resolve(job, req.Paths) })
}

func (h *handler) bandwidth(w http.ResponseWriter, r *http.Request) {
	var req BandwidthRequest
	if err := decode(w, r, &req, false); err != nil {
		h.fail(w, r, err)
		return
	}
	j, err := h.known(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	bw, err := req.apply(j.Bandwidth)
	if err != nil {
		h.fail(w, r, badRequest("%v", err))
		return
	}
	// Nil keeps the job's schedule rules as they are in the agent.
	bw.Schedule = nil
	h.apply(w, r, func(job string) error { return h.c.SetBandwidth(job, bw) })
}

// errorBody is every error reply.
type errorBody struct {
	Error string `json:"error"`
}

func (h *handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	status := http.StatusInternalServerError
	var re *requestError
	if errors.As(err, &re) {
		status = re.status
	} else {
		h.log.Error("control request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="ferry"`)
	}
	writeJSON(w, status, errorBody{Error: err.Error()})
}

func (h *handler) reply(w http.ResponseWriter, v any) { writeJSON(w, http.StatusOK, v) }

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"unable to encode reply"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
