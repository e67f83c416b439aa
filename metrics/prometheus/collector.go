// Package prometheus exposes an antnet node's counters to Prometheus
// through github.com/prometheus/client_golang. Only programs that import
// this package build client_golang; the engine does not depend on it.
//
//	reg := prometheus.NewRegistry()
//	reg.MustRegister(antprom.NewCollector(node))
//	http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
//
// Every series carries the label node="name@host:port", so one registry
// can hold several nodes. Names follow Prometheus conventions: counters end
// in _total, sizes are in bytes, durations in seconds.
//
// Per-peer series (antnet_peer_*) carry a second label, peer="name@host:port".
// Their cardinality is bounded: a scrape lists at most WithMaxPeers peers
// (default 256), the first by address among those in Node.PeerStates; the
// others are counted in antnet_peers_unlisted. A peer's counters are those
// of its current link: they restart from zero when it reconnects, which
// Prometheus's rate() takes as a counter reset.
package prometheus

import (
	"reflect"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/antnet-p2p/antnet/engine"
)

// metric says how one engine.Stats field is exposed.
type metric struct {
	name string // without the antnet_ prefix
	help string
	kind prometheus.ValueType
}

// statsMetrics maps every field of engine.Stats to its series. A test
// fails when a field has no entry here.
var statsMetrics = map[string]metric{
	"Peers":             {"peers", "Entries in the route table.", prometheus.GaugeValue},
	"Conns":             {"connections", "Open sockets, in any state.", prometheus.GaugeValue},
	"PersistentLinks":   {"persistent_links", "Persistent links past their handshake.", prometheus.GaugeValue},
	"ShortLinks":        {"short_links", "Short-mode connections past their handshake.", prometheus.GaugeValue},
	"InFlight":          {"requests_in_flight", "Requests sent and not yet answered.", prometheus.GaugeValue},
	"FramesIn":          {"frames_received_total", "Frames decoded.", prometheus.CounterValue},
	"FramesOut":         {"frames_sent_total", "Frames queued or written.", prometheus.CounterValue},
	"BytesIn":           {"received_bytes_total", "Bytes of decoded frames.", prometheus.CounterValue},
	"BytesOut":          {"sent_bytes_total", "Bytes written by the event loops.", prometheus.CounterValue},
	"Requests":          {"requests_total", "Requests this node sent.", prometheus.CounterValue},
	"Timeouts":          {"request_timeouts_total", "Requests given up: timeout or the caller's context.", prometheus.CounterValue},
	"RemoteErrors":      {"remote_errors_total", "Error-responses received.", prometheus.CounterValue},
	"HandlerPanics":     {"handler_panics_total", "Handler panics recovered.", prometheus.CounterValue},
	"ProtocolErrors":    {"protocol_errors_total", "Connections closed for bad input.", prometheus.CounterValue},
	"UnknownKinds":      {"unknown_kinds_total", "Frames of a kind this node does not serve.", prometheus.CounterValue},
	"UnknownReplies":    {"unknown_replies_total", "Answers with no waiting request (late or bogus).", prometheus.CounterValue},
	"HandshakeTimeouts": {"handshake_timeouts_total", "Sockets closed for not finishing the hello exchange.", prometheus.CounterValue},
	"DuplicateLinks":    {"duplicate_links_total", "Links retired by the duplicate-link rule.", prometheus.CounterValue},
	"Busy":              {"busy_total", "Requests refused because the worker queue was full.", prometheus.CounterValue},
	"GossipOriginated":  {"broadcasts_originated_total", "Broadcasts started here.", prometheus.CounterValue},
	"GossipDelivered":   {"broadcasts_delivered_total", "Broadcasts handed to the handler (once per id).", prometheus.CounterValue},
	"GossipForwarded":   {"gossip_frames_forwarded_total", "Gossip frames (payload copies) sent, the origin's included.", prometheus.CounterValue},
	"GossipDuplicates":  {"gossip_duplicates_total", "Gossip frames not delivered: id already seen.", prometheus.CounterValue},
	"GossipExpired":     {"broadcasts_expired_total", "Broadcasts delivered with ttl 0, not forwarded.", prometheus.CounterValue},
	"GossipReforwarded": {"gossip_frames_reforwarded_total", "Broadcasts relayed again because a later copy or announcement carried more ttl.", prometheus.CounterValue},
	"Dropped":           {"frames_refused_total", "Frames refused by the outbound high-water mark.", prometheus.CounterValue},
	"SlowPeers":         {"slow_peers_total", "Peers disconnected for not reading.", prometheus.CounterValue},
	"Refused":           {"connections_refused_total", "Accepted sockets closed by a connection limit.", prometheus.CounterValue},
	"SilentPeers":       {"silent_peers_total", "Links closed by keepalive.", prometheus.CounterValue},
	"Redials":           {"redials_total", "Reconnect attempts.", prometheus.CounterValue},
	"Tampered":          {"tampered_links_total", "Secure links closed for a frame that failed authentication.", prometheus.CounterValue},
	"Unadmitted":        {"unadmitted_peers_total", "Secure peers refused by the allow-list or admission callback.", prometheus.CounterValue},
	"CallbackPanics":    {"callback_panics_total", "Panics recovered in peer-event and admission callbacks.", prometheus.CounterValue},
	"Restarts":          {"peer_restarts_total", "Links to an old incarnation of a restarted peer, closed.", prometheus.CounterValue},
	"AcceptErrors":      {"accept_errors_total", "Failed accepts (out of descriptors...), each costing a back-off.", prometheus.CounterValue},
	"LinksTrimmed":      {"links_trimmed_total", "Links retired above the high mark (WithMaxLinks).", prometheus.CounterValue},
	"PexAsked":          {"pex_requests_sent_total", "Peer-exchange requests sent.", prometheus.CounterValue},
	"PexServed":         {"pex_requests_served_total", "Peer-exchange requests answered with addresses.", prometheus.CounterValue},
	"PexLearned":        {"pex_addresses_taken_total", "Addresses in peer-exchange answers the address book took.", prometheus.CounterValue},
	"LoopStalls":        {"loop_stalls_total", "Event loop callbacks that ran past the stall threshold: a handler blocking its loop.", prometheus.CounterValue},
}

