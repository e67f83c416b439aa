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
