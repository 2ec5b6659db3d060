// Package chromium renders a page in headless Chromium for tests that must
// see what a browser builds from icelab's HTML report. It knows how to find
// and start the browser offline, nothing of the report.
package chromium

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// DumpDOM renders the HTML file at path in headless Chromium and returns the
// DOM the browser built. It skips the test with a message when no Chromium
// is installed (.ci/run installs Debian's).
func DumpDOM(t testing.TB, path string) string {
	t.Helper()
	browser := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			browser = p
			break
		}
	}
	if browser == "" {
		t.Skip("no Chromium installed (.ci/run installs Debian's chromium)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Flags that keep a headless Chromium from reaching for the network,
	// which this machine's closed network refuses.
	dom, err := exec.CommandContext(ctx, browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+filepath.Join(t.TempDir(), "profile"), "--dump-dom", "file://"+path).Output()
	if err != nil {
		t.Fatalf("%s --dump-dom %s: %v", browser, path, err)
	}
	return string(dom)
}
