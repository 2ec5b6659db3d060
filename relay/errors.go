package relay

import (
	"encoding/binary"

	"github.com/pion/stun/v4"
)

// Error responses as RFC 8656 and RFC 8489 want them.
//
// pion/turn v5.1.3 sends every ERROR-CODE with an empty reason phrase, and
// answers a ChannelBind to a peer its PermissionHandler refuses with 401
// Unauthorized (CreatePermission gets 403). The gate passes each response pion
// writes through fixResponse on its way out: an error response gets the
// reason phrase of its code, a ChannelBind refused after successful
// authentication becomes 403 Forbidden, and MESSAGE-INTEGRITY and
// FINGERPRINT are recomputed with the key the request was verified with.

// reasonPhrase returns the RFC reason phrase for code, "" when unknown.
func reasonPhrase(code stun.ErrorCode) string {
	switch code {
	case stun.CodeTryAlternate:
		return "Try Alternate"
	case stun.CodeBadRequest:
		return "Bad Request"
	case stun.CodeUnauthorized:
		return "Unauthorized"
	case stun.CodeForbidden:
		return "Forbidden"
	case stun.CodeUnknownAttribute:
		return "Unknown Attribute"
	case stun.CodeAllocMismatch:
		return "Allocation Mismatch"
	case stun.CodeStaleNonce:
		return "Stale Nonce"
	case stun.CodeAddrFamilyNotSupported:
		return "Address Family not Supported"
	case stun.CodeWrongCredentials:
		return "Wrong Credentials"
	case stun.CodeUnsupportedTransProto:
		return "Unsupported Transport Protocol"
	case stun.CodePeerAddrFamilyMismatch:
		return "Peer Address Family Mismatch"
	case stun.CodeConnAlreadyExists:
		return "Connection Already Exists"
	case stun.CodeConnTimeoutOrFailure:
		return "Connection Timeout or Failure"
	case stun.CodeAllocQuotaReached:
		return "Allocation Quota Reached"
	case stun.CodeRoleConflict:
		return "Role Conflict"
	case stun.CodeServerError:
		return "Server Error"
	case stun.CodeInsufficientCapacity:
		return "Insufficient Capacity"
	}
	return ""
}

// isErrorResponse tells cheaply whether b may be a STUN error response.
func isErrorResponse(b []byte) bool {
	if len(b) < 20 || b[0]>>6 != 0 || binary.BigEndian.Uint32(b[4:8]) != stunMagicCookie {
		return false
	}
	t := binary.BigEndian.Uint16(b[0:2])
	return t&0x0110 == 0x0110 // class bits C1 C0 = 1 1
}

// fixResponse returns b, or b rewritten when it is an error response that
// lacks its reason phrase or refuses a ChannelBind with 401 after the request
// authenticated. key is the long-term key the request was verified with (nil
// when it carried no MESSAGE-INTEGRITY); a response with MESSAGE-INTEGRITY
// but no key is left as it is.
func fixResponse(b []byte, key []byte) []byte {
	if !isErrorResponse(b) {
		return b
	}
	m := &stun.Message{Raw: append([]byte(nil), b...)}
	if m.Decode() != nil {
		return b
	}
	var ec stun.ErrorCodeAttribute
	if ec.GetFrom(m) != nil {
		return b
	}
	signed := m.Contains(stun.AttrMessageIntegrity)
	code := ec.Code
	if m.Type.Method == stun.MethodChannelBind && code == stun.CodeUnauthorized && signed {
		code = stun.CodeForbidden // pion's answer for a refused peer
	}
	if code == ec.Code && len(ec.Reason) > 0 {
		return b
	}
	reason := reasonPhrase(code)
	if reason == "" && code == ec.Code {
		return b
	}
	if signed && key == nil {
		return b
	}
	out := &stun.Message{Type: m.Type, TransactionID: m.TransactionID}
	out.WriteHeader()
	fingerprint := false
	for _, a := range m.Attributes {
		switch a.Type {
		case stun.AttrErrorCode:
			if err := (&stun.ErrorCodeAttribute{Code: code, Reason: []byte(reason)}).AddTo(out); err != nil {
				return b
			}
		case stun.AttrMessageIntegrity, stun.AttrMessageIntegritySHA256:
		case stun.AttrFingerprint:
			fingerprint = true
		default:
			out.Add(a.Type, a.Value)
		}
	}
	if signed {
		if err := stun.MessageIntegrity(key).AddTo(out); err != nil {
			return b
		}
	}
	if fingerprint {
		if err := stun.Fingerprint.AddTo(out); err != nil {
			return b
		}
	}
	return out.Raw
}

// respond prepares a response pion writes to a client: it forgets the key the
// request was verified with and fixes an error response (see fixResponse). It
// returns nil when b goes out unchanged.
func (a *authenticator) respond(b []byte) []byte {
	if len(b) < 20 || b[0]>>6 != 0 || binary.BigEndian.Uint32(b[4:8]) != stunMagicCookie ||
		binary.BigEndian.Uint16(b[0:2])&0x0100 == 0 {
		return nil
	}
	var id [stun.TransactionIDSize]byte
	copy(id[:], b[8:20])
	a.mu.Lock()
	key := a.txKeys[id]
	delete(a.txKeys, id)
	a.mu.Unlock()
	if out := fixResponse(b, key); &out[0] != &b[0] {
		return out
	}
	return nil
}
