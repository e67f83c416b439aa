package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/antnet-p2p/antnet/codec"
	"github.com/antnet-p2p/antnet/engine"
	"github.com/antnet-p2p/antnet/proto"
)

// discovery: N nodes in this process find each other from one bootstrap
// address (peer exchange and the connection manager), then 20% of them are
// killed and restarted.

const discoveryDescription = "N engine.Nodes in this process (WithEventLoops(1), WithMinLinks(4), WithMaxLinks(8) each), " +
	"on loopback ports below the ephemeral range (so no connection takes a killed node's port), " +
	"every node but the first told only the first (AddRoute, 64 at a time); " +
	"formed = every node has 4..8 linked peers (PeerStates) and no learned dial in flight, timed from the first Start; " +
	"steady state: per-node goroutines, OS threads (/proc/self/status), descriptors, RSS and Go heap (after a GC, over the " +
	"process before the first node) and idle CPU (process CPU over a quiet window / N); " +
	"coverage: Broadcasts from random origins one at a time, each waited for until every live node had it (or 10s), " +
	"coverage = share of the other live nodes whose handler got it (p50, and p99 = the share 99% of broadcasts reached at least), " +
	"dup = handler deliveries of a broadcast the node already had; then 20% (never the bootstrap) are Closed and restarted on " +
	"their ports, told only the bootstrap: re-formed = formed again, timed from the first restart; coverage again"

// The marks. Low 4: a random graph whose every node has at least 4 links
// is connected with overwhelming probability, and its diameter at 1,000
// nodes (about log N / log 4, 5-6 hops) is well inside the gossip TTL
// (16). High 8 rather than the default 2×4+2: each link costs a descriptor
// at both ends, so the high mark bounds the descriptors of a node at
// steady state; 8 leaves room for the inbound links that keep arriving
// while a node is between the marks (a node stops dialing at 4, but others
// still dial it).
const (
	discLow  = 4
	discHigh = 8
)

const (
	discParallel  = 64               // AddRoute calls at once
	discMaxSeq    = 1 << 12          // broadcasts per row (per-node bitsets)
	discBcastWait = 10 * time.Second // for one broadcast to reach every live node
	discSeed      = 3
	discKillShare = 5 // 1 in 5 (20%) killed and restarted
	discFDLimit   = 20000
	discCores     = 2
)

func discoveryCases(cfg *config) []caseSpec {
	nodes := cfg.nodeCount(1000, 50)
	ps := params{{"nodes", nodes}, {"low", discLow}, {"high", discHigh}, {"killed", nodes / discKillShare}}
	return []caseSpec{{
		scenario: "discovery", impl: implAntnet, params: ps, group: ps.String(),
		run: func(r *Result) error { return discoveryRun(nodes, cfg, r) },
	}}
}

// discoveryFigures are the discovery scenario's results (Result.Discovery).
type discoveryFigures struct {
	Low       int     `json:"low"`
	High      int     `json:"high"`
	StartS    float64 `json:"start_s"`  // every node started and linked to the bootstrap
	FormS     float64 `json:"form_s"`   // from the first Start until formed
	Form99S   float64 `json:"form99_s"` // until 99% of the nodes were between the marks
	Killed    int     `json:"killed"`   // nodes closed and restarted
	ReformS   float64 `json:"reform_s"` // from the first restart until formed again
	Reform99S float64 `json:"reform99_s"`
	// Degrees at steady state (after forming).
	DegreeMin  int     `json:"degree_min"`
	DegreeMean float64 `json:"degree_mean"`
	DegreeMax  int     `json:"degree_max"`
	PeakFDs    int     `json:"peak_fds"` // descriptors of the process, highest seen while forming
	// Per node at steady state: the process's figure over its figure
	// before the first node, divided by N.
	GoroutinesPerNode float64 `json:"goroutines_per_node"`
	ThreadsPerNode    float64 `json:"threads_per_node"`
	FDsPerNode        float64 `json:"fds_per_node"`
	RSSPerNode        float64 `json:"rss_bytes_per_node"`
	HeapPerNode       float64 `json:"heap_bytes_per_node"`  // HeapInuse
	StackPerNode      float64 `json:"stack_bytes_per_node"` // StackInuse (goroutine stacks)
	IdleCPUPerNode    float64 `json:"idle_cpu_us_per_s_per_node"`
	IdleWindowS       float64 `json:"idle_window_s"`
	// Nodes one process could hold: by descriptors (20,000 less the
	// process's own, over the peak per node while forming), by idle CPU
	// (2 cores).
	FitByFDs int `json:"fit_by_fds"`
	FitByCPU int `json:"fit_by_idle_cpu"`
	// Coverage once formed, and again once re-formed.
	Formed   discCoverage `json:"formed"`
	Reformed discCoverage `json:"reformed"`
	Runs     int          `json:"runs,omitempty"` // with -count: runs the medians come from
	Spread   string       `json:"spread,omitempty"`
}

