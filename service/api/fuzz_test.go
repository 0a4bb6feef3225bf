package api

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzRequestBodies feeds arbitrary bodies to every endpoint that reads one:
// the reply is always JSON and never a server error.
func FuzzRequestBodies(f *testing.F) {
	for _, s := range []string{
		``, `{}`, `null`, `[]`, `{"paths":["a.jpg"]}`, `{"paths":[""]}`, `{"paths":null}`,
		`{"upload":"20Mbps","download":5e6,"policy":"fair","target_rate":"1.5Gbps","min_rate":"0"}`,
		`{"upload":1e400}`, `{"upload":"NaNbps"}`, `{"upload":"-0"}`, `{"upload":"0x10Mbps"}`, `{"policy":7}`,
		`{"upload":{}}`, `{"paths":["a\u0000b"]}`, `{"min_rate":"9Gbps","target_rate":"1Gbps"}`, "\xff",
	} {
		f.Add(s)
	}
	h := NewHandler(fixture(), Options{})
	ctx := context.WithValue(context.Background(), http.LocalAddrContextKey, &net.UnixAddr{Name: "ferry.sock", Net: "unix"})
	f.Fuzz(func(t *testing.T, body string) {
		for _, ep := range []struct{ method, path string }{
			{"POST", "/api/v1/jobs/photos/resolve"},
			{"PUT", "/api/v1/jobs/docs/bandwidth"},
			{"POST", "/api/v1/jobs/docs/sync-now"},
		} {
			req := httptest.NewRequestWithContext(ctx, ep.method, ep.path, strings.NewReader(body))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code >= 500 {
				t.Fatalf("%s %s %q: %d %s", ep.method, ep.path, body, rec.Code, rec.Body)
			}
			if !json.Valid(rec.Body.Bytes()) {
				t.Fatalf("%s %s %q: reply is not JSON: %s", ep.method, ep.path, body, rec.Body)
			}
		}
	})
}

func TestRateAcceptsNumbersAndStrings(t *testing.T) {
	for in, want := range map[string]int64{
		`"20Mbps"`: 20_000_000, `"1.5Gbps"`: 1_500_000_000, `"500Kbps"`: 500_000, `"20Mbit/s"`: 20_000_000,
		`"0"`: 0, `12345`: 12345, `2.5e6`: 2_500_000, `0`: 0,
	} {
		var r Rate
		if err := r.UnmarshalJSON([]byte(in)); err != nil || int64(r) != want {
			t.Errorf("Rate(%s) = %d, %v; want %d", in, r, err, want)
		}
	}
	for _, in := range []string{`""`, `"fast"`, `"-1Mbps"`, `"1e30Gbps"`, `-1`, `1e400`, `"NaN"`, `true`, `[]`, `1e14`} {
		var r Rate
		if err := r.UnmarshalJSON([]byte(in)); err == nil {
			t.Errorf("Rate(%s) = %d, want an error", in, r)
		}
	}
}
