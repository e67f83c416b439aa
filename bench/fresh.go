package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// With -fresh every row runs in a new child process (this binary,
// re-executed with -child, kind "row"): its figures then do not depend on what the
// rows before it left in process-wide state: the heap and the GC's pacing,
// gnet's shared worker pool, the runtime's idle threads. Without it the rows
// run as an embedder's process would.
var freshRows bool

// rowSpec is what the parent hands a row child: the config and which case.
type rowSpec struct {
	Scenario   string        `json:"scenario"`
	Index      int           `json:"index"`
	Quick      bool          `json:"quick"`
	Duration   time.Duration `json:"duration"`
	Warmup     time.Duration `json:"warmup"`
	Peers      []int         `json:"peers"`
	Inflight   []int         `json:"inflight"`
	Payload    []int         `json:"payload"`
	Callers    []int         `json:"callers"`
	IdleConns  []int         `json:"idle_conns"`
	Nodes      int           `json:"nodes"`
	ClientProc bool          `json:"client_proc"`
}

func (cfg *config) rowSpec(scenario string, index int) rowSpec {
	return rowSpec{scenario, index, cfg.quick, cfg.duration, cfg.warmup, cfg.peers, cfg.inflight, cfg.payload,
		cfg.callers, cfg.idleConns, cfg.nodes, clientProc}
}

// freshCase wraps c so that it runs in a child process.
func freshCase(c caseSpec, rs rowSpec) caseSpec {
	c.run = func(r *Result) error { return runRowChild(rs, r) }
	return c
}

// runRowChild runs one row in a child process and copies its figures into
// r (the parent keeps r's scenario, impl, params and group).
func runRowChild(rs rowSpec, r *Result) error {
	c, err := startChild("row", rs, rs.Warmup+2*rs.Duration+180*time.Second)
	if err != nil {
		return err
	}
	defer c.wait()
	var row struct {
		Result
		Params json.RawMessage `json:"params"` // the parent has them
	}
	if err := c.expect("row", &row); err != nil {
		if werr := c.wait(); werr != nil {
			err = werr
		}
		return err
	}
	got := row.Result
	got.Scenario, got.Impl, got.Params, got.group = r.Scenario, r.Impl, r.Params, r.group
	*r = got
	r.Error = ""
	if got.Error != "" {
		return errors.New(got.Error)
	}
	return c.wait()
}

// rowChild runs the case and says "row" with its result.
func rowChild(spec []byte, say func(string, any), _ *bufio.Scanner) error {
	var rs rowSpec
	if err := json.Unmarshal(spec, &rs); err != nil {
		return err
	}
	clientProc = rs.ClientProc
	cfg := &config{quick: rs.Quick, duration: rs.Duration, warmup: rs.Warmup, count: 1,
		peers: rs.Peers, inflight: rs.Inflight, payload: rs.Payload, callers: rs.Callers,
		idleConns: rs.IdleConns, nodes: rs.Nodes}
	sel, err := selectScenarios(rs.Scenario)
	if err != nil {
		return err
	}
	cases := sel[0].cases(cfg)
	if rs.Index < 0 || rs.Index >= len(cases) {
		return fmt.Errorf("case %d of %d", rs.Index, len(cases))
	}
	r := measure(cases[rs.Index], newLeakCheck())
	say("row", &r)
	return nil
}
