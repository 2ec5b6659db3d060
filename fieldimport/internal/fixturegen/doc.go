// Package fixturegen makes the pion GetStats() fixtures of fieldimport's
// tests: real pion peers and a real pion/turn relay (icelab's relay
// package) on icelab's virtual network, behind the NATs and firewalls each
// case names, inside a testing/synctest bubble so that the timestamps are
// the bubble's and a run costs no wall time. The dumped endpoint, alice,
// writes what a pion application logs: json.Marshal(pc.GetStats()).
//
// Rewrite the fixtures with
//
//	go test ./fieldimport/internal/fixturegen -run TestGeneratePionFixtures -args -generate
//
// The package holds only that generator; it is not imported.
package fixturegen
