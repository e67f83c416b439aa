package proto

// Goaway reasons: the one-byte goaway payloads antnet sends. An empty
// goaway payload means the sender is draining the link (a duplicate link, a
// deleted route, or the answer to the peer's goaway); receivers ignore
// reason bytes they do not know.
const (
	// GoawayTooManyLinks: the sender retired the link because it had more
	// links than its high mark (antnet: WithMaxLinks). The receiver should
	// not dial the sender again soon.
	GoawayTooManyLinks byte = 1
	// GoawayClosing: the sender is closing (antnet: Node.Close, or a
	// Shutdown whose context ended) and will answer none of the requests it
	// has not answered yet: the receiver fails them at once.
	GoawayClosing byte = 2
)

// GoawayReason returns the reason byte of a goaway payload: 0 for an empty
// payload, else its first byte. Bytes after the first are ignored, as
// PROTOCOL.md says a receiver must; an unknown reason is returned as it is
// for the caller to ignore. It never fails and allocates nothing.
func GoawayReason(payload []byte) byte {
	if len(payload) == 0 {
		return 0
	}
	return payload[0]
}

// AppendGoaway appends a goaway payload carrying reason: nothing for 0
// (leaving or draining), else the one reason byte.
func AppendGoaway(dst []byte, reason byte) []byte {
	if reason == 0 {
		return dst
	}
	return append(dst, reason)
}
