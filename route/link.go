package route

// Prefer is the duplicate-link rule. Given the entry's current link and a
// candidate to the same peer, it returns the one to keep:
//
//   - no current link: the candidate;
//   - the two links carry different peer nonces: the candidate, since the
//     peer restarted and the current link's far end is gone;
//   - both links were dialed by the same side: the candidate, since that
//     side only dials again once it gave up its old link;
//   - crossed links (one dialed by each side): the one dialed by the side
//     whose static key sorts lower when both links are secure and the keys
//     differ, else by the side whose hello nonce is lower.
//
// Both ends apply it to the same sockets with facts both hold identically
// (the two keys or the two nonces, never an address string) and reach the
// same answer with no extra message. localKey and localNonce are this
// node's; the peer's come from the candidate. O(1).
func Prefer(localKey string, localNonce uint64, current, candidate Link) Link {
	switch {
	case current == nil,
		current.Nonce() != candidate.Nonce(),
		current.Outbound() == candidate.Outbound():
		return candidate
	}
	if candidate.Outbound() == localDialWins(localKey, localNonce, candidate) {
		return candidate
	}
	return current
}

// localDialWins reports whether, between this node and the peer at the end
// of l, the link this node dialed is the one both keep.
func localDialWins(localKey string, localNonce uint64, l Link) bool {
	if k := l.Key(); localKey != "" && k != "" && k != localKey {
		return localKey < k
	}
	return localNonce < l.Nonce()
}

// Attach offers l as e's link. It keeps whichever of e's current link and l
// Prefer picks, and returns the kept link and the dropped one (nil if none):
// the swap is atomic, so e is never without a link in between. When the two
// carry different nonces, the dropped link is a restarted peer's old one.
// The caller retires the dropped link: no new requests go on it, and it
// closes once its in-flight requests have finished (or at once, for an old
// incarnation's link).
func (t *Table[T, L]) Attach(e *Entry[T, L], l L) (kept, dropped L) {
	t.mu.Lock()
	defer t.mu.Unlock()
	cur := e.Link()
	if cur == l {
		return l, nil
	}
	if cur != nil && Prefer(t.local.Key, t.nonce, cur, l) == Link(cur) {
		return cur, l
	}
	e.link.Store((*T)(l))
	return l, cur
}

// Detach clears e's link if it is still l, and reports whether it was.
func (t *Table[T, L]) Detach(e *Entry[T, L], l L) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e.Link() != l || l == nil {
		return false
	}
	e.link.Store(nil)
	return true
}
