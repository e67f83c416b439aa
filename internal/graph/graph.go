// Package graph builds the test networks the benchmarks link nodes into.
package graph

import "math/rand/v2"

// Random returns the edges of a connected graph on n vertices with average
// degree about deg, each edge once as {lower, higher}: a random spanning
// tree, then random extra edges. The same seed gives the same graph. It
// costs O(n·deg) time and memory.
func Random(n, deg int, seed uint64) [][2]int {
	rng := rand.New(rand.NewPCG(seed, 0x62636173))
	want := min(n*deg/2, n*(n-1)/2)
	has := make(map[[2]int]bool)
	var edges [][2]int
	add := func(a, b int) bool {
		if a == b {
			return false
		}
		if a > b {
			a, b = b, a
		}
		if has[[2]int{a, b}] {
			return false
		}
		has[[2]int{a, b}] = true
		edges = append(edges, [2]int{a, b})
		return true
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

// Degrees returns each vertex's degree in edges.
func Degrees(n int, edges [][2]int) []int {
	d := make([]int, n)
	for _, e := range edges {
		d[e[0]]++
		d[e[1]]++
	}
	return d
}
