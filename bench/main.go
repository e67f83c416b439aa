// Command bench measures antnet beside two baselines speaking the same
// frames, in the same run: rawgnet (a bare gnet v2 echo, the ceiling for
// per-message overhead) and goroutine (Go's net package, a reader goroutine
// per connection, the design the original project used). One load generator
// drives every server, so a ratio compares servers, not clients.
//
//	go run ./bench                 # every scenario, full grid
//	go run ./bench -quick          # reduced grid, about a minute
//	go run ./bench -count 3 -json out.json            # medians of 3 runs per row
//	go run ./bench -only reqrep -client proc          # load generator in a child process
//	go run ./bench -only reqrep -peers 1024 -inflight 16 -payload 4096 -duration 3s
//	go run ./bench -only idle,secure,broadcast     # memory per idle conn, secure column, gossip
//	go run ./bench -fresh -only secure             # every row in a new child process
//	go run ./bench -only idle -idle-conns 10000    # peers in a child process
//	go run ./bench -only broadcast -nodes 64       # coverage time, broadcasts/s, duplicates, frames
//	go run ./bench -only reqrep -cpuprofile cpu.out && go tool pprof -top -tagfocus impl=antnet cpu.out
//	go test -bench . -benchmem ./bench                # micro-benchmarks
//
// Scenarios are a table (scenarios.go): a name, a sentence on how the load
// is generated, and a function returning the measurements (one per server
// implementation and parameter set). Every measurement starts its servers
// and clients and closes them; a failure stays in its row, and whatever a
// row leaves behind (goroutines, descriptors) is reported in its note.
//
// Servers carry the pprof labels side=server and impl=<impl>; clients
// side=client (a client node also impl=antnet or antnet-secure; broadcast
// nodes side=server). With -client proc the CPU
// profile of this process holds the servers only.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"github.com/antnet-p2p/antnet/internal/benchkit"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"
)

