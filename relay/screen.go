package relay

import (
	"encoding/binary"
	"net"

	"github.com/pion/stun/v4"
)

// screen is what the gates do with a client's frame before pion sees it,
// and with pion's response on its way out: the authenticator's checks (see
// authenticator), then the parts of an Allocate pion does not do as RFC 8656
// wants: an address family the relay has no relay address in gets 440, and
// a RESERVATION-TOKEN is honoured on every listener socket (see pairs).
type screen struct {
	auth  *authenticator
	pairs *pairs
	st    *collector
	// ipv6 reports whether the relay can give IPv6 relayed addresses.
	ipv6 bool
}

var (
	allocateRequest = stun.NewType(stun.MethodAllocate, stun.ClassRequest)
	// allocateSuccess is the first two bytes of an Allocate success response.
	allocateSuccess = uint16(0x0103)
)

// requestedFamilyIPv6 is REQUESTED-ADDRESS-FAMILY's value for IPv6 (RFC 8656 §18.1).
const requestedFamilyIPv6 = 0x02

// frame screens one frame from src. It returns what pion should read, which
// is frame itself or a rewrite of it, or nil with a reply to send instead
// (or nothing to send). claim, when not nil, is the listener socket's
// generator's claim (see loopGenerator): a known RESERVATION-TOKEN is taken
// out of the request and its port claimed there.
func (s *screen) frame(frame []byte, src net.Addr, claim *int) (forward, reply []byte) {
	reply, pass, m, key := s.auth.check(frame, src)
	if !pass {
		return nil, reply
	}
	if m == nil || m.Type != allocateRequest {
		return frame, nil
	}
	if v, err := m.Get(stun.AttrRequestedAddressFamily); err == nil && len(v) == 4 && v[0] == requestedFamilyIPv6 && !s.ipv6 {
		s.st.familyRefused(src)
		s.auth.forget(m.TransactionID)
		return nil, errorResponse(m, stun.CodeAddrFamilyNotSupported, key)
	}
	token, err := m.Get(stun.AttrReservationToken)
	if err != nil || m.Contains(stun.AttrEvenPort) || m.Contains(stun.AttrRequestedAddressFamily) {
		return frame, nil // pion answers the mixtures with 400
	}
	port, ok := s.pairs.port(string(token))
	switch {
	case !ok:
		// pion's own reservations outlive the held port (and are per
		// listener socket), so the relay answers for every socket alike.
		s.st.capacityFailures.Add(1)
		s.st.log.Warn("allocation refused", "client", addrString(src), "code", 508, "reason", "RESERVATION-TOKEN unknown or expired")
		s.auth.forget(m.TransactionID)
		return nil, errorResponse(m, stun.CodeInsufficientCapacity, key)
	case claim == nil:
		return frame, nil // one pion listener serves every stream and knows its tokens
	}
	out := resign(m, key, stun.AttrReservationToken)
	if out == nil {
		return frame, nil
	}
	*claim = port
	return out, nil
}

// respond prepares a response pion writes: the authenticator's fixes (see
// authenticator.respond), a RESERVATION-TOKEN noted for the pair it
// reserves, and a 508 counted. It returns nil when b goes out unchanged.
func (s *screen) respond(b []byte) []byte {
	if len(b) < 20 || b[0]>>6 != 0 || binary.BigEndian.Uint32(b[4:8]) != stunMagicCookie {
		return nil
	}
	switch t := binary.BigEndian.Uint16(b[0:2]); {
	case t == allocateSuccess:
		s.noteToken(b)
	case isErrorResponse(b) && errorCode(b) == stun.CodeInsufficientCapacity:
		s.st.capacityFailures.Add(1)
	}
	return s.auth.respond(b)
}

// noteToken hands a RESERVATION-TOKEN in an Allocate success response to
// pairs with the relayed port it belongs to.
func (s *screen) noteToken(b []byte) {
	m := &stun.Message{Raw: append([]byte(nil), b...)}
	if m.Decode() != nil || !m.Contains(stun.AttrReservationToken) {
		return
	}
	token, _ := m.Get(stun.AttrReservationToken)
	var relayed stun.XORMappedAddress
	if err := relayed.GetFromAs(m, stun.AttrXORRelayedAddress); err != nil {
		return
	}
	s.pairs.issued(string(token), relayed.Port)
}

// errorCode returns the ERROR-CODE of a STUN error response, 0 when it has none.
func errorCode(b []byte) stun.ErrorCode {
	m := &stun.Message{Raw: append([]byte(nil), b...)}
	var ec stun.ErrorCodeAttribute
	if m.Decode() != nil || ec.GetFrom(m) != nil {
		return 0
	}
	return ec.Code
}

// errorResponse answers request m with code and its reason phrase, signed
// with key as the request was.
func errorResponse(m *stun.Message, code stun.ErrorCode, key []byte) []byte {
	resp, err := stun.Build(
		&stun.Message{TransactionID: m.TransactionID},
		stun.NewType(m.Type.Method, stun.ClassErrorResponse),
		&stun.ErrorCodeAttribute{Code: code, Reason: []byte(reasonPhrase(code))},
		stun.MessageIntegrity(key),
		stun.Fingerprint,
	)
	if err != nil {
		return nil
	}
	return resp.Raw
}

// resign returns m without the attribute drop, with MESSAGE-INTEGRITY
// recomputed with key and FINGERPRINT when m had one; nil on failure.
func resign(m *stun.Message, key []byte, drop stun.AttrType) []byte {
	out := &stun.Message{Type: m.Type, TransactionID: m.TransactionID}
	out.WriteHeader()
	fingerprint := false
	for _, a := range m.Attributes {
		switch a.Type {
		case drop, stun.AttrMessageIntegrity, stun.AttrMessageIntegritySHA256:
		case stun.AttrFingerprint:
			fingerprint = true
		default:
			out.Add(a.Type, a.Value)
		}
	}
	if err := stun.MessageIntegrity(key).AddTo(out); err != nil {
		return nil
	}
	if fingerprint {
		if err := stun.Fingerprint.AddTo(out); err != nil {
			return nil
		}
	}
	return out.Raw
}
