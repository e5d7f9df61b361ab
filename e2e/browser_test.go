package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// browser starts headless Chromium (Debian's chromium, which make test
// installs when it can) with the flags this machine's closed network
// needs, and returns a context for chromedp actions. It skips the test,
// saying why, when there is no browser.
func browser(t *testing.T, opts ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not installed (make test installs Debian's chromium with apt-get when it can): skipping the browser tests")
	}
	opts = append([]chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
	}, opts...)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(func() {
		cancelTimeout()
		cancel()
		cancelAlloc()
	})
	return ctx
}

// screenshot saves the page as a test artifact: in $ARTIFACTS when set,
// else in e2e/artifacts (ignored by git).
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("ARTIFACTS")
	if dir == "" {
		dir = "artifacts"
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(90))
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(dir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644))
}

// text returns the text of the first element sel matches.
func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	require.NoError(t, err)
	return s
}

// TestBrowserFollowsAListingLink opens a directory listing and follows
// one of its links.
func TestBrowserFollowsAListingLink(t *testing.T) {
	ctx := browser(t)
	inst := startServer(t, defaultConfig(""))
	link := chromedp.CSS(`a[href="readme.txt"]`)
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(inst.url("/docs/")), chromedp.WaitVisible(link)))
	screenshot(t, ctx, "listing")
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(link), chromedp.WaitReady(chromedp.CSS("body"))))
	require.Eventually(t, func() bool {
		location, err := chromedp.Run(ctx, chromedp.Location())
		return err == nil && location == inst.url("/docs/readme.txt")
	}, 10*time.Second, 50*time.Millisecond, "the link leads to the file")
	want, err := os.ReadFile("../www/docs/readme.txt")
	require.NoError(t, err)
	assert.Equal(t, strings.TrimSpace(string(want)), strings.TrimSpace(text(t, ctx, "body")))
}

// TestBrowserWatchesTheStatusPage: the status page's request counter
// moves while requests are made.
func TestBrowserWatchesTheStatusPage(t *testing.T) {
	ctx := browser(t)
	inst := startServer(t, withAdmin(defaultConfig("")))
	status := "http://" + inst.admin() + "/status"
	requests := func() int {
		_, body := get(t, "GET", status+".json", nil)
		var s struct {
			Requests int `json:"requests"`
		}
		require.NoError(t, json.Unmarshal([]byte(body), &s))
		return s.Requests
	}
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(status), chromedp.WaitVisible(chromedp.CSS("body"))))
	before := text(t, ctx, "body")
	start := requests()
	for range 25 {
		get(t, "GET", inst.url("/index.html"), nil)
	}
	require.NoError(t, chromedp.Do(ctx, chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("body"))))
	after := text(t, ctx, "body")
	screenshot(t, ctx, "status")
	assert.GreaterOrEqual(t, requests(), start+25)
	assert.NotEqual(t, before, after, "the page shows the new counts")
	assert.Contains(t, after, fmt.Sprint(start+25), "the request count after the 25 requests")
}

// TestBrowserThroughTheCachingProxy sets wasmhttpd as the browser's proxy
// and loads a page from a local origin twice: the second time from the
// cache.
func TestBrowserThroughTheCachingProxy(t *testing.T) {
	var pageHits atomic.Int64 // the browser asks for /favicon.ico too
	origin, _ := countingOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/page.html" {
			http.NotFound(w, r)
			return
		}
		pageHits.Add(1)
		w.Header().Set("Cache-Control", "max-age=300")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, "<!doctype html><title>cached</title><h1>from the origin</h1>")
	})
	inst := startServer(t, cachingConfig(t, t.TempDir(), ""))
	// Two browsers, each with an empty cache of its own, so that the
	// second load can only come from the proxy's. Chromium sends loopback
	// requests direct unless told otherwise.
	for i := range 2 {
		ctx := browser(t, chromedp.ProxyServer("http://"+inst.proxy()), chromedp.Flag("proxy-bypass-list", "<-loopback>"))
		require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(origin.URL+"/page.html"), chromedp.WaitVisible(chromedp.CSS("h1"))))
		assert.Equal(t, "from the origin", text(t, ctx, "h1"))
		screenshot(t, ctx, fmt.Sprintf("proxy-%d", i+1))
	}
	assert.Equal(t, int64(1), pageHits.Load(), "the second load came from the proxy's cache")
}
