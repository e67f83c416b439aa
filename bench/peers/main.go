// Command peers measures antnet beside go-libp2p (and go-libp2p-pubsub for
// broadcast) in one process invocation, on 127.0.0.1 only. It is a module
// of its own so that antnet's users never download libp2p.
//
//	cd bench/peers
//	go run . -quick                         # every scenario, small grid, well under a minute
//	go run . -count 3 -json peers.json      # full grid, medians of 3 runs per row
//	go run . -only reqrep -callers 16 -count 3
//	go run . -only broadcast -nodes 100,500,1000
//	go run . -only idle -idle-conns 1000
//
// Scenarios: reqrep (request/response: a libp2p stream per request, a
// long-lived libp2p stream per caller, antnet Dispatch over a persistent
// link), setup (connection setup time), idle (memory and goroutines per
// idle connection, the peers in a child process), broadcast (GossipSub,
// FloodSub and antnet's Broadcast on the same random graph). Plain rows
// run libp2p over TCP + yamux without security (libp2p.NoSecurity) and
// antnet without identities; secure rows libp2p's Noise and antnet's Noise
// forced to ChaCha20-Poly1305 (engine.WithCiphers): both ChaCha20-Poly1305.
package main

import (
	"flag"
	"fmt"
	"github.com/antnet-p2p/antnet/internal/benchkit"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// config is what the flags decide for the scenarios.
type config struct {
	quick             bool
	duration, warmup  time.Duration
	callers, payloads []int
	security          []bool
	nodes             []int
	idleConns         int
	setupConns        int
	messages          int // broadcast: messages per row
	bcastInflight     int // broadcast: messages in flight
}

// caseSpec is one measurement: one implementation under one set of
// parameters; rows of a scenario with the same params are compared.
type caseSpec struct {
	scenario, impl string
	params         params
	run            func(r *Result) error
}

type scenario struct {
	name, load string
	cases      func(*config) []caseSpec
}

var scenarios = []scenario{
	{"reqrep", reqrepDescription, reqrepCases},
	{"setup", setupDescription, setupCases},
	{"idle", idleDescription, idleCases},
	{"broadcast", broadcastDescription, broadcastCases},
}

func main() {
	var (
		quick    = flag.Bool("quick", false, "small grid and short windows: every scenario in well under a minute")
		only     = flag.String("only", "", "run only these scenarios, comma separated (reqrep, setup, idle, broadcast)")
		count    = flag.Int("count", 1, "run every row `N` times (round robin) and report medians with [min–max]")
		duration = flag.Duration("duration", 0, "reqrep: recorded window per row (default 1s, 500ms with -quick)")
		warmup   = flag.Duration("warmup", 0, "reqrep: unrecorded warm-up per row (default 250ms, 150ms with -quick)")
		callers  = flag.String("callers", "", "reqrep: calling goroutines, comma separated (default 1,16)")
		payload  = flag.String("payload", "", "reqrep: payload bytes, comma separated (default 128,4096; 128 with -quick)")
		security = flag.String("security", "plain,secure", "reqrep, setup, idle: plain, secure or both")
		nodes    = flag.String("nodes", "", "broadcast: node counts, comma separated (default 100,500,1000; 20 with -quick)")
		idleN    = flag.Int("idle-conns", 0, "idle: connections the child process holds open to the server (default 1000, 200 with -quick)")
		setupN   = flag.Int("setup-conns", 0, "setup: connections timed per row (default 200, 40 with -quick)")
		msgs     = flag.Int("messages", 0, "broadcast: messages per row (default 300, 40 with -quick)")
		inflight = flag.Int("bcast-inflight", 4, "broadcast: messages in flight (published, not yet delivered everywhere)")
		jsonOut  = flag.String("json", "", "also write the results as a JSON array to `FILE`")
		impls    = flag.String("impl", "", "run only the rows of these implementations, comma separated (gossipsub, antnet, ...; default all)")
	)
	if arg := os.Getenv(childEnv); arg != "" {
		childMain(arg)
		return
	}
	flag.Parse()
	if flag.NArg() > 0 || *count < 1 || *inflight < 1 {
		fatalf("bad arguments: see -h")
	}
	cfg := &config{quick: *quick, duration: *duration, warmup: *warmup, idleConns: *idleN, setupConns: *setupN,
		messages: *msgs, bcastInflight: *inflight}
	def := func(d *time.Duration, full, q time.Duration) {
		if *d <= 0 {
			*d = full
			if cfg.quick {
				*d = q
			}
		}
	}
	def(&cfg.duration, time.Second, 500*time.Millisecond)
	def(&cfg.warmup, 250*time.Millisecond, 150*time.Millisecond)
	defInt := func(d *int, full, q int) {
		if *d <= 0 {
			*d = full
			if cfg.quick {
				*d = q
			}
		}
	}
	defInt(&cfg.idleConns, 1000, 200)
	defInt(&cfg.setupConns, 200, 40)
	defInt(&cfg.messages, 300, 40)
	var err error
	if cfg.callers, err = intList(*callers, []int{1, 16}, []int{1, 16}, cfg.quick); err != nil {
		fatalf("-callers: %v", err)
	}
	if cfg.payloads, err = intList(*payload, []int{128, 4096}, []int{128}, cfg.quick); err != nil {
		fatalf("-payload: %v", err)
	}
	if cfg.nodes, err = intList(*nodes, []int{100, 500, 1000}, []int{20}, cfg.quick); err != nil {
		fatalf("-nodes: %v", err)
	}
	for _, s := range benchkit.SplitComma(*security) {
		switch s {
		case "plain":
			cfg.security = append(cfg.security, false)
		case "secure":
			cfg.security = append(cfg.security, true)
		default:
			fatalf("-security %q: want plain, secure or plain,secure", s)
		}
	}
	selected, err := selectScenarios(*only)
	if err != nil {
		fatalf("%v", err)
	}
	nofile := benchkit.RaiseNoFile()

	fmt.Printf("antnet beside go-libp2p v0.52.0 / go-libp2p-pubsub v0.19.0 — %s\n", time.Now().UTC().Format(time.RFC3339))
	fmt.Printf("machine: NumCPU=%d GOMAXPROCS=%d %s %s/%s, RLIMIT_NOFILE=%d; everything on 127.0.0.1\n",
		runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version(), runtime.GOOS, runtime.GOARCH, nofile)
	if *count > 1 {
		fmt.Printf("every figure is the median of %d runs (round robin over the scenario's rows); [a–b] is the lowest and highest run\n", *count)
	} else if cfg.quick {
		fmt.Println("-quick: one short run per row; an indication that the suite works, not a result")
	}
	for _, s := range selected {
		fmt.Printf("load %s: %s\n", s.name, s.load)
	}
	fmt.Println()

	var all []Result
	start := time.Now()
	for _, sc := range selected {
		cases := sc.cases(cfg)
		if *impls != "" {
			keep := benchkit.SplitComma(*impls)
			cases = slices.DeleteFunc(cases, func(c caseSpec) bool { return !slices.Contains(keep, c.impl) })
		}
		runs := make([][]Result, len(cases))
		for rep := 0; rep < *count; rep++ {
			for i, c := range cases {
				r := measure(c)
				runs[i] = append(runs[i], r)
				fmt.Fprintf(os.Stderr, "[%s %d/%d] %s %s: %s\n", sc.name, rep*len(cases)+i+1, *count*len(cases),
					r.Params, r.Impl, strings.ReplaceAll(scenarioRow(&r), "\t", " | "))
			}
		}
		for i := range runs {
			all = append(all, median(runs[i]))
		}
	}
	setRatios(all)
	fmt.Fprintf(os.Stderr, "done: %d rows in %v\n", len(all), time.Since(start).Round(100*time.Millisecond))
	printTables(os.Stdout, all)
	if *jsonOut != "" {
		if err := writeJSON(*jsonOut, all); err != nil {
			fatalf("write %s: %v", *jsonOut, err)
		}
	}
	for _, r := range all {
		if r.Error != "" {
			os.Exit(1)
		}
	}
}

// measure runs one case; a failure or a panic stays in its row.
func measure(c caseSpec) (r Result) {
	r = Result{Scenario: c.scenario, Impl: c.impl, Params: c.params, group: c.params.String()}
	defer func() {
		if p := recover(); p != nil {
			r.Error = fmt.Sprintf("panic: %v", p)
		}
	}()
	if err := c.run(&r); err != nil {
		r.Error = err.Error()
	}
	return r
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "peers: "+format+"\n", args...)
	os.Exit(2)
}

// intList parses a comma separated list of positive integers, or returns
// the default for a full or a -quick run.
func intList(s string, full, quick []int, isQuick bool) ([]int, error) {
	if s == "" {
		if isQuick {
			return quick, nil
		}
		return full, nil
	}
	var out []int
	for _, f := range benchkit.SplitComma(s) {
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q: want positive integers, comma separated", s)
		}
		out = append(out, n)
	}
	return out, nil
}

func selectScenarios(only string) ([]scenario, error) {
	return benchkit.Select(scenarios, func(s scenario) string { return s.name }, only)
}
