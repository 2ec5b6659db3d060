// Package middlebox is the explicit proxies of a corporate network, served
// on a vnet host: an HTTP CONNECT proxy (RFC 9110 §9.3.6, formerly RFC 7231
// §4.3.6) with a destination port allowlist, a SOCKS5 proxy (RFC 1928), and
// TLS inspection on the CONNECT proxy, as enterprise forward proxies with
// SSL/TLS decryption do. Either may require a login (HTTP Basic, RFC 7617;
// SOCKS5 username/password, RFC 1929). It also has the client side:
// dialers that reach a destination through such a proxy.
//
// The package knows TCP, TLS and HTTP; it knows nothing of WebRTC, the
// harness or scenario files.
package middlebox
