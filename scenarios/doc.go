// Package scenarios is icelab's scenario file format and its catalog: a
// YAML file a support engineer can write from a field report, loaded into a
// harness.Spec to run and a set of expectations to check the
// harness.Result against.
//
// A scenario file holds one YAML document. Every field, with its default
// when it is left out:
//
//	# yaml-language-server: $schema=scenario.schema.json   (editors complete and check fields)
//	name: corporate-only-443            # default: the file's base name
//	source: "embedded-turn-guide: Troubleshooting"   # optional
//	report: "Clients behind corporate firewall: only port 443 allowed"   # optional
//	network:                            # default: no LANs, every host on the internet
//	  lans:                             # parents before or after children, any order
//	    - name: corp                    # required; up to 40 letters, digits, - and _
//	      parent: isp                   # default: the internet; another LAN means double NAT
//	      prefix: 10.9.0.0/24           # default: the next free 10.N.0.0/24, in file order,
//	                                    # parents first. IPv4, /30 or wider; it must not
//	                                    # overlap another LAN, the internet (203.0.113.0/24),
//	                                    # loopback or this machine's addresses, and must hold
//	                                    # its hosts (clients, node, routers of child LANs)
//	                                    # besides the router (.1)
//	      nat: port-restricted          # default: none, a routed LAN without translation.
//	                                    # Presets, the devices each stands for, and whether
//	                                    # it hairpins (reaches a LAN host through the
//	                                    # router's own public address):
//	                                    #  none: a routed LAN, public addresses
//	                                    #  full-cone: game-console-friendly consumer routers
//	                                    #   (UPnP/"open NAT" firmwares); hairpins
//	                                    #  address-restricted: some consumer routers and
//	                                    #   enterprise firewalls; hairpins
//	                                    #  port-restricted: the common home router (most
//	                                    #   ISP boxes, Fritz!Box, consumer Wi-Fi routers);
//	                                    #   hairpins
//	                                    #  symmetric: enterprise firewalls (Cisco ASA,
//	                                    #   Palo Alto, FortiGate defaults), some mobile
//	                                    #   carriers; no hairpinning
//	                                    #  carrier-grade: a carrier's CGN (RFC 6888: 512-port
//	                                    #   blocks, filtering by address and port, stricter
//	                                    #   than RFC 4787 REQ-8's recommendation; give it a
//	                                    #   100.64.0.0/10 prefix); no hairpinning
//	                                    #  one-to-one: a cloud VM's public IP (AWS, GCP,
//	                                    #   Azure); hairpins
//	                                    #  linux-masquerade: a Linux box with nftables'
//	                                    #   masquerade and nothing else (a self-built router,
//	                                    #   a VPS gateway, Docker's and libvirt's NAT):
//	                                    #   port-restricted with port preservation, except
//	                                    #   that an unsolicited datagram from a remote makes
//	                                    #   conntrack give the next flow to that remote
//	                                    #   another port (mapping then destination-
//	                                    #   dependent); wan_input_drop: true is OpenWrt's
//	                                    #   default (unsolicited input dropped: plain
//	                                    #   port-restricted); no hairpinning
//	                                    # or {preset, mapping, filtering (endpoint-independent,
//	                                    #  address-dependent, address-and-port-dependent),
//	                                    #  hairpinning, port_preservation, inbound_refresh,
//	                                    #  wan_input_drop (booleans, default the preset's;
//	                                    #  wan_input_drop: false needs endpoint-independent
//	                                    #  mapping), mapping_lifetime (UDP, default 2m),
//	                                    #  tcp_established_lifetime (default 2h4m),
//	                                    #  tcp_transitory_lifetime (default 4m), ports (default
//	                                    #  1024-65535), port_block (ports per internal
//	                                    #  address, 0 off), forwards: [{proto, port, to}]}
//	      firewall:                     # default: none, everything passes
//	        - block-udp                 # presets: block-udp, block-inbound-tcp,
//	        - only-tcp-out: [80, 443]   # dtls-filtered, only-tcp-out [ports] (default
//	        - udp-whack: {after: 10s}   # [80, 443]), udp-whack {after}, throttle-udp RATE
//	        - throttle-udp: 500kbps     # (one budget for the UDP crossing both ways
//	                                    # together: what is above RATE is dropped),
//	        - drop-fragments            # drop-fragments (IP fragments, either way)
//	        - {direction: inbound, proto: udp, remote: 203.0.113.0/24, local: 10.9.0.2,
//	           ports: "50000-60000", local_ports: 3478, class: dtls, state: new,
//	           after: 5s, after_packets: 10, limit: 1Mbps, action: drop, name: my-rule}
//	                                    # a rule matches everything it does not name:
//	                                    # direction, proto and state default to any; only
//	                                    # action (drop, reject, accept) is required; class
//	                                    # (stun, dtls, channeldata, rtp, other, or a list)
//	                                    # applies to UDP; limit makes it match only the
//	                                    # packets above that rate; fragments: later (IP
//	                                    # fragments but the first) or all limits it to them.
//	                                    # remote and local take IPv6 prefixes too; a prefix
//	                                    # matches its family only
//	      link: {latency: 30ms, jitter: 5ms, loss: 1%, bandwidth: 2Mbps, queue: 65536}
//	                                    # the LAN's uplink, each way; default: no impairment.
//	                                    # Every link (a host's, a fault's impairment) takes:
//	                                    # loss_burst: 3, losses in bursts of that mean length
//	                                    # (Gilbert-Elliott; loss stays the long-run rate);
//	                                    # reorder: 1%, that share of packets held back by
//	                                    # reorder_delay (default 10ms), overtaken by later
//	                                    # ones. A capacity, bandwidth or trace: FILE (a
//	                                    # Mahimahi trace, relative to this file: one line
//	                                    # per millisecond at which a packet of up to 1504
//	                                    # bytes may leave; it repeats), queues packets:
//	                                    # queue is bytes (65536, the default), "100 packets"
//	                                    # or the time at the capacity ("1s": a bufferbloated
//	                                    # modem); discipline: drop-tail (default) or codel
//	                                    # (RFC 8289), codel: {target: 5ms, interval: 100ms}.
//	                                    # schedule: [{at: 10s, bandwidth: 500kbps}, ...]
//	                                    # changes the link at times after it is set (the
//	                                    # run's start; a fault's time): each step, in time
//	                                    # order, gives what changes (bandwidth: unlimited
//	                                    # lifts a cap) and keeps the rest. down: {...} is
//	                                    # the down direction (to the LAN or host) where it
//	                                    # differs, e.g. {bandwidth: 20Mbps}: the fields
//	                                    # outside it are then the up direction's; a
//	                                    # schedule belongs to the direction holding it
//	      mtu: 1280                     # the uplink's MTU in bytes, 576 (1280 on a LAN with
//	                                    # IPv6) to 65535; default: none (any size passes).
//	                                    # Or {size: 1280, fragment:
//	                                    # false, icmp_too_big: true, mss_clamp: false}: a
//	                                    # packet with DF set that does not fit is dropped
//	                                    # and, with icmp_too_big (default true), the sender
//	                                    # told the MTU (RFC 1191); false is a path MTU black
//	                                    # hole (RFC 2923). fragment: the tunnel clears DF and
//	                                    # fragments (RFC 4459 3.1). mss_clamp: SYNs' MSS is
//	                                    # lowered to size-40, as PPPoE routers do. Hosts send
//	                                    # as Linux does: DF set, datagrams over a learned
//	                                    # path MTU fragmented by the sender
//	      ipv6: true                    # default false: the LAN carries IPv6 too, on the next
//	                                    # free 2001:db8:0:N::/64 (or give the prefix, /120 or
//	                                    # wider, outside the internet's 2001:db8::/64). IPv6
//	                                    # is routed, not NATed, and the router admits inbound
//	                                    # IPv6 only as replies (RFC 6092 simple security)
//	      ipv6_only: true               # default false: hosts get no IPv4 address (a mobile
//	                                    # carrier); implies ipv6. nat then needs nat64
//	      nat64: true                   # default false: the router is a NAT64 (RFC 6146) for
//	                                    # 64:ff9b::/96, translating with the LAN's nat
//	                                    # (default endpoint-independent mapping and
//	                                    # filtering; not one-to-one), and the LAN's resolver
//	                                    # a DNS64 (RFC 6147): names with only IPv4 addresses
//	                                    # get 64:ff9b::/96 ones; IPv4 literals stay
//	                                    # unreachable from an IPv6-only LAN
//	  dns:                              # default: the node's turn.domain resolves to it
//	    turn.example.com: none          # does not resolve; or an IPv4 (A) or IPv6 (AAAA)
//	                                    # address. On a nat64 LAN a name with no AAAA gets
//	                                    # one synthesized in 64:ff9b::/96
//	  proxies:                          # default: none. Explicit proxies on LANs
//	    - name: squid                   # required; a host name, unique among hosts and LANs
//	      lan: corp                     # required: a LAN, whose firewall applies to the
//	                                    # proxy as to any host: let it out with a rule
//	      addr: 10.9.0.100              # default: the next free address on the LAN; a
//	                                    # firewall rule that lets only the proxy out names it
//	      kind: http                    # required: http (CONNECT, RFC 9110 §9.3.6) or
//	                                    # socks5 (RFC 1928, CONNECT only; a login with
//	                                    # users:, RFC 1929)
//	      port: 3128                    # default 3128 (http) or 1080 (socks5)
//	      allow_ports: [443]            # default: any. Destination ports it connects to;
//	                                    # others get 403 (http, as Squid's SSL_ports ACL)
//	                                    # or reply 0x02 (socks5)
//	      inspect: http-only            # default: none (http only). TLS inspection: the box
//	                                    # answers TLS with a leaf of its own CA and opens its
//	                                    # own TLS to the destination; http-only forwards
//	                                    # HTTP and closes anything else (TURN), pass-through
//	                                    # forwards any bytes
//	      issuer: Corp TLS Inspection CA   # default "NAME TLS Inspection CA": the box's
//	                                    # CA's common name, which an untrusting client's
//	                                    # failure names
//	      users: {bob: s3cret}          # default: no authentication. Required user names
//	                                    # and passwords: HTTP Basic (407 without), or
//	                                    # SOCKS5 username/password (RFC 1929)
//	node:                               # the media node; default: on the internet, with
//	                                    # LiveKit's documented defaults (TURN/UDP 3478,
//	                                    # TURN/TLS 5349 without a certificate, ICE-TCP 7881,
//	                                    # relay ports 30000-40000, media 50000-60000)
//	  name: media                       # its host name; default media
//	  lan: cloud                        # default: the internet
//	  addr: 10.9.0.2                    # default: the next free address on its LAN
//	  link: {latency: 5ms}              # its access link; default: no impairment
//	  mtu: 1460                         # its link's MTU, as a client's (Google Cloud's
//	                                    # default VPC MTU is 1460); default: any size
//	  config:                           # the node's livekit.yaml (turn:, rtc:, keys:)
//	    turn: {domain: turn.example.com, tls_port: 443}
//	  # config_file: livekit.yaml       # or a file, relative to the scenario; not both
//	  tls: {cert: generated}            # default: none. generated, wrong-name, expired,
//	                                    # missing-intermediate (issued by an intermediate,
//	                                    # served without it) from the test authority, or
//	                                    # {cert: FILE, key: FILE}
//	  load_balancer: {port: 443}        # default: none. An L4 load balancer terminating
//	                                    # TURN/TLS in front of the node
//	  second_node: true                 # default false: another node a reconnect may land on
//	  ipv6: true                        # default false: the node's host gets an IPv6 address
//	                                    # too and its peer gathers udp6 beside udp4 (on a LAN
//	                                    # with ipv6 it gets one anyway); its relay stays IPv4;
//	                                    # not with single_port (one IPv4 socket)
//	  turn_by_name: true                # default false: STUN and TURN/UDP/TCP URLs carry
//	                                    # turn.domain, not the node's IPv4 address (LiveKit
//	                                    # hands out the address), so a DNS64 can synthesize it
//	  single_port: 7882                 # default: none; all media on one UDP port
//	  credential_ttl: 1h                # default 24h: TURN REST credentials' lifetime
//	  mint_clock_offset: -2h            # default 0: the minting service's clock, off the
//	                                    # relay's (negative: behind), e.g. a skewed backend
//	clients:                            # required, at least one (unless peers:, below)
//	  - name: alice                     # required
//	    lan: corp                       # default: the internet
//	    link: {latency: 15ms}           # its access link; default 15ms of latency, as real
//	                                    # paths have (it decides races between relays)
//	    policy: relay                   # all (default) or relay
//	    mtu: 1500                       # its access link's MTU, as a LAN's (above); default
//	                                    # none. TCP announces MTU-40 as its MSS
//	    dtls_certificate: rsa-4096      # ecdsa-p256 (default: pion's own), rsa-2048,
//	                                    # rsa-4096: the certificate its DTLS handshake
//	                                    # carries; pion splits handshake messages at 1200
//	                                    # bytes, so its datagrams reach 1253 bytes
//	    pmtu_discovery: dont            # how its OS marks DF on UDP (ip(7) IP_MTU_DISCOVER):
//	                                    # want (default, Linux's: DF set; datagrams over a
//	                                    # learned path MTU fragmented by the sender), do (DF
//	                                    # always; EMSGSIZE over the path MTU), dont (no DF:
//	                                    # routers fragment what does not fit)
//	    profile: browser                # default none: browser (LiveKit JS in Chrome: udp4
//	                                    # and tcp4, TURN/UDP and TURN/TLS, LiveKit's
//	                                    # transport fallback, host candidates behind mDNS
//	                                    # names, its end of the selected pair labelled as
//	                                    # Chromium's getStats labels it) or pion (pion's
//	                                    # defaults, UDP only); network_types, fallback and
//	                                    # mdns set here win. On a LAN with ipv6 a profile
//	                                    # gathers udp6 too
//	    mdns: false                     # hide its host candidates behind an mDNS name
//	                                    # (NAME.local), as Chromium does for a page without
//	                                    # camera or microphone permission; no one on vnet
//	                                    # resolves it, so the far end learns the address
//	                                    # from the checks (prflx). Default false; the
//	                                    # browser profile's true (false: a page with
//	                                    # permission)
//	    congestion_control: gcc         # how its senders adapt: gcc (Google congestion
//	                                    # control on transport-wide feedback, as Chrome and
//	                                    # LiveKit's SDKs: video follows the estimate, from
//	                                    # 300 kbit/s up to 1.5 Mbit/s, keyframes on PLI) or
//	                                    # none (pion's defaults: 1.5 Mbit/s whatever the
//	                                    # path). Default none; the browser profile's gcc
//	    network_types: [udp4, tcp4]     # default [udp4], pion's default (UDP only). tcp4
//	                                    # adds ICE-TCP, whose active side pion dials through
//	                                    # the operating system: such a scenario runs on the
//	                                    # real clock. udp6 only on a LAN with ipv6 (or
//	                                    # ipv6_only, nat64); tcp6 is an error (ICE-TCP is
//	                                    # bridged over IPv4 loopback only)
//	    ice_servers: [{urls: [turns:turn.example.com:443?transport=tcp], username: u, credential: p}]
//	                                    # default: what the node's signalling hands out
//	    publish: [audio, video, data]   # or {audio: true, ...}; default: nothing published.
//	                                    # simulcast (in place of video): video in three
//	                                    # layers as LiveKit's SDKs publish a camera (q 180p
//	                                    # 160 kbit/s, h 360p 450 kbit/s, f 720p 1.5 Mbit/s);
//	                                    # the node forwards each subscriber the highest its
//	                                    # link carries (congestion_control: gcc to adapt)
//	    fallback: {policy: transport, deadline: 10s, other_node: false}
//	                                    # policy: none (default), ice-restart, transport,
//	                                    # renomination, force-relay. deadline bounds each
//	                                    # attempt's ICE+DTLS: default 10s for transport,
//	                                    # none otherwise (pion's DTLS has no timeout)
//	    proxy: squid                    # default: none. A proxy of network.proxies the
//	                                    # client is configured with: signalling goes through
//	                                    # it, and TURN over TCP and TLS (pion's ICE proxy
//	                                    # dialer, TLS inside the tunnel as browsers do);
//	                                    # UDP never does
//	    proxy_auth: {username: bob, password: s3cret}   # default: none; needs proxy:.
//	                                    # What the client gives its proxy
//	    trust: [inspector]              # default: none. TLS-inspecting proxies whose CA the
//	                                    # client trusts (a managed device with the
//	                                    # enterprise root installed)
//	servers:                            # default: none. Standalone STUN/TURN relay hosts
//	  - name: turn                      # (pion/turn, as icelab relay serve runs it); required
//	    lan: dmz                        # default: the internet. Behind a one-to-one NAT (a
//	                                    # cloud VM) its relay candidates carry its private
//	                                    # address unless config has rtc.use_external_ip
//	    addr: 10.9.0.5                  # default: the next free address on its LAN
//	    link: {latency: 5ms}            # default: no impairment
//	    config: {turn: {domain: turn.example.test, udp_port: 3478}}
//	                                    # its livekit.yaml, or config_file:; default LiveKit's
//	                                    # turn: defaults, domain NAME.icelab.test
//	    tls: {cert: generated}          # default: none; as the node's: TURN/TLS on
//	                                    # turn.tls_port (default 5349) for turn.domain
//	peers:                              # instead of node: and clients: (a file has one or
//	                                    # the other): a peer-to-peer call, at least two pion
//	                                    # peers, each connecting to every other (a full mesh),
//	                                    # the earlier-listed of a pair offering (and
//	                                    # controlling ICE), signalling out of band
//	  - name: alice                     # required; the fields of a client, except:
//	    lan: home
//	    servers: [turn]                 # the servers whose STUN and TURN (UDP and TCP) it
//	                                    # is handed, with credentials; default every server,
//	                                    # [] none. Or ice_servers: [...] as given, not both
//	    publish: [audio, data]          # sent on every connection of the peer
//	    fallback: {policy: ice-restart} # none (default), force-relay, ice-restart (the
//	                                    # offerer restarts when either end's ICE fails);
//	                                    # transport and renomination are a media node's
//	                                    # network_types: udp4 (default), udp6 on a LAN with
//	                                    # IPv6; no ICE-TCP between peers
//	faults:                             # default: none
//	  - name: whack                     # default: "fault N"
//	    when: {event: ice-connected, client: alice, after: 2s}   # or just {after: 12s};
//	                                    # default: at the start. client may name a peer:
//	                                    # the event of its first connection to get there
//	    kind: add-rules                 # required: add-rules, clear-rules (a LAN); cut,
//	    target: corp                    # restore, impair (a LAN's uplink or a host's link);
//	                                    # target is required
//	    rules: [block-udp]              # add-rules only; impair takes impairment: {...};
//	                                    # move (a client or peer) takes to: LAN or internet:
//	                                    # it roams there, its old address gone; mute and
//	                                    # unmute (a client or peer) stop and resume its RTP;
//	                                    # leave (a client or peer) hangs up for good: it
//	                                    # closes its peer connections, the far end gets its
//	                                    # DTLS close_notify;
//	                                    # a server's or a proxy's link can be cut or impaired
//	traffic:                            # default: none. Cross traffic sharing the call's
//	  - name: backup                    # links, to or from a server on the internet
//	    kind: upload                    # (cross-traffic): download or upload (bulk TCP,
//	    lan: home                       # taking what the path leaves it), or on-off (UDP
//	    at: 20s                         # down at rate for on, silent for off). On host: (a
//	    until: 40s                      # client or peer: the same laptop) or lan: (a
//	  - {kind: on-off, host: alice, rate: 2Mbps, on: 1s, off: 3s}   # device of its own
//	                                    # there); at default 0, until default the end;
//	                                    # name default "traffic-N". What each carried is in
//	                                    # the results
//	duration: 30s                       # on the run's clock; default 40s, at most 1h
//	seed: 1                             # default 0: the network's loss, jitter and ports
//	expect:                             # default: none; the run is then OBSERVED (what
//	  alice:                            # happened is reported, nothing is judged)
//	    transport: TURN/TLS             # what carried the call, even if it was lost later
//	                                    # (results say when it connected and was lost); or a
//	                                    # list of acceptable ones; none = never connected
//	    connected: true
//	    candidates: {local: relay, remote: host}   # host, srflx, prflx, relay, none;
//	                                    # or a list of acceptable ones: [host, srflx]
//	    media: {both_ways: true, flowing_at_end: true}
//	      # both_ways: over the whole call, every publication reached the node and every
//	      # subscription the client (at some time); flowing_at_end: all of it was still
//	      # flowing when the call ended. And bounds on every RTP flow to and from the
//	      # client, measured where it is received (the node, the client) against what
//	      # its sender sent: min_bitrate: 1Mbps (mean from its first packet), max_loss: 2%
//	      # (packets sent and never received, after NACK; sends of the last second or two
//	      # are in flight, not lost), max_rtt: 400ms (mean, from RTCP receiver reports),
//	      # max_jitter: 30ms (RFC 3550), max_freeze: 1s (the longest silence over the
//	      # flow's freeze gap: max(3 frames, a frame + 150 ms), as webrtc-stats counts);
//	      # and, for a call that should degrade, max_bitrate: 1Mbps, min_loss: 30%,
//	      # min_freeze: 1s. A flow that received nothing has no loss, bitrate or freeze
//	      # figure: it fails every bound set, with "no packets received". adapts:
//	      # [{after: 25s, within: 3s, below: 500kbps}, {after: 40s, within: 20s, above:
//	      # 1Mbps}]: how the client's publications follow the path: after a time, the
//	      # bitrate their sender encodes (one-second means) reaches below or above a
//	      # bitrate within a time (judged where the sender's figures are kept: the
//	      # client's own publications). min_grade: good (each flow's lowest connection
//	      # quality, scored every 5 s as LiveKit's server scores a track: excellent, good,
//	      # poor, lost; see media.Grade) and, for a call that should degrade, max_grade:
//	      # poor (the client's grade as LiveKit tells the room, the lowest of its flows',
//	      # fell that low at some time). layer: {after: 20s, min: f} (or max: q): on each subscription to a
//	      # simulcast publication, every second from after to the end forwarded at least
//	      # (at most) that layer, lowest to highest q, h, f
//	    recovered: true
//	    recover_within: 20s
//	    failure_contains: "5349"
//	    final_state: connected          # new, connecting, connected, disconnected, failed, closed
//
// Every field of an expectation is checked only when present.
//
// In a peer-to-peer file, expect: is by peer; a peer's expectation applies
// to each of its connections, and with: overrides fields for one remote
// peer. Results are per end of each connection, named "alice→bob" (alice's
// view of her connection to bob), and a result's transport names what
// carries it at either end: TURN/UDP when bob relays and alice sends to
// his allocation from her host candidate. candidates: local is the peer's
// own end, remote the other peer as it sees it (prflx: learnt from its
// checks):
//
//	expect:
//	  alice:                            # both of alice's connections ...
//	    transport: ICE/UDP
//	    media: {both_ways: true}        # her publications reach the remote, and its hers
//	    with:
//	      bob: {transport: TURN/UDP, candidates: {remote: relay}}   # ... but this one
//
// Unknown fields are errors, so that a typo never passes silently; so are
// references to things that do not exist (a client on an undefined LAN, a
// fault on no target, a parent cycle), and what would fail only at run
// time (overlapping address space, a LAN too small for its hosts, a second
// YAML document). Every error is an [*Error] naming the file, line and
// field, and one load reports every problem it finds. The livekit.yaml
// under node.config is parsed by relay.ParseConfig, and its problems are
// reported at the scenario file's lines.
//
// scenario.schema.json, beside this file, is a JSON Schema of the format
// for editors; a test keeps it and the loader accepting the same fields.
//
// The catalog directory holds one scenario per symptom of the seed
// documents (LiveKit's firewall notes and an embedded-TURN guide); the
// package's Ginkgo suite runs each of them.
//
// The package knows the file format and the harness's Spec and Result; it
// knows nothing of report formats or how runs are scheduled.
package scenarios