// discCoverage is one series of broadcasts, one at a time.
type discCoverage struct {
	Broadcasts int     `json:"broadcasts"`
	P50        float64 `json:"coverage_p50"` // share of the other live nodes reached
	P99        float64 `json:"coverage_p99"` // 99% of broadcasts reached at least this share
	Min        float64 `json:"coverage_min"`
	Duplicates int64   `json:"duplicates"`  // handler deliveries of an id the node already had
	TimeP50us  float64 `json:"time_p50_us"` // Broadcast until the last live node had it
	TimeP99us  float64 `json:"time_p99_us"`
	// CopiesPerDelivery: payload copies sent (Σ GossipForwarded) per
	// handler delivery (Σ GossipDelivered) over the series.
	CopiesPerDelivery float64 `json:"copies_per_delivery"`
}

func (c *discCoverage) String() string {
	return fmt.Sprintf("%d bcasts: coverage p50 %.1f%% p99 %.1f%% min %.1f%%, %d dup, time p50 %.1fms p99 %.1fms, %.2f copies/delivery",
		c.Broadcasts, 100*c.P50, 100*c.P99, 100*c.Min, c.Duplicates, c.TimeP50us/1e3, c.TimeP99us/1e3, c.CopiesPerDelivery)
}

// String is the row's figures column.
func (d *discoveryFigures) String() string {
	s := fmt.Sprintf("formed in %.1fs (99%% in %.1fs; all started %.1fs), degree %d..%d mean %.1f; per node: %.1f goroutines, "+
		"%.2f threads, %.1f fds, RSS %s, heap %s, stack %s, idle CPU %.0fµs/s; peak %d fds; "+
		"fit %d nodes by 20k fds, %d by 2 cores idle; [formed] %s; killed %d, re-formed in %.1fs (99%% in %.1fs); [re-formed] %s",
		d.FormS, d.Form99S, d.StartS, d.DegreeMin, d.DegreeMax, d.DegreeMean, d.GoroutinesPerNode, d.ThreadsPerNode, d.FDsPerNode,
		bytesText(d.RSSPerNode), bytesText(d.HeapPerNode), bytesText(d.StackPerNode), d.IdleCPUPerNode, d.PeakFDs,
		d.FitByFDs, d.FitByCPU, &d.Formed, d.Killed, d.ReformS, d.Reform99S, &d.Reformed)
	if d.Spread != "" {
		s += "; spread over " + strconv.Itoa(d.Runs) + " runs: " + d.Spread
	}
	return s
}

// discRecv is one node's record of the broadcasts its handler saw; seen
// is written by the node's one event loop only.
type discRecv struct {
	seen [discMaxSeq / 64]uint64
	dups atomic.Int64
	bad  atomic.Int64
}

// discNet is the network under test.
type discNet struct {
	boot   string // the bootstrap's address
	nodes  []*engine.Node
	recv   []*discRecv
	got    []atomic.Int32 // first deliveries of each sequence number
	target atomic.Int64   // want = seq<<32 | deliveries: signal when reached
	sig    chan struct{}
	// nextPort counts down the listen ports: below the ephemeral range.
	nextPort atomic.Int32
}

