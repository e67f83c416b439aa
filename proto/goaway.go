package proto

// GoawayTooManyLinks is the one-byte goaway payload of a link its sender
// retired because it had more links than its high mark (antnet:
// WithMaxLinks). The receiver should not dial the sender again soon. An
// empty goaway payload means the sender is leaving or draining the link;
// receivers ignore reason bytes they do not know.
const GoawayTooManyLinks byte = 1
