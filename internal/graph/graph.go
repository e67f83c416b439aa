// Package graph builds the test topologies the tests, the simulations and
// the bench share.
package graph

import "math/rand/v2"

// Random returns the edges of a connected graph on n vertices with an
// average degree of about avg (capped at the complete graph): a random
// spanning tree, then random extra edges. Each edge is {a, b} with a < b.
func Random(n int, avg float64, rng *rand.Rand) [][2]int {
	want := min(int(float64(n)*avg/2+0.5), n*(n-1)/2)
	has := make(map[[2]int]bool, want)
	edges := make([][2]int, 0, want)
	add := func(a, b int) {
		if a > b {
			a, b = b, a
		}
		if a != b && !has[[2]int{a, b}] {
			has[[2]int{a, b}] = true
			edges = append(edges, [2]int{a, b})
		}
	}
	perm := rng.Perm(n)
	for i := 1; i < n; i++ {
		add(perm[i], perm[rng.IntN(i)])
	}
	for len(edges) < want {
		add(rng.IntN(n), rng.IntN(n))
	}
	return edges
}

// Seeded is Random with mean degree deg from seed: the same seed gives the
// same graph (the bench's graphs, and bench/peers' beside them).
func Seeded(n, deg int, seed uint64) [][2]int {
	return Random(n, float64(deg), rand.New(rand.NewPCG(seed, 0x62636173)))
}

// Degrees returns each vertex's degree in edges.
func Degrees(n int, edges [][2]int) []int {
	d := make([]int, n)
	for _, e := range edges {
		d[e[0]]++
		d[e[1]]++
	}
	return d
}

// Connected reports whether the edges join all n vertices.
func Connected(n int, edges [][2]int) bool {
	if n == 0 {
		return true
	}
	adj := Adjacency(n, edges)
	seen := make([]bool, n)
	stack := []int{0}
	seen[0] = true
	count := 1
	for len(stack) > 0 {
		v := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, w := range adj[v] {
			if !seen[w] {
				seen[w] = true
				count++
				stack = append(stack, w)
			}
		}
	}
	return count == n
}

// Adjacency returns each vertex's neighbours.
func Adjacency(n int, edges [][2]int) [][]int {
	adj := make([][]int, n)
	for _, e := range edges {
		adj[e[0]] = append(adj[e[0]], e[1])
		adj[e[1]] = append(adj[e[1]], e[0])
	}
	return adj
}

// Distances returns each vertex's hop count from src (-1: unreachable).
func Distances(n int, edges [][2]int, src int) []int {
	adj := Adjacency(n, edges)
	d := make([]int, n)
	for i := range d {
		d[i] = -1
	}
	d[src] = 0
	q := []int{src}
	for len(q) > 0 {
		v := q[0]
		q = q[1:]
		for _, w := range adj[v] {
			if d[w] < 0 {
				d[w] = d[v] + 1
				q = append(q, w)
			}
		}
	}
	return d
}