func (d *discNet) handler(rc *discRecv) proto.Handler {
	return proto.HandlerFunc(func(ctx proto.Context, msg []byte) ([]byte, error) {
		if ctx.Kind() != codec.KindGossip {
			return nil, nil
		}
		if len(msg) < 8 || binary.LittleEndian.Uint64(msg) >= discMaxSeq {
			rc.bad.Add(1)
			return nil, nil
		}
		seq := binary.LittleEndian.Uint64(msg)
		w, bit := seq>>6, uint64(1)<<(seq&63)
		if rc.seen[w]&bit != 0 {
			rc.dups.Add(1)
			return nil, nil
		}
		rc.seen[w] |= bit
		c := d.got[seq].Add(1)
		if t := d.target.Load(); uint64(t>>32) == seq && int64(c) == t&0xffffffff {
			select {
			case d.sig <- struct{}{}:
			default:
			}
		}
		return nil, nil
	})
}

// start starts node i on listen, or "" for the next free port below the
// ephemeral range, and links it to the bootstrap (node 0 only listens). A
// restart reuses i's record slot with a fresh record. Below the ephemeral
// range, no connection of this process takes a killed node's port as its
// local port before the node is restarted on it (that failed 2 of 200
// restarts once).
func (d *discNet) start(i int, listen string) error {
	rc := &discRecv{}
	opts := []engine.Option{engine.WithEventLoops(1), engine.WithMinLinks(discLow), engine.WithMaxLinks(discHigh)}
	var nd *engine.Node
	var err error
	pprof.Do(context.Background(), pprof.Labels("side", "server", "impl", implAntnet), func(context.Context) {
		for {
			addr := listen
			if addr == "" {
				addr = fmt.Sprintf("127.0.0.1:%d", d.nextPort.Add(-1))
			}
			nd, err = engine.New(fmt.Sprintf("d%04d", i), addr, d.handler(rc), opts...)
			if err == nil {
				err = nd.Start()
			}
			if listen != "" || !errors.Is(err, syscall.EADDRINUSE) || d.nextPort.Load() <= 1024 {
				return
			}
		}
	})
	if err != nil {
		return fmt.Errorf("node %d: %w", i, err)
	}
	d.nodes[i], d.recv[i] = nd, rc
	if i == 0 {
		d.boot = nd.Addr()
		return nil
	}
	if err := nd.AddRoute(d.nodes[0].ID().Name, d.boot); err != nil {
		return fmt.Errorf("node %d AddRoute bootstrap: %w", i, err)
	}
	return nil
}

// startAll starts the nodes at idx (on their old ports if listen has them),
// discParallel at a time.
func (d *discNet) startAll(idx []int, listen func(i int) string) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		sem  = make(chan struct{}, discParallel)
	)
	for _, i := range idx {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := d.start(i, listen(i)); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		return fmt.Errorf("%d nodes failed to start or link, first: %w", len(errs), errs[0])
	}
	return nil
}

