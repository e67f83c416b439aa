package sockaddr

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"
)

// TestHostPortAsNetWritesIt: HostPort writes a socket address as
// net.TCPAddr.String does, zones included, IPv4-mapped addresses unmapped,
// and IP takes the IP out of it without allocating.
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
		got := HostPort(tc.addr)
		if want := tc.addr.String(); got != want {
			t.Errorf("HostPort(%v) = %q, want %q", tc.addr, got, want)
		}
		if ip := IP(tc.addr); ip != netip.MustParseAddr(tc.ip) {
			t.Errorf("IP(%v) = %v, want %s", tc.addr, ip, tc.ip)
		}
	}
	mapped := &net.TCPAddr{IP: net.ParseIP("::ffff:10.0.0.1"), Port: 5}
	if got := HostPort(mapped); got != "10.0.0.1:5" {
		t.Errorf("HostPort of a mapped address = %q, want 10.0.0.1:5", got)
	}
	if ip := IP(mapped); ip != netip.MustParseAddr("10.0.0.1") {
		t.Errorf("IP of a mapped address = %v, want 10.0.0.1", ip)
	}
	if got, ip := HostPort(nil), IP(nil); got != "?" || ip.IsValid() {
		t.Errorf("nil address: HostPort %q, IP %v; want ? and the zero Addr", got, ip)
	}
	a := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 54321}
	if n := testing.AllocsPerRun(100, func() { _ = IP(a) }); n != 0 {
		t.Errorf("%.0f allocations for IP, want 0", n)
	}
}

// Literal puts an IP host in canonical form and leaves names to Resolve;
// Resolve prefers IPv4 (localhost, from the hosts file).
func TestCanonicalAddress(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:7000":        "127.0.0.1:7000",
		"[::ffff:10.0.0.1]:5":   "10.0.0.1:5",
		"[::1]:80":              "[::1]:80",
		"[2001:DB8::0:1]:443":   "[2001:db8::1]:443",
		"[fe80::1%eth0]:9":      "[fe80::1%eth0]:9",
		"localhost:7000":        "",
		"node-1.example.org:80": "",
	} {
		got, ok := Literal(in)
		if ok != (want != "") || got != want {
			t.Errorf("Literal(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	got, err := Resolve(context.Background(), "localhost:7000", 5*time.Second)
	if err != nil || got != "127.0.0.1:7000" {
		t.Fatalf("Resolve(localhost:7000) = %q, %v; want 127.0.0.1:7000", got, err)
	}
}
