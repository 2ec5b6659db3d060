package relay

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1" //nolint:gosec // TURN REST credentials are defined with HMAC-SHA1.
	"encoding/base64"
	"encoding/hex"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pion/stun/v4"
	"github.com/pion/turn/v5"
)

// RESTCredentials returns time-limited TURN credentials in the TURN REST API
// format (draft-uberti-behave-turn-rest): username "expiry:user", with expiry in
// Unix seconds, and password base64(HMAC-SHA1(secret, username)). They match
// turn.GenerateLongTermTURNRESTCredentials but take the expiry explicitly, so a
// test can make them on any clock.
func RESTCredentials(secret, user string, expiry time.Time) (username, password string) {
	username = strconv.FormatInt(expiry.Unix(), 10) + ":" + user
	return username, restPassword(secret, username)
}

func restPassword(secret, username string) string {
	mac := hmac.New(sha1.New, []byte(secret))
	mac.Write([]byte(username))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// authenticator checks long-term credentials: static users first, then TURN REST
// usernames against every shared secret.
//
// The authenticator also acts as a gate in front of pion (see gate): it
// verifies every authenticated request itself and answers failures with 401
// Unauthorized, REALM and a NONCE, so pion sees only requests whose
// credentials are good, and the relay can log and count each failure with its
// reason. (pion/turn v4.1.3 answered such requests with 400 Bad Request, which
// RFC 8489 §9.2.4 forbids; v5.1.3 answers 401 itself.) It remembers the key of
// each verified request until the response goes out, so that respond can
// re-sign a corrected error response.
type authenticator struct {
	realm   string
	users   map[string]string
	secrets []string
	now     func() time.Time
	stats   *collector

	mu sync.Mutex
	// verified passes the key that matched in the gate to pion's AuthHandler,
	// which runs next on the same goroutine; needed when several secrets exist.
	verified map[string][]byte
	// txKeys holds the key each verified request was checked with, until its
	// response goes out (see respond).
	txKeys map[[stun.TransactionIDSize]byte][]byte
}

func newAuthenticator(realm string, users, keys map[string]string, now func() time.Time, st *collector) *authenticator {
	a := &authenticator{realm: realm, users: users, now: now, stats: st, verified: map[string][]byte{}, txKeys: map[[stun.TransactionIDSize]byte][]byte{}}
	for _, s := range keys {
		a.secrets = append(a.secrets, s)
	}
	return a
}

// keys returns the long-term keys username may hold; none when it is unknown or
// its REST expiry has passed.
func (a *authenticator) keys(username, realm string) [][]byte {
	if pw, ok := a.users[username]; ok {
		return [][]byte{turn.GenerateAuthKey(username, realm, pw)}
	}
	ts, _, ok := strings.Cut(username, ":")
	if !ok || len(a.secrets) == 0 {
		return nil
	}
	expiry, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || expiry < a.now().Unix() {
		return nil
	}
	out := make([][]byte, 0, len(a.secrets))
	for _, s := range a.secrets {
		out = append(out, turn.GenerateAuthKey(username, realm, restPassword(s, username)))
	}
	return out
}

func verifiedKey(src net.Addr, username, realm string) string {
	return src.Network() + "|" + src.String() + "|" + username + "|" + realm
}

// failure says why the credentials of username failed, for the log.
func (a *authenticator) failure(username string) string {
	if _, ok := a.users[username]; ok {
		return "wrong password"
	}
	ts, _, ok := strings.Cut(username, ":")
	if !ok || len(a.secrets) == 0 {
		return "unknown user"
	}
	expiry, err := strconv.ParseInt(ts, 10, 64)
	switch {
	case err != nil:
		return "unknown user"
	case expiry < a.now().Unix():
		return "expired TURN REST credentials"
	}
	return "wrong TURN REST password (no keys: secret matches)"
}

// forget drops the key of a request the relay answered itself.
func (a *authenticator) forget(id [stun.TransactionIDSize]byte) {
	a.mu.Lock()
	delete(a.txKeys, id)
	a.mu.Unlock()
}

// handler is pion's AuthHandler.
func (a *authenticator) handler(ra *turn.RequestAttributes) (userID string, key []byte, ok bool) {
	username, realm := ra.Username, ra.Realm
	k := verifiedKey(ra.SrcAddr, username, realm)
	a.mu.Lock()
	key, ok = a.verified[k]
	delete(a.verified, k)
	a.mu.Unlock()
	if ok {
		return username, key, true
	}
	keys := a.keys(username, realm)
	if len(keys) == 0 {
		return "", nil, false
	}
	return username, keys[0], true
}

// check inspects one TURN frame from src. It lets through everything except an
// authenticated request whose credentials fail, for which it returns a 401
// response to send back. For a request it verified, it also returns the
// decoded request and the key that verified it.
func (a *authenticator) check(frame []byte, src net.Addr) (reply []byte, pass bool, req *stun.Message, key []byte) {
	if !stun.IsMessage(frame) {
		return nil, true, nil, nil
	}
	m := &stun.Message{Raw: append([]byte(nil), frame...)}
	if m.Decode() != nil || m.Type.Class != stun.ClassRequest || !m.Contains(stun.AttrMessageIntegrity) {
		return nil, true, nil, nil // pion drops the malformed and answers 401 to the unauthenticated
	}
	var user stun.Username
	var realm stun.Realm
	if user.GetFrom(m) != nil || realm.GetFrom(m) != nil {
		return nil, true, nil, nil // pion answers 400
	}
	for _, key := range a.keys(user.String(), realm.String()) {
		if stun.MessageIntegrity(key).Check(m) == nil {
			a.mu.Lock()
			if len(a.verified) > 4096 { // stale entries from requests pion refused before auth
				clear(a.verified)
			}
			if len(a.txKeys) > 4096 { // requests pion dropped without answering
				clear(a.txKeys)
			}
			a.verified[verifiedKey(src, user.String(), realm.String())] = key
			a.txKeys[m.TransactionID] = key
			a.mu.Unlock()
			return nil, true, m, key
		}
	}
	a.stats.authFailed(user.String(), src, a.failure(user.String()))
	var nonce [16]byte
	_, _ = rand.Read(nonce[:])
	resp, err := stun.Build(
		&stun.Message{TransactionID: m.TransactionID},
		stun.NewType(m.Type.Method, stun.ClassErrorResponse),
		&stun.ErrorCodeAttribute{Code: stun.CodeUnauthorized, Reason: []byte(reasonPhrase(stun.CodeUnauthorized))},
		stun.NewRealm(a.realm),
		stun.NewNonce(hex.EncodeToString(nonce[:])),
		stun.Fingerprint,
	)
	if err != nil {
		return nil, false, nil, nil
	}
	return resp.Raw, false, nil, nil
}
