// Package sockaddr writes a socket's address as the text a node keeps for
// each link and reads its IP back out, with fewer allocations than
// package net's String and SplitHostPort.
package sockaddr

import (
	"net"
	"net/netip"
	"strings"
)

// HostPort is a's "host:port" as net.Addr's String writes it, built with one
// allocation where String makes two: every link keeps one.
func HostPort(a net.Addr) string {
	t, ok := a.(*net.TCPAddr)
	if !ok {
		return a.String()
	}
	ap := t.AddrPort()
	var b [64]byte
	return string(netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()).AppendTo(b[:0]))
}

// IP is the IP of a socket's "ip:port", IPv4-mapped addresses unmapped;
// what is not an address comes back unchanged. No allocation unless the
// address is IPv4-mapped.
func IP(hostport string) string {
	ap, err := netip.ParseAddrPort(hostport)
	if err != nil {
		return hostport
	}
	if a := ap.Addr(); a.Is4In6() {
		return a.Unmap().String()
	}
	// The host as written, without a copy: every link asks once.
	host := hostport[:strings.LastIndexByte(hostport, ':')]
	return strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
}