func main() {
	var (
		quick    = flag.Bool("quick", false, "reduced grid and short windows (CI: about a minute on 2 cores)")
		duration = flag.Duration("duration", 0, "recorded window per measurement (default 1s, 800ms with -quick)")
		warmup   = flag.Duration("warmup", 0, "unrecorded warm-up before each window (default 250ms, 200ms with -quick)")
		peers    = flag.String("peers", "", "reqrep: connections, comma separated (overrides the grid)")
		inflight = flag.String("inflight", "", "reqrep: requests in flight per connection, comma separated")
		payload  = flag.String("payload", "", "payload bytes for every scenario, comma separated")
		callers  = flag.String("callers", "", "reqrep-node and short: calling goroutines, comma separated")
		jsonOut  = flag.String("json", "", "also write the results as a JSON array to `FILE`")
		only     = flag.String("only", "", "run only these scenarios, comma separated ("+scenarioNames()+")")
		cpuprof  = flag.String("cpuprofile", "", "write a CPU profile of the whole run to `FILE` "+
			"(goroutines are labelled side=server|client and impl=...: use go tool pprof -tagfocus side=server)")
		client = flag.String("client", "inproc", "where the reqrep/allocs load generator runs: inproc (this process) "+
			"or proc (a child process: allocs/op and goroutines are then the server's alone)")
		child = flag.String("child", "", "internal: run as a child process (the load generator, idle peers, a -fresh row)")
		fresh = flag.Bool("fresh", false, "run every row in a new child process, so no row's figures depend on what earlier rows "+
			"left in process-wide state (heap, GC pacing, gnet's worker pool); -cpuprofile and -memprofile then cover only this parent")
		idleN   = flag.String("idle-conns", "", "idle: peer connections held by the server, comma separated (default 1000,4000,10000; 1000 with -quick)")
		nodes   = flag.Int("nodes", 0, "broadcast: nodes in the graph (default 64, 16 with -quick); discovery: nodes (default 1000, 50 with -quick)")
		hostsD  = flag.Duration("hosts-duration", 10*time.Second, "short-hosts: how long the callers run (the issue's run: 60s)")
		count   = flag.Int("count", 1, "run every measurement `N` times (round robin) and report the medians")
		memprof = flag.String("memprofile", "", "write an allocation profile of the whole run to `FILE` "+
			"(go tool pprof -sample_index=alloc_objects -top FILE)")
	)
	flag.Parse()
	if *count < 1 {
		fatalf("-count must be at least 1")
	}
	if flag.NArg() > 0 {
		fatalf("unexpected arguments %q", flag.Args())
	}
	if *child != "" {
		childMain(*child)
		return
	}
	freshRows = *fresh
	switch *client {
	case "inproc":
	case "proc":
		clientProc = true
	default:
		fatalf("-client %q: want inproc or proc", *client)
	}

	cfg := &config{quick: *quick, duration: *duration, warmup: *warmup, count: *count, nodes: *nodes, hostsDuration: *hostsD}
	if cfg.duration <= 0 {
		cfg.duration = time.Second
		if cfg.quick {
			cfg.duration = 800 * time.Millisecond
		}
	}
	if cfg.warmup <= 0 {
		cfg.warmup = 250 * time.Millisecond
		if cfg.quick {
			cfg.warmup = 200 * time.Millisecond
		}
	}
	var err error
	for _, f := range []struct {
		s   string
		dst *[]int
	}{{*peers, &cfg.peers}, {*inflight, &cfg.inflight}, {*payload, &cfg.payload}, {*callers, &cfg.callers}, {*idleN, &cfg.idleConns}} {
		if *f.dst, err = atoiList(f.s); err != nil {
			fatalf("%v", err)
		}
	}

	selected, err := selectScenarios(*only)
	if err != nil {
		fatalf("%v", err)
	}
	nofile := raiseNoFile()

	var cases []caseSpec
	var bounds []int // cases[bounds[i]:bounds[i+1]] belong to selected[i]
	for _, sc := range selected {
		bounds = append(bounds, len(cases))
		for i, c := range sc.cases(cfg) {
			if freshRows {
				c = freshCase(c, cfg.rowSpec(sc.name, i))
			}
			cases = append(cases, c)
		}
	}
	bounds = append(bounds, len(cases))

	header(os.Stdout, cfg, selected, nofile)

	if *cpuprof != "" {
		f, err := os.Create(*cpuprof)
		if err != nil {
			fatalf("%v", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fatalf("%v", err)
		}
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
	}

	// Each repetition runs a scenario's whole list, so the runs of a row
	// are spread over time rather than back to back; scenarios run one
	// after the other, in the table's order.
	runs := make([][]Result, len(cases))
	lk := newLeakCheck()
	start := time.Now()
	done := 0
	for s := 0; s+1 < len(bounds); s++ {
		for rep := 0; rep < *count; rep++ {
			for i := bounds[s]; i < bounds[s+1]; i++ {
				r := measure(cases[i], lk)
				runs[i] = append(runs[i], r)
				done++
				progress(done, *count*len(cases), &r)
			}
		}
	}
	results := make([]Result, len(cases))
	for i := range runs {
		results[i] = median(runs[i])
	}
	if *memprof != "" {
		if err := writeHeapProfile(*memprof); err != nil {
			fatalf("%v", err)
		}
	}
	setRatios(results)
	fmt.Fprintf(os.Stderr, "done: %d measurements in %v\n", len(results), time.Since(start).Round(100*time.Millisecond))

	printTable(os.Stdout, results)
	if cfg.quick && cfg.count == 1 {
		fmt.Println("-quick: every ratio above is a single short run's, an indication that the suite works, not a result (use -count 3)")
	}
	if *jsonOut != "" {
		if err := writeJSON(*jsonOut, results); err != nil {
			fatalf("write %s: %v", *jsonOut, err)
		}
	}
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
	os.Exit(2)
}

func scenarioNames() string {
	names := make([]string, len(scenarios))
	for i, s := range scenarios {
		names[i] = s.name
	}
	return strings.Join(names, ", ")
}

func selectScenarios(only string) ([]scenario, error) {
	if only == "" { // every scenario but the opt-in ones
		var all []scenario
		for _, s := range scenarios {
			if !optIn[s.name] {
				all = append(all, s)
			}
		}
		return all, nil
	}
	// In the table's order, whatever the order of -only: broadcast runs last.
	return benchkit.Select(scenarios, func(s scenario) string { return s.name }, only)
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func header(w *os.File, cfg *config, sel []scenario, nofile uint64) {
	fmt.Fprintf(w, "antnet bench — %s\n", time.Now().Format(time.RFC3339))
	fmt.Fprintf(w, "machine: NumCPU=%d GOMAXPROCS=%d %s %s/%s", runtime.NumCPU(), runtime.GOMAXPROCS(0),
		runtime.Version(), runtime.GOOS, runtime.GOARCH)
	if m := cpuModel(); m != "" {
		fmt.Fprintf(w, " (%s)", m)
	}
	fmt.Fprintf(w, ", RLIMIT_NOFILE=%d\n", nofile)
	fmt.Fprintln(w, "figures on a shared machine are noisy: quote medians of several runs")
	if cfg.quick && cfg.count == 1 {
		fmt.Fprintln(w, "-quick: one short run per row; its figures and ratios are indications that the suite works, not results (use -count 3)")
	}
	if cfg.count > 1 {
		fmt.Fprintf(w, "every figure below is the median of %d runs of its row (-count), taken round robin over its scenario's list;\n", cfg.count)
		fmt.Fprintln(w, "  [a–b] beside a median is the lowest and highest of its runs")
	}
	where := "this process"
	if freshRows {
		where = "one new child process per row (-fresh)"
	}
	fmt.Fprintf(w, "each row: %v warm-up, then a %v recorded window; servers and clients share %s and its %d CPUs,\n",
		cfg.warmup, cfg.duration, where, runtime.GOMAXPROCS(0))
	fmt.Fprintln(w, "  so allocs/op, cpu µs/op (user+system CPU of the process over the window, per op) and goroutines include the client")
	fmt.Fprintln(w, "  (idle: the peers are in a child process, and the figures are the server process's alone);")
	fmt.Fprintln(w, "  ratios are antnet ops/s over the baseline's in the same row group (idle: RSS per connection, lower is better),")
	fmt.Fprintln(w, "  and antnet-secure ops/s over plain antnet's (\"secure/plain\")")
	if !freshRows {
		fmt.Fprintln(w, "  rows share one process (heap, GC pacing, gnet's worker pool); -fresh runs each row in a new process")
	}
	fmt.Fprintln(w, "servers: rawgnet = bare gnet v2 echo (codec.Next, one Write per OnTraffic), goroutine = net + reader goroutine per conn + bufio")
	fmt.Fprintln(w, "  (16 KiB reader and writer per conn; idle rows: the lean variant, 4 KiB reader, 4 KiB writer pooled while idle),")
	fmt.Fprintln(w, "  antnet = engine.Node with an echo handler; each runs GOMAXPROCS event loops where it has loops; all on 127.0.0.1, OS-picked ports;")
	fmt.Fprintln(w, "  antnet-secure = antnet with engine.WithIdentity (Noise XX handshake; AES-256-GCM on every frame where both ends have AES hardware, ChaCha20-Poly1305 otherwise) on every node")
	for _, s := range sel {
		fmt.Fprintf(w, "load %s: %s\n", s.name, s.load)
	}
	if clientProc {
		fmt.Fprintln(w, "-client proc: the reqrep and allocs load generator (client=load rows) runs in a child process;",
			"their allocs/op and goroutines are the server's alone (client=node and short rows stay in this process)")
	} else {
		fmt.Fprintln(w, "clients run in this process (-client proc moves the load generator to a child process)")
	}
	fmt.Fprintln(w)
}

func progress(i, n int, r *Result) {
	status := fmt.Sprintf("%.0f ops/s p50 %.1fµs p99 %.1fµs allocs/op %.2f cpu %.2fµs/op", r.OpsPerSec, r.P50us, r.P99us,
		r.AllocsPerOp, r.CPUusPerOp)
	if r.Conns > 0 {
		mem := fmt.Sprintf("RSS %.0f B/conn heap %.0f B/conn goroutines %+d", r.BytesPerConn, r.HeapPerConn, r.Goroutines)
		if r.OpsPerSec > 0 {
			status += ", " + mem
		} else {
			status = mem
		}
	}
	if f := figures(r); f != "" && r.Conns == 0 {
		status += ", " + f
	}
	if r.Error != "" {
		status += " ERR: " + r.Error
	}
	if r.Note != "" {
		status += " (" + r.Note + ")"
	}
	fmt.Fprintf(os.Stderr, "[%2d/%d] %s %s %s: %s\n", i, n, r.Scenario, r.Params, r.Impl, status)
}

// measure runs one case; a failure or a panic stays in its row.
func measure(c caseSpec, lk *leakCheck) Result {
	r := Result{Scenario: c.scenario, Impl: c.impl, Params: c.params, group: c.group}
	func() {
		defer func() {
			if p := recover(); p != nil {
				r.Error = fmt.Sprintf("panic: %v", p)
			}
		}()
		if err := c.run(&r); err != nil {
			r.Error = err.Error()
		}
	}()
	if leak := lk.check(); leak != "" {
		r.addNote(leak)
	}
	return r
}

// leakCheck verifies that a measurement left no goroutines or descriptors
// behind once its servers and clients closed.
type leakCheck struct {
	goroutines, fds int
}

func newLeakCheck() *leakCheck {
	return &leakCheck{goroutines: countGoroutines(), fds: countFDs()}
}

// countGoroutines counts goroutines, leaving out the idle workers of ants'
// global pool: gnet dials (Engine.Register) on gnet's process-wide default
// worker pool, whose idle workers linger up to 10s by design. They belong
// to no node and are not a leak.
func countGoroutines() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	count := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.TrimSpace(g) != "" && !strings.Contains(g, "github.com/panjf2000/ants/") {
			count++
		}
	}
	return count
}

func countFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}

// check waits up to 3s for the counts to come back to the baseline; what is
// still above it is reported, and becomes the new baseline (reported once).
func (lk *leakCheck) check() string {
	deadline := time.Now().Add(3 * time.Second)
	var g, fds int
	for {
		g, fds = runtime.NumGoroutine(), countFDs()
		if g > lk.goroutines {
			g = countGoroutines()
		}
		if (g <= lk.goroutines && fds <= lk.fds) || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	var leaks []string
	if g > lk.goroutines {
		leaks = append(leaks, fmt.Sprintf("+%d goroutines", g-lk.goroutines))
		lk.goroutines = g
	}
	if fds > lk.fds {
		leaks = append(leaks, fmt.Sprintf("+%d fds", fds-lk.fds))
		lk.fds = fds
	}
	if leaks == nil {
		return ""
	}
	return "left behind after close: " + strings.Join(leaks, ", ")
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return pprof.Lookup("allocs").WriteTo(f, 0)
}
