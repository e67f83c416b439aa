//go:build !linux

package engine

import "net"

// deferAccept is Linux's TCP_DEFER_ACCEPT; elsewhere accepts do not wait
// for the first bytes, and serveShort serves the sockets whose bytes are
// there by the time it looks.
func deferAccept(*net.TCPListener) {}
