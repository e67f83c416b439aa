package upkeep

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/antnet-p2p/antnet/book"
	"github.com/antnet-p2p/antnet/connmgr"
	"github.com/antnet-p2p/antnet/proto"
)

// A fake core: routes in a map, links as flags, dials the test finishes by
// hand, a clock the test moves. Every method fails the test if the
// upkeep's lock is held when it is called: the lock is a leaf, and the
// engine's event loops take it (Lost, LinkUp, LearnedKey) while the tick
// calls the core (a dial's enroll waits for a loop).

type froute struct {
	id      proto.PeerID
	linked  bool
	static  bool
	since   time.Time
	score   int64
	inbound bool
	ip      netip.Addr
}

type fakeDial struct {
	r       *froute
	done    bool
	err     error
	aborted bool
}

func (d *fakeDial) Poll() (bool, error) { return d.done, d.err }
func (d *fakeDial) Abort()              { d.aborted = true }

type fakeCore struct {
	t       *testing.T
	u       *Upkeep[*froute]
	now     time.Time
	routes  map[string]*froute
	dials   []*fakeDial
	dialErr error
	busy    bool // Dial answers ErrDialing
	retired []string
	forgot  []string
	asked   []string
	nextID  uint64
	links   int // calls of Links
}

func newFake(t *testing.T, cfg Config) *fakeCore {
	t.Helper()
	c := &fakeCore{t: t, now: time.Unix(1_000_000, 0), routes: make(map[string]*froute)}
	if cfg.RedialBase == 0 {
		cfg.RedialBase, cfg.RedialMax = 100*time.Millisecond, time.Second
	}
	if cfg.Quiet == 0 {
		cfg.Quiet = 250 * time.Millisecond
	}
	u, err := New[*froute](cfg, c)
	if err != nil {
		t.Fatal(err)
	}
	c.u = u
	u.Start("127.0.0.1:1")
	return c
}

// unlocked fails the test if the upkeep holds its lock.
func (c *fakeCore) unlocked() {
	c.t.Helper()
	if !c.u.mu.TryLock() {
		c.t.Fatal("the upkeep called its core with its lock held")
	}
	c.u.mu.Unlock()
}

func (c *fakeCore) Now() time.Time {
	if c.u != nil { // New reads the clock before c.u is set
		c.unlocked()
	}
	return c.now
}

func (c *fakeCore) Links() []Link[*froute] {
	c.unlocked()
	c.links++
	var out []Link[*froute]
	for _, r := range c.routes {
		if r.linked {
			out = append(out, Link[*froute]{Route: r, Link: connmgr.Link{
				Addr: r.id.Addr, IP: r.ip, Static: r.static, Inbound: r.inbound, Since: r.since, Score: r.score,
			}})
		}
	}
	return out
}

func (c *fakeCore) Route(addr string) (*froute, bool, bool) {
	c.unlocked()
	r, ok := c.routes[addr]
	if !ok {
		return nil, false, false
	}
	return r, r.linked, true
}

func (c *fakeCore) IsStatic(addr string) bool {
	c.unlocked()
	r, ok := c.routes[addr]
	return ok && r.static
}

func (c *fakeCore) Learn(id proto.PeerID) (*froute, error) {
	c.unlocked()
	if r, ok := c.routes[id.Addr]; ok {
		return r, nil
	}
	r := &froute{id: id}
	c.routes[id.Addr] = r
	return r, nil
}

func (c *fakeCore) Forget(r *froute) {
	c.unlocked()
	c.forgot = append(c.forgot, r.id.Addr)
	if !r.static && !r.linked && c.routes[r.id.Addr] == r {
		delete(c.routes, r.id.Addr)
	}
}

func (c *fakeCore) Dial(r *froute) (Dial, error) {
	c.unlocked()
	if c.busy {
		return nil, ErrDialing
	}
	if c.dialErr != nil {
		return nil, c.dialErr
	}
	d := &fakeDial{r: r}
	c.dials = append(c.dials, d)
	return d, nil
}

func (c *fakeCore) Retire(r *froute) {
	c.unlocked()
	c.retired = append(c.retired, r.id.Addr)
	r.linked = false
}

func (c *fakeCore) AskPex(r *froute, note func(uint64)) {
	c.unlocked()
	c.nextID++
	note(c.nextID)
	c.asked = append(c.asked, r.id.Addr)
}

