package webtest

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
)

// TestDialogsAreCaught: the page tests rely on Dialogs to see a file name
// that ran as script; an alert must neither hang the browser nor pass
// unseen.
func TestDialogsAreCaught(t *testing.T) {
	b := Start(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`<!doctype html><p id="p">x</p><button onclick="alert('boom'); document.getElementById('p').textContent = 'clicked'">b</button>`))
	}))
	defer srv.Close()
	b.Open(srv.URL)
	if got := b.Dialogs(); len(got) != 0 {
		t.Fatalf("dialogs before the click: %q", got)
	}
	b.Click("button")
	b.WaitFor("text after the alert", "clicked", `return document.getElementById("p").textContent`)
	if got := b.Dialogs(); !slices.Equal(got, []string{"alert: boom"}) {
		t.Fatalf("Dialogs = %q, want the alert", got)
	}
	var sum int
	b.Exec(&sum, `return arguments[0] + arguments[1].length`, 40, []string{"a", "b"})
	if sum != 42 {
		t.Fatalf("Exec with arguments = %d", sum)
	}
}
