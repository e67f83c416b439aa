package main

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
)

// freeBase returns a port p such that p, p+1 and p+2 were free just now.
// It looks below the kernel's ephemeral range, where the outgoing
// connections of tests running beside this one do not take ports: three
// consecutive free ports are rare inside that range on a busy machine.
func freeBase(t *testing.T) int {
	t.Helper()
	low := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if v, err := strconv.Atoi(f[0]); err == nil {
				low = v
			}
		}
	}
	const from = 10000
	if low-from < 100 {
		low = 65000 // no room below the range: search above 10000 anyway
	}
	for range 200 {
		base := from + rand.IntN(low-from-3)
		var ls []net.Listener
		for i := range 3 {
			l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(base+i))
			if err != nil {
				break
			}
			ls = append(ls, l)
		}
		for _, l := range ls {
			l.Close()
		}
		if len(ls) == 3 {
			return base
		}
	}
	t.Fatal("no three consecutive free ports")
	return 0
}

func TestRun(t *testing.T) {
	var out bytes.Buffer
	var err error
	for range 3 { // another process may take a port between freeBase and run
		out.Reset()
		if err = run(&out, freeBase(t)); !errors.Is(err, errListen) {
			break
		}
	}
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	steps := []string{
		"luda -> yoghurt  connect-req",
		"yoghurt -> luda  connect-resp",
		"luda -> yoghurt  get-req",
		"yoghurt -> luda  get-resp",
		"luda -> yoghurt  fetch-req",
		"yoghurt -> luda  fetch-resp",
		"luda -> yoghurt  notice-req",
		"yoghurt -> luda  notice-resp",
		"luda  done",
	}
	text := out.String()
	short, persistent, ok := strings.Cut(text, "== persistent mode ==")
	if !ok || !strings.HasPrefix(short, "== short mode ==") {
		t.Fatalf("missing mode sections:\n%s", text)
	}
	for name, section := range map[string]string{"short": short, "persistent": persistent} {
		rest := section
		for _, s := range steps {
			i := strings.Index(rest, s+"\n")
			if i < 0 {
				t.Fatalf("%s mode: step %q missing or out of order:\n%s", name, s, section)
			}
			rest = rest[i+len(s):]
		}
	}
	if !strings.HasSuffix(text, "all checks passed\n") {
		t.Errorf("no final verdict:\n%s", text)
	}
}

func TestHandle(t *testing.T) {
	p := &Protocol{name: "yoghurt"}
	next := map[string]string{
		GetReq:      GetResp,
		FetchReq:    FetchResp,
		NoticeReq:   NoticeResp,
		ConnectResp: GetReq,
		GetResp:     FetchReq,
		FetchResp:   NoticeReq,
		"dance":     UnknownOp,
	}
	for in, want := range next {
		reply, err := p.Handle(nil, []byte(`{"name":"luda","operation":"`+in+`"}`))
		if err != nil || Op(reply) != want {
			t.Errorf("%s: got %s, %v; want %s", in, reply, err, want)
		}
	}
	// A local connect-req (no context) only answers.
	reply, err := p.Handle(nil, []byte(`{"name":"luda","operation":"connect-req","data":{"addr":"127.0.0.1:1"}}`))
	if err != nil || Op(reply) != ConnectResp {
		t.Errorf("connect-req: got %s, %v", reply, err)
	}
	for _, end := range []string{NoticeResp, UnknownOp} {
		if reply, err := p.Handle(nil, []byte(`{"name":"luda","operation":"`+end+`"}`)); reply != nil || err != nil {
			t.Errorf("%s: got %s, %v; want the end", end, reply, err)
		}
	}
	if reply, err := p.Handle(nil, []byte("{")); !errors.Is(err, ErrMismatchReq) || Op(reply) != UnknownOp {
		t.Errorf("malformed: got %s, %v", reply, err)
	}
	if _, err := p.Handle(nil, []byte(`{"name":"luda","operation":"connect-req","data":1}`)); !errors.Is(err, ErrMismatchData) {
		t.Errorf("bad connect-req data: got %v", err)
	}
}