// route adds a route to the fake table.
func (c *fakeCore) route(name string, port int, static, linked bool) *froute {
	id := proto.PeerID{Name: name, Addr: fmt.Sprintf("127.0.0.2:%d", port)}
	r := &froute{id: id, static: static, linked: linked, since: c.now.Add(-time.Hour), ip: netip.MustParseAddr("127.0.0.2")}
	c.routes[id.Addr] = r
	return r
}

func (c *fakeCore) tick(d time.Duration) bool {
	c.now = c.now.Add(d)
	return c.u.Tick(c.now)
}

// within fails unless got is want ±20%.
func within(t *testing.T, what string, got, want time.Duration) {
	t.Helper()
	if got < want*8/10 || got > want*12/10 {
		t.Fatalf("%s: %v, want %v ±20%%", what, got, want)
	}
}

func TestBackoffGrowsAndCaps(t *testing.T) {
	c := newFake(t, Config{RedialBase: 100 * time.Millisecond, RedialMax: time.Second})
	for k, want := range []time.Duration{100, 200, 400, 800, 1000, 1000} {
		for range 20 {
			within(t, fmt.Sprintf("backoff(%d)", k), c.u.backoff(k), want*time.Millisecond)
		}
	}
}

// A static route's redial: due after the first backoff, then after each
// failed dial the wait doubles up to the cap; a dial that links ends it.
func TestRedialSchedule(t *testing.T) {
	c := newFake(t, Config{})
	r := c.route("a", 7000, true, false)
	c.u.Redial(r, r.id)
	within(t, "first wait", c.u.Redials()[r].Due.Sub(c.now), 100*time.Millisecond)
	if !c.tick(0) || len(c.dials) != 0 {
		t.Fatalf("dialed before the first backoff (%d dials), or not busy", len(c.dials))
	}
	c.tick(150 * time.Millisecond)
	if len(c.dials) != 1 || !c.u.Redials()[r].Dialing {
		t.Fatalf("%d dials once due, want 1 and dialing", len(c.dials))
	}
	for k, want := range []time.Duration{200, 400, 800, 1000, 1000} {
		d := c.dials[len(c.dials)-1]
		c.tick(10 * time.Millisecond) // in flight: polled, nothing else
		if len(c.dials) != k+1 {
			t.Fatalf("attempt %d: %d dials while one is in flight", k+1, len(c.dials))
		}
		d.done, d.err = true, errors.New("refused")
		c.tick(0)
		st := c.u.Redials()[r]
		if st.Dialing {
			t.Fatal("a failed dial still in flight")
		}
		within(t, fmt.Sprintf("wait after failure %d", k+1), st.Due.Sub(c.now), want*time.Millisecond)
		c.tick(st.Due.Sub(c.now)) // due: the next dial starts
		if len(c.dials) != k+2 {
			t.Fatalf("attempt %d not dialed when due", k+2)
		}
	}
	// It linked and went down before the tick saw it: the schedule starts over.
	d := c.dials[len(c.dials)-1]
	d.done = true
	c.tick(0)
	within(t, "wait after a link that went down", c.u.Redials()[r].Due.Sub(c.now), 100*time.Millisecond)
	c.tick(150 * time.Millisecond)
	d = c.dials[len(c.dials)-1]
	d.done, r.linked = true, true
	c.tick(0)
	if _, ok := c.u.Redials()[r]; ok {
		t.Fatal("the redial outlived the link")
	}
	if c.tick(time.Second) {
		t.Fatal("busy with nothing to do")
	}
}

// A redial stops, without a dial, when the peer dialed us, when the route
// is deleted (its dial in flight aborted), or when it is no longer static;
// AddRoute's own dial in flight puts it off a tick.
func TestRedialStops(t *testing.T) {
	c := newFake(t, Config{})
	linked, gone, busy := c.route("a", 7001, true, false), c.route("b", 7002, true, false), c.route("c", 7003, true, false)
	for _, r := range []*froute{linked, gone, busy} {
		c.u.Redial(r, r.id)
	}
	c.busy = true
	c.tick(150 * time.Millisecond)
	if len(c.dials) != 0 || len(c.u.Redials()) != 3 {
		t.Fatalf("%d dials, %d redials while the core dials them", len(c.dials), len(c.u.Redials()))
	}
	c.busy = false
	c.tick(0)
	if len(c.dials) != 3 {
		t.Fatalf("%d dials, want 3", len(c.dials))
	}
	linked.linked = true
	delete(c.routes, gone.id.Addr)
	busy.static = false
	c.tick(0)
	if n := len(c.u.Redials()); n != 1 {
		t.Fatalf("%d redials left, want the linked route's, its dial in flight", n)
	}
	for _, d := range c.dials {
		if d.aborted != (d.r != linked) {
			t.Fatalf("dial of %s aborted %v", d.r.id, d.aborted)
		}
	}
	for _, d := range c.dials { // whichever side dialed, the route is linked: done
		d.done = true
	}
	c.tick(0)
	if n := len(c.u.Redials()); n != 0 {
		t.Fatalf("%d redials left", n)
	}
	// Asking again for a linked, unrouted or learned route does nothing.
	c.u.Redial(linked, linked.id)
	c.u.Redial(gone, gone.id)
	c.u.Redial(busy, busy.id)
	if n := len(c.u.Redials()); n != 0 {
		t.Fatalf("%d redials queued for routes that need none", n)
	}
}

