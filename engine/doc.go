// Package engine is an antnet node: a peer that listens and dials, serves
// requests and sends them, and relays broadcasts, with every socket of the
// node multiplexed on one gnet v2 reactor.
//
//	          your code: Dispatch / Send / DispatchAll / Broadcast / AddRoute
//	                                    │
//	┌─ Node ────────────────────────────┼─────────────────────────────────────┐
//	│  route.Table (lock-free reads) ◄──┤   futures (id → waiting caller)     │
//	│                                   ▼                                     │
//	│  per-link outbox ──wake──► gnet event loops (one per core)              │
//	│                              │ OnOpen: hello ─ OnTraffic: decode every  │
//	│  proto.Handler ◄─────────────┤ whole frame, run the handler, gather     │
//	│  (on the loop, or workers)   │ all answers, one write ─ OnTick: timers  │
//	└──────────────────────────────┼──────────────────────────────────────────┘
//	                accepted and dialed TCP sockets, codec frames
//
// # Modes
//
// In Persistent mode (the default) a node keeps one long-lived link per peer.
// AddRoute dials and completes the hello exchange; a peer that dials in joins
// the route table by itself. Requests, notices and broadcasts share the link,
// many requests may be in flight on it, and answers may come back in any
// order. When two nodes dial each other at once, both keep the link dialed by
// the node whose hello nonce (on secure links, static key) is lower and
// retire the other; a restarted peer's new link replaces its old one at once
// (see route.Prefer). A route added with AddRoute is redialed for as long as
// it exists. With WithMinLinks a node also finds peers by itself: it keeps
// an address book, asks its peers for addresses (peer exchange) and dials
// them while it has fewer links than that, and retires its least used links
// above WithMaxLinks.
//
// In Short mode every request dials a new connection: hello and request leave
// in one write, the answer comes back, and the acceptor closes the
// connection first (so the TIME_WAIT stays with it), then the dialer.
//
// # Handlers
//
// The proto.Handler runs on the event loop that owns the connection. It must
// not block: a handler that must wait calls ctx.Defer and answers from
// another goroutine, or the node is built WithWorkers. Blocking calls made on
// the event loop (Dispatch, a persistent AddRoute, Close) fail with
// ErrOnEventLoop instead of deadlocking, and so does Close on a worker; Send
// and Broadcast never block and are fine there. A handler that blocks
// anyway holds every other link of its loop; WithStallThreshold counts and
// names it.
// A panicking handler is recovered, the caller gets proto.ErrHandlerPanic,
// and the node keeps serving. The WithPeerEvents and WithAdmit callbacks are
// guarded the same way: a panic is recovered and counted
// (Stats.CallbackPanics), and blocking calls inside them fail with
// ErrOnEventLoop, whichever goroutine runs them.
//
// # Errors
//
// Every error matches, with errors.Is, a sentinel whose doc says what to
// do about it: this package's Err variables; route.ErrNoRoute,
// route.ErrAmbiguous, route.ErrAddrTaken; proto.ErrBadPeerID,
// proto.ErrReplySent; codec.ErrFrameTooLarge for a message over the max
// frame size (sealed size on secure links); and for answers the peer sent
// back, proto.ErrRemote and its refinements (proto.ErrHandlerPanic,
// ErrRemoteShutdown, ErrRemoteBusy, ErrUnsupported, and
// codec.ErrFrameTooLarge for a reply over the peer's max frame size;
// errors.As gives the *proto.RemoteError). The context's errors
// (context.Canceled, context.DeadlineExceeded) come back as they are.
//
// # Secure links
//
// WithIdentity turns on Noise XX authentication and AES-GCM or ChaCha20-Poly1305
// sealing for every link (package secure); WithAllowKeys and WithAdmit
// decide which peers get in.
//
// # Observing a node
//
// Stats is the node's counters (atomic loads); PeerStates lists each peer's
// state, link age, keepalive RTT and traffic; RequestRTT is a histogram of
// request round trips; WithPeerEvents reports peers coming and going, and
// why they went (Reason). Package metrics/prometheus exposes all of it.
//
// # Costs
//
// No goroutine runs per connection or per message. A request from a caller
// costs one pooled future and either a write from the caller's goroutine
// (a plain link carrying one request at a time) or a wake of the event loop
// (shared by every request queued before the loop runs); a request served
// costs no allocation. Payloads handed to a handler are valid during the call only.
package engine
