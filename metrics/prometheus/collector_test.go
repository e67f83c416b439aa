package prometheus

import (
	"net/http/httptest"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/antnet-p2p/antnet/engine"
	"github.com/antnet-p2p/antnet/internal/testkit"
	"github.com/antnet-p2p/antnet/proto"
)

func startNode(t *testing.T, name string, h proto.Handler, opts ...engine.Option) *engine.Node {
	t.Helper()
	n, err := engine.New(name, "127.0.0.1:0", h, opts...)
	return testkit.Started(t, n, err)
}

// scrape serves reg over HTTP on loopback, GETs it and parses the text.
func scrape(t *testing.T, reg *prometheus.Registry) map[string]*dto.MetricFamily {
	t.Helper()
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

// value returns the series of family name whose node label is node.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name, node string) float64 {
	t.Helper()
	f, ok := fams[name]
	if !ok {
		t.Fatalf("no family %s", name)
	}
	for _, m := range f.Metric {
		for _, l := range m.Label {
			if l.GetName() == "node" && l.GetValue() == node {
				if c := m.GetCounter(); c != nil {
					return c.GetValue()
				}
				return m.GetGauge().GetValue()
			}
		}
	}
	t.Fatalf("%s has no series for node %s", name, node)
	return 0
}

func TestScrapeOverHTTP(t *testing.T) {
	echo := proto.HandlerFunc(func(_ proto.Context, msg []byte) ([]byte, error) {
		if string(msg) == "block" {
			time.Sleep(50 * time.Millisecond) // past b's stall threshold: its loop stalls once
		}
		return msg, nil
	})
	a := startNode(t, "a", nil)
	b := startNode(t, "b", echo, engine.WithStallThreshold(20*time.Millisecond))
	if err := a.AddRoute("b", b.Addr()); err != nil {
		t.Fatal(err)
	}
	for _, msg := range []string{"ping", "ping", "block"} {
		if _, err := a.Dispatch("b", []byte(msg)); err != nil {
			t.Fatal(err)
		}
	}
	// The loop counts its stall once the callback that answered ends.
	testkit.Eventually(t, 2*time.Second, "b's loop stall", func() bool { return b.Stats().LoopStalls > 0 })
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector(a), NewCollector(b))
	fams := scrape(t, reg)

	if got := value(t, fams, "antnet_requests_total", a.ID().String()); got != 3 {
		t.Fatalf("a's antnet_requests_total = %v, want 3", got)
	}
	if got := value(t, fams, "antnet_requests_total", b.ID().String()); got != 0 {
		t.Fatalf("b's antnet_requests_total = %v, want 0", got)
	}
	if got := value(t, fams, "antnet_persistent_links", b.ID().String()); got != 1 {
		t.Fatalf("b's antnet_persistent_links = %v, want 1", got)
	}
	if got, want := value(t, fams, "antnet_loop_stalls_total", b.ID().String()), float64(b.Stats().LoopStalls); got < 1 || got != want {
		t.Fatalf("b's antnet_loop_stalls_total = %v, want Stats.LoopStalls %v (at least 1)", got, want)
	}
	if fams["antnet_requests_total"].GetType() != dto.MetricType_COUNTER ||
		fams["antnet_persistent_links"].GetType() != dto.MetricType_GAUGE {
		t.Fatal("wrong metric types")
	}
	for name, f := range fams {
		isCounter := f.GetType() == dto.MetricType_COUNTER
		if !strings.HasPrefix(name, "antnet_") || isCounter != strings.HasSuffix(name, "_total") {
			t.Errorf("%s (%s) breaks the naming conventions", name, f.GetType())
		}
	}
}

// Every engine.Stats field is exposed: a new field fails here until it has
// a name and help text.
func TestEveryStatsFieldExposed(t *testing.T) {
	st := reflect.TypeFor[engine.Stats]()
	seen := map[string]bool{}
	for i := range st.NumField() {
		name := st.Field(i).Name
		m, ok := statsMetrics[name]
		if !ok {
			t.Errorf("engine.Stats.%s has no metric", name)
			continue
		}
		if seen[m.name] {
			t.Errorf("metric %s used twice", m.name)
		}
		seen[m.name] = true
	}
	if len(statsMetrics) != st.NumField() {
		t.Errorf("%d metrics for %d Stats fields: remove the stale ones", len(statsMetrics), st.NumField())
	}
}

// The engine's users do not build client_golang.
func TestEngineDoesNotImportClientGolang(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/antnet-p2p/antnet/engine").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	if strings.Contains(string(out), "prometheus") {
		t.Fatalf("engine's import graph includes prometheus:\n%s", out)
	}
}

