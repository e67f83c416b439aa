package prometheus

import (
	"net/http/httptest"
	"os/exec"
	"reflect"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/antnet-p2p/antnet/engine"
	"github.com/antnet-p2p/antnet/proto"
)

func startNode(t *testing.T, name string, h proto.Handler) *engine.Node {
	t.Helper()
	n, err := engine.New(name, "127.0.0.1:0", h)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	return n
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
	echo := proto.HandlerFunc(func(_ proto.Context, msg []byte) ([]byte, error) { return msg, nil })
	a := startNode(t, "a", nil)
	b := startNode(t, "b", echo)
	if err := a.AddRoute("b", b.Addr()); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := a.Dispatch("b", []byte("ping")); err != nil {
			t.Fatal(err)
		}
	}
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
