package compatlivekit

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/icelab/icelab/harness"
	. "github.com/icelab/icelab/harness/matchers"
	"github.com/icelab/icelab/vnet"
	"github.com/livekit/protocol/auth"
	lksdk "github.com/livekit/server-sdk-go/v2"
	. "github.com/onsi/gomega"
	transport "github.com/pion/transport/v5"
	"go.uber.org/goleak"
	"golang.org/x/mod/semver"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestBesideLiveKitSDK runs a spec in a build that also links LiveKit's SDK,
// and checks what that build is: one webrtc, v4.2.26 or later, on which the
// SDK runs on transport/v5, importing no transport/v4, so a vnet host is
// handed to it as it is, without the transport/v4 adapter.
func TestBesideLiveKitSDK(t *testing.T) {
	g := NewWithT(t)
	res := harness.RunT(t, harness.Spec{
		Name:     "beside-livekit",
		Duration: 20 * time.Second,
		LANs:     []harness.LANSpec{{Name: "home", NAT: vnet.PortRestricted()}},
		Clients: []harness.ClientSpec{
			{Name: "alice", LAN: "home", Publish: harness.Publish{Audio: true}},
			{Name: "bob", Publish: harness.Publish{Audio: true}},
		},
	})
	g.Expect(res).To(UseTransport(harness.ICEUDP).For("alice"))
	g.Expect(res).To(FlowMediaToTheEnd())

	// The SDK's token, as a test would mint one for its room.
	at := auth.NewAccessToken("devkey", "devsecret").SetIdentity("alice").SetVideoGrant(&auth.VideoGrant{RoomJoin: true, Room: "r"})
	tok, err := at.ToJWT()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(tok).NotTo(BeEmpty())
	g.Expect(lksdk.NewRoomServiceClient("http://127.0.0.1:7880", "devkey", "devsecret")).NotTo(BeNil())

	out, err := exec.Command("go", "list", "-m", "-f", "{{.Version}}", "github.com/pion/webrtc/v4").Output()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(semver.Compare(strings.TrimSpace(string(out)), "v4.2.26")).To(BeNumerically(">=", 0), "the build selects webrtc %s", out)
	out, err = exec.Command("go", "list", "-deps", "github.com/livekit/server-sdk-go/v2").Output()
	g.Expect(err).NotTo(HaveOccurred())
	deps := strings.Fields(string(out))
	g.Expect(deps).To(ContainElement("github.com/pion/transport/v5"), "the SDK runs on transport/v5")
	for _, d := range deps {
		g.Expect(d).NotTo(HavePrefix("github.com/pion/transport/v4"), "the SDK imports an older transport")
	}

	// So the SDK's pion takes a vnet host as it is.
	n, err := vnet.New(vnet.Config{Seed: 1})
	g.Expect(err).NotTo(HaveOccurred())
	defer n.Close()
	h, err := n.Internet().AddHost(vnet.HostConfig{Name: "sdk"})
	g.Expect(err).NotTo(HaveOccurred())
	var nt transport.Net = h
	ifcs, err := nt.Interfaces()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(ifcs).NotTo(BeEmpty())
}