// peerValue returns the series of family name for node and peer.
func peerValue(t *testing.T, fams map[string]*dto.MetricFamily, name, node, peer string) (float64, bool) {
	t.Helper()
	f, ok := fams[name]
	if !ok {
		t.Fatalf("no family %s", name)
	}
	for _, m := range f.Metric {
		labels := map[string]string{}
		for _, l := range m.Label {
			labels[l.GetName()] = l.GetValue()
		}
		if labels["node"] == node && labels["peer"] == peer {
			if c := m.GetCounter(); c != nil {
				return c.GetValue(), true
			}
			return m.GetGauge().GetValue(), true
		}
	}
	return 0, false
}

// Per-peer series, their bound, and the request round-trip histogram.
func TestScrapePeerSeries(t *testing.T) {
	echo := proto.HandlerFunc(func(_ proto.Context, msg []byte) ([]byte, error) { return msg, nil })
	a := startNode(t, "a", nil, engine.WithKeepalive(50*time.Millisecond))
	for _, name := range []string{"p1", "p2", "p3"} {
		p := startNode(t, name, echo, engine.WithKeepalive(50*time.Millisecond))
		if err := a.AddRoute(name, p.Addr()); err != nil {
			t.Fatal(err)
		}
	}
	node := a.ID().String()
	states := a.PeerStates() // sorted by address: the collector lists the first two
	if len(states) != 3 {
		t.Fatalf("PeerStates = %v", states)
	}
	first, last := states[0].ID, states[2].ID
	first.Key = ""
	for range 4 {
		if _, err := a.Dispatch(first.Addr, []byte("ping")); err != nil {
			t.Fatal(err)
		}
	}
	// Wait for a keepalive round trip on the first peer.
	testkit.Eventually(t, 3*time.Second, "a keepalive RTT", func() bool { return a.PeerStates()[0].RTT != 0 })
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector(a, WithMaxPeers(2)))
	fams := scrape(t, reg)

	for _, name := range []string{"antnet_peer_received_bytes_total", "antnet_peer_sent_bytes_total",
		"antnet_peer_received_frames_total", "antnet_peer_sent_frames_total", "antnet_peer_requests_in_flight", "antnet_peer_rtt_seconds"} {
		if n := len(fams[name].GetMetric()); n != 2 {
			t.Errorf("%s has %d series, want 2 (WithMaxPeers)", name, n)
		}
		if _, ok := peerValue(t, fams, name, node, last.String()); ok {
			t.Errorf("%s lists %s, past the bound", name, last)
		}
	}
	if got := value(t, fams, "antnet_peers_unlisted", node); got != 1 {
		t.Fatalf("antnet_peers_unlisted = %v, want 1", got)
	}
	if v, ok := peerValue(t, fams, "antnet_peer_rtt_seconds", node, first.String()); !ok || v <= 0 || v > 1 {
		t.Fatalf("antnet_peer_rtt_seconds for %s = %v (listed %v)", first, v, ok)
	}
	if v, _ := peerValue(t, fams, "antnet_peer_sent_frames_total", node, first.String()); v < 4 {
		t.Fatalf("frames sent to %s = %v, want >= 4", first, v)
	}
	if v, _ := peerValue(t, fams, "antnet_peer_received_bytes_total", node, first.String()); v < 4*(16+4) {
		t.Fatalf("bytes from %s = %v, want >= %d", first, v, 4*(16+4))
	}

	h := fams["antnet_request_rtt_seconds"]
	if h.GetType() != dto.MetricType_HISTOGRAM || len(h.Metric) != 1 {
		t.Fatalf("antnet_request_rtt_seconds: %v", h)
	}
	hist := h.Metric[0].GetHistogram()
	if hist.GetSampleCount() != 4 || hist.GetSampleSum() <= 0 || len(hist.GetBucket()) == 0 {
		t.Fatalf("request histogram: %v", hist)
	}
	if b := hist.GetBucket(); b[len(b)-1].GetCumulativeCount() != 4 {
		t.Fatalf("last bucket %v, want all 4", b[len(b)-1])
	}
}

// The broadcast delivery histogram counts every broadcast delivered here.
func TestScrapeBroadcastDelay(t *testing.T) {
	a := startNode(t, "a", nil)
	b := startNode(t, "b", nil)
	if err := a.AddRoute("b", b.Addr()); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := b.Broadcast([]byte("news")); err != nil {
			t.Fatal(err)
		}
	}
	testkit.Eventually(t, 3*time.Second, "3 broadcasts delivered", func() bool { return a.BroadcastDelay().Count >= 3 })
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector(a))
	h := scrape(t, reg)["antnet_broadcast_delivery_seconds"]
	if h.GetType() != dto.MetricType_HISTOGRAM || len(h.Metric) != 1 {
		t.Fatalf("antnet_broadcast_delivery_seconds: %v", h)
	}
	if hist := h.Metric[0].GetHistogram(); hist.GetSampleCount() != 3 || hist.GetSampleSum() <= 0 {
		t.Fatalf("broadcast histogram: %v", hist)
	}
}
