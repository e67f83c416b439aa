// Package benchkit holds what the bench suite (bench) and the side-by-side
// with go-libp2p (bench/peers, a module of its own) both need: row
// parameters, medians, and this process's memory, CPU and descriptor
// limit. It has no network code.
package benchkit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// KV is one row parameter: a name and its value. An alias of an unnamed
// struct, so that callers write {"peers", 64} without field names.
type KV = struct {
	K string
	V any
}

// Params are a row's parameters in display order. They print as
// "k=v k=v" and marshal to a JSON object with the keys in that order.
type Params []KV

// String is the parameters as "k=v", space separated.
func (p Params) String() string {
	var b strings.Builder
	for i, x := range p {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%v", x.K, x.V)
	}
	return b.String()
}

// MarshalJSON writes the parameters as one object, keys in order.
func (p Params) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, x := range p {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(x.K)
		v, err := json.Marshal(x.V)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// MedianOf is the median of xs, which it sorts in place; xs must not be
// empty.
func MedianOf(xs []float64) float64 {
	slices.Sort(xs)
	n := len(xs)
	return (xs[(n-1)/2] + xs[n/2]) / 2
}

// SplitComma splits a comma separated list, trimming blanks and dropping
// empty items.
func SplitComma(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// MemSnap is this process's memory and goroutines at one instant.
type MemSnap struct {
	RSS, Heap, Stack uint64 // bytes: resident set, Go HeapInuse, StackInuse
	Goroutines       int
}

// SnapMem reads the process's memory after two full collections (a
// sync.Pool's items survive one) with the freed pages returned to the OS:
// it costs two GCs, so call it outside timed windows.
func SnapMem() MemSnap {
	runtime.GC()
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return MemSnap{RSS: ReadRSS(), Heap: ms.HeapInuse, Stack: ms.StackInuse, Goroutines: runtime.NumGoroutine()}
}

// ReadRSS is the resident set size from /proc/self/statm, in bytes (0
// where there is no /proc).
func ReadRSS() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseUint(f[1], 10, 64)
	return pages * uint64(os.Getpagesize())
}

// ProcessCPU is the user + system CPU time this process has used.
func ProcessCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// RaiseNoFile lifts the open-files soft limit to the hard limit (a
// benchmark holding both ends of thousands of connections needs it) and
// returns the limit in force; a failure is reported on stderr.
func RaiseNoFile() uint64 {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0
	}
	if rl.Cur < rl.Max {
		rl.Cur = rl.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
			fmt.Fprintf(os.Stderr, "raise RLIMIT_NOFILE: %v\n", err)
			_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl)
		}
	}
	return rl.Cur
}

// Select returns the items of all named in only (a comma separated list of
// names, empty for every item), in all's order whatever only's; an unknown
// name is an error listing the known ones.
func Select[T any](all []T, name func(T) string, only string) ([]T, error) {
	if only == "" {
		return all, nil
	}
	known := make([]string, len(all))
	for i, x := range all {
		known[i] = name(x)
	}
	want := make(map[string]bool)
	for _, n := range SplitComma(only) {
		if !slices.Contains(known, n) {
			return nil, fmt.Errorf("unknown scenario %q (have %s)", n, strings.Join(known, ", "))
		}
		want[n] = true
	}
	var out []T
	for _, x := range all {
		if want[name(x)] {
			out = append(out, x)
		}
	}
	return out, nil
}
