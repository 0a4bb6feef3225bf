package api

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// TestSyncNowAllowDeletesReachesTheController: the client's AllowDeletes
// reaches the controller as a typed option; a plain SyncNow sends no body
// and asks for a guarded pass.
func TestSyncNowAllowDeletesReachesTheController(t *testing.T) {
	f := fixture()
	c := NewClient(serve(t, f, Options{}), "")
	ctx := context.Background()
	if _, err := c.SyncNowWith(ctx, "docs", SyncNowRequest{AllowDeletes: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SyncNow(ctx, "docs"); err != nil {
		t.Fatal(err)
	}
	want := []string{"sync-now --allow-deletes docs", "sync-now docs"}
	if got := f.Calls(); !slices.Equal(got, want) {
		t.Fatalf("calls %q, want %q", got, want)
	}
}

// TestActionRefusesUnknownFields: before SyncNowRequest, sync-now was a
// plain action decoding its body into an empty struct, as stop still does.
// Such an agent refuses {"allow_deletes":true} (400, unknown field) rather
// than running a guarded pass and answering OK: a newer CLI asking an older
// agent fails loudly.
func TestActionRefusesUnknownFields(t *testing.T) {
	f := fixture()
	addr := serve(t, f, Options{})
	code, body := raw(t, http.MethodPost, "http://"+addr+"/api/v1/jobs/docs/stop", `{"allow_deletes":true}`,
		map[string]string{RequestHeader: "1", "Content-Type": "application/json"})
	if code != http.StatusBadRequest || !strings.Contains(body, "allow_deletes") {
		t.Fatalf("an action given an unknown field: %d %s", code, body)
	}
	if calls := f.Calls(); len(calls) != 0 {
		t.Fatalf("the refused request reached the controller: %q", calls)
	}
}
