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
// in _total, sizes are in bytes.
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
	"GossipForwarded":   {"gossip_frames_forwarded_total", "Gossip frames sent, the origin's included.", prometheus.CounterValue},
	"GossipDuplicates":  {"gossip_duplicates_total", "Gossip frames not delivered: id already seen.", prometheus.CounterValue},
	"GossipExpired":     {"broadcasts_expired_total", "Broadcasts delivered with ttl 0, not forwarded.", prometheus.CounterValue},
	"GossipReforwarded": {"gossip_frames_reforwarded_total", "Gossip frames sent again for a copy with more ttl left.", prometheus.CounterValue},
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
}

// Collector is a prometheus.Collector for one node. Each scrape costs one
// Node.Stats call (atomic loads) and one metric per series.
type Collector struct {
	node   *engine.Node
	fields []field // in engine.Stats order
}

type field struct {
	index int
	desc  *prometheus.Desc
	kind  prometheus.ValueType
}

// NewCollector returns a collector for n. Call it after n.Start: the node
// label is n's ID. Fields of engine.Stats it does not know are skipped.
func NewCollector(n *engine.Node) *Collector {
	c := &Collector{node: n}
	labels := prometheus.Labels{"node": n.ID().String()}
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
}
