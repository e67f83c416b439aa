package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
)

// kv is one scenario parameter.
type kv struct {
	k string
	v any
}

// params are a row's parameters, in display order. They marshal to a JSON
// object with the keys in that order.
type params []kv

func (p params) String() string {
	var b strings.Builder
	for i, x := range p {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%v", x.k, x.v)
	}
	return b.String()
}

func (p params) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, x := range p {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(x.k)
		v, err := json.Marshal(x.v)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// Result is one measurement: one row of the table, one object of -json.
// allocs_per_op and goroutines are whole-process figures: they include the
// in-process client.
type Result struct {
	Scenario    string   `json:"scenario"`
	Impl        string   `json:"impl"`
	Params      params   `json:"params"`
	OpsPerSec   float64  `json:"ops_per_sec"`
	P50us       float64  `json:"p50_us"`
	P99us       float64  `json:"p99_us"`
	AllocsPerOp float64  `json:"allocs_per_op"`
	Goroutines  int      `json:"goroutines"`
	Ops         int64    `json:"ops"`
	Seconds     float64  `json:"seconds"`
	VsRawgnet   *float64 `json:"ratio_vs_rawgnet,omitempty"`
	VsGoroutine *float64 `json:"ratio_vs_goroutine,omitempty"`
	Runs        int      `json:"runs,omitempty"` // with -count: runs the medians come from
	OpsMin      float64  `json:"ops_per_sec_min,omitempty"`
	OpsMax      float64  `json:"ops_per_sec_max,omitempty"`
	Error       string   `json:"error,omitempty"`
	Note        string   `json:"note,omitempty"`

	group string // rows of a scenario with the same group are compared
}

func (r *Result) addNote(s string) {
	if r.Note != "" {
		r.Note += "; "
	}
	r.Note += s
}

// setRatios gives every antnet row its throughput ratio against the
// baselines measured in the same run with the same group.
func setRatios(rs []Result) {
	find := func(scenario, group, impl string) *Result {
		for i := range rs {
			r := &rs[i]
			if r.Scenario == scenario && r.group == group && r.Impl == impl && r.Error == "" && r.OpsPerSec > 0 {
				return r
			}
		}
		return nil
	}
	for i := range rs {
		r := &rs[i]
		if r.Impl != implAntnet || r.OpsPerSec == 0 {
			continue
		}
		if b := find(r.Scenario, r.group, implRawGnet); b != nil {
			x := r.OpsPerSec / b.OpsPerSec
			r.VsRawgnet = &x
		}
		if b := find(r.Scenario, r.group, implGoroutine); b != nil {
			x := r.OpsPerSec / b.OpsPerSec
			r.VsGoroutine = &x
		}
	}
}

func ratio(x *float64) string {
	if x == nil {
		return "-"
	}
	return strconv.FormatFloat(*x, 'f', 2, 64) + "×"
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
	fmt.Fprintln(tw, "scenario\tparams\timpl\tops/s\tp50 µs\tp99 µs\tallocs/op\tvs rawgnet\tvs goroutine\tnote")
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
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
			r.Scenario, r.Params, r.Impl,
			num(r.OpsPerSec, 0), num(r.P50us, 1), num(r.P99us, 1), allocs,
			ratio(r.VsRawgnet), ratio(r.VsGoroutine), note)
	}
	tw.Flush()
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
