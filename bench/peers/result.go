package main

import (
	"encoding/json"
	"fmt"
	"github.com/antnet-p2p/antnet/internal/benchkit"
	"io"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
)

// kv is one row parameter; params are a row's, in display order (they
// print as "k=v k=v" and marshal to a JSON object, keys in order, as in
// bench's results).
type (
	kv     = benchkit.KV
	params = benchkit.Params
)

// Result is one row of the table and one object of -json. The names of
// the figures bench also has are bench's (ops_per_sec, p50_us, ...).
type Result struct {
	Scenario string `json:"scenario"`
	Impl     string `json:"impl"`
	Params   params `json:"params"`
	// Cipher names the AEAD of a secure row's links, and the Noise suite.
	Cipher string `json:"cipher,omitempty"`

	OpsPerSec   float64 `json:"ops_per_sec,omitempty"`
	P50us       float64 `json:"p50_us,omitempty"`
	P99us       float64 `json:"p99_us,omitempty"`
	AllocsPerOp float64 `json:"allocs_per_op,omitempty"`
	CPUusPerOp  float64 `json:"cpu_us_per_op,omitempty"` // user+system CPU of this process per op
	Goroutines  int     `json:"goroutines,omitempty"`
	Ops         int64   `json:"ops,omitempty"`
	Seconds     float64 `json:"seconds,omitempty"`

	// idle: the server process's growth per idle connection.
	Conns             int     `json:"conns,omitempty"`
	BytesPerConn      float64 `json:"bytes_per_conn,omitempty"`      // RSS
	HeapPerConn       float64 `json:"heap_bytes_per_conn,omitempty"` // Go HeapInuse
	GoroutinesPerConn float64 `json:"goroutines_per_conn,omitempty"`

	// broadcast
	Nodes             int     `json:"nodes,omitempty"`
	Edges             int     `json:"edges,omitempty"`
	Messages          int64   `json:"messages,omitempty"`
	Coverage          float64 `json:"coverage,omitempty"`                // deliveries / (messages × (nodes-1))
	HandlerDups       float64 `json:"handler_duplicates,omitempty"`      // deliveries to an application of a message it had
	DupsPerDelivery   float64 `json:"duplicates_per_delivery,omitempty"` // payload copies received and dropped as seen
	CopiesPerDelivery float64 `json:"copies_per_delivery,omitempty"`     // payload copies sent
	BytesPerDelivery  float64 `json:"tcp_bytes_per_delivery,omitempty"`
	CPUusPerMsg       float64 `json:"cpu_us_per_msg,omitempty"`

	// Vs: this row's figure (RatioOf) over the named impl's, same group.
	Vs      map[string]float64 `json:"ratio_vs,omitempty"`
	RatioOf string             `json:"ratio_of,omitempty"`

	Runs   int                   `json:"runs,omitempty"`
	Spread map[string][2]float64 `json:"spread,omitempty"` // [min, max] over the runs, by JSON name
	Error  string                `json:"error,omitempty"`
	Note   string                `json:"note,omitempty"`

	group string
}

func (r *Result) addNote(s string) {
	if r.Note != "" {
		r.Note += "; "
	}
	r.Note += s
}

// figures are the figures median folds, by JSON name.
func (r *Result) figures() map[string]*float64 {
	return map[string]*float64{
		"ops_per_sec": &r.OpsPerSec, "p50_us": &r.P50us, "p99_us": &r.P99us, "allocs_per_op": &r.AllocsPerOp,
		"cpu_us_per_op": &r.CPUusPerOp, "seconds": &r.Seconds, "bytes_per_conn": &r.BytesPerConn,
		"heap_bytes_per_conn": &r.HeapPerConn, "goroutines_per_conn": &r.GoroutinesPerConn,
		"coverage": &r.Coverage, "handler_duplicates": &r.HandlerDups, "duplicates_per_delivery": &r.DupsPerDelivery,
		"copies_per_delivery": &r.CopiesPerDelivery, "tcp_bytes_per_delivery": &r.BytesPerDelivery,
		"cpu_us_per_msg": &r.CPUusPerMsg,
	}
}

// median folds the runs of one row: each figure is the median of the runs
// that did not fail, with its [min, max] in Spread; coverage is the worst.
func median(rs []Result) Result {
	var ok []Result
	var errs []string
	for _, r := range rs {
		if r.Error == "" {
			ok = append(ok, r)
		} else {
			errs = append(errs, r.Error)
		}
	}
	if len(ok) == 0 {
		out := rs[0]
		out.Error = strings.Join(errs, " | ")
		return out
	}
	out := ok[0]
	out.Note = ""
	notes := map[string]bool{}
	for _, r := range rs {
		if r.Note != "" && !notes[r.Note] {
			notes[r.Note] = true
			out.addNote(r.Note)
		}
	}
	if len(errs) > 0 {
		out.addNote(fmt.Sprintf("%d of %d runs failed: %s", len(errs), len(rs), errs[0]))
	}
	out.Runs = len(ok)
	if len(ok) == 1 {
		return out
	}
	xs := make([]float64, len(ok))
	for name, p := range out.figures() {
		for i := range ok {
			xs[i] = *ok[i].figures()[name]
		}
		lo, hi := slices.Min(xs), slices.Max(xs)
		*p = benchkit.MedianOf(xs)
		if lo != hi {
			if out.Spread == nil {
				out.Spread = map[string][2]float64{}
			}
			out.Spread[name] = [2]float64{lo, hi}
		}
		if name == "coverage" {
			*p = lo
		}
	}
	for i := range ok {
		xs[i] = float64(ok[i].Ops)
	}
	out.Ops = int64(benchkit.MedianOf(xs))
	for i := range ok {
		xs[i] = float64(ok[i].Goroutines)
	}
	out.Goroutines = int(benchkit.MedianOf(xs))
	return out
}