// Collector is a prometheus.Collector for one node. Each scrape costs one
// Node.Stats call (atomic loads), one Node.PeerStates call (O(peers)), one
// Node.RequestRTT snapshot and one metric per series: about 40 node series
// plus 6 per listed peer.
type Collector struct {
	node     *engine.Node
	fields   []field // in engine.Stats order
	maxPeers int

	peerBytesIn, peerBytesOut, peerFramesIn, peerFramesOut *prometheus.Desc
	peerInFlight, peerRTT, unlisted, requestRTT            *prometheus.Desc
	broadcastDelay                                         *prometheus.Desc
}

// Option configures a Collector.
type Option func(*Collector)

// DefaultMaxPeers is how many peers get per-peer series by default.
const DefaultMaxPeers = 256

// WithMaxPeers bounds the per-peer series to the first n peers by address
// (n series of each antnet_peer_* metric); the rest are counted in
// antnet_peers_unlisted. 0 turns per-peer series off. Default
// DefaultMaxPeers.
func WithMaxPeers(n int) Option { return func(c *Collector) { c.maxPeers = max(n, 0) } }

type field struct {
	index int
	desc  *prometheus.Desc
	kind  prometheus.ValueType
}

// NewCollector returns a collector for n. Call it after n.Start: the node
// label is n's ID. Fields of engine.Stats it does not know are skipped.
func NewCollector(n *engine.Node, opts ...Option) *Collector {
	c := &Collector{node: n, maxPeers: DefaultMaxPeers}
	for _, o := range opts {
		o(c)
	}
	labels := prometheus.Labels{"node": n.ID().String()}
	peer := []string{"peer"}
	c.peerBytesIn = prometheus.NewDesc("antnet_peer_received_bytes_total", "Bytes of frames received on the peer's current link.", peer, labels)
	c.peerBytesOut = prometheus.NewDesc("antnet_peer_sent_bytes_total", "Bytes written on the peer's current link.", peer, labels)
	c.peerFramesIn = prometheus.NewDesc("antnet_peer_received_frames_total", "Frames received on the peer's current link.", peer, labels)
	c.peerFramesOut = prometheus.NewDesc("antnet_peer_sent_frames_total", "Frames queued or written on the peer's current link.", peer, labels)
	c.peerInFlight = prometheus.NewDesc("antnet_peer_requests_in_flight", "Requests sent to the peer and not yet answered.", peer, labels)
	c.peerRTT = prometheus.NewDesc("antnet_peer_rtt_seconds", "Round trip of the last keepalive ping answered by the peer (0: none yet).", peer, labels)
	c.unlisted = prometheus.NewDesc("antnet_peers_unlisted", "Peers left out of the per-peer series by the collector's bound.", nil, labels)
	c.requestRTT = prometheus.NewDesc("antnet_request_rtt_seconds", "Round trip of requests answered with a reply, from the call to the reply.", nil, labels)
	c.broadcastDelay = prometheus.NewDesc("antnet_broadcast_delivery_seconds",
		"Delay from a broadcast's origin to its delivery here (two clocks); summed over a network's nodes its quantiles are the coverage times.", nil, labels)
	t := reflect.TypeFor[engine.Stats]()
	for i := range t.NumField() {
		m, ok := statsMetrics[t.Field(i).Name]
		if !ok {
			continue
		}
		c.fields = append(c.fields, field{
			index: i,
			desc:  prometheus.NewDesc("antnet_"+m.name, m.help, nil, labels),
			kind:  m.kind,
		})
	}
	return c
}

