package engine

import (
	"errors"

	"github.com/antnet-p2p/antnet/internal/config"
)

// Errors returned by a Node. Each is a sentinel for errors.Is; the returned
// error usually wraps it with the peer or the detail. The package doc
// lists those of other packages a caller meets here.
var (
	// ErrClosed: the node is closed or closing. Make a new node.
	ErrClosed = errors.New("antnet: node closed")
	// ErrNotStarted: the node has not been started. Call Start first.
	ErrNotStarted = errors.New("antnet: node not started")
	// ErrTimeout: no answer within the request timeout (or a dial past
	// the dial timeout). The peer may still process the request: retry only
	// idempotent messages. It is a net.Error whose Timeout() is true, so
	// code written for package net's timeouts recognises it.
	ErrTimeout error = timeoutError{}
	// ErrConnLost: the connection closed before the answer came. The
	// request may or may not have been processed.
	ErrConnLost = errors.New("antnet: connection lost")
	// ErrPeerClosed: the peer closed (its Node.Close, or a Shutdown whose
	// context ended) with this request unanswered, and said so with its
	// goaway: the caller learns at once instead of at its timeout. The
	// request may or may not have been processed. It also matches
	// ErrConnLost, so code written for a lost connection handles it.
	ErrPeerClosed error = peerClosedError{}
	// ErrNotConnected: the route has no live link (persistent mode). Wait
	// for a reconnect or AddRoute again.
	ErrNotConnected = errors.New("antnet: peer not connected")
	// ErrDial: the peer's address could not be connected to (refused,
	// unreachable, unresolvable, or no answer within the dial timeout). The
	// error wraps the cause: errors.As finds the *net.OpError, and a dial
	// that ran out of time also matches ErrTimeout.
	ErrDial = errors.New("antnet: dial failed")
	// ErrHandshake: the peer did not complete the hello exchange in time, or
	// answered with something else. The message says what it did; a peer
	// that closed without a word has the reason in its own log.
	ErrHandshake = errors.New("antnet: handshake failed")
	// ErrPeerMismatch: the peer at the address is not the one the route
	// names: it introduced itself under another name than the one given to
	// AddRoute, or (secure links) its key is not the one expected there
	// (then the error is ErrKeyMismatch, which matches ErrPeerMismatch too).
	ErrPeerMismatch = errors.New("antnet: peer name mismatch")
	// ErrKeyMismatch: (secure links) the peer's key is not the one pinned
	// to the address ("host:port#fingerprint"), learned with it from the
	// address book, or held by the address's live link. It also matches
	// ErrPeerMismatch.
	ErrKeyMismatch error = keyMismatchError{}
	// ErrSelf: the address is this node's own.
	ErrSelf = errors.New("antnet: route to self")
	// ErrOnEventLoop: a blocking call (Dispatch, AddRoute, Close...) was made from
	// a handler, on the event loop, where it would deadlock the node, or
	// inside a WithPeerEvents or WithAdmit callback. Use ctx.Defer and make
	// the call from another goroutine, or use a worker pool (WithWorkers);
	// from a callback, hand the work to another goroutine.
	ErrOnEventLoop = errors.New("antnet: blocking call on the event loop")
	// ErrDraining: the link is being retired (a duplicate link, a deleted
	// route or a peer's goaway) and takes no new requests.
	ErrDraining = errors.New("antnet: link draining")
	// ErrProtocol: the peer broke the wire protocol; its connection was
	// closed. Before the handshake the message says what the peer sent
	// (another protocol's text, a length no antnet node sends): check that
	// the address is an antnet node's.
	ErrProtocol = errors.New("antnet: protocol violation")
	// ErrSlowPeer: the peer is not reading; what the node holds for it is
	// at the high-water mark (WithHighWater) and the frame was not queued.
	// Retry later, or drop the peer. Also the cause of a link closed for
	// that (WithDropSlowPeers, or a peer that kept sending without
	// reading its answers).
	ErrSlowPeer = errors.New("antnet: peer not reading (outbound high-water mark)")
	// ErrBusy: the link already carries the maximum of requests in flight
	// (WithMaxInFlight). Retry when some have been answered.
	ErrBusy = errors.New("antnet: too many requests in flight")
	// ErrRefused: the peer closed the link during the handshake and said
	// why (for example, one side requires secure links and the other does
	// not speak them, or a limit). Fix the configuration or retry later.
	ErrRefused = errors.New("antnet: refused by peer")
	// ErrNotAdmitted: the peer's key is not on this node's allow-list (or
	// the admission callback refused it).
	ErrNotAdmitted = errors.New("antnet: peer key not admitted")
	// ErrBadOption: New was given an option out of its range (a zero
	// timeout, a negative limit, a high-water mark below the max frame...);
	// the message names the option. Fix the configuration.
	ErrBadOption = config.ErrBadOption
	// ErrListen: Start could not bind the listen address (in use, not a
	// local address, no permission). The error wraps the cause. Pick
	// another address or free this one.
	ErrListen = errors.New("antnet: cannot listen")
	// ErrPeerSilent: the peer answered nothing, not even keepalive pings,
	// within the dead-peer timeout; its link was closed.
	ErrPeerSilent = errors.New("antnet: peer silent past the dead-peer timeout")
)

// keyMismatchError is ErrKeyMismatch's type: a peer mismatch by key.
type keyMismatchError struct{}

func (keyMismatchError) Error() string { return "antnet: peer key mismatch" }

// Is matches ErrPeerMismatch.
func (keyMismatchError) Is(target error) bool { return target == ErrPeerMismatch }

// peerClosedError is ErrPeerClosed's type: a lost connection whose peer
// said it was closing.
type peerClosedError struct{}

func (peerClosedError) Error() string { return "antnet: peer closed with the request unanswered" }

// Is matches ErrConnLost.
func (peerClosedError) Is(target error) bool { return target == ErrConnLost }

// timeoutError is ErrTimeout's type: a net.Error that timed out.
type timeoutError struct{}

func (timeoutError) Error() string   { return "antnet: request timed out" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }
