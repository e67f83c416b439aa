package engine

import (
	"net"
	"net/netip"
	"testing"
)

// TestHostPortAsNetWritesIt: hostPort writes a socket address as
// net.TCPAddr.String does, zones included, IPv4-mapped addresses unmapped,
// and remoteIP takes the IP out of it without allocating.
func TestHostPortAsNetWritesIt(t *testing.T) {
	for _, tc := range []struct {
		addr *net.TCPAddr
		ip   string
	}{
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1).To4(), Port: 7001}, "127.0.0.1"},
		{&net.TCPAddr{IP: net.IPv4(10, 1, 2, 3), Port: 65535}, "10.1.2.3"}, // 16-byte form
		{&net.TCPAddr{IP: net.ParseIP("::1"), Port: 80}, "::1"},
		{&net.TCPAddr{IP: net.ParseIP("fe80::1"), Port: 9, Zone: "eth0"}, "fe80::1%eth0"},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8::ff00:42:8329"), Port: 443}, "2001:db8::ff00:42:8329"},
	} {
		got := hostPort(tc.addr)
		if want := tc.addr.String(); got != want {
			t.Errorf("hostPort(%v) = %q, want %q", tc.addr, got, want)
		}
		if ip := remoteIP(tc.addr); ip != netip.MustParseAddr(tc.ip) {
			t.Errorf("remoteIP(%v) = %v, want %s", tc.addr, ip, tc.ip)
		}
	}
	mapped := &net.TCPAddr{IP: net.ParseIP("::ffff:10.0.0.1"), Port: 5}
	if got := hostPort(mapped); got != "10.0.0.1:5" {
		t.Errorf("hostPort of a mapped address = %q, want 10.0.0.1:5", got)
	}
	if ip := remoteIP(mapped); ip != netip.MustParseAddr("10.0.0.1") {
		t.Errorf("remoteIP of a mapped address = %v, want 10.0.0.1", ip)
	}
	if got, ip := hostPort(nil), remoteIP(nil); got != "?" || ip.IsValid() {
		t.Errorf("nil address: hostPort %q, remoteIP %v; want ? and the zero Addr", got, ip)
	}
	a := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 54321}
	if n := testing.AllocsPerRun(100, func() { _ = remoteIP(a) }); n != 0 {
		t.Errorf("%.0f allocations for remoteIP, want 0", n)
	}
}
