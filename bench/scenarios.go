package main

import (
	"strconv"
	"time"
)

// config is what the flags decide for the scenarios.
type config struct {
	quick            bool
	duration, warmup time.Duration
	count            int           // runs per row (-count)
	nodes            int           // broadcast, discovery: nodes (-nodes), 0 for the default
	hostsDuration    time.Duration // short-hosts: how long each side calls (-hosts-duration)
	// Grid overrides; nil means the scenario's own grid.
	peers, inflight, payload, callers, idleConns []int
}

// nodeCount is -nodes, or the scenario's own default for a full or a
// -quick run.
func (c *config) nodeCount(full, quick int) int {
	switch {
	case c.nodes > 0:
		return c.nodes
	case c.quick:
		return quick
	}
	return full
}

// caseSpec is one measurement: one server implementation under one set of
// parameters. run fills r's figures and returns the row's error.
type caseSpec struct {
	scenario, impl string
	params         params
	group          string // ratios compare rows of a scenario with the same group
	run            func(r *Result) error
}

// scenario is a named family of measurements. To add one, write a cases
// function and append it to scenarios.
type scenario struct {
	name  string
	load  string // how the load is generated, printed in the header
	cases func(cfg *config) []caseSpec
}

var scenarios = []scenario{
	{"reqrep", loadDescription, reqrepCases},
	{"reqrep-node", nodeDescription, nodeCases},
	{"short", shortDescription, shortCases},
	{"allocs", allocsDescription, allocsCases},
	{"idle", idleDescription, idleCases},
	{"secure", secureDescription, secureCases},
	// broadcast last: it builds the most nodes and leaves the largest heap.
	{"broadcast", broadcastDescription, broadcastCases},
	{"discovery", discoveryDescription, discoveryCases},
	{"short-hosts", hostsDescription, hostsCases},
}

// optIn are the scenarios that run only when -only names them:
// short-hosts needs root and takes a minute.
var optIn = map[string]bool{"short-hosts": true}

// baselines first, so the antnet row of a group comes last.
var serverImpls = []string{implRawGnet, implGoroutine, implAntnet}

func pick(override, full, quick []int, cfg *config) []int {
	switch {
	case override != nil:
		return override
	case cfg.quick:
		return quick
	}
	return full
}

func (cfg *config) load(peers, inflight, payload int) loadSpec {
	return loadSpec{peers: peers, inflight: inflight, payload: payload, warmup: cfg.warmup, duration: cfg.duration}
}

func (cfg *config) calls(callers, payload int) callSpec {
	return callSpec{callers: callers, payload: payload, warmup: cfg.warmup, duration: cfg.duration}
}

// reqrep: persistent request/response, the same load generator against each
// server.
func reqrepCases(cfg *config) []caseSpec {
	var cs []caseSpec
	for _, p := range pick(cfg.peers, []int{1, 64, 1024}, []int{1, 64}, cfg) {
		for _, k := range pick(cfg.inflight, []int{1, 16}, []int{1, 16}, cfg) {
			for _, s := range pick(cfg.payload, []int{128, 4096}, []int{128}, cfg) {
				ps := params{{"peers", p}, {"inflight", k}, {"payload", s}}
				sp := cfg.load(p, k, s)
				for _, impl := range serverImpls {
					cs = append(cs, caseSpec{
						scenario: "reqrep", impl: impl, params: ps, group: ps.String(),
						run: func(r *Result) error { return serverLoad(impl, sp, r) },
					})
				}
			}
		}
	}
	if cfg.peers == nil {
		cs = append(cs, activeCases(cfg)...)
	}
	return cs
}

// activeConns is the reqrep row with many active connections: 10,000 in
// the full grid (the server's and the child's descriptors each stay under a
// 20,000 limit), 500 with -quick (keeping the quick run near a minute on 2 cores: the 10k
// dials and their goroutines in the child take seconds per row).
func activeConns(cfg *config) int {
	if cfg.quick {
		return 500
	}
	return 10000
}

// activeCases: reqrep at activeConns connections, one request in flight on
// each, the load generator always in a child process; the row also reports
// the server process's RSS per connection.
func activeCases(cfg *config) []caseSpec {
	n := activeConns(cfg)
	ps := params{{"peers", n}, {"inflight", 1}, {"payload", 128}, {"client", "proc"}}
	sp := cfg.load(n, 1, 128)
	sp.proc = true
	var cs []caseSpec
	for _, impl := range serverImpls {
		cs = append(cs, caseSpec{
			scenario: "reqrep", impl: impl, params: ps, group: ps.String(),
			run: func(r *Result) error { return serverLoad(impl, sp, r) },
		})
	}
	return cs
}

