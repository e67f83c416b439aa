// Package sockaddr writes a socket's address as text with fewer
// allocations than package net's String, takes its IP out without
// allocating, and puts a peer's address in
// the one form a route is keyed by (Literal, Resolve): "localhost:7000"
// and "127.0.0.1:7000" are one peer.
package sockaddr

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"
)

// HostPort is a's "host:port" as net.TCPAddr's String writes it, IPv4-mapped
// addresses unmapped, built with one allocation where String makes two;
// "?" for nil.
func HostPort(a *net.TCPAddr) string {
	if a == nil {
		return "?"
	}
	ap := a.AddrPort()
	var b [64]byte
	return string(netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()).AppendTo(b[:0]))
}

// IP is the IP of a socket's address, IPv4-mapped addresses unmapped; the
// zero Addr for nil. Allocates nothing.
func IP(a *net.TCPAddr) netip.Addr {
	if a == nil {
		return netip.Addr{}
	}
	return a.AddrPort().Addr().Unmap()
}

// Literal returns "ip:port" with the IP of addr, a valid "host:port", in
// canonical form (IPv4-mapped unmapped), and true; false when the host is
// a name, not an IP.
func Literal(addr string) (string, bool) {
	host, port, _ := net.SplitHostPort(addr)
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return "", false
	}
	return net.JoinHostPort(ip.Unmap().String(), port), true
}

// Resolve looks up the host name of addr, a valid "host:port", with the
// system resolver, bounded by ctx and timeout, and returns "ip:port" with
// the first IPv4 address it finds, else the first address. Blocks.
func Resolve(ctx context.Context, addr string, timeout time.Duration) (string, error) {
	host, port, _ := net.SplitHostPort(addr)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return "", fmt.Errorf("resolve %s: %w", host, err)
	}
	if len(ips) == 0 {
		return "", fmt.Errorf("resolve %s: no address", host)
	}
	ip := ips[0]
	for _, a := range ips {
		if a.Unmap().Is4() {
			ip = a
			break
		}
	}
	return net.JoinHostPort(ip.Unmap().String(), port), nil
}
