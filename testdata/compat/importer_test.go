package compat

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/icelab/icelab/harness"
	. "github.com/icelab/icelab/harness/matchers"
	"github.com/icelab/icelab/vnet"
	. "github.com/onsi/gomega"
	"go.uber.org/goleak"
	"golang.org/x/mod/semver"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestImporterRunsASpec is the spec an importing team writes first: a
// client behind a home router calls another on the open internet, and the
// call is direct with media both ways.
func TestImporterRunsASpec(t *testing.T) {
	g := NewWithT(t)
	spec := harness.Spec{
		Name:     "importer",
		Duration: 20 * time.Second,
		LANs:     []harness.LANSpec{{Name: "home", NAT: vnet.PortRestricted()}},
		Clients: []harness.ClientSpec{
			{Name: "alice", LAN: "home", Publish: harness.Publish{Audio: true, Data: true}},
			{Name: "bob", Publish: harness.Publish{Audio: true, Data: true}},
		},
	}
	res := harness.RunT(t, spec)
	g.Expect(res.Clock).To(Equal(harness.FakeClock))
	g.Expect(res).To(UseTransport(harness.ICEUDP).For("alice"))
	g.Expect(res).To(FlowMediaToTheEnd())
}

// TestImporterBuildsOnCurrentPion checks what this module builds the harness
// with: the webrtc it requires, on transport/v5, and no older transport.
func TestImporterBuildsOnCurrentPion(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Version}}", "github.com/pion/webrtc/v4").Output()
	if err != nil {
		t.Fatalf("go list -m: %v", err)
	}
	if v := strings.TrimSpace(string(out)); semver.Compare(v, "v4.2.26") < 0 {
		t.Errorf("the build selects webrtc %q, want v4.2.26 or later", v)
	}
	out, err = exec.Command("go", "list", "-deps", "github.com/icelab/icelab/harness").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	if !slices.Contains(deps, "github.com/pion/transport/v5") {
		t.Error("the harness does not build on transport/v5")
	}
	for _, d := range deps {
		if strings.HasPrefix(d, "github.com/pion/transport/v3") || strings.HasPrefix(d, "github.com/pion/transport/v4") {
			t.Errorf("the harness depends on %s: it must not need an older transport", d)
		}
	}
}
