// Command chart draws the bench suite's charts (SVG) from its JSON output:
//
//	go run ./bench -count 3 -json out.json
//	cd bench/chart && go run . -in ../../out.json -out ../../docs
//
// It writes reqrep-throughput.svg and reqrep-p99.svg (ops/s and p99
// latency against connections, reqrep rows with one request in flight) and
// idle-memory.svg (the server's RSS growth against idle connections), one
// line per implementation (antnet, rawgnet, goroutine), with the min–max
// of -count runs as error bars. From bench/peers' JSON it writes
// peers-reqrep.svg (requests/s against callers, antnet and the two libp2p
// ways, plain and secure) and peers-broadcast-bytes.svg (TCP bytes per
// delivery against nodes: antnet, GossipSub, FloodSub):
//
//	cd bench/chart && go run . -in ../../docs/bench/peers.json -out ../../docs/bench It is its own module, so the plotting
//
// library stays out of antnet's import graph.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// result is the part of a bench JSON row the charts use.
type result struct {
	Scenario      string                `json:"scenario"`
	Impl          string                `json:"impl"`
	Params        map[string]any        `json:"params"`
	OpsPerSec     float64               `json:"ops_per_sec"`
	P99us         float64               `json:"p99_us"`
	BytesPerConn  float64               `json:"bytes_per_conn"`
	BytesPerDeliv float64               `json:"tcp_bytes_per_delivery"`
	Conns         int                   `json:"conns"`
	Spread        map[string][2]float64 `json:"spread"`
	Error         string                `json:"error"`
}

// impls are drawn in this order, with these colours and glyphs.
// Rows of bench/peers' secure links are drawn as impl+" secure".
var impls = []string{"antnet", "rawgnet", "goroutine", "libp2p-stream", "libp2p-stream-per-req", "gossipsub", "floodsub",
	"antnet secure", "libp2p-stream secure", "libp2p-stream-per-req secure"}

