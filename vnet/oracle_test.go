package vnet

import (
	"fmt"
	"net"
	"testing"
	"testing/synctest"

	"github.com/pion/logging"
	"github.com/pion/transport/v5"
	pionvnet "github.com/pion/transport/v5/vnet"
	"github.com/pion/turn/v5"
	"github.com/pion/webrtc/v4"
)

// TestPionVnetOracle runs the same calls on icelab's vnet and on pion's
// own, which has no TCP but has long carried pion's own NAT tests, and
// checks that both select the same candidate types on both ends.
func TestPionVnetOracle(t *testing.T) {
	for _, tt := range []struct {
		name              string
		left, right       *NAT
		pionLeft, pionRht *pionvnet.NATType
	}{
		{"full cone to public", ptr(FullCone()), nil, pionNAT(pionvnet.EndpointIndependent, pionvnet.EndpointIndependent), nil},
		{"port restricted to public", ptr(PortRestricted()), nil, pionNAT(pionvnet.EndpointIndependent, pionvnet.EndpointAddrPortDependent), nil},
		{"symmetric to public", ptr(Symmetric()), nil, pionNAT(pionvnet.EndpointAddrPortDependent, pionvnet.EndpointAddrPortDependent), nil},
		{"port restricted to port restricted", ptr(PortRestricted()), ptr(PortRestricted()),
			pionNAT(pionvnet.EndpointIndependent, pionvnet.EndpointAddrPortDependent), pionNAT(pionvnet.EndpointIndependent, pionvnet.EndpointAddrPortDependent)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var ours, theirs [2][2]webrtc.ICECandidateType
			synctest.Test(t, func(t *testing.T) {
				n := newTestNetwork(t)
				stun := mustHost(t, n.Internet(), "stun")
				addr := startTURN(t, stun)
				side := func(name string, nat *NAT) *Host {
					if nat == nil {
						return mustHost(t, n.Internet(), name)
					}
					return mustHost(t, mustRouter(t, n.Internet(), name+"-lan", *nat), name)
				}
				ours = callTypes(t, side("left", tt.left), side("right", tt.right), addr)
			})
			synctest.Test(t, func(t *testing.T) {
				left, right, addr := buildPionVnet(t, tt.pionLeft, tt.pionRht)
				theirs = callTypes(t, left, right, addr)
			})
			if ours != theirs {
				t.Errorf("selected (local, remote) types: icelab vnet %v, pion vnet %v", ours, theirs)
			}
		})
	}
}

func pionNAT(mapping, filtering pionvnet.EndpointDependencyType) *pionvnet.NATType {
	return &pionvnet.NATType{Mode: pionvnet.NATModeNormal, MappingBehavior: mapping, FilteringBehavior: filtering}
}

// callTypes connects two peers with a STUN server and returns each end's
// selected local and remote candidate types.
func callTypes(t *testing.T, left, right transport.Net, stunAddr string) [2][2]webrtc.ICECandidateType {
	cfg := webrtc.Configuration{ICEServers: []webrtc.ICEServer{{URLs: []string{"stun:" + stunAddr}}}}
	l, r := newPeer(t, left, cfg), newPeer(t, right, cfg)
	connect(t, l, r)
	var out [2][2]webrtc.ICECandidateType
	out[0][0], out[0][1] = selectedTypes(t, l)
	out[1][0], out[1][1] = selectedTypes(t, r)
	return out
}

// buildPionVnet builds pion's vnet with a STUN server on the WAN and a
// host on each side, behind a NAT where one is given.
func buildPionVnet(t *testing.T, leftNAT, rightNAT *pionvnet.NATType) (left, right transport.Net, stunAddr string) {
	t.Helper()
	lf := logging.NewDefaultLoggerFactory()
	lf.DefaultLogLevel = logging.LogLevelError
	wan, err := pionvnet.NewRouter(&pionvnet.RouterConfig{CIDR: "1.2.3.0/24", LoggerFactory: lf})
	if err != nil {
		t.Fatal(err)
	}
	stunNet, err := pionvnet.NewNet(&pionvnet.NetConfig{StaticIPs: []string{"1.2.3.4"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := wan.AddNet(stunNet); err != nil {
		t.Fatal(err)
	}
	side := func(i int, nat *pionvnet.NATType) transport.Net {
		if nat == nil {
			nw, err := pionvnet.NewNet(&pionvnet.NetConfig{StaticIPs: []string{fmt.Sprintf("1.2.3.%d", 10+i)}})
			if err != nil {
				t.Fatal(err)
			}
			if err := wan.AddNet(nw); err != nil {
				t.Fatal(err)
			}
			return nw
		}
		lan, err := pionvnet.NewRouter(&pionvnet.RouterConfig{CIDR: fmt.Sprintf("192.168.%d.0/24", i), StaticIPs: []string{fmt.Sprintf("1.2.3.%d", 100+i)}, NATType: nat, LoggerFactory: lf})
		if err != nil {
			t.Fatal(err)
		}
		if err := wan.AddRouter(lan); err != nil {
			t.Fatal(err)
		}
		nw, err := pionvnet.NewNet(&pionvnet.NetConfig{StaticIPs: []string{fmt.Sprintf("192.168.%d.2", i)}})
		if err != nil {
			t.Fatal(err)
		}
		if err := lan.AddNet(nw); err != nil {
			t.Fatal(err)
		}
		return nw
	}
	left, right = side(1, leftNAT), side(2, rightNAT)
	if err := wan.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = wan.Stop() })
	pc, err := stunNet.ListenPacket("udp4", "1.2.3.4:3478")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := turn.NewServer(turn.ServerConfig{Realm: "icelab",
		AuthHandler: func(*turn.RequestAttributes) (string, []byte, bool) { return "", nil, false },
		PacketConnConfigs: []turn.PacketConnConfig{{PacketConn: pc, RelayAddressGenerator: &turn.RelayAddressGeneratorStatic{
			RelayAddress: net.ParseIP("1.2.3.4"), Address: "1.2.3.4", Net: stunNet}}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return left, right, "1.2.3.4:3478"
}
