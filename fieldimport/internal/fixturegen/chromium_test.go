//go:build netlab

package fixturegen

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/icelab/icelab/internal/fidelity"
	"github.com/icelab/icelab/internal/netlab"
	"github.com/icelab/icelab/internal/netlab/call"
)

// TestMain first lets the process be one of the lab's pion ends: the lab
// starts them by running this binary again inside a namespace.
func TestMain(m *testing.M) {
	if code, ok := call.Child(); ok {
		os.Exit(code)
	}
	if code, ok := setup(); !ok {
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// TestGenerateChromiumFixtures writes, for each Chromium case of the
// namespace lab (internal/fidelity: headless Chromium behind nftables NATs
// and firewalls, calling a pion media peer and icelab's relay), Chromium's
// own webrtc-internals dump (its download) and the page's final getStats()
// report ([...report.values()]). It needs root, iproute2, nftables and
// chromium; the build tag keeps it out of builds until the lab is on main:
//
//	go test -tags netlab ./fieldimport/internal/fixturegen -run TestGenerateChromiumFixtures -args -generate
func TestGenerateChromiumFixtures(t *testing.T) {
	if !*generate {
		t.Skip("a generator: run with -args -generate to rewrite the fixtures")
	}
	if err := netlab.Available(); err != nil {
		t.Skip(err)
	}
	for _, c := range fidelity.Cases() {
		if c.Kind != fidelity.Chromium {
			continue
		}
		t.Run(c.Name, func(t *testing.T) {
			r, err := fidelity.RunReal(t.Context(), c, ca)
			if err != nil {
				t.Fatal(err)
			}
			if r.Internals != nil { // the lab does not save webrtc-internals yet
				writeJSON(t, c.Name+"-internals.json", r.Internals)
			}
			writeJSON(t, c.Name+"-getstats.json", r.A.Stats)
		})
	}
}

// writeJSON writes a fixture, indented as Chromium indents its download.
func writeJSON(t *testing.T, name string, raw json.RawMessage) {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	data, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("..", "..", "testdata", name)
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s (%d bytes)", path, len(data))
}
