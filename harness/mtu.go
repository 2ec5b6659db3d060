package harness

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"strings"

	"github.com/pion/webrtc/v4"
)

// DTLSCertificate is the kind of certificate a client's peer connection
// presents in its DTLS handshake. Its size decides how large the
// handshake's certificate flight is: pion fragments handshake messages at
// its DTLS MTU of 1200 bytes (pion/dtls defaultMTU; webrtc v4.2.26's
// SettingEngine offers no setter), so its largest handshake datagram is
// 1225 bytes of UDP payload, 1253 bytes of IPv4 packet, whatever the
// certificate.
type DTLSCertificate string

// DTLS certificate kinds.
const (
	// DTLSCertECDSA is pion's own: a self-signed ECDSA P-256 certificate,
	// about 400 bytes, as browsers use since Chrome 52 and Firefox.
	DTLSCertECDSA DTLSCertificate = ""
	// DTLSCertRSA2048 and DTLSCertRSA4096 are self-signed RSA
	// certificates, as older browsers and some native stacks present:
	// their certificate flight no longer fits one 1200-byte datagram.
	DTLSCertRSA2048 DTLSCertificate = "rsa-2048"
	DTLSCertRSA4096 DTLSCertificate = "rsa-4096"
)

// certificates returns the certificates a peer connection presents; nil
// lets pion generate its own.
func (k DTLSCertificate) certificates() ([]webrtc.Certificate, error) {
	var key crypto.PrivateKey
	var err error
	switch k {
	case DTLSCertECDSA:
		return nil, nil
	case DTLSCertRSA2048:
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	case DTLSCertRSA4096:
		key, err = rsa.GenerateKey(rand.Reader, 4096)
	case "ecdsa-p256":
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		return nil, fmt.Errorf("unknown DTLS certificate %q", string(k))
	}
	if err != nil {
		return nil, fmt.Errorf("DTLS certificate %s: %w", k, err)
	}
	cert, err := webrtc.GenerateCertificate(key)
	if err != nil {
		return nil, fmt.Errorf("DTLS certificate %s: %w", k, err)
	}
	return []webrtc.Certificate{*cert}, nil
}

// mtuNote explains drops at an MTU for a person: which part of the call
// they stalled and why. It returns "" when no drop names an MTU or
// fragments.
func mtuNote(cr ClientResult, drops map[string]int) string {
	var tooBig, blackHole, frags bool
	for d := range drops {
		switch {
		case strings.Contains(d, "black hole"):
			blackHole = true
		case strings.Contains(d, "too big (DF set)"):
			tooBig = true
		case strings.Contains(d, "fragment"):
			frags = true
		}
	}
	var what string
	switch {
	case blackHole:
		what = "packets larger than the path MTU vanished without an ICMP message (a path MTU black hole, RFC 2923)"
	case tooBig && frags:
		what = "packets exceeded the path MTU, and once the sender fragmented them the fragments were dropped"
	case tooBig:
		what = "packets exceeded the path MTU"
	case frags:
		what = "fragmented packets were dropped"
	default:
		return ""
	}
	switch {
	case cr.Connected:
		return "media was hurt: " + what
	case !cr.Signalling:
		return "the signalling stalled: " + what
	case reached(cr.ICEStates, "connected"):
		return "the DTLS handshake stalled: " + what
	}
	return "the connection stalled: " + what
}
