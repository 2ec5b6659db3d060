// Package audit answers, for a LiveKit-style deployment, "which of our
// users' networks still connect, over what, how fast, and what did this
// config change break?".
//
// A [Deployment] is a livekit.yaml (its rtc: and turn: blocks, with the TLS
// certificate read and checked), an optional node firewall file (the
// inbound ports of the node's security group, as LiveKit's "Ports and
// firewall" documentation lists them) and an optional load balancer. [Run] runs every archetype ×
// profile of package archetypes against it through the harness — real pion
// peers, a real pion/turn relay, the virtual network — and returns a
// [Matrix] of cells: transport or the reason it fails, time to connect,
// media both ways, recovery. [Diff] compares two matrices and marks
// regressions (a cell that connected now fails, or lands on a costlier
// transport) and improvements; [NotRegressFrom] is the same as a Gomega
// matcher. Matrices render as Markdown, JSON and JUnit.
//
// Cells that need ICE-TCP run on the real clock, the others on a fake one;
// the caller supplies the [Runner] that decides how (harness/fakeclock in a
// program, [TestRunner] in a Go test).
//
// The package knows harness specs, the relay's configuration, vnet rules
// and the archetypes; it must not know scenario files, the command line or
// the reports package.
package audit