// ratioMetric is the figure a scenario's ratios divide, and whether lower
// is better.
func ratioMetric(scenario string) (name string, f func(*Result) float64) {
	switch scenario {
	case "idle":
		return "bytes_per_conn", func(r *Result) float64 { return r.BytesPerConn }
	case "setup":
		return "p50_us", func(r *Result) float64 { return r.P50us }
	case "broadcast":
		return "tcp_bytes_per_delivery", func(r *Result) float64 { return r.BytesPerDelivery }
	}
	return "ops_per_sec", func(r *Result) float64 { return r.OpsPerSec }
}

// setRatios gives every antnet row its figure over each libp2p row's in
// the same group.
func setRatios(rs []Result) {
	for i := range rs {
		r := &rs[i]
		if !strings.HasPrefix(r.Impl, "antnet") || r.Error != "" {
			continue
		}
		name, f := ratioMetric(r.Scenario)
		if f(r) <= 0 {
			continue
		}
		for j := range rs {
			b := &rs[j]
			if b.Scenario != r.Scenario || b.group != r.group || strings.HasPrefix(b.Impl, "antnet") ||
				b.Error != "" || f(b) <= 0 {
				continue
			}
			if r.Vs == nil {
				r.Vs = map[string]float64{}
			}
			r.Vs[b.Impl] = f(r) / f(b)
			r.RatioOf = name
		}
	}
}

func num(x float64, prec int) string {
	if x == 0 {
		return "-"
	}
	return strconv.FormatFloat(x, 'f', prec, 64)
}

// spread is x, followed with -count by the [min–max] of its runs.
func spread(r *Result, name string, x float64, prec int) string {
	s := num(x, prec)
	if mm, ok := r.Spread[name]; ok && x != 0 {
		s += " [" + strconv.FormatFloat(mm[0], 'f', prec, 64) + "–" + strconv.FormatFloat(mm[1], 'f', prec, 64) + "]"
	}
	return s
}

func ratios(r *Result) string {
	if len(r.Vs) == 0 {
		return "-"
	}
	keys := make([]string, 0, len(r.Vs))
	for k := range r.Vs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%.2f× %s", r.Vs[k], k))
	}
	return r.RatioOf + ": " + strings.Join(parts, ", ")
}

// printTables writes one table per scenario.
func printTables(w io.Writer, rs []Result) {
	var cur string
	var tw *tabwriter.Writer
	flush := func() {
		if tw != nil {
			tw.Flush()
			fmt.Fprintln(w)
		}
	}
	for i := range rs {
		r := &rs[i]
		if r.Scenario != cur {
			flush()
			cur = r.Scenario
			tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, scenarioHeader(cur))
		}
		fmt.Fprintln(tw, scenarioRow(r))
	}
	flush()
}

func scenarioHeader(s string) string {
	switch s {
	case "idle":
		return "idle\tparams\timpl\tcipher\tRSS/conn\theap/conn\tgoroutines/conn\tratio\tnote"
	case "setup":
		return "setup\tparams\timpl\tcipher\tconn/s\tp50 µs\tp99 µs\tallocs/conn\tcpu µs/conn\tratio\tnote"
	case "broadcast":
		return "broadcast\tparams\timpl\tcoverage\tdup/deliv\tlast p50 µs\tlast p99 µs\tcopies/deliv\tTCP B/deliv\tcpu µs/msg\tratio\tnote"
	}
	return "reqrep\tparams\timpl\tcipher\tops/s\tp50 µs\tp99 µs\tallocs/op\tcpu µs/op\tratio\tnote"
}

func scenarioRow(r *Result) string {
	note := r.Note
	if r.Error != "" {
		note = strings.TrimSuffix("ERR: "+r.Error+"; "+note, "; ")
	}
	cipher := r.Cipher
	if cipher == "" {
		cipher = "none"
	}
	cells := []string{r.Scenario, r.Params.String(), r.Impl}
	switch r.Scenario {
	case "idle":
		cells = append(cells, cipher, spread(r, "bytes_per_conn", r.BytesPerConn, 0), spread(r, "heap_bytes_per_conn", r.HeapPerConn, 0),
			strconv.FormatFloat(r.GoroutinesPerConn, 'f', 2, 64))
	case "broadcast":
		cells = append(cells, strconv.FormatFloat(100*r.Coverage, 'f', 2, 64)+"%", spread(r, "duplicates_per_delivery", r.DupsPerDelivery, 2),
			spread(r, "p50_us", r.P50us, 0), spread(r, "p99_us", r.P99us, 0), spread(r, "copies_per_delivery", r.CopiesPerDelivery, 2),
			spread(r, "tcp_bytes_per_delivery", r.BytesPerDelivery, 0), spread(r, "cpu_us_per_msg", r.CPUusPerMsg, 0))
	default:
		cells = append(cells, cipher, spread(r, "ops_per_sec", r.OpsPerSec, 0), spread(r, "p50_us", r.P50us, 1),
			spread(r, "p99_us", r.P99us, 1), num(r.AllocsPerOp, 1), spread(r, "cpu_us_per_op", r.CPUusPerOp, 1))
	}
	cells = append(cells, ratios(r), note)
	return strings.Join(cells, "\t")
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
