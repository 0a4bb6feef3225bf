// Package webtest drives a headless Chromium through the DevTools protocol
// (chromedp, no chromedriver), so tests can check what the activity page
// really shows.
package webtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// RequireEnv, when set, makes a missing browser a failure rather than a
// skip (CI sets it).
const RequireEnv = "FERRY_REQUIRE_BROWSER"

// callTimeout bounds one step; waitTimeout bounds WaitFor.
const (
	callTimeout = 60 * time.Second
	waitTimeout = 15 * time.Second
)

func findChromium() (string, error) {
	var err error
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		var bin string
		if bin, err = exec.LookPath(name); err == nil {
			return bin, nil
		}
	}
	return "", err
}

// Available says whether a Chromium is installed for Start to run.
func Available() bool {
	_, err := findChromium()
	return err == nil
}

// Browser is one tab of a headless Chromium.
type Browser struct {
	t   *testing.T
	ctx context.Context // the tab's chromedp context

	mu      sync.Mutex
	out     bytes.Buffer // the browser's own output, for failures
	dialogs []string     // every alert, confirm or prompt the page opened
}

type lockedWriter Browser

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.out.Write(p)
}

func (b *Browser) log() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.out.String()
}

// Start runs a headless Chromium and opens a tab, closed when the test
// ends. It skips the test when no Chromium is installed, unless
// RequireEnv is set.
func Start(t *testing.T) *Browser {
	t.Helper()
	bin, err := findChromium()
	if err != nil {
		msg := fmt.Sprintf("browser test needs chromium (apt-get install chromium): %v", err)
		if os.Getenv(RequireEnv) != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	b := &Browser{t: t}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.NoSandbox, // CI runs as root, where Chromium's sandbox refuses to start
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1200, 1000),
		chromedp.CombinedOutput((*lockedWriter)(b)),
	)
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithErrorf(func(format string, a ...any) {
		fmt.Fprintf((*lockedWriter)(b), "chromedp: "+format+"\n", a...)
	}))
	b.ctx = ctx
	// The first Run starts the browser, which lives as long as its
	// context: so no timeout on this one.
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		acancel()
		t.Fatalf("unable to start %s: %v\n%s", bin, err, b.log())
	}
	// A dialog blocks the page until it is answered: dismiss each one and
	// remember it, so a file name that ran as script shows up in Dialogs
	// instead of hanging the test.
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.dialogs = append(b.dialogs, string(ev.Type)+": "+ev.Message)
			b.mu.Unlock()
			if _, err := chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false}); err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		cctx, ccancel := context.WithTimeout(ctx, 30*time.Second)
		if err := chromedp.Cancel(cctx); err != nil {
			t.Logf("unable to close the browser: %v", err)
		}
		ccancel()
		cancel()
		acancel() // waits for the browser to exit and removes its profile
		<-done
	})
	return b
}

func (b *Browser) run(what string, a chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, callTimeout)
	defer cancel()
	if _, err := chromedp.Run(ctx, a); err != nil {
		b.t.Fatalf("%s: %v\n%s", what, err, b.log())
	}
}

// Open loads url and waits for its load event.
func (b *Browser) Open(url string) {
	b.t.Helper()
	b.run("open "+url, chromedp.Navigate(url))
}

// Exec runs script (a function body; args in arguments[]) and decodes its
// return value into out.
func (b *Browser) Exec(out any, script string, args ...any) {
	b.t.Helper()
	if args == nil {
		args = []any{}
	}
	a, err := json.Marshal(args)
	if err != nil {
		b.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(b.ctx, callTimeout)
	defer cancel()
	res, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte]("(function(){\n"+script+"\n}).apply(null, "+string(a)+")"))
	if err == nil {
		err = json.Unmarshal(res, out)
	}
	if err != nil {
		first, _, _ := strings.Cut(script, "\n")
		b.t.Fatalf("script %q: %v\n%s", first, err, b.log())
	}
}

// Click clicks the first element matching the CSS selector with the
// mouse, as a user does, once it is visible.
func (b *Browser) Click(css string) {
	b.t.Helper()
	b.run("click "+css, chromedp.Click(chromedp.CSS(css)))
}

// WaitFor evaluates script until it returns want, for up to 15 s.
func (b *Browser) WaitFor(what, want, script string, args ...any) {
	b.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	var got string
	for time.Now().Before(deadline) {
		got = ""
		b.Exec(&got, script, args...)
		if got == want {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.t.Fatalf("%s: still %q after %v, want %q", what, got, waitTimeout, want)
}

// Dialogs returns every JavaScript dialog (alert, confirm, prompt) the
// page has opened so far, each as "TYPE: MESSAGE"; each was dismissed.
func (b *Browser) Dialogs() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.dialogs...)
}

// Screenshot saves a PNG of the viewport to path.
func (b *Browser) Screenshot(path string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, callTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}