func main() {
	in := flag.String("in", "out.json", "the bench's -json `FILE`")
	out := flag.String("out", ".", "`DIR` to write the SVGs to")
	inflight := flag.Float64("inflight", 1, "reqrep rows: requests in flight per connection")
	payload := flag.Float64("payload", 128, "reqrep rows: payload bytes")
	format := flag.String("format", "svg", "image format: svg, png or pdf")
	flag.Parse()
	b, err := os.ReadFile(*in)
	if err != nil {
		fatal(err)
	}
	var rs []result
	if err := json.Unmarshal(b, &rs); err != nil {
		fatal(fmt.Errorf("%s: %w", *in, err))
	}
	reqrep := func(r *result) (float64, bool) {
		p, _ := r.Params["peers"].(float64)
		return p, r.Scenario == "reqrep" && r.Params["inflight"] == *inflight && r.Params["payload"] == *payload
	}
	idle := func(r *result) (float64, bool) {
		return float64(r.Conns), r.Scenario == "idle" && r.Params["links"] == nil
	}
	// bench/peers rows: request/response against callers, broadcast
	// against nodes.
	peersReqrep := func(r *result) (float64, bool) {
		g, _ := r.Params["callers"].(float64)
		return g, r.Scenario == "reqrep" && r.Params["links"] != nil && r.Params["payload"] == *payload
	}
	peersBcast := func(r *result) (float64, bool) {
		n, _ := r.Params["nodes"].(float64)
		return n, r.Scenario == "broadcast" && r.BytesPerDeliv > 0
	}
	sub := fmt.Sprintf("reqrep, %v in flight per connection, %v B payloads", *inflight, *payload)
	charts := []struct {
		file, title, x, y string
		logX, logY        bool
		row               func(*result) (float64, bool)
		key               string                             // the figure, by its JSON name
		conv              func(r *result, v float64) float64 // from the figure to y
	}{
		{"reqrep-throughput.svg", "Throughput against connections\n" + sub, "connections", "requests/s", true, false, reqrep,
			"ops_per_sec", same},
		{"reqrep-p99.svg", "p99 latency against connections\n" + sub, "connections", "p99 latency (ms)", true, true, reqrep,
			"p99_us", func(_ *result, v float64) float64 { return v / 1000 }},
		{"idle-memory.svg", "Server memory against idle connections\nRSS growth of the server process", "idle connections",
			"RSS growth (MiB)", false, false, idle, "bytes_per_conn",
			func(r *result, v float64) float64 { return v * float64(r.Conns) / (1 << 20) }},
		{"peers-reqrep.svg", fmt.Sprintf("Request/response beside go-libp2p\none connection, %v B payloads, one request in flight per caller", *payload),
			"callers", "requests/s", true, true, peersReqrep, "ops_per_sec", same},
		{"peers-broadcast-bytes.svg", "Broadcast: TCP bytes per delivery\n256 B messages, random graph of mean degree 6",
			"nodes", "TCP bytes per delivery", false, false, peersBcast, "tcp_bytes_per_delivery", same},
	}
	for _, c := range charts {
		p := plot.New()
		p.Title.Text, p.X.Label.Text, p.Y.Label.Text = c.title, c.x, c.y
		if c.logX {
			p.X.Scale, p.X.Tick.Marker = plot.LogScale{}, plot.LogTicks{Prec: -1}
		}
		if c.logY {
			p.Y.Scale, p.Y.Tick.Marker = plot.LogScale{}, plot.LogTicks{Prec: -1}
		}
		p.Legend.Top, p.Legend.Left = true, true
		drawn := 0
		for i, impl := range impls {
			var pts plotter.XYs
			var errs plotter.YErrors
			for j := range rs {
				r := &rs[j]
				x, ok := c.row(r)
				y := c.conv(r, r.figure(c.key))
				if !ok || r.name() != impl || r.Error != "" || x <= 0 || y <= 0 {
					continue
				}
				pts = append(pts, plotter.XY{X: x, Y: y})
				lo, hi := y, y
				if mm, ok := r.Spread[c.key]; ok {
					lo, hi = c.conv(r, mm[0]), c.conv(r, mm[1])
				}
				errs = append(errs, struct{ Low, High float64 }{y - lo, hi - y})
			}
			if len(pts) == 0 {
				continue
			}
			order := make([]int, len(pts))
			for k := range order {
				order[k] = k
			}
			slices.SortFunc(order, func(a, b int) int { return int(pts[a].X - pts[b].X) })
			sp, se := make(plotter.XYs, len(pts)), make(plotter.YErrors, len(pts))
			for k, o := range order {
				sp[k], se[k] = pts[o], errs[o]
			}
			l, s, err := plotter.NewLinePoints(sp)
			if err != nil {
				fatal(err)
			}
			l.Color, s.Color, s.Shape = plotutil.Color(i), plotutil.Color(i), plotutil.Shape(i)
			if strings.HasSuffix(impl, " secure") {
				l.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
			}
			eb, err := plotter.NewYErrorBars(struct {
				plotter.XYs
				plotter.YErrors
			}{sp, se})
			if err != nil {
				fatal(err)
			}
			eb.Color = plotutil.Color(i)
			p.Add(l, s, eb)
			p.Legend.Add(impl, l, s)
			drawn++
		}
		if !c.logX {
			p.X.Min = 0
		}
		if !c.logY {
			p.Y.Min = 0
		}
		if drawn == 0 {
			fmt.Fprintf(os.Stderr, "chart: no rows for %s, skipped\n", c.file)
			continue
		}
		path := filepath.Join(*out, strings.TrimSuffix(c.file, ".svg")+"."+*format)
		if err := p.Save(7*vg.Inch, 4.5*vg.Inch, path); err != nil {
			fatal(err)
		}
		fmt.Println("wrote", path)
	}
}

func same(_ *result, v float64) float64 { return v }

// name is the row's line: its impl, with " secure" for bench/peers'
// secure rows.
func (r *result) name() string {
	if r.Params["links"] == "secure" {
		return r.Impl + " secure"
	}
	return r.Impl
}

// figure is the row's figure named by its JSON name.
func (r *result) figure(key string) float64 {
	switch key {
	case "ops_per_sec":
		return r.OpsPerSec
	case "p99_us":
		return r.P99us
	case "bytes_per_conn":
		return r.BytesPerConn
	case "tcp_bytes_per_delivery":
		return r.BytesPerDeliv
	}
	return 0
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "chart:", err)
	os.Exit(1)
}
