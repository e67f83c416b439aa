package graph

import "testing"

// Random gives a connected simple graph with the asked mean degree, the
// same for the same seed.
func TestRandomConnectedSimple(t *testing.T) {
	for _, n := range []int{2, 7, 100, 1000} {
		edges := Random(n, 6, 1)
		if want := min(n*6/2, n*(n-1)/2); len(edges) != want {
			t.Fatalf("n=%d: %d edges, want %d", n, len(edges), want)
		}
		parent := make([]int, n)
		for i := range parent {
			parent[i] = i
		}
		var find func(int) int
		find = func(x int) int {
			if parent[x] != x {
				parent[x] = find(parent[x])
			}
			return parent[x]
		}
		seen := make(map[[2]int]bool)
		for _, e := range edges {
			if e[0] >= e[1] || e[1] >= n || seen[e] {
				t.Fatalf("n=%d: bad or repeated edge %v", n, e)
			}
			seen[e] = true
			parent[find(e[0])] = find(e[1])
		}
		for i := range n {
			if find(i) != find(0) {
				t.Fatalf("n=%d: vertex %d not connected to 0", n, i)
			}
		}
		sum := 0
		for _, d := range Degrees(n, edges) {
			sum += d
		}
		if sum != 2*len(edges) {
			t.Fatalf("n=%d: degrees sum to %d, want %d", n, sum, 2*len(edges))
		}
	}
	a, b := Random(50, 6, 3), Random(50, 6, 3)
	for i := range a {
		if a[i] != b[i] {
			t.Fatal("same seed, different graphs")
		}
	}
}
