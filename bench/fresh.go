package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// With -fresh every row runs in a new child process (this binary,
// re-executed with -row-child): its figures then do not depend on what the
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
	IdleConns  int           `json:"idle_conns"`
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
// r (the parent keeps r's scenario, impl and group).
func runRowChild(rs rowSpec, r *Result) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	spec, _ := json.Marshal(rs)
	cmd := exec.Command(exe, "-row-child", string(spec))
	cmd.Stderr = os.Stderr
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		return err
	}
	timer := time.AfterFunc(rs.Warmup+2*rs.Duration+180*time.Second, func() { _ = cmd.Process.Kill() })
	defer timer.Stop()
	werr := cmd.Wait()
	var got *Result
	sc := bufio.NewScanner(&out)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "row "); ok {
			got = new(Result)
			if err := json.Unmarshal([]byte(rest), got); err != nil {
				return fmt.Errorf("row child: %w", err)
			}
		}
	}
	if got == nil {
		if werr == nil {
			werr = errors.New("no result")
		}
		return fmt.Errorf("row child: %w", werr)
	}
	scenario, impl, group := r.Scenario, r.Impl, r.group
	*r = *got
	r.Scenario, r.Impl, r.group = scenario, impl, group
	r.Error = ""
	if got.Error != "" {
		return errors.New(got.Error)
	}
	return nil
}

// rowChild is the row child's main: run the case, print "row <json>".
func rowChild(arg string) {
	var rs rowSpec
	if err := json.Unmarshal([]byte(arg), &rs); err != nil {
		fatalf("row-child: %v", err)
	}
	raiseNoFile()
	clientProc = rs.ClientProc
	cfg := &config{quick: rs.Quick, duration: rs.Duration, warmup: rs.Warmup, count: 1,
		peers: rs.Peers, inflight: rs.Inflight, payload: rs.Payload, callers: rs.Callers,
		idleConns: rs.IdleConns, nodes: rs.Nodes}
	sel, err := selectScenarios(rs.Scenario)
	if err != nil {
		fatalf("row-child: %v", err)
	}
	cases := sel[0].cases(cfg)
	if rs.Index < 0 || rs.Index >= len(cases) {
		fatalf("row-child: case %d of %d", rs.Index, len(cases))
	}
	r := measure(cases[rs.Index], newLeakCheck())
	b, err := json.Marshal(&r)
	if err != nil {
		fatalf("row-child: %v", err)
	}
	fmt.Printf("row %s\n", b)
}

// UnmarshalJSON reads params back in their order (numbers stay as they
// were written).
func (p *params) UnmarshalJSON(b []byte) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if t, err := d.Token(); err != nil || t != json.Delim('{') {
		return fmt.Errorf("params: want an object")
	}
	*p = (*p)[:0]
	for d.More() {
		t, err := d.Token()
		if err != nil {
			return err
		}
		k, _ := t.(string)
		var v any
		if err := d.Decode(&v); err != nil {
			return err
		}
		*p = append(*p, kv{k, v})
	}
	_, err := d.Token()
	return err
}
