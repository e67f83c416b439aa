package main

import (
	"github.com/antnet-p2p/antnet/internal/benchkit"

	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

// kv is one scenario parameter; params are a row's, in display order
// (they print as "k=v k=v" and marshal to a JSON object, keys in order).
type (
	kv     = benchkit.KV
	params = benchkit.Params
)

// Result is one measurement: one row of the table, one object of -json.
// allocs_per_op and goroutines are whole-process figures: they include the
// in-process client.
type Result struct {
	Scenario    string  `json:"scenario"`
	Impl        string  `json:"impl"`
	Params      params  `json:"params"`
	OpsPerSec   float64 `json:"ops_per_sec"`
	P50us       float64 `json:"p50_us"`
	P99us       float64 `json:"p99_us"`
	AllocsPerOp float64 `json:"allocs_per_op"`
	// CPUusPerOp: user + system CPU time of this whole process in the
	// window per operation (with -client proc, the server's alone).
	CPUusPerOp  float64  `json:"cpu_us_per_op,omitempty"`
	Goroutines  int      `json:"goroutines"`
	Ops         int64    `json:"ops"`
	Seconds     float64  `json:"seconds"`
	VsRawgnet   *float64 `json:"ratio_vs_rawgnet,omitempty"`
	VsGoroutine *float64 `json:"ratio_vs_goroutine,omitempty"`
	// VsPlain: an antnet-secure row's ops/s over the plain antnet row's.
	VsPlain *float64 `json:"ratio_vs_plain,omitempty"`
	// RatioOf names the figure the ratios divide: ops_per_sec, or for idle
	// bytes_per_conn (lower is better).
	RatioOf string `json:"ratio_of,omitempty"`

	// idle: per-connection memory of the server's process, and its
	// goroutines (the delta, in Goroutines).
	Conns        int     `json:"conns,omitempty"`
	BytesPerConn float64 `json:"bytes_per_conn,omitempty"`      // RSS delta / conns
	HeapPerConn  float64 `json:"heap_bytes_per_conn,omitempty"` // Go HeapInuse delta / conns

	// broadcast: ops/s is broadcasts/s delivered everywhere, p50/p99 the
	// coverage time (also in coverage_*).
	Nodes        int     `json:"nodes,omitempty"`
	SumDegrees   int     `json:"sum_degrees,omitempty"`
	Broadcasts   int64   `json:"broadcasts,omitempty"`
	Duplicates   *int64  `json:"duplicates,omitempty"` // deliveries to a handler of a broadcast it had seen
	ReachedAll   *bool   `json:"reached_all,omitempty"`
	FramesPerMsg float64 `json:"frames_per_msg,omitempty"`
	// ReforwardedPerMsg: nodes per broadcast that relayed it again for a
	// later copy or announcement with more ttl (Stats.GossipReforwarded).
	ReforwardedPerMsg float64 `json:"reforwarded_per_msg,omitempty"`
	// CopiesPerDelivery: payload copies sent per handler delivery, after
	// the tree formed; ControlBytesPerDelivery: prune, ihave and graft
	// bytes; WireBytesPerDelivery: every byte the nodes wrote.
	CopiesPerDelivery       float64 `json:"copies_per_delivery,omitempty"`
	ControlBytesPerDelivery float64 `json:"control_bytes_per_delivery,omitempty"`
	WireBytesPerDelivery    float64 `json:"wire_bytes_per_delivery,omitempty"`
	CoverageP50us           float64 `json:"coverage_p50_us,omitempty"`
	CoverageP99us           float64 `json:"coverage_p99_us,omitempty"`

	// discovery: forming from one bootstrap, per-node cost, coverage.
	Discovery *discoveryFigures `json:"discovery,omitempty"`

	// short-hosts: answers, dial errors and TIME_WAIT sockets on each side.
	Hosts *hostsFigures `json:"hosts,omitempty"`

	Runs   int     `json:"runs,omitempty"` // with -count: runs the medians come from
	OpsMin float64 `json:"ops_per_sec_min,omitempty"`
	OpsMax float64 `json:"ops_per_sec_max,omitempty"`
	// Spread: with -count, the [min, max] over the runs of each median
	// figure that varied, keyed by its JSON name.
	Spread map[string][2]float64 `json:"spread,omitempty"`
	Error  string                `json:"error,omitempty"`
	Note   string                `json:"note,omitempty"`

	group string // rows of a scenario with the same group are compared
}

func (r *Result) addNote(s string) {
	if r.Note != "" {
		r.Note += "; "
	}
	r.Note += s
}

// ratioMetric is the figure a scenario's ratios divide.
func ratioMetric(scenario string) (name string, f func(*Result) float64) {
	if scenario == "idle" {
		return "bytes_per_conn", func(r *Result) float64 { return r.BytesPerConn }
	}
	return "ops_per_sec", func(r *Result) float64 { return r.OpsPerSec }
}

// setRatios gives every antnet row its ratio against the baselines measured
// in the same run with the same group (throughput, or for idle memory per
// connection), and every antnet-secure row its throughput against plain
// antnet's.
func setRatios(rs []Result) {
	find := func(scenario, group, impl string, f func(*Result) float64) *Result {
		for i := range rs {
			r := &rs[i]
			if r.Scenario == scenario && r.group == group && r.Impl == impl && r.Error == "" && f(r) > 0 {
				return r
			}
		}
		return nil
	}
	for i := range rs {
		r := &rs[i]
		name, f := ratioMetric(r.Scenario)
		if f(r) <= 0 {
			continue
		}
		switch r.Impl {
		case implAntnet:
			for _, b := range []struct {
				impl string
				dst  **float64
			}{{implRawGnet, &r.VsRawgnet}, {implGoroutine, &r.VsGoroutine}} {
				if base := find(r.Scenario, r.group, b.impl, f); base != nil {
					x := f(r) / f(base)
					*b.dst = &x
					r.RatioOf = name
				}
			}
		case implAntnetSecure:
			if base := find(r.Scenario, r.group, implAntnet, f); base != nil {
				x := f(r) / f(base)
				r.VsPlain = &x
				r.RatioOf = name
			}
		}
	}
}

func ratio(x *float64) string {
	if x == nil {
		return "-"
	}
	return strconv.FormatFloat(*x, 'f', 2, 64) + "×"
}

// figures is the table's text for the figures a row has beyond
// throughput and latency.
func figures(r *Result) string {
	var f []string
	if r.Hosts != nil {
		f = append(f, hostsText(r.Hosts))
	}
	if r.VsPlain != nil {
		f = append(f, "secure/plain "+ratio(r.VsPlain))
	}
	if r.Conns > 0 {
		rss := bytesText(r.BytesPerConn)
		if mm, ok := r.Spread["bytes_per_conn"]; ok {
			rss += " [" + bytesText(mm[0]) + "–" + bytesText(mm[1]) + "]"
		}
		f = append(f, fmt.Sprintf("RSS %s/conn, heap %s/conn, goroutines %+d", rss, bytesText(r.HeapPerConn), r.Goroutines))
		if r.RatioOf == "bytes_per_conn" && r.VsGoroutine != nil {
			f = append(f, "RSS/conn "+ratio(r.VsGoroutine)+" goroutine's")
		}
	}
	if r.Nodes > 0 {
		if r.CoverageP99us > 0 {
			f = append(f, fmt.Sprintf("coverage p99 %.0fµs", r.CoverageP99us))
		}
		if r.Duplicates != nil {
			f = append(f, fmt.Sprintf("%d dup", *r.Duplicates))
		}
		if r.ReachedAll != nil {
			if *r.ReachedAll {
				f = append(f, fmt.Sprintf("all %d reached", r.Nodes))
			} else {
				f = append(f, "NOT ALL REACHED")
			}
		}
		if r.FramesPerMsg > 0 {
			f = append(f, fmt.Sprintf("%.1f frames/bcast (%.1f relayed again; Σdeg %d)", r.FramesPerMsg, r.ReforwardedPerMsg, r.SumDegrees))
		}
		if r.CopiesPerDelivery > 0 {
			f = append(f, fmt.Sprintf("%.2f copies/delivery, %.0f B control + %.0f B wire/delivery", r.CopiesPerDelivery, r.ControlBytesPerDelivery, r.WireBytesPerDelivery))
		}
	}
	if r.Discovery != nil {
		f = append(f, r.Discovery.String())
	}
	return strings.Join(f, ", ")
}

// bytesText is a byte count, in KiB from 10 KiB up.
func bytesText(b float64) string {
	if b >= 10<<10 || b <= -10<<10 {
		return strconv.FormatFloat(b/1024, 'f', 1, 64) + " KiB"
	}
	return strconv.FormatFloat(b, 'f', 0, 64) + " B"
}

func num(x float64, prec int) string {
	if x == 0 {
		return "-"
	}
	return strconv.FormatFloat(x, 'f', prec, 64)
}

// printTable writes the one table of results.
func printTable(w io.Writer, rs []Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\tparams\timpl\tops/s\tp50 µs\tp99 µs\tallocs/op\tcpu µs/op\tvs rawgnet\tvs goroutine\tfigures\tnote")
	for _, r := range rs {
		note := r.Note
		if r.Error != "" {
			note = "ERR: " + r.Error + "; " + note
			note = strings.TrimSuffix(note, "; ")
		}
		if len(note) > 110 {
			note = note[:107] + "..."
		}
		allocs := "-"
		if r.Ops > 0 {
			allocs = strconv.FormatFloat(r.AllocsPerOp, 'f', 2, 64)
		}
		vsRaw, vsGo := ratio(r.VsRawgnet), ratio(r.VsGoroutine)
		if r.RatioOf == "bytes_per_conn" {
			vsRaw, vsGo = memRatio(r.VsRawgnet), memRatio(r.VsGoroutine)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
			r.Scenario, r.Params, r.Impl,
			spread(&r, "ops_per_sec", r.OpsPerSec, 0), spread(&r, "p50_us", r.P50us, 1),
			spread(&r, "p99_us", r.P99us, 1), allocs, spread(&r, "cpu_us_per_op", r.CPUusPerOp, 2),
			vsRaw, vsGo, figures(&r), note)
	}
	tw.Flush()
}

// spread is x, followed with -count by the [min–max] of its runs.
func spread(r *Result, name string, x float64, prec int) string {
	s := num(x, prec)
	if mm, ok := r.Spread[name]; ok && x != 0 {
		s += " [" + strconv.FormatFloat(mm[0], 'f', prec, 64) + "–" + strconv.FormatFloat(mm[1], 'f', prec, 64) + "]"
	}
	return s
}

// memRatio is a memory ratio, marked as such in the table.
func memRatio(x *float64) string {
	if x == nil {
		return "-"
	}
	return ratio(x) + " mem"
}

func writeJSON(path string, rs []Result) error {
	if rs == nil {
		rs = []Result{}
	}
	b, err := json.MarshalIndent(rs, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// medianFigures are the figures median folds, by JSON name.
func medianFigures(r *Result) map[string]*float64 {
	return map[string]*float64{
		"ops_per_sec": &r.OpsPerSec, "p50_us": &r.P50us, "p99_us": &r.P99us, "allocs_per_op": &r.AllocsPerOp,
		"cpu_us_per_op": &r.CPUusPerOp, "seconds": &r.Seconds, "bytes_per_conn": &r.BytesPerConn,
		"heap_bytes_per_conn": &r.HeapPerConn, "frames_per_msg": &r.FramesPerMsg,
		"reforwarded_per_msg": &r.ReforwardedPerMsg, "coverage_p50_us": &r.CoverageP50us,
		"coverage_p99_us": &r.CoverageP99us, "copies_per_delivery": &r.CopiesPerDelivery,
		"control_bytes_per_delivery": &r.ControlBytesPerDelivery, "wire_bytes_per_delivery": &r.WireBytesPerDelivery,
	}
}

// median folds the runs of one row into one: each figure is the median of
// the runs that did not fail, its [min, max] goes in Spread; duplicates and
// coverage are the worst run's.
func median(rs []Result) Result {
	if len(rs) == 1 {
		return rs[0]
	}
	out := rs[0]
	out.Note, out.Error = "", ""
	var ok []Result
	var errs []string
	for _, r := range rs {
		if r.Note != "" {
			out.addNote(r.Note)
		}
		if r.Error == "" {
			ok = append(ok, r)
		} else {
			errs = append(errs, r.Error)
		}
	}
	if len(ok) == 0 {
		out.Error = strings.Join(errs, " | ")
		return out
	}
	notes := out.Note
	out = ok[0] // what is not folded below comes from a run that did not fail
	out.Note = notes
	if len(errs) > 0 {
		out.addNote(fmt.Sprintf("%d of %d runs failed: %s", len(errs), len(rs), errs[0]))
	}
	xs := make([]float64, len(ok))
	fold := func(f func(*Result) *float64) (mid, lo, hi float64) {
		for i := range ok {
			xs[i] = *f(&ok[i])
		}
		lo, hi = slices.Min(xs), slices.Max(xs)
		return medianOf(xs), lo, hi
	}
	for name, p := range medianFigures(&out) {
		var lo, hi float64
		*p, lo, hi = fold(func(r *Result) *float64 { return medianFigures(r)[name] })
		if lo != hi {
			if out.Spread == nil {
				out.Spread = make(map[string][2]float64)
			}
			out.Spread[name] = [2]float64{lo, hi}
		}
	}
	ints := func(f func(*Result) int64) int64 {
		for i := range ok {
			xs[i] = float64(f(&ok[i]))
		}
		return int64(medianOf(xs))
	}
	out.Ops = ints(func(r *Result) int64 { return r.Ops })
	out.Broadcasts = ints(func(r *Result) int64 { return r.Broadcasts })
	out.Goroutines = int(ints(func(r *Result) int64 { return int64(r.Goroutines) }))
	out.Discovery = foldDiscovery(ok)
	for _, r := range ok {
		if r.Duplicates != nil && (out.Duplicates == nil || *r.Duplicates > *out.Duplicates) {
			out.Duplicates = r.Duplicates
		}
		if r.ReachedAll != nil && (out.ReachedAll == nil || !*r.ReachedAll) {
			out.ReachedAll = r.ReachedAll
		}
	}
	out.Runs = len(ok)
	if out.OpsPerSec > 0 {
		_, out.OpsMin, out.OpsMax = fold(func(r *Result) *float64 { return &r.OpsPerSec })
	}
	return out
}

// The process figures every scenario reads (internal/benchkit, shared with
// bench/peers).
var (
	snapMem     = benchkit.SnapMem
	readRSS     = benchkit.ReadRSS
	processCPU  = benchkit.ProcessCPU
	raiseNoFile = benchkit.RaiseNoFile
	splitComma  = benchkit.SplitComma
	medianOf    = benchkit.MedianOf
)