// serverLoad starts impl's server, runs the load generator against it and
// closes it.
func serverLoad(impl string, sp loadSpec, r *Result) error {
	s, err := startServer(impl, serverOpts{})
	if err != nil {
		return err
	}
	defer closeServer(s, r)
	m, err := runLoad(s.Addr(), sp)
	if m != nil {
		m.fill(r)
	}
	return err
}

// reqrep-node: node to node through the public API, beside the goroutine
// design's own client.
func nodeCases(cfg *config) []caseSpec {
	var cs []caseSpec
	for _, g := range pick(cfg.callers, []int{1, 16, 256}, []int{1, 16, 256}, cfg) {
		for _, s := range pick(cfg.payload, []int{128}, []int{128}, cfg) {
			ps := params{{"goroutines", g}, {"payload", s}}
			sp := cfg.calls(g, s)
			cs = append(cs,
				caseSpec{scenario: "reqrep-node", impl: implGoroutine, params: ps, group: ps.String(),
					run: func(r *Result) error { return goroutineNodeReqRep(sp, r) }},
				caseSpec{scenario: "reqrep-node", impl: implAntnet, params: ps, group: ps.String(),
					run: func(r *Result) error { return nodeReqRep(sp, r) }},
			)
		}
	}
	return cs
}

// short: one connection per request. Two groups per caller count: three
// servers under the same net.Dial client, and node→node antnet against the
// original design's short router on both sides.
func shortCases(cfg *config) []caseSpec {
	var cs []caseSpec
	for _, g := range pick(cfg.callers, []int{1, 16}, []int{1, 16}, cfg) {
		for _, s := range pick(cfg.payload, []int{128}, []int{128}, cfg) {
			group := params{{"callers", g}, {"payload", s}}.String()
			sp := cfg.calls(g, s)
			for _, impl := range serverImpls {
				cs = append(cs, caseSpec{
					scenario: "short", impl: impl, group: group,
					params: params{{"callers", g}, {"payload", s}, {"client", "net.Dial"}},
					run:    func(r *Result) error { return shortDial(impl, sp, r) },
				})
			}
			pair := params{{"callers", g}, {"payload", s}, {"pair", "node→node"}}
			cs = append(cs,
				caseSpec{scenario: "short", impl: implGoroutine, group: pair.String(),
					params: params{{"callers", g}, {"payload", s}, {"pair", "original"}},
					run:    func(r *Result) error { return shortOrig(sp, r) }},
				caseSpec{scenario: "short", impl: implAntnet, group: pair.String(), params: pair,
					run: func(r *Result) error { return shortNode(sp, r) }},
			)
		}
	}
	return cs
}

const allocsDescription = "heap allocations (runtime.MemStats.Mallocs delta over the window) divided by requests served; " +
	"client and server run in this process, so the figure includes the client: " +
	"the baselines' rows show what the client and the socket layer cost"

// allocs: allocations per request, whole process.
func allocsCases(cfg *config) []caseSpec {
	var cs []caseSpec
	loads := [][2]int{{1, 1}, {64, 16}}
	if cfg.quick {
		loads = loads[1:]
	}
	for _, s := range pick(cfg.payload, []int{128}, []int{128}, cfg) {
		for _, l := range loads {
			ps := params{{"client", "load"}, {"peers", l[0]}, {"inflight", l[1]}, {"payload", s}}
			sp := cfg.load(l[0], l[1], s)
			for _, impl := range serverImpls {
				cs = append(cs, caseSpec{
					scenario: "allocs", impl: impl, params: ps, group: ps.String(),
					run: func(r *Result) error { return serverLoad(impl, sp, r) },
				})
			}
		}
		ps := params{{"client", "node"}, {"goroutines", 16}, {"payload", s}}
		sp := cfg.calls(16, s)
		cs = append(cs,
			caseSpec{scenario: "allocs", impl: implGoroutine, params: ps, group: ps.String(),
				run: func(r *Result) error { return goroutineNodeReqRep(sp, r) }},
			caseSpec{scenario: "allocs", impl: implAntnet, params: ps, group: ps.String(),
				run: func(r *Result) error { return nodeReqRep(sp, r) }},
		)
	}
	return cs
}

func atoiList(s string) ([]int, error) {
	if s == "" {
		return nil, nil
	}
	var out []int
	for _, f := range splitComma(s) {
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return nil, &badList{s}
		}
		out = append(out, n)
	}
	return out, nil
}

type badList struct{ s string }

func (b *badList) Error() string {
	return "bad list " + strconv.Quote(b.s) + ": want positive integers, comma separated"
}