// Below the low mark the node dials peers from its book: no more than
// the links it lacks, no more than MaxLearnedDials at once, each once; a
// failed one's route goes and the book backs its address off.
func TestLowWaterDialsFromBook(t *testing.T) {
	c := newFake(t, Config{Low: 3})
	c.route("boot", 7000, true, true)
	b := c.u.Book()
	for i := range 8 {
		if err := b.Add(proto.PeerID{Name: fmt.Sprint("p", i), Addr: fmt.Sprintf("127.0.0.3:%d", 8000+i)}, book.Exchange, "127.0.0.2:7000", c.now); err != nil {
			t.Fatal(err)
		}
	}
	if !c.tick(time.Millisecond) {
		t.Fatal("below the low mark and not busy")
	}
	learned := func() (n int) {
		for _, st := range c.u.Redials() {
			if st.Learned {
				n++
			}
		}
		return n
	}
	if got := learned(); got != 2 {
		t.Fatalf("%d learned dials with 1 link of 3, want 2", got)
	}
	c.tick(time.Millisecond)
	if len(c.dials) != 2 || learned() != 2 {
		t.Fatalf("%d dials, %d learned: want the 2 only", len(c.dials), learned())
	}
	for _, d := range c.dials {
		d.done, d.err = true, errors.New("refused")
	}
	c.tick(time.Millisecond) // they fail; two others are scheduled
	if len(c.forgot) != 2 {
		t.Fatalf("forgot %v, want the 2 failed routes", c.forgot)
	}
	for _, addr := range c.forgot {
		if p, _ := b.Get(addr); p.Failures != 1 || !p.NextDial.After(c.now) {
			t.Fatalf("book entry of %s after a failed dial: %+v", addr, p)
		}
		if _, ok := c.routes[addr]; ok {
			t.Fatalf("the failed learned route %s stayed", addr)
		}
	}

	// Far below the mark: at most MaxLearnedDials at once.
	c = newFake(t, Config{Low: 20})
	c.route("boot", 7000, true, true)
	for i := range 10 {
		_ = c.u.Book().Add(proto.PeerID{Name: fmt.Sprint("p", i), Addr: fmt.Sprintf("127.0.0.3:%d", 8000+i)}, book.Exchange, "127.0.0.2:7000", c.now)
	}
	for range 3 {
		c.tick(time.Millisecond)
	}
	if len(c.dials) != MaxLearnedDials {
		t.Fatalf("%d learned dials at once, bound %d", len(c.dials), MaxLearnedDials)
	}
}

// A learned dial pins the key the book holds until its link comes up.
func TestLearnedDialPinsKey(t *testing.T) {
	c := newFake(t, Config{Low: 1, KeySize: 32})
	key := string(make([]byte, 32))
	id := proto.PeerID{Name: "p", Addr: "127.0.0.3:8000", Key: key}
	if err := c.u.Book().Add(id, book.Exchange, "127.0.0.2:7000", c.now); err != nil {
		t.Fatal(err)
	}
	c.tick(time.Millisecond)
	if got, ok := c.u.LearnedKey(id.Addr); !ok || got != key {
		t.Fatal("no pin while the learned dial is in flight")
	}
	c.tick(time.Millisecond)
	r := c.routes[id.Addr]
	r.linked = true
	c.u.LinkUp(r, id, false)
	if _, ok := c.u.LearnedKey(id.Addr); ok {
		t.Fatal("the pin outlived the link")
	}
}

