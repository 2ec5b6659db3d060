package compatlivekit

import (
	"testing"
	"time"

	"github.com/icelab/icelab/harness"
	. "github.com/icelab/icelab/harness/matchers"
	"github.com/icelab/icelab/vnet"
	"github.com/icelab/icelab/vnet/transportv4"
	"github.com/livekit/protocol/auth"
	lksdk "github.com/livekit/server-sdk-go/v2"
	. "github.com/onsi/gomega"
	transport "github.com/pion/transport/v4"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestBesideLiveKitSDK runs a spec in a build that also links LiveKit's SDK,
// and hands a vnet host to the SDK's pion generation (transport/v4).
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
	g.Expect(res).To(FlowMediaBothWays())

	// The SDK's token, as a test would mint one for its room.
	at := auth.NewAccessToken("devkey", "devsecret").SetIdentity("alice").SetVideoGrant(&auth.VideoGrant{RoomJoin: true, Room: "r"})
	tok, err := at.ToJWT()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(tok).NotTo(BeEmpty())
	g.Expect(lksdk.NewRoomServiceClient("http://127.0.0.1:7880", "devkey", "devsecret")).NotTo(BeNil())

	n, err := vnet.New(vnet.Config{Seed: 1})
	g.Expect(err).NotTo(HaveOccurred())
	defer n.Close()
	h, err := n.Internet().AddHost(vnet.HostConfig{Name: "sdk"})
	g.Expect(err).NotTo(HaveOccurred())
	var nt transport.Net = transportv4.Net(h)
	ifcs, err := nt.Interfaces()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(ifcs).NotTo(BeEmpty())
}
