package benchkit

import (
	"encoding/json"
	"testing"
)

func TestParams(t *testing.T) {
	p := Params{{"peers", 64}, {"client", "proc"}, {"a", 1.5}}
	if got, want := p.String(), "peers=64 client=proc a=1.5"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
	b, err := json.Marshal(struct{ P Params }{p})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), `{"P":{"peers":64,"client":"proc","a":1.5}}`; got != want {
		t.Errorf("JSON = %s, want %s", got, want)
	}
	if _, err := json.Marshal(Params{{"bad", func() {}}}); err == nil {
		t.Error("a value JSON cannot hold marshalled without error")
	}
}

func TestMedianOf(t *testing.T) {
	for _, tt := range []struct {
		xs   []float64
		want float64
	}{{[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := MedianOf(tt.xs); got != tt.want {
			t.Errorf("MedianOf = %v, want %v", got, tt.want)
		}
	}
}

func TestSplitComma(t *testing.T) {
	got := SplitComma(" a, ,b,,c ")
	if len(got) != 3 || got[0] != "a" || got[1] != "b" || got[2] != "c" {
		t.Errorf("SplitComma = %q", got)
	}
}

// The process's own figures are there and move the right way.
func TestProcessFigures(t *testing.T) {
	s := SnapMem()
	if s.RSS == 0 || s.Heap == 0 || s.Goroutines < 1 {
		t.Fatalf("SnapMem = %+v", s)
	}
	c0 := ProcessCPU()
	x := 0
	for i := 0; ProcessCPU()-c0 <= 0 && i < 1e9; i++ {
		x += i
	}
	if ProcessCPU() <= c0 {
		t.Errorf("ProcessCPU did not grow (%d)", x)
	}
	if RaiseNoFile() == 0 {
		t.Error("RaiseNoFile = 0")
	}
}

func TestSelect(t *testing.T) {
	all := []string{"reqrep", "idle", "broadcast"}
	id := func(s string) string { return s }
	got, err := Select(all, id, "broadcast, reqrep")
	if err != nil || len(got) != 2 || got[0] != "reqrep" || got[1] != "broadcast" {
		t.Errorf("Select = %q, %v; want the table's order", got, err)
	}
	if got, err := Select(all, id, ""); err != nil || len(got) != 3 {
		t.Errorf("Select of nothing = %q, %v; want all", got, err)
	}
	if _, err := Select(all, id, "reqrep,nope"); err == nil {
		t.Error("an unknown name is not an error")
	}
}