// closeNodes closes the nodes at idx at once (each Close is graceful).
func (d *discNet) closeNodes(idx []int) error {
	var wg sync.WaitGroup
	errs := make([]error, len(idx))
	for k, i := range idx {
		if d.nodes[i] == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[k] = d.nodes[i].Close()
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (d *discNet) closeAll() error {
	idx := make([]int, len(d.nodes))
	for i := range idx {
		idx[i] = i
	}
	return d.closeNodes(idx)
}

// linkState is what PeerStates says of a node's links.
type linkState struct {
	linked   []string // addresses of the linked peers
	learning int      // learned dials in flight or due
}

func nodeLinks(nd *engine.Node) linkState {
	var s linkState
	for _, p := range nd.PeerStates() {
		switch {
		case p.State == engine.Linked:
			s.linked = append(s.linked, p.ID.Addr)
		case !p.Static && (p.State == engine.Dialing || p.State == engine.BackingOff):
			s.learning++ // a learned peer: redials are for static routes
		}
	}
	return s
}

// formed counts the nodes between the marks with no learned dial in
// flight, and returns the degrees.
func (d *discNet) formed() (int, []linkState) {
	st := make([]linkState, len(d.nodes))
	ok := 0
	for i, nd := range d.nodes {
		st[i] = nodeLinks(nd)
		if l := len(st[i].linked); l >= discLow && l <= discHigh && st[i].learning == 0 {
			ok++
		}
	}
	return ok, st
}

// components counts the connected components of the link graph.
func (d *discNet) components(st []linkState) int {
	index := make(map[string]int, len(d.nodes))
	for i, nd := range d.nodes {
		index[nd.Addr()] = i
	}
	parent := make([]int, len(d.nodes))
	for i := range parent {
		parent[i] = i
	}
	find := func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	comps := len(d.nodes)
	for i, s := range st {
		for _, a := range s.linked {
			if j, ok := index[a]; ok {
				if ri, rj := find(i), find(j); ri != rj {
					parent[ri] = rj
					comps--
				}
			}
		}
	}
	return comps
}

// formation is how a network formed.
type formation struct {
	took, took99 time.Duration // every node formed; 99% of them
	st           []linkState
	peakFDs      int // the process's descriptors, highest seen
}

// waitFormed polls until the network is formed or timeout passes.
func (d *discNet) waitFormed(t0 time.Time, timeout time.Duration) (formation, error) {
	var f formation
	deadline := t0.Add(timeout)
	for {
		f.peakFDs = max(f.peakFDs, countFDs())
		ok, st := d.formed()
		f.st = st
		if f.took99 == 0 && ok >= len(d.nodes)*99/100 {
			f.took99 = time.Since(t0)
		}
		if ok == len(d.nodes) {
			f.took = time.Since(t0)
			return f, nil
		}
		if time.Now().After(deadline) {
			out, short, learning := 0, 0, 0
			for _, s := range st {
				switch l := len(s.linked); {
				case l < discLow:
					short++
				case l > discHigh:
					out++
				}
				if s.learning > 0 {
					learning++
				}
			}
			return f, fmt.Errorf("not formed in %v: %d nodes below %d links, %d above %d, %d with learned dials in flight; %d components",
				timeout, short, discLow, out, discHigh, learning, d.components(st))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// coverage broadcasts k times from random live origins, one at a time.
func (d *discNet) coverage(rng *rand.Rand, seq *int, k int) (discCoverage, error) {
	var c discCoverage
	var shares []float64
	var times []time.Duration
	msg := make([]byte, 64)
	others := len(d.nodes) - 1
	dups0 := d.dups()
	fwd0, got0 := d.gossipCounts()
	for range k {
		if *seq >= discMaxSeq {
			return c, errors.New("sequence numbers exhausted")
		}
		s := uint64(*seq)
		*seq++
		o := rng.IntN(len(d.nodes))
		binary.LittleEndian.PutUint64(msg, s)
		select {
		case <-d.sig: // a stale signal
		default:
		}
		d.target.Store(int64(s)<<32 | int64(others))
		t0 := time.Now()
		if _, err := d.nodes[o].Broadcast(msg); err != nil {
			return c, fmt.Errorf("broadcast from node %d: %w", o, err)
		}
		timer := time.NewTimer(discBcastWait)
		for int(d.got[s].Load()) < others {
			select {
			case <-d.sig:
				continue
			case <-timer.C:
			}
			break
		}
		timer.Stop()
		got := int(d.got[s].Load())
		if got >= others {
			times = append(times, time.Since(t0))
		}
		shares = append(shares, float64(got)/float64(others))
	}
	c.Broadcasts = k
	c.Duplicates = d.dups() - dups0
	if fwd, got := d.gossipCounts(); got > got0 {
		c.CopiesPerDelivery = float64(fwd-fwd0) / float64(got-got0)
	}
	slices.Sort(shares)
	slices.Sort(times)
	c.Min = shares[0]
	c.P50 = shares[len(shares)/2]
	c.P99 = shares[len(shares)/100] // the 1st percentile from the bottom
	if len(times) > 0 {
		c.TimeP50us = float64(times[len(times)/2].Microseconds())
		c.TimeP99us = float64(times[min(len(times)-1, len(times)*99/100)].Microseconds())
	}
	return c, nil
}

// gossipCounts sums the live nodes' payload copies sent and broadcasts
// delivered.
func (d *discNet) gossipCounts() (forwarded, delivered uint64) {
	for _, nd := range d.nodes {
		st := nd.Stats()
		forwarded += st.GossipForwarded
		delivered += st.GossipDelivered
	}
	return forwarded, delivered
}

func (d *discNet) dups() int64 {
	var n int64
	for _, rc := range d.recv {
		n += rc.dups.Load() + rc.bad.Load()
	}
	return n
}

// ephemeralLow is the lowest port the kernel picks for a connection's
// local end (ip_local_port_range), 32768 if unknown.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if f := strings.Fields(string(b)); err == nil && len(f) == 2 {
		if lo, err := strconv.Atoi(f[0]); err == nil && lo > 2048 {
			return lo
		}
	}
	return 32768
}

// procSnap is the process's figures the per-node costs are computed from.
type procSnap struct {
	goroutines, threads, fds int
	rss, heap, stack         uint64
}

func snapProc() procSnap {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s := procSnap{goroutines: countGoroutines(), fds: countFDs(), heap: ms.HeapInuse, stack: ms.StackInuse}
	s.threads, s.rss = procStatus()
	return s
}

// procStatus reads Threads and VmRSS from /proc/self/status.
func procStatus() (threads int, rss uint64) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ":")
		fs := strings.Fields(v)
		if len(fs) == 0 {
			continue
		}
		switch k {
		case "Threads":
			threads, _ = strconv.Atoi(fs[0])
		case "VmRSS": // in kB
			kb, _ := strconv.ParseUint(fs[0], 10, 64)
			rss = kb << 10
		}
	}
	return threads, rss
}