// Above the high mark the least useful links go: not static, not younger
// than the grace period, fewest frames first, then the youngest.
func TestTrimAboveHighMark(t *testing.T) {
	c := newFake(t, Config{Low: 1, High: 3, Grace: 5 * time.Second})
	add := func(name string, score int64, age time.Duration, static bool) {
		r := c.route(name, 7000+len(c.routes), static, true)
		r.score, r.since = score, c.now.Add(-age)
	}
	add("static", 0, time.Hour, true)
	add("young", 0, time.Second, false)
	add("busy", 100, time.Hour, false)
	add("idle-old", 1, time.Hour, false)
	add("idle-new", 1, time.Minute, false)
	add("quiet", 5, time.Hour, false)
	if !c.tick(0) {
		t.Fatal("above the high mark and not busy")
	}
	var got []string
	for _, addr := range c.retired {
		got = append(got, c.routes[addr].id.Name)
	}
	if want := []string{"idle-new", "idle-old", "quiet"}; !slices.Equal(got, want) {
		t.Fatalf("retired %v, want %v", got, want)
	}
	c.retired = nil
	if c.tick(0) || len(c.retired) != 0 {
		t.Fatalf("at the high mark: retired %v", c.retired)
	}
}

// The high mark defaults to 2 × low + 2.
func TestDefaultHighMark(t *testing.T) {
	c := newFake(t, Config{Low: 3})
	for i := range 8 {
		c.route(fmt.Sprint("p", i), 7000+i, false, true)
	}
	c.tick(0)
	if len(c.retired) != 0 {
		t.Fatalf("8 links with low 3: retired %v", c.retired)
	}
	c.route("p8", 7008, false, true)
	c.tick(0)
	if len(c.retired) != 1 {
		t.Fatalf("9 links with low 3: retired %v, want 1", c.retired)
	}
}

// A peer that trimmed our link (its goaway said too many links) is left
// alone for about RedialMax: the book parks it, and a static route to it
// waits that long, and on, while the node has its low mark of links.
func TestParkAfterTrim(t *testing.T) {
	const max = 10 * time.Second
	c := newFake(t, Config{Low: 1, RedialBase: 100 * time.Millisecond, RedialMax: max})
	hub := c.route("hub", 7000, true, false)
	other := c.route("other", 7001, false, true)
	c.u.LinkUp(hub, hub.id, false) // in the book
	c.u.Lost(hub, hub.id, true)
	due := c.u.Redials()[hub].Due
	within(t, "the trimmed static route's wait", due.Sub(c.now), max)
	if p, _ := c.u.Book().Get(hub.id.Addr); p.NextDial.Sub(c.now) < max*8/10 {
		t.Fatalf("book parks the hub for %v, want about %v", p.NextDial.Sub(c.now), max)
	}
	// Due, with its low mark of links: put off again, no dial.
	for range 3 {
		c.tick(c.u.Redials()[hub].Due.Sub(c.now))
		if len(c.dials) != 0 {
			t.Fatal("dialed the hub that trimmed us while linked to another")
		}
		within(t, "put off", c.u.Redials()[hub].Due.Sub(c.now), max)
	}
	// Below the mark it dials.
	other.linked = false
	c.tick(c.u.Redials()[hub].Due.Sub(c.now))
	if len(c.dials) != 1 {
		t.Fatalf("%d dials below the low mark, want 1", len(c.dials))
	}

	// Without another link to go on with, the first backoff; a goaway of
	// our own trim (trimmedUs false) parks nothing.
	c = newFake(t, Config{Low: 1, RedialMax: max})
	hub = c.route("hub", 7000, true, false)
	c.u.Lost(hub, hub.id, true)
	within(t, "alone, the trimmed route's wait", c.u.Redials()[hub].Due.Sub(c.now), 100*time.Millisecond)
	c = newFake(t, Config{Low: 1, RedialMax: max})
	hub = c.route("hub", 7000, true, false)
	c.route("other", 7001, false, true)
	c.u.Lost(hub, hub.id, false)
	within(t, "a lost link's wait", c.u.Redials()[hub].Due.Sub(c.now), 100*time.Millisecond)
}

// Only static routes wait for room: a learned dial the book started is
// made, even to a peer that once trimmed a link of ours, and even if the
// node reached its minimum meanwhile (held back, it stayed "in flight"
// for ever and took one of the node's learned-dial slots).
func TestLearnedDialNotHeldForRoom(t *testing.T) {
	c := newFake(t, Config{Low: 1})
	c.route("b", 7001, false, true) // the node has its minimum
	r := c.route("c", 7002, false, false)
	c.u.retiredUs[r.id.Addr] = struct{}{}
	c.u.redials[r] = &redial{id: r.id, due: c.now, learned: true}
	c.tick(0)
	if len(c.dials) != 1 {
		t.Fatal("the learned dial was held back")
	}
}

