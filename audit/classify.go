package audit

import (
	"fmt"
	"regexp"
	"strings"
)

// The facts a failure's account carries, as the harness words them.
var (
	// pion's TURN client names the allocation's random user name
	// ("… all retransmissions failed for Xomn5g3zeF9AyXWf"): noise that
	// differs on every run.
	reTURNUser = regexp.MustCompile(`(all retransmissions failed) for [^\s;]+`)
	// harness/servers.go tlsPortNote.
	reLK443 = regexp.MustCompile(`LiveKit hands out turns:([^\s:]+):443 whatever turn\.tls_port is \((\d+) here`)
	// Go's crypto/x509 HostnameError.
	reWrongName = regexp.MustCompile(`x509: certificate is valid for ([^;]+?), not ([^\s;,]+)`)
	reUnknownCA = regexp.MustCompile(`x509: certificate signed by unknown authority(?: \(issuer "([^"]+)"\))?`)
	reExpired   = regexp.MustCompile(`x509: certificate has expired`)
	// middlebox: "proxy squid: CONNECT turn.example.com:5349 denied (403)"
	// or a 503 from the proxy's own dial.
	reProxy  = regexp.MustCompile(`proxy (\S+): CONNECT (\S+): (\d{3}[^:;]*)`)
	reProxy2 = regexp.MustCompile(`proxy (\S+): CONNECT (\S+) denied \((\d+)\)`)
	// vnet's drop accounts: "TCP to port 7881 dropped by firewall node-net
	// rule 5 (not allowed in …)", "DTLS datagrams dropped by firewall
	// user-home rule 1 (dtls-filtered) (6)".
	reDrop   = regexp.MustCompile(`(STUN|DTLS|CHANNELDATA|RTP|RTCP|UDP|TCP)(?: datagrams)?(?: to port (\d+))? dropped by firewall (\S+) rule \d+(?: \(([^)]*)\))?`)
	reSignal = regexp.MustCompile(`signal(?:ling)? connection: ([^;]+)`)
)

// cleanReason takes the random TURN user names out of a failure's
// account and drops the clauses that then repeat.
func cleanReason(s string) string {
	s = reTURNUser.ReplaceAllString(s, "$1")
	parts := strings.Split(s, "; ")
	seen := map[string]bool{}
	out := parts[:0]
	for _, p := range parts {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return strings.Join(out, "; ")
}

// classify names a failing cell's deciding fact in a few words, from its
// account: what the deployment did first (TURN/TLS not served where
// LiveKit sends clients, a certificate, a proxy's refusal, the node's
// security group), else what the user's network dropped, else the
// account's first clause.
func classify(reason, tlsProblem string) string {
	if reason == "" {
		return ""
	}
	if tlsProblem != "" && strings.HasPrefix(reason, "TURN/TLS unusable") {
		return "TURN/TLS certificate: " + shortTLSProblem(tlsProblem)
	}
	// ICE connected and DTLS did not: the path ICE chose dropped it, and
	// the relay's fate does not decide.
	if strings.HasPrefix(reason, "DTLS never completed") {
		if d := drops(reason); len(d) > 0 {
			return d[0]
		}
	}
	if m := reLK443.FindStringSubmatch(reason); m != nil {
		s := fmt.Sprintf("nothing serves TURN/TLS on %s:443, where LiveKit sends clients (tls_port %s)", m[1], m[2])
		// The node's security group closing the other way in (ICE/TCP)
		// is the deployment's too: both facts, or the reader fixes one.
		for _, f := range drops(reason) {
			if strings.Contains(f, "node's security group") {
				return s + "; " + f
			}
		}
		return s
	}
	if m := reWrongName.FindStringSubmatch(reason); m != nil {
		return fmt.Sprintf("certificate does not name %s (it names %s)", m[2], m[1])
	}
	if m := reUnknownCA.FindStringSubmatch(reason); m != nil {
		if m[1] != "" {
			return fmt.Sprintf("certificate not trusted: issuer %q unknown to the client", m[1])
		}
		return "certificate not trusted: signed by an authority the client does not know"
	}
	if reExpired.MatchString(reason) {
		return "certificate expired"
	}
	if m := reProxy2.FindStringSubmatch(reason); m != nil {
		return fmt.Sprintf("web proxy refused CONNECT %s (%s)", m[2], m[3])
	}
	if m := reProxy.FindStringSubmatch(reason); m != nil {
		return fmt.Sprintf("web proxy could not CONNECT %s (%s)", m[2], strings.TrimSpace(m[3]))
	}
	// The node's security group before the user's network: it is the
	// deployment's to change.
	d := drops(reason)
	for _, f := range d {
		if strings.Contains(f, "node's security group") {
			return f
		}
	}
	if len(d) > 0 {
		return d[0]
	}
	if strings.Contains(reason, "failed to allocate on TURN client") && strings.Contains(reason, "all retransmissions failed") {
		return "no relay candidate: TURN/UDP allocation unanswered"
	}
	if m := reSignal.FindStringSubmatch(reason); m != nil {
		return "signalling failed: " + m[1]
	}
	return firstClause(reason)
}

// drops are the account's firewall drops in a few words each: "TCP 7881
// dropped by the node's security group", "DTLS dropped by the home
// router's firewall (dtls-filtered)".
func drops(reason string) []string {
	var out []string
	for _, m := range reDrop.FindAllStringSubmatch(reason, -1) {
		what := m[1]
		if m[2] != "" {
			what += " " + m[2]
		}
		if m[3] == nodeLAN {
			out = append(out, what+" dropped by the node's security group")
			continue
		}
		s := what + " dropped by the " + firewallWords(m[3])
		if m[4] != "" {
			s += " (" + m[4] + ")"
		}
		out = append(out, s)
	}
	return out
}

// firewallWords names a client LAN's firewall the way an operator would:
// user-corp is "corporate firewall".
func firewallWords(lan string) string {
	name := strings.TrimPrefix(lan, clientName+"-")
	switch name {
	case "corp":
		return "corporate firewall"
	case "home":
		return "home router's firewall"
	case "carrier":
		return "carrier's firewall"
	case "property":
		return "hotel network's firewall"
	}
	return name + " firewall"
}

// shortTLSProblem is a certificate problem without its file and line.
func shortTLSProblem(p string) string {
	if i := strings.Index(p, "): "); i > 0 {
		return p[i+3:]
	}
	return p
}
