// Package scenarios is icelab's scenario file format and its catalog: a
// YAML file a support engineer can write from a field report, loaded into a
// harness.Spec to run and a set of expectations to check the
// harness.Result against.
//
// A scenario file:
//
//	name: corporate-only-443            # defaults to the file's base name
//	source: "embedded-turn-guide: Troubleshooting"
//	report: "Clients behind corporate firewall: only port 443 allowed"
//	network:
//	  lans:                             # parents before or after children, any order
//	    - name: corp
//	      parent: isp                   # optional: double NAT (internet if absent)
//	      prefix: 10.9.0.0/24           # optional address space
//	      nat: port-restricted          # none, full-cone, address-restricted,
//	                                    # port-restricted, symmetric, one-to-one; or
//	                                    # {preset, mapping, filtering, hairpinning,
//	                                    #  port_preservation, mapping_lifetime,
//	                                    #  inbound_refresh, ports, forwards}
//	      firewall:
//	        - block-udp                 # presets: block-udp, block-inbound-tcp,
//	        - only-tcp-out: [80, 443]   # dtls-filtered, only-tcp-out [ports],
//	        - udp-whack: {after: 10s}   # udp-whack {after}
//	        - {direction: inbound, proto: udp, remote: 203.0.113.0/24, local: 10.9.0.2,
//	           ports: "50000-60000", local_ports: 3478, class: dtls, state: new,
//	           after: 5s, after_packets: 10, action: drop, name: my-rule}
//	      link: {latency: 30ms, jitter: 5ms, loss: 1%, bandwidth: 2Mbps, queue: 65536}
//	  dns:
//	    turn.example.com: none          # does not resolve; or an IPv4 address
//	node:
//	  lan: cloud                        # optional; addr: 10.9.0.2 to fix its address
//	  config:                           # the node's livekit.yaml (turn:, rtc:, keys:)
//	    turn: {domain: turn.example.com, tls_port: 443}
//	  # config_file: livekit.yaml       # or a file, relative to the scenario
//	  tls: {cert: generated}            # generated, wrong-name, expired (test PKI),
//	                                    # or {cert: FILE, key: FILE}
//	  load_balancer: {port: 443}        # an L4 load balancer terminating TURN/TLS
//	  second_node: true                 # another node a reconnect may land on
//	  single_port: 7882
//	clients:
//	  - name: alice
//	    lan: corp
//	    policy: relay                   # all (default) or relay
//	    network_types: [udp4, tcp4]     # tcp4 means ICE-TCP: the real clock
//	    ice_servers: [{urls: [turns:turn.example.com:443?transport=tcp], username: u, credential: p}]
//	    publish: [audio, video, data]
//	    fallback: {policy: transport, deadline: 10s, other_node: false}
//	                                    # none, ice-restart, transport, renomination, force-relay
//	faults:
//	  - name: whack
//	    when: {event: ice-connected, client: alice, after: 2s}   # or just {after: 12s}
//	    kind: add-rules                 # add-rules, clear-rules (a LAN); cut, restore,
//	    target: corp                    # impair (a LAN's uplink or a host's link)
//	    rules: [block-udp]              # add-rules; impair takes impairment: {...}
//	duration: 30s                       # on the run's clock; default 40s
//	seed: 1
//	expect:
//	  alice:
//	    transport: TURN/TLS             # or a list of acceptable ones; none = never connected
//	    connected: true
//	    candidates: {local: relay, remote: host}
//	    media: {both_ways: true}
//	    recovered: true
//	    recover_within: 20s
//	    failure_contains: "5349"
//	    final_state: connected          # new, connecting, connected, disconnected, failed, closed
//
// Unknown fields are errors, so that a typo never passes silently; so are
// references to things that do not exist (a client on an undefined LAN, a
// fault on no target, a parent cycle). Every error is an [*Error] naming
// the file, line and field, and one load reports every problem it finds.
// The livekit.yaml under node.config is parsed by relay.ParseConfig, and its
// problems are reported at the scenario file's lines.
//
// The catalog directory holds one scenario per symptom of the seed
// documents (LiveKit's firewall notes and an embedded-TURN guide); the
// package's Ginkgo suite runs each of them.
//
// The package knows the file format and the harness's Spec and Result; it
// knows nothing of report formats or how runs are scheduled.
package scenarios
