// Package webtest drives a headless Chromium through chromedriver, so tests
// can check what the activity page really shows.
package webtest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Driver is just enough of the W3C WebDriver protocol to steer chromedriver.
type Driver struct {
	t       *testing.T
	base    string // http://127.0.0.1:PORT/session/ID
	cmd     *exec.Cmd
	httpc   *http.Client
	logMu   sync.Mutex
	logs    bytes.Buffer
	session string
}

// Start runs chromedriver and opens a headless Chromium session. It
// skips the test when either is missing, unless FERRY_REQUIRE_BROWSER is set.
func Start(t *testing.T) *Driver {
	t.Helper()
	drv, err1 := exec.LookPath("chromedriver")
	var bin string
	var err2 error
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if bin, err2 = exec.LookPath(name); err2 == nil {
			break
		}
	}
	if err1 != nil || err2 != nil {
		msg := fmt.Sprintf("browser test needs chromium and chromedriver (apt-get install chromium chromium-Driver): %v, %v", err1, err2)
		if os.Getenv("FERRY_REQUIRE_BROWSER") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	port := freePort(t)
	d := &Driver{t: t, httpc: &http.Client{Timeout: 60 * time.Second}}
	d.cmd = exec.Command(drv, "--port="+strconv.Itoa(port), "--allowed-ips=127.0.0.1")
	d.cmd.Stdout, d.cmd.Stderr = (*lockedWriter)(d), (*lockedWriter)(d)
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("unable to start chromedriver: %v", err)
	}
	// The profile is removed after the browser has quit: t.TempDir's own
	// cleanup would run first (cleanups are LIFO) and race Chromium's
	// last writes into it.
	profile, err := os.MkdirTemp("", "ferry-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		d.close()
		for range 50 {
			if os.RemoveAll(profile) == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Logf("unable to remove the browser profile %s", profile)
	})
	root := "http://127.0.0.1:" + strconv.Itoa(port)
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := d.httpc.Get(root + "/status")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("chromedriver did not come up: %v\n%s", err, d.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
	caps := map[string]any{"capabilities": map[string]any{"alwaysMatch": map[string]any{
		"browserName": "chrome",
		"goog:chromeOptions": map[string]any{
			"binary": bin,
			"args": []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
				"--disable-background-networking", "--disable-component-update", "--disable-sync",
				"--disable-dev-shm-usage", "--window-size=1200,1000", "--user-data-dir=" + profile},
		},
	}}}
	var sess struct {
		SessionID string `json:"sessionId"`
	}
	d.base = root
	d.call("POST", "/session", caps, &sess)
	d.session = sess.SessionID
	d.base = root + "/session/" + sess.SessionID
	return d
}

type lockedWriter Driver

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.logMu.Lock()
	defer w.logMu.Unlock()
	return w.logs.Write(p)
}

func (d *Driver) log() string {
	d.logMu.Lock()
	defer d.logMu.Unlock()
	return d.logs.String()
}

func (d *Driver) close() {
	if d.session != "" {
		req, _ := http.NewRequest("DELETE", d.base, nil)
		if resp, err := d.httpc.Do(req); err == nil {
			resp.Body.Close()
		}
	}
	d.cmd.Process.Kill()
	d.cmd.Wait()
}

// wdError is an error reply from the Driver.
type wdError struct {
	Code    string `json:"error"`
	Message string `json:"message"`
}

func (e *wdError) Error() string { return e.Code + ": " + e.Message }

// try sends one command and decodes its "value" into out.
func (d *Driver) try(method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, d.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := d.httpc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var env struct {
		Value json.RawMessage `json:"value"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		var we wdError
		json.Unmarshal(env.Value, &we)
		return &we
	}
	if out != nil {
		return json.Unmarshal(env.Value, out)
	}
	return nil
}

func (d *Driver) call(method, path string, body, out any) {
	d.t.Helper()
	if err := d.try(method, path, body, out); err != nil {
		d.t.Fatalf("webdriver %s %s: %v\n%s", method, path, err, d.log())
	}
}

func (d *Driver) Open(url string) { d.call("POST", "/url", map[string]string{"url": url}, nil) }

// Exec runs script (a function body; args in arguments[]) and decodes its
// return value into out.
func (d *Driver) Exec(out any, script string, args ...any) {
	d.t.Helper()
	if args == nil {
		args = []any{}
	}
	d.call("POST", "/execute/sync", map[string]any{"script": script, "args": args}, out)
}

// Click finds the element with the CSS selector and clicks it as a user.
func (d *Driver) Click(css string) {
	d.t.Helper()
	var ref map[string]string
	d.call("POST", "/element", map[string]string{"using": "css selector", "value": css}, &ref)
	for _, id := range ref {
		d.call("POST", "/element/"+id+"/click", map[string]any{}, nil)
		return
	}
	d.t.Fatalf("no element reference for %s", css)
}

// WaitFor evaluates script until it returns want, for up to 15 s.
func (d *Driver) WaitFor(what, want, script string, args ...any) {
	d.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var got string
	for time.Now().Before(deadline) {
		got = ""
		d.Exec(&got, script, args...)
		if got == want {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	d.t.Fatalf("%s: still %q after 15s, want %q", what, got, want)
}

// AlertOpen says whether a JavaScript dialog is showing.
func (d *Driver) AlertOpen() bool {
	var text string
	err := d.try("GET", "/alert/text", nil, &text)
	if we, ok := err.(*wdError); ok && we.Code == "no such alert" {
		return false
	}
	if err != nil {
		d.t.Fatalf("unable to ask for an alert: %v", err)
	}
	return true
}

func (d *Driver) Screenshot(path string) {
	d.t.Helper()
	var b64 string
	d.call("GET", "/screenshot", nil, &b64)
	png, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		d.t.Fatal(err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		d.t.Fatal(err)
	}
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
