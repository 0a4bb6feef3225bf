package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ferry-sync/ferry/agent"
	"github.com/ferry-sync/ferry/conflict"
)

// ErrNotFound matches (errors.Is) an Error for an unknown job.
var ErrNotFound = errors.New("not found")

// Error is a reply from the API other than success.
type Error struct {
	Status  int    // HTTP status code
	Message string // what the server said
}

func (e *Error) Error() string {
	return fmt.Sprintf("ferry refused the request (%d %s): %s", e.Status, http.StatusText(e.Status), e.Message)
}

// Is makes errors.Is(err, ErrNotFound) true for a 404.
func (e *Error) Is(target error) bool {
	return target == ErrNotFound && e.Status == http.StatusNotFound
}

// Client talks to a running ferry's control API.
type Client struct {
	base  string
	token string
	http  *http.Client
}

// NewClient returns a client for target: a unix socket path (anything with
// a slash, or "unix:PATH"), an "http://" or "https://" URL, or a TCP
// HOST:PORT. token may be empty; it is sent as a bearer token when set.
func NewClient(target, token string) *Client {
	c := &Client{token: token}
	tr := &http.Transport{Proxy: nil, MaxIdleConns: 2, IdleConnTimeout: 30 * time.Second}
	switch {
	case strings.HasPrefix(target, "http://") || strings.HasPrefix(target, "https://"):
		c.base = strings.TrimSuffix(target, "/")
	case strings.HasPrefix(target, "unix:") || strings.Contains(target, "/"):
		path := strings.TrimPrefix(target, "unix:")
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}
		// The socket ignores Host; localhost keeps it valid anywhere.
		c.base = "http://localhost"
	default:
		c.base = "http://" + target
	}
	c.http = &http.Client{Transport: tr, Timeout: time.Minute}
	return c
}

// Jobs lists every job's status.
func (c *Client) Jobs(ctx context.Context) ([]agent.JobStatus, error) {
	var out []agent.JobStatus
	return out, c.do(ctx, http.MethodGet, "/api/v1/jobs", nil, &out)
}

// RateHistory returns each job's rate in each of the last seconds
// (agent.HistoryLen of them).
func (c *Client) RateHistory(ctx context.Context) ([]agent.RateHistory, error) {
	var out []agent.RateHistory
	return out, c.do(ctx, http.MethodGet, "/api/v1/rates", nil, &out)
}

// Job returns one job's status.
func (c *Client) Job(ctx context.Context, name string) (agent.JobStatus, error) {
	var out agent.JobStatus
	return out, c.do(ctx, http.MethodGet, jobPath(name, ""), nil, &out)
}

// Stop stops a job's passes until Resume.
func (c *Client) Stop(ctx context.Context, name string) (agent.JobStatus, error) {
	return c.post(ctx, name, "stop", nil)
}

// Resume lets a stopped or halted job run again.
func (c *Client) Resume(ctx context.Context, name string) (agent.JobStatus, error) {
	return c.post(ctx, name, "resume", nil)
}

// SyncNow starts a pass now.
func (c *Client) SyncNow(ctx context.Context, name string) (agent.JobStatus, error) {
	return c.SyncNowWith(ctx, name, SyncNowRequest{})
}

// SyncNowWith starts a pass now with req's options. The body is sent only
// when an option is set, so an agent that does not know it refuses the
// request (400) instead of running a pass without it.
func (c *Client) SyncNowWith(ctx context.Context, name string, req SyncNowRequest) (agent.JobStatus, error) {
	if req == (SyncNowRequest{}) {
		return c.post(ctx, name, "sync-now", nil)
	}
	return c.post(ctx, name, "sync-now", req)
}

// ResetSync forgets the job's ancestor and conflicts.
func (c *Client) ResetSync(ctx context.Context, name string) (agent.JobStatus, error) {
	return c.post(ctx, name, "reset-sync", nil)
}

// Conflicts lists a job's unresolved conflicts.
func (c *Client) Conflicts(ctx context.Context, name string) ([]conflict.Record, error) {
	var wire []Conflict
	if err := c.do(ctx, http.MethodGet, jobPath(name, "conflicts"), nil, &wire); err != nil {
		return nil, err
	}
	var out []conflict.Record
	for _, w := range wire {
		out = append(out, w.Record())
	}
	return out, nil
}

// Resolve marks conflicting paths as resolved.
func (c *Client) Resolve(ctx context.Context, name string, paths []string) (agent.JobStatus, error) {
	return c.post(ctx, name, "resolve", ResolveRequest{Paths: paths})
}

// SetBandwidth changes a job's rates; nil fields keep their value.
func (c *Client) SetBandwidth(ctx context.Context, name string, req BandwidthRequest) (agent.JobStatus, error) {
	var out agent.JobStatus
	return out, c.do(ctx, http.MethodPut, jobPath(name, "bandwidth"), req, &out)
}

func (c *Client) post(ctx context.Context, name, verb string, body any) (agent.JobStatus, error) {
	var out agent.JobStatus
	return out, c.do(ctx, http.MethodPost, jobPath(name, verb), body, &out)
}

func jobPath(name, verb string) string {
	p := "/api/v1/jobs/" + url.PathEscape(name)
	if verb != "" {
		p += "/" + verb
	}
	return p
}

func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("unable to encode request: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return fmt.Errorf("unable to build request: %w", err)
	}
	req.Header.Set(RequestHeader, "1")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("unable to reach ferry (is `ferry run` going?): %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("unable to read ferry's reply: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var eb errorBody
		if json.Unmarshal(b, &eb) != nil || eb.Error == "" {
			eb.Error = strings.TrimSpace(string(b))
		}
		return &Error{Status: resp.StatusCode, Message: eb.Error}
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("unable to decode ferry's reply to %s %s: %w", method, path, err)
	}
	return nil
}
