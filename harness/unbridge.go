package harness

import (
	"net/netip"
	"regexp"
)

// bridgeAddr matches an IPv4 address in 127.0.0.0/8, where the loopback
// bridge for ICE-TCP puts its hosts' real sockets.
var bridgeAddr = regexp.MustCompile(`\b127\.\d{1,3}\.\d{1,3}\.\d{1,3}\b`)

// unbridge shows the hosts' virtual addresses where the loopback bridge's
// real ones appeared (ICE-TCP candidates and pairs, checks, failure texts),
// drops pion's complaints about the bridge's interfaces, which are the
// harness's and not the network's, and lists each candidate once.
func (r *runner) unbridge(cr *ClientResult) {
	hide := func(s string) string {
		return bridgeAddr.ReplaceAllStringFunc(s, func(a string) string {
			if v, ok := r.hiddenAddr(a); ok {
				return v.String()
			}
			return a
		})
	}
	pair := func(p *Pair) *Pair {
		if p == nil {
			return nil
		}
		q := *p
		q.Local.Address, q.Remote.Address = hide(q.Local.Address), hide(q.Remote.Address)
		return &q
	}
	cands := func(cs []Candidate) []Candidate {
		var out []Candidate
		seen := map[Candidate]bool{}
		for _, c := range cs {
			c.Address = hide(c.Address)
			key := c
			key.At = 0
			if !seen[key] {
				seen[key] = true
				out = append(out, c)
			}
		}
		return out
	}
	cr.LocalCandidates, cr.RemoteCandidates = cands(cr.LocalCandidates), cands(cr.RemoteCandidates)
	cr.Selected, cr.NodeSelected = pair(cr.Selected), pair(cr.NodeSelected)
	for i := range cr.PairChanges {
		cr.PairChanges[i].Pair = *pair(&cr.PairChanges[i].Pair)
	}
	checks := func(cs []PairCheck) []PairCheck {
		out := cs[:0:0]
		seen := map[PairCheck]bool{}
		for _, c := range cs {
			c.Local, c.Remote = hide(c.Local), hide(c.Remote)
			if !seen[c] {
				seen[c] = true
				out = append(out, c)
			}
		}
		return out
	}
	for i := range cr.Attempts {
		cr.Attempts[i].Selected = pair(cr.Attempts[i].Selected)
		cr.Attempts[i].Checks = checks(cr.Attempts[i].Checks)
	}
	cr.Checks = checks(cr.Checks)
	var gather []string
	for _, e := range cr.GatherErrors {
		if !r.bridged(e) {
			gather = append(gather, e)
		}
	}
	cr.GatherErrors = gather
	cr.Failure, cr.SignallingError = hide(cr.Failure), hide(cr.SignallingError)
}

// bridged reports whether s names one of the bridge's loopback addresses.
func (r *runner) bridged(s string) bool {
	for _, a := range bridgeAddr.FindAllString(s, -1) {
		if _, ok := r.hiddenAddr(a); ok {
			return true
		}
	}
	return false
}

// hiddenAddr returns the virtual address of the host a bridge address
// belongs to.
func (r *runner) hiddenAddr(s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	v, ok := r.hidden[a]
	return v, ok
}