// discoveryRun forms the network, measures it at rest, broadcasts, kills
// and restarts a fifth of it, and broadcasts again.
func discoveryRun(n int, cfg *config, r *Result) error {
	if n <= discLow || n > 9999 { // a node needs discLow others to link with
		return fmt.Errorf("discovery: %d nodes, want %d..9999", n, discLow+1)
	}
	idle, formTimeout, perPhase := 3*time.Second, 120*time.Second, 50
	if cfg.quick {
		idle, formTimeout, perPhase = 2*time.Second, 30*time.Second, 20
	}
	fig := &discoveryFigures{Low: discLow, High: discHigh, IdleWindowS: idle.Seconds()}
	r.Nodes = n

	before := snapProc()
	d := &discNet{nodes: make([]*engine.Node, n), recv: make([]*discRecv, n), got: make([]atomic.Int32, discMaxSeq),
		sig: make(chan struct{}, 1)}
	defer closeNamed("nodes", d.closeAll, r)
	t0 := time.Now()
	d.nextPort.Store(int32(ephemeralLow()))
	if err := d.start(0, ""); err != nil {
		return err
	}
	rest := make([]int, n-1)
	for i := range rest {
		rest[i] = i + 1
	}
	if err := d.startAll(rest, func(int) string { return "" }); err != nil {
		return err
	}
	fig.StartS = time.Since(t0).Seconds()
	fm, err := d.waitFormed(t0, formTimeout)
	fig.PeakFDs = fm.peakFDs
	peak, st := fm.peakFDs, fm.st
	if err != nil {
		return fmt.Errorf("forming: %w", err)
	}
	fig.FormS, fig.Form99S = fm.took.Seconds(), fm.took99.Seconds()
	r.Discovery = fig // from here on a failure leaves the figures so far
	if c := d.components(st); c != 1 {
		return fmt.Errorf("formed into %d components", c)
	}
	fig.DegreeMin, fig.DegreeMax = discHigh, 0
	sum := 0
	for _, s := range st {
		l := len(s.linked)
		fig.DegreeMin, fig.DegreeMax = min(fig.DegreeMin, l), max(fig.DegreeMax, l)
		sum += l
	}
	fig.DegreeMean = float64(sum) / float64(n)

	// At rest: nothing is sent but keepalives; the tickers run.
	cpu0, w0 := processCPU(), time.Now()
	time.Sleep(idle)
	cpu, wall := processCPU()-cpu0, time.Since(w0)
	fig.IdleCPUPerNode = float64(cpu.Microseconds()) / wall.Seconds() / float64(n)
	if fig.IdleCPUPerNode > 0 {
		fig.FitByCPU = int(discCores * 1e6 / fig.IdleCPUPerNode)
	}
	after := snapProc()
	per := func(a, b uint64) float64 { return (float64(a) - float64(b)) / float64(n) }
	fig.GoroutinesPerNode = float64(after.goroutines-before.goroutines) / float64(n)
	fig.ThreadsPerNode = float64(after.threads-before.threads) / float64(n)
	fig.FDsPerNode = float64(after.fds-before.fds) / float64(n)
	fig.RSSPerNode = per(after.rss, before.rss)
	fig.HeapPerNode = per(after.heap, before.heap)
	fig.StackPerNode = per(after.stack, before.stack)
	if peakPer := float64(peak-before.fds) / float64(n); peakPer > 0 {
		fig.FitByFDs = int(float64(discFDLimit-before.fds) / peakPer)
	}
	r.Goroutines = after.goroutines - before.goroutines

	rng := rand.New(rand.NewPCG(discSeed, uint64(n)))
	seq := 0
	if fig.Formed, err = d.coverage(rng, &seq, perPhase); err != nil {
		return fmt.Errorf("coverage: %w", err)
	}

	// Kill a fifth (never the bootstrap: the restarted nodes are told only
	// it), restart them on their ports.
	victims := rng.Perm(n - 1)[:max(n/discKillShare, 1)]
	addrs := make(map[int]string, len(victims))
	for k := range victims {
		victims[k]++
		addrs[victims[k]] = d.nodes[victims[k]].Addr()
	}
	fig.Killed = len(victims)
	if err := d.closeNodes(victims); err != nil {
		return fmt.Errorf("killing: %w", err)
	}
	t1 := time.Now()
	if err := d.startAll(victims, func(i int) string { return addrs[i] }); err != nil {
		return fmt.Errorf("restarting: %w", err)
	}
	fm, err = d.waitFormed(t1, formTimeout)
	if err != nil {
		return fmt.Errorf("re-forming: %w", err)
	}
	fig.ReformS, fig.Reform99S = fm.took.Seconds(), fm.took99.Seconds()
	if c := d.components(fm.st); c != 1 {
		return fmt.Errorf("re-formed into %d components", c)
	}
	if fig.Reformed, err = d.coverage(rng, &seq, perPhase); err != nil {
		return fmt.Errorf("coverage after restarts: %w", err)
	}

	r.Broadcasts = int64(seq)
	dups := fig.Formed.Duplicates + fig.Reformed.Duplicates
	r.Duplicates = &dups
	all := fig.Formed.Min == 1 && fig.Reformed.Min == 1
	r.ReachedAll = &all
	r.CoverageP50us, r.CoverageP99us = fig.Reformed.TimeP50us, fig.Reformed.TimeP99us
	var errs []error
	if !all {
		errs = append(errs, fmt.Errorf("broadcasts missed nodes: coverage min %.1f%% formed, %.1f%% re-formed",
			100*fig.Formed.Min, 100*fig.Reformed.Min))
	}
	if dups > 0 {
		errs = append(errs, fmt.Errorf("%d duplicate or bad deliveries to handlers", dups))
	}
	return errors.Join(errs...)
}

