// Package fieldimport turns what a user attaches to a bug into a scenario
// that reproduces it: Chrome's webrtc-internals dump, a getStats() report
// as JSON, or pion's GetStats() JSON.
//
// It works in four steps, each a type of its own:
//
//   - [Parse] reads a dump into a [Dump]: its peer connections, each with
//     its configuration, update log and stats objects as series over the
//     reports the dump holds. Bad input is an [*Error] naming the file,
//     line and field.
//   - [Gather] reads one peer connection's [Evidence]: the candidates each
//     side gathered, the ICE servers and policy, the pairs tried, the
//     selected pair, the ICE, DTLS and connection states, and when.
//   - [Convert] draws [Inference]s from the evidence (the client's NAT and
//     firewall, the far end, the servers, what happened mid-call), each
//     observed, inferred or assumed with its alternatives, and writes the
//     scenario file: the inferred network (named after an archetype when
//     its devices are one), every inference a comment beside what it
//     produced, addresses replaced from the documentation ranges, and the
//     field [Outcome] as its expectation.
//   - [Import.Compare] judges a run's result against the field outcome
//     and names the inferences to revisit.
//
// The package knows dump formats, the scenario file format (it checks the
// files it writes load) and the harness's result types; it knows nothing
// of running a scenario, which is its caller's business (icelab import
// --run).
package fieldimport
