package main

import (
	"fmt"
	"runtime"
	"slices"
	"sync"

	"github.com/antnet-p2p/antnet/engine"
	"github.com/antnet-p2p/antnet/secure"
)

// secure: the secure column of reqrep. The raw load generator does not
// speak Noise, so both rows of a group are node to node: P client nodes,
// K calling goroutines on each, against one server node; antnet-secure
// gives every node (server and clients) its own identity.

const secureDescription = "P client engine.Nodes × K goroutines on each, one blocking DispatchAppend at a time per goroutine, " +
	"against one server node with an echo handler (client nodes: GOMAXPROCS event loops when P=1, one each otherwise); " +
	"antnet-secure: every node built WithIdentity(secure.Generate()) (Noise XX; AES-256-GCM with AES hardware on both ends, else ChaCha20-Poly1305), " +
	"antnet: the same without identities; the ratio is secure ops/s over plain ops/s in the same group"

func secureCases(cfg *config) []caseSpec {
	var cs []caseSpec
	// Largest payload first: the 4 KiB rows carry the target.
	payloads := slices.Clone(pick(cfg.payload, []int{128, 4096}, []int{4096}, cfg))
	slices.SortFunc(payloads, func(a, b int) int { return b - a })
	for _, s := range payloads {
		for _, p := range pick(cfg.peers, []int{1, 64}, []int{1, 64}, cfg) {
			for _, k := range pick(cfg.inflight, []int{1, 16}, []int{16}, cfg) {
				ps := params{{"client", "node"}, {"peers", p}, {"inflight", k}, {"payload", s}}
				sp := cfg.calls(p*k, s)
				for _, impl := range []string{implAntnet, implAntnetSecure} {
					cs = append(cs, caseSpec{
						scenario: "secure", impl: impl, params: ps, group: ps.String(),
						run: func(r *Result) error { return secureReqRep(impl == implAntnetSecure, p, sp, r) },
					})
				}
			}
		}
	}
	return cs
}

// secureReqRep runs peers client nodes against one server node, all secure
// or all plain; sp.callers goroutines are spread evenly over the clients.
func secureReqRep(secureLinks bool, peers int, sp callSpec, r *Result) error {
	impl := implAntnet
	if secureLinks {
		impl = implAntnetSecure
	}
	s, err := startServer(impl, serverOpts{})
	if err != nil {
		return err
	}
	defer closeServer(s, r)
	loops := runtime.GOMAXPROCS(0)
	if peers > 1 {
		loops = 1
	}
	clients := make([]caller, 0, peers)
	defer func() {
		// In parallel: a Close waits for the node's next 50ms tick.
		var wg sync.WaitGroup
		var mu sync.Mutex
		for _, c := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var nr Result
				closeNamed("client node", c.(*nodeCaller).n.Close, &nr)
				if nr.Note != "" {
					mu.Lock()
					r.addNote(nr.Note)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
	}()
	for i := 0; i < peers; i++ {
		opts := []engine.Option{engine.WithEventLoops(loops)}
		if secureLinks {
			id, err := secure.Generate()
			if err != nil {
				return err
			}
			opts = append(opts, engine.WithIdentity(id))
		}
		n, err := startClientNodeImpl(impl, "server", s.Addr(), opts...)
		if err != nil {
			return fmt.Errorf("client node %d: %w", i, err)
		}
		clients = append(clients, &nodeCaller{n: n, peer: "server@" + s.Addr()})
	}
	per := sp.callers / peers
	m := runCallers(func(i int) caller { return clients[i/per] }, sp)
	m.fill(r)
	return m.err("calls")
}
