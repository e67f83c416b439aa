package main

import (
	"strings"
	"testing"
)

func TestRing(t *testing.T) {
	var out strings.Builder
	if err := run(&out, 6, []string{"a", "b"}, strings.NewReader("typed line\n\n")); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, line := range []string{`"a"`, `"b"`, `"typed line"`} {
		if c := strings.Count(out.String(), "got "+line); c != 5 {
			t.Fatalf("%s delivered %d times, want 5:\n%s", line, c, out.String())
		}
	}
	if err := run(&out, 2, nil, nil); err == nil {
		t.Fatal("a 2-peer ring was accepted")
	}
}
