package archetypes

import (
	"fmt"
	"sort"
	"strings"

	"github.com/icelab/icelab/harness"
	"github.com/pion/webrtc/v4"
)

// Profile is a named set of connect options: what kind of client joins.
type Profile struct {
	Name    string
	Summary string
	Source  string
	// NetworkTypes, Relays and Fallback are the harness.ClientSpec fields
	// the profile sets.
	NetworkTypes []webrtc.NetworkType
	Relays       []string
	Fallback     harness.Fallback
}

// Client returns a client spec with the profile's connect options,
// publishing audio and data.
func (p Profile) Client(name string) harness.ClientSpec {
	return harness.ClientSpec{
		Name:         name,
		NetworkTypes: append([]webrtc.NetworkType(nil), p.NetworkTypes...),
		Relays:       append([]string(nil), p.Relays...),
		Fallback:     p.Fallback,
		Publish:      harness.Publish{Audio: true, Data: true},
	}
}

// Browser is a LiveKit JS client in Chrome: UDP and TCP candidates, the
// node's TURN/UDP and TURN/TLS servers, and the JS SDK's reconnects against
// the node's transport ladder (harness.LiveKit). Its ICE-TCP makes its runs
// use the real clock (pion dials ICE-TCP through the operating system).
//
// Where it differs from a real Chromium (headless Chromium 156 against the
// same topologies in Linux network namespaces: make fidelity, README
// "Fidelity"): the transport agrees, but Chromium hides its host candidates
// behind mDNS names, so on a direct path its selected local candidate is
// srflx or prflx where this profile's is host; Chromium connects over
// TURN/TLS in 0.2 to 0.3 s where this profile takes 2.05 s (pion waits 2 s
// before accepting a relay pair); Chromium may connect directly before it
// has any relay candidate, and with UDP dropped may pick TURN/TLS over an
// ICE-TCP path that this profile always picks.
func Browser() Profile {
	return Profile{
		Name:         "browser",
		Summary:      "LiveKit JS in Chrome: UDP+TCP candidates, TURN/UDP and TURN/TLS, the SDK's resumes and LiveKit's transport ladder",
		Source:       "Chrome gathers UDP and TCP host candidates (RFC 6544); LiveKit hands out turn:…?transport=udp and turns: URLs; client-sdk-js 2.21 RTCEngine; livekit/livekit pkg/rtc/transportmanager.go",
		NetworkTypes: []webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeTCP4},
		Relays:       []string{"udp", "tls"},
		Fallback:     harness.Fallback{Policy: harness.LiveKit},
	}
}

// Pion is a Go SDK on pion's defaults: UDP candidates only, the TURN
// servers LiveKit hands out, no fallback.
func Pion() Profile {
	return Profile{
		Name:     "pion",
		Summary:  "Go SDK on pion defaults: UDP candidates only, TURN/UDP and TURN/TLS, no fallback",
		Source:   "pion/webrtc SettingEngine default network types (UDP4, UDP6); server-sdk-go uses the join response's ICE servers",
		Relays:   []string{"udp", "tls"},
		Fallback: harness.Fallback{Policy: harness.NoFallback},
	}
}

// Profiles returns every profile, browser first.
func Profiles() []Profile { return []Profile{Browser(), Pion()} }

// ProfileNames lists the profile names, sorted.
func ProfileNames() []string {
	var names []string
	for _, p := range Profiles() {
		names = append(names, p.Name)
	}
	sort.Strings(names)
	return names
}

// LookupProfile returns the named profile; the error lists the known ones.
func LookupProfile(name string) (Profile, error) {
	for _, p := range Profiles() {
		if p.Name == name {
			return p, nil
		}
	}
	return Profile{}, fmt.Errorf("unknown profile %q; known: %s", name, strings.Join(ProfileNames(), ", "))
}

// SelectProfiles returns the named profiles; an empty list selects all.
func SelectProfiles(names []string) ([]Profile, error) {
	if len(names) == 0 {
		return Profiles(), nil
	}
	out := make([]Profile, 0, len(names))
	for _, n := range names {
		p, err := LookupProfile(n)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}
