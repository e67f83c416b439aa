package graph

import (
	"math/rand/v2"
	"testing"
)

func TestRandomIsConnectedWithTheDegreeAsked(t *testing.T) {
	for _, n := range []int{2, 10, 1000} {
		e := Random(n, 6, rand.New(rand.NewPCG(uint64(n), 1)))
		if !Connected(n, e) {
			t.Fatalf("n=%d: not connected", n)
		}
		want := min(n*3, n*(n-1)/2)
		if len(e) != want {
			t.Fatalf("n=%d: %d edges, want %d", n, len(e), want)
		}
		seen := map[[2]int]bool{}
		for _, x := range e {
			if x[0] >= x[1] || seen[x] {
				t.Fatalf("n=%d: edge %v repeated or not ordered", n, x)
			}
			seen[x] = true
		}
	}
}

func TestDistances(t *testing.T) {
	// a path 0-1-2-3 and a lone vertex 4
	d := Distances(5, [][2]int{{0, 1}, {1, 2}, {2, 3}}, 0)
	want := []int{0, 1, 2, 3, -1}
	for i := range want {
		if d[i] != want[i] {
			t.Fatalf("distances %v, want %v", d, want)
		}
	}
	if Connected(5, [][2]int{{0, 1}, {1, 2}, {2, 3}}) {
		t.Fatal("a graph with a lone vertex reported connected")
	}
}

func TestSeededIsRepeatable(t *testing.T) {
	a, b := Seeded(100, 6, 1), Seeded(100, 6, 1)
	if len(a) != len(b) {
		t.Fatalf("%d and %d edges from one seed", len(a), len(b))
	}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("edge %d: %v and %v from one seed", i, a[i], b[i])
		}
	}
	sum := 0
	for _, d := range Degrees(100, a) {
		sum += d
	}
	if sum != 2*len(a) {
		t.Fatalf("degrees sum to %d, want %d", sum, 2*len(a))
	}
}