// Describe sends the descriptors of every series.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, f := range c.fields {
		ch <- f.desc
	}
	for _, d := range []*prometheus.Desc{c.peerBytesIn, c.peerBytesOut, c.peerFramesIn, c.peerFramesOut, c.peerInFlight, c.peerRTT, c.unlisted, c.requestRTT, c.broadcastDelay} {
		ch <- d
	}
}

// Collect sends the node's current values.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	st := reflect.ValueOf(c.node.Stats())
	for _, f := range c.fields {
		var v float64
		switch x := st.Field(f.index); x.Kind() {
		case reflect.Int, reflect.Int64:
			v = float64(x.Int())
		case reflect.Uint64:
			v = float64(x.Uint())
		}
		ch <- prometheus.MustNewConstMetric(f.desc, f.kind, v)
	}
	c.collectPeers(ch)
	ch <- histogram(c.requestRTT, c.node.RequestRTT())
	ch <- histogram(c.broadcastDelay, c.node.BroadcastDelay())
}

// histogram converts an engine histogram (per-bucket counts) into a
// Prometheus one (cumulative).
func histogram(d *prometheus.Desc, h engine.Histogram) prometheus.Metric {
	buckets := make(map[float64]uint64, len(h.Bounds))
	var cum uint64
	for i, b := range h.Bounds {
		cum += h.Counts[i]
		buckets[b.Seconds()] = cum
	}
	return prometheus.MustNewConstHistogram(d, h.Count, h.Sum.Seconds(), buckets)
}

// collectPeers sends the per-peer series of the first maxPeers peers (by
// address) and the count of the others.
func (c *Collector) collectPeers(ch chan<- prometheus.Metric) {
	states := c.node.PeerStates() // sorted by address
	unlisted := max(len(states)-c.maxPeers, 0)
	for _, s := range states[:len(states)-unlisted] {
		id := s.ID
		id.Key = ""
		peer := id.String() // PeerStates has one row per address
		ch <- prometheus.MustNewConstMetric(c.peerBytesIn, prometheus.CounterValue, float64(s.BytesIn), peer)
		ch <- prometheus.MustNewConstMetric(c.peerBytesOut, prometheus.CounterValue, float64(s.BytesOut), peer)
		ch <- prometheus.MustNewConstMetric(c.peerFramesIn, prometheus.CounterValue, float64(s.FramesIn), peer)
		ch <- prometheus.MustNewConstMetric(c.peerFramesOut, prometheus.CounterValue, float64(s.FramesOut), peer)
		ch <- prometheus.MustNewConstMetric(c.peerInFlight, prometheus.GaugeValue, float64(s.InFlight), peer)
		ch <- prometheus.MustNewConstMetric(c.peerRTT, prometheus.GaugeValue, s.RTT.Seconds(), peer)
	}
	ch <- prometheus.MustNewConstMetric(c.unlisted, prometheus.GaugeValue, float64(unlisted))
}
