package connmgr

import (
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func links(n int) []Link {
	var ls []Link
	for i := range n {
		ls = append(ls, Link{
			Addr:  fmt.Sprintf("127.0.0.%d:1", i),
			IP:    netip.AddrFrom4([4]byte{127, 0, 0, byte(i)}),
			Since: t0.Add(-time.Hour),
			Score: int64(100 + i),
		})
	}
	return ls
}

func TestTrimToHighMark(t *testing.T) {
	c := Config{Low: 3, High: 5, Grace: time.Minute}
	if got := c.Trim(links(5), t0); got != nil {
		t.Fatalf("at the high mark: %v", got)
	}
	ls := links(7)
	ls[0].Static = true             // lowest score, but protected
	ls[1].Since = t0                // in its grace period
	ls[4].Score, ls[5].Score = 1, 1 // least useful; 5 is younger
	ls[5].Since = t0.Add(-2 * time.Minute)
	got := c.Trim(ls, t0)
	want := []string{ls[5].Addr, ls[4].Addr} // 7 links, high 5: the two least useful
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("trim %v, want %v", got, want)
	}
	// Nothing retirable: nothing retired.
	for i := range ls {
		ls[i].Static = true
	}
	if got := c.Trim(ls, t0); len(got) != 0 {
		t.Fatalf("retired statics: %v", got)
	}
}

func TestWantAndAdmit(t *testing.T) {
	c := Config{Low: 4, High: 8, MaxInbound: 2, MaxPerIP: 1}
	if c.Want(1, 1) != 2 || c.Want(5, 0) != 0 {
		t.Fatal("want")
	}
	ls := links(3)
	ls[0].Inbound = true
	if err := c.Admit(ls, netip.MustParseAddr("127.0.0.9"), false); err != nil {
		t.Fatal(err)
	}
	if err := c.Admit(ls, netip.MustParseAddr("127.0.0.1"), false); !errors.Is(err, ErrTooManyPerIP) {
		t.Fatalf("same IP: %v", err)
	}
	ls[1].Inbound = true
	if err := c.Admit(ls, netip.MustParseAddr("127.0.0.9"), false); !errors.Is(err, ErrTooManyInbound) {
		t.Fatalf("inbound cap: %v", err)
	}
	if err := c.Admit(ls, netip.MustParseAddr("127.0.0.1"), true); err != nil {
		t.Fatalf("static refused: %v", err)
	}
	if (Config{Low: 5, High: 4}).Validate() == nil || c.Validate() != nil {
		t.Fatal("validate")
	}
}
