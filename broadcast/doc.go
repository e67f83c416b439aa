// Package broadcast relays broadcasts on epidemic broadcast trees (Leitão,
// Pereira, Rodrigues, "Epidemic Broadcast Trees", SRDS 2007): payloads
// travel eagerly on a spanning tree that forms and repairs itself, ids are
// announced lazily on the other links, and a node that hears of an id it
// lacks asks for it. Each node thus receives each payload about once.
//
// A Tree is the broadcast state of one node: the seen set, the eager and
// lazy links, the payloads it can still send, the ids it is waiting for.
// It holds no sockets. Its host (the engine) feeds it links going up and
// down, the frames that arrive, and ticks when asked (Config.Wake); the
// tree answers by sending frames through a Sender and by telling the host
// which broadcasts to deliver. Every method is safe for concurrent use;
// each takes the tree's one lock for a few map operations.
//
// Links that do not speak trees (a peer that only floods) are always
// eager: they get every payload and no control frame, and duplicates from
// them are dropped without a prune. So a mixed network delivers everything
// exactly once; it only pays flooding's bytes on the flooding links.
package broadcast
