package proto

// GoawayTooManyLinks is the one-byte goaway payload of a link its sender
// retired because it had more links than its high mark (antnet:
// WithMaxLinks). The receiver should not dial the sender again soon. An
// empty goaway payload means the sender is leaving or draining the link;
// receivers ignore reason bytes they do not know.
const GoawayTooManyLinks byte = 1

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
