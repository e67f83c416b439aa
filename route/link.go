package route

import "github.com/antnet-p2p/antnet/proto"

// Prefer is the duplicate-link rule. Given two live links to the same peer, it
// returns the one to keep: the link dialed by whichever of the two nodes has
// the lower PeerID (proto.PeerID.Compare). Both ends apply it to the same two
// sockets and reach the same answer with no extra message. When both links
// were dialed by the same side (a redial), the current one stays.
func Prefer(local, remote proto.PeerID, current, candidate Link) Link {
	if current == nil {
		return candidate
	}
	if current.Outbound() == candidate.Outbound() {
		return current
	}
	localDials := local.Compare(remote) < 0
	if candidate.Outbound() == localDials {
		return candidate
	}
	return current
}

// Attach offers l as e's link. It keeps whichever of e's current link and l
// Prefer picks, and returns the kept link and the dropped one (nil if none).
// The caller drains the dropped link: no new requests go on it, and it closes
// once its in-flight requests have finished.
func (t *Table) Attach(e *Entry, l Link) (kept, dropped Link) {
	t.mu.Lock()
	defer t.mu.Unlock()
	cur := e.Link()
	if cur == l {
		return l, nil
	}
	remote := e.ID
	remote.Key = l.Key()
	kept = Prefer(t.local, remote, cur, l)
	if kept == cur {
		return cur, l
	}
	e.link.Store(&linkBox{l})
	return l, cur
}

// Detach clears e's link if it is still l, and reports whether it was.
func (t *Table) Detach(e *Entry, l Link) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e.Link() != l || l == nil {
		return false
	}
	e.link.Store(nil)
	return true
}
