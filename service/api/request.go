package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/tree"
)

// maxBody bounds every request body; a resolve of a few thousand paths fits.
const maxBody = 1 << 20

// maxRate is far above any link ferry drives, and keeps unit conversion far
// from int64 overflow.
const maxRate = 1e13

// Rate is a bit rate in a request body: a JSON number of bits per second, or
// a string as the jobs file writes rates (config.ParseRate: "20Mbps",
// "1.5Gbps", "500Kbps", "20Mbit/s", "0" for uncapped). It encodes as a
// number.
type Rate config.Rate

// UnmarshalJSON accepts a number or a rate string.
func (r *Rate) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		// One syntax for rates, in the jobs file and here.
		v, err := config.ParseRate(s)
		if err != nil {
			return err
		}
		*r = Rate(v)
		return nil
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("rate %s is neither a number of bits per second nor a string like \"20Mbps\"", b)
	}
	v, err := checkRate(f, string(b))
	if err != nil {
		return err
	}
	*r = Rate(v)
	return nil
}

func checkRate(f float64, shown string) (config.Rate, error) {
	switch {
	case math.IsNaN(f) || math.IsInf(f, 0):
		return 0, fmt.Errorf("rate %s is not a finite number", shown)
	case f < 0:
		return 0, fmt.Errorf("rate %s is negative: use 0 for uncapped", shown)
	case f > maxRate:
		return 0, fmt.Errorf("rate %s is above 10Tbps", shown)
	}
	return config.Rate(math.Round(f)), nil
}

// MarshalJSON encodes the rate as a number of bits per second.
func (r Rate) MarshalJSON() ([]byte, error) { return strconv.AppendInt(nil, int64(r), 10), nil }

// BandwidthRequest is the body of PUT /api/v1/jobs/{name}/bandwidth. Omitted
// fields keep the job's current value; the job's bandwidth schedule is kept.
type BandwidthRequest struct {
	Upload     *Rate          `json:"upload,omitempty"`
	Download   *Rate          `json:"download,omitempty"`
	Policy     *config.Policy `json:"policy,omitempty"`
	TargetRate *Rate          `json:"target_rate,omitempty"`
	MinRate    *Rate          `json:"min_rate,omitempty"`
}

// UnmarshalJSON decodes strictly and names the field a bad rate is in.
func (b *BandwidthRequest) UnmarshalJSON(data []byte) error {
	var raw struct {
		Upload     json.RawMessage `json:"upload"`
		Download   json.RawMessage `json:"download"`
		Policy     *config.Policy  `json:"policy"`
		TargetRate json.RawMessage `json:"target_rate"`
		MinRate    json.RawMessage `json:"min_rate"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return err
	}
	out := BandwidthRequest{Policy: raw.Policy}
	for _, f := range []struct {
		name string
		raw  json.RawMessage
		dst  **Rate
	}{
		{"upload", raw.Upload, &out.Upload},
		{"download", raw.Download, &out.Download},
		{"target_rate", raw.TargetRate, &out.TargetRate},
		{"min_rate", raw.MinRate, &out.MinRate},
	} {
		if len(f.raw) == 0 || string(f.raw) == "null" {
			continue
		}
		var r Rate
		if err := r.UnmarshalJSON(f.raw); err != nil {
			return fmt.Errorf("field %q: %w", f.name, err)
		}
		*f.dst = &r
	}
	*b = out
	return nil
}

// apply returns cur changed by the request, or an error naming the field
// that makes no sense.
func (b BandwidthRequest) apply(cur config.Bandwidth) (config.Bandwidth, error) {
	set := func(dst *config.Rate, v *Rate) {
		if v != nil {
			*dst = config.Rate(*v)
		}
	}
	set(&cur.Upload, b.Upload)
	set(&cur.Download, b.Download)
	set(&cur.TargetRate, b.TargetRate)
	set(&cur.MinRate, b.MinRate)
	if b.Policy != nil {
		switch *b.Policy {
		case config.Fixed, config.High, config.Fair, config.Low:
			cur.Policy = *b.Policy
		default:
			return cur, fmt.Errorf("field \"policy\": %q is not one of fixed, high, fair, low", string(*b.Policy))
		}
	}
	if cur.MinRate != 0 && cur.TargetRate != 0 && cur.MinRate > cur.TargetRate {
		return cur, fmt.Errorf("field \"min_rate\": %d bit/s is above target_rate %d bit/s", cur.MinRate, cur.TargetRate)
	}
	return cur, nil
}

// SyncNowRequest is the optional body of POST /api/v1/jobs/{name}/sync-now;
// no body is a plain pass. Agents decode bodies strictly: one that predates
// a field answers 400 (unknown field) rather than running a pass without it,
// so clients send the body only when a field is set.
type SyncNowRequest struct {
	// AllowDeletes lifts max_delete and the root-emptied guard for the
	// pass asked for only.
	AllowDeletes bool `json:"allow_deletes,omitempty"`
	// AllowChanges lifts max_change for the pass asked for only.
	AllowChanges bool `json:"allow_changes,omitempty"`
}

// ResolveRequest is the body of POST /api/v1/jobs/{name}/resolve.
type ResolveRequest struct {
	Paths []string `json:"paths"`
}

func (r ResolveRequest) check() error {
	if len(r.Paths) == 0 {
		return errors.New("field \"paths\": name at least one conflicting path")
	}
	for _, p := range r.Paths {
		if err := tree.ValidPath(p); err != nil {
			return fmt.Errorf("field \"paths\": %w", err)
		}
	}
	return nil
}

// requestError is a client mistake: it is reported with its status code and
// never as a server failure.
type requestError struct {
	status int
	msg    string
}

func (e *requestError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &requestError{status: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

// decode reads exactly one JSON value into v, refusing unknown fields,
// trailing data and bodies over maxBody. An empty body is allowed only when
// emptyOK, and leaves v untouched.
func decode(w http.ResponseWriter, r *http.Request, v any, emptyOK bool) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, _ := strings.Cut(ct, ";")
		if !strings.EqualFold(strings.TrimSpace(mt), "application/json") {
			return &requestError{status: http.StatusUnsupportedMediaType, msg: fmt.Sprintf("content type %q is not application/json", ct)}
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return &requestError{status: http.StatusRequestEntityTooLarge, msg: fmt.Sprintf("request body is over %d bytes", maxBody)}
		}
		return badRequest("unable to read request body: %v", err)
	}
	return decodeBody(body, v, emptyOK)
}

func decodeBody(body []byte, v any, emptyOK bool) error {
	if len(bytes.TrimSpace(body)) == 0 {
		if emptyOK {
			return nil
		}
		return badRequest("request body is empty: send a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest("bad JSON: %s", describe(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return badRequest("bad JSON: unexpected data after the object")
	}
	return nil
}

// describe turns encoding/json's errors into messages that name the field.
func describe(err error) string {
	var typ *json.UnmarshalTypeError
	var syn *json.SyntaxError
	switch {
	case errors.As(err, &typ):
		if typ.Field == "" {
			return fmt.Sprintf("expected a JSON %s, got %s", typ.Type.Kind(), typ.Value)
		}
		return fmt.Sprintf("field %q: expected %s, got %s", typ.Field, typ.Type.Kind(), typ.Value)
	case errors.As(err, &syn):
		return fmt.Sprintf("syntax error at byte %d: %v", syn.Offset, syn)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "the body ends in the middle of a value"
	}
	// Unknown fields ("json: unknown field \"x\"") and errors from our own
	// UnmarshalJSON methods already say what is wrong.
	return strings.TrimPrefix(err.Error(), "json: ")
}