func TestAdmitCaps(t *testing.T) {
	c := newFake(t, Config{})
	c.route("a", 7000, false, true)
	if err := c.u.Admit("127.0.0.9:1", netip.MustParseAddr("127.0.0.2")); err != nil || c.links != 0 {
		t.Fatalf("uncapped: %v, %d scans of the links", err, c.links)
	}
	c = newFake(t, Config{MaxInbound: 2, MaxPerIP: 1})
	a := c.route("a", 7000, false, true)
	if err := c.u.Admit("127.0.0.9:1", netip.MustParseAddr("127.0.0.2")); !errors.Is(err, connmgr.ErrTooManyPerIP) {
		t.Fatalf("a second link from one IP: %v", err)
	}
	if err := c.u.Admit(a.id.Addr, netip.MustParseAddr("127.0.0.2")); err != nil {
		t.Fatalf("a peer already linked: %v", err)
	}
	a.inbound = true
	b := c.route("b", 7001, false, true)
	b.inbound, b.ip = true, netip.MustParseAddr("127.0.0.3")
	if err := c.u.Admit("127.0.0.9:1", netip.MustParseAddr("127.0.0.4")); !errors.Is(err, connmgr.ErrTooManyInbound) {
		t.Fatalf("a third inbound link: %v", err)
	}
	s := c.route("s", 7002, true, false)
	if err := c.u.Admit(s.id.Addr, netip.MustParseAddr("127.0.0.2")); err != nil {
		t.Fatalf("a static route: %v", err)
	}
}

func TestPexServeAndTake(t *testing.T) {
	c := newFake(t, Config{Low: 2})
	asker := c.route("asker", 7000, false, true)
	b := c.u.Book()
	for i := range 3 {
		addr := fmt.Sprintf("127.0.0.3:%d", 8000+i)
		_ = b.Add(proto.PeerID{Name: fmt.Sprint("p", i), Addr: addr}, book.Inbound, "", c.now)
		b.Connected(addr, c.now) // pex answers carry peers the node linked with
	}
	c.u.LinkUp(asker, asker.id, false)
	req := proto.AppendPexRequest(nil, 32)
	payload, err := c.u.ServePex(asker, asker.id.Addr, req)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := proto.ParsePexResponse(payload, 0)
	if err != nil || len(ids) != 3 || slices.ContainsFunc(ids, func(id proto.PeerID) bool { return id == asker.id }) {
		t.Fatalf("answer %v (%v): want the 3 others", ids, err)
	}
	if _, err := c.u.ServePex(asker, asker.id.Addr, req); !errors.Is(err, ErrPexBusy) {
		t.Fatalf("a second request within a second: %v", err)
	}
	c.now = c.now.Add(time.Second)
	if _, err := c.u.ServePex(asker, asker.id.Addr, req); err != nil {
		t.Fatalf("a request a second later: %v", err)
	}
	if _, err := c.u.ServePex(asker, asker.id.Addr, []byte{1, 2}); !errors.Is(err, proto.ErrBadPex) {
		t.Fatalf("a malformed request: %v", err)
	}

	// The tick asks a linked peer (fewer links than the mark); only the
	// answer to that request is taken.
	c.tick(3 * time.Second)
	if len(c.asked) != 1 {
		t.Fatalf("asked %v, want one request", c.asked)
	}
	answer := proto.AppendPexResponse(nil, []proto.PeerID{
		{Name: "new", Addr: "[::ffff:127.0.0.4]:9000"},
		{Name: "named", Addr: "host.example:9000"},
		{Name: "self", Addr: "127.0.0.1:1"},
	})
	if _, known, _ := c.u.TakePex(asker, asker.id.Addr, c.nextID+1, answer); known {
		t.Fatal("an answer to no request taken")
	}
	learned, known, err := c.u.TakePex(asker, asker.id.Addr, c.nextID, answer)
	if !known || err != nil || learned != 1 {
		t.Fatalf("answer: learned %d, known %v, %v; want 1", learned, known, err)
	}
	if p, ok := b.Get("127.0.0.4:9000"); !ok || p.Source != book.Exchange || p.From != asker.id.Addr {
		t.Fatalf("learned entry %+v", p)
	}
	if _, known, _ := c.u.TakePex(asker, asker.id.Addr, c.nextID, answer); known {
		t.Fatal("one answer taken twice")
	}
}