// foldDiscovery is the median of each figure over the runs of a row, with
// the spread of the main ones.
func foldDiscovery(rs []Result) *discoveryFigures {
	var fs []*discoveryFigures
	for i := range rs {
		if rs[i].Discovery != nil && rs[i].Error == "" {
			fs = append(fs, rs[i].Discovery)
		}
	}
	if len(fs) == 0 {
		return nil
	}
	if len(fs) == 1 {
		return fs[0]
	}
	med := func(f func(*discoveryFigures) float64) (m, lo, hi float64) {
		xs := make([]float64, len(fs))
		for i, x := range fs {
			xs[i] = f(x)
		}
		slices.Sort(xs)
		m = xs[len(xs)/2]
		if len(xs)%2 == 0 {
			m = (xs[len(xs)/2-1] + m) / 2
		}
		return m, xs[0], xs[len(xs)-1]
	}
	out := *fs[0]
	out.Runs = len(fs)
	var spread []string
	for _, x := range []struct {
		name string
		dst  *float64
		f    func(*discoveryFigures) float64
		unit string
	}{
		{"form", &out.FormS, func(d *discoveryFigures) float64 { return d.FormS }, "s"},
		{"re-form", &out.ReformS, func(d *discoveryFigures) float64 { return d.ReformS }, "s"},
		{"form 99%", &out.Form99S, func(d *discoveryFigures) float64 { return d.Form99S }, "s"},
		{"re-form 99%", &out.Reform99S, func(d *discoveryFigures) float64 { return d.Reform99S }, "s"},
		{"start", &out.StartS, func(d *discoveryFigures) float64 { return d.StartS }, "s"},
		{"idle CPU", &out.IdleCPUPerNode, func(d *discoveryFigures) float64 { return d.IdleCPUPerNode }, "µs/s"},
		{"RSS", &out.RSSPerNode, func(d *discoveryFigures) float64 { return d.RSSPerNode / 1024 }, "KiB"},
		{"heap", &out.HeapPerNode, func(d *discoveryFigures) float64 { return d.HeapPerNode / 1024 }, "KiB"},
		{"fds", &out.FDsPerNode, func(d *discoveryFigures) float64 { return d.FDsPerNode }, ""},
		{"threads", &out.ThreadsPerNode, func(d *discoveryFigures) float64 { return d.ThreadsPerNode }, ""},
		{"goroutines", &out.GoroutinesPerNode, func(d *discoveryFigures) float64 { return d.GoroutinesPerNode }, ""},
		{"stack", &out.StackPerNode, func(d *discoveryFigures) float64 { return d.StackPerNode }, ""},
		{"mean degree", &out.DegreeMean, func(d *discoveryFigures) float64 { return d.DegreeMean }, ""},
		{"formed time p50", &out.Formed.TimeP50us, func(d *discoveryFigures) float64 { return d.Formed.TimeP50us / 1e3 }, "ms"},
		{"re-formed time p50", &out.Reformed.TimeP50us, func(d *discoveryFigures) float64 { return d.Reformed.TimeP50us / 1e3 }, "ms"},
		{"formed time p99", &out.Formed.TimeP99us, func(d *discoveryFigures) float64 { return d.Formed.TimeP99us / 1e3 }, "ms"},
		{"re-formed time p99", &out.Reformed.TimeP99us, func(d *discoveryFigures) float64 { return d.Reformed.TimeP99us / 1e3 }, "ms"},
	} {
		m, lo, hi := med(x.f)
		switch x.unit {
		case "KiB":
			*x.dst = m * 1024
		case "ms":
			*x.dst = m * 1e3
		default:
			*x.dst = m
		}
		if x.name != "stack" {
			spread = append(spread, fmt.Sprintf("%s %.3g..%.3g%s", x.name, lo, hi, x.unit))
		}
	}
	for _, f := range fs { // coverage and duplicates: the worst run
		for _, p := range [][2]*discCoverage{{&out.Formed, &f.Formed}, {&out.Reformed, &f.Reformed}} {
			p[0].Min, p[0].P99, p[0].P50 = min(p[0].Min, p[1].Min), min(p[0].P99, p[1].P99), min(p[0].P50, p[1].P50)
			p[0].Duplicates = max(p[0].Duplicates, p[1].Duplicates)
		}
		out.PeakFDs = max(out.PeakFDs, f.PeakFDs)
		out.DegreeMin, out.DegreeMax = min(out.DegreeMin, f.DegreeMin), max(out.DegreeMax, f.DegreeMax)
		out.FitByFDs, out.FitByCPU = min(out.FitByFDs, f.FitByFDs), min(out.FitByCPU, f.FitByCPU)
	}
	out.Spread = strings.Join(spread, ", ")
	return &out
}
