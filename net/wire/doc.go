// Package wire encodes and decodes the headers the stack speaks, and
// computes Internet checksums: Ethernet II (IEEE 802.3 clause 3), ARP (RFC
// 826), IPv4 (RFC 791, checksum RFC 1071/1624), ICMP (RFC 792), UDP (RFC
// 768) and TCP (RFC 9293 §3.1, options §3.2, window scale and timestamps
// RFC 7323, SACK-permitted RFC 2018).
//
// It is pure logic, shared by the stack and by drivers (checksum offload
// fallbacks), and fuzzed on the host: every Parse function takes untrusted
// bytes, returns a typed error naming what is wrong, and never panics or
// reads outside its input.
package wire
