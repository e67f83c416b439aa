package pending

import (
	"errors"
	"testing"
)

// TestCompleteCopiesAndSignals: Complete keeps its own copy of the reply
// (the caller's buffer is reused at once) and the error, and signals once.
func TestCompleteCopiesAndSignals(t *testing.T) {
	f := Get()
	if len(f.Done) != 0 || len(f.Reply) != 0 || f.Err != nil {
		t.Fatal("Get returned a future holding an answer")
	}
	buf := []byte("answer")
	f.Complete(buf, nil)
	copy(buf, "XXXXXX") // the loop's read buffer, overwritten by the next frame
	select {
	case <-f.Done:
	default:
		t.Fatal("Complete did not signal")
	}
	if string(f.Reply) != "answer" || f.Err != nil {
		t.Fatalf("reply %q, err %v; want \"answer\", nil", f.Reply, f.Err)
	}
	Put(f)

	g := Get()
	boom := errors.New("boom")
	g.Complete(nil, boom)
	<-g.Done
	if len(g.Reply) != 0 || !errors.Is(g.Err, boom) {
		t.Fatalf("reply %q, err %v; want empty, boom", g.Reply, g.Err)
	}
	Put(g)
}

// TestPutClears: a future back from the pool holds neither the last
// answer's bytes nor its error, keeps its reply's array, and its timer is
// stopped and works when Reset.
func TestPutClears(t *testing.T) {
	f := Get()
	f.Complete([]byte("a reply of some length"), errors.New("boom"))
	<-f.Done
	Put(f)
	if f.Err != nil || len(f.Reply) != 0 || cap(f.Reply) == 0 {
		t.Fatalf("after Put: err %v, reply %q (cap %d)", f.Err, f.Reply, cap(f.Reply))
	}
}
