package codec_test

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math"
	"strings"
	"testing"
	"unsafe"

	"github.com/antnet-p2p/antnet/codec"
	"github.com/valyala/bytebufferpool"
)

// pattern returns n bytes of a recognisable, position-dependent pattern.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return b
}

// frameBytes encodes a header with an arbitrary length field and version,
// followed by payload, bypassing Append's checks.
func frameBytes(length uint32, version byte, payload []byte) []byte {
	b := make([]byte, 16, 16+len(payload))
	binary.BigEndian.PutUint32(b, length)
	b[4] = version
	b[5] = byte(codec.KindRequest)
	return append(b, payload...)
}

func sameFrame(t *testing.T, got, want codec.Frame) {
	t.Helper()
	if got.Kind != want.Kind || got.Flags != want.Flags || got.TTL != want.TTL || got.ID != want.ID {
		t.Fatalf("header = {%v %#x %d %#x}, want {%v %#x %d %#x}",
			got.Kind, got.Flags, got.TTL, got.ID, want.Kind, want.Flags, want.TTL, want.ID)
	}
	if !bytes.Equal(got.Payload, want.Payload) {
		t.Fatalf("payload = %d bytes %.16x..., want %d bytes %.16x...",
			len(got.Payload), got.Payload, len(want.Payload), want.Payload)
	}
}

func TestAppendGolden(t *testing.T) {
	f := codec.Frame{Kind: codec.KindRequest, Flags: 0x81, TTL: 7, ID: 0x0102030405060708, Payload: []byte("hi")}
	got := codec.Append([]byte("pre"), f)
	want := "707265" + // "pre" kept
		"0000000e" + // length: 12 + 2
		"01" + "03" + "81" + "07" + // version, kind, flags, ttl
		"0102030405060708" + // id
		"6869" // "hi"
	if hex.EncodeToString(got) != want {
		t.Fatalf("Append = %x\nwant     %s", got, want)
	}
	if f.Size() != 18 {
		t.Fatalf("Size = %d, want 18", f.Size())
	}
}

func TestRoundTrip(t *testing.T) {
	type tc struct {
		name string
		f    codec.Frame
	}
	var tests []tc
	for k := codec.Kind(0); k <= 12; k++ {
		tests = append(tests, tc{"kind/" + k.String(), codec.Frame{Kind: k, ID: uint64(k), Payload: []byte("x")}})
	}
	// Kind validation is the caller's job: the codec carries any byte.
	tests = append(tests, tc{"kind/255", codec.Frame{Kind: 255}})
	tests = append(tests,
		tc{"flags/zero", codec.Frame{Kind: codec.KindNotice, Flags: 0}},
		tc{"flags/all", codec.Frame{Kind: codec.KindNotice, Flags: 0xFF}},
		tc{"ttl/zero", codec.Frame{Kind: codec.KindGossip, TTL: 0}},
		tc{"ttl/max", codec.Frame{Kind: codec.KindGossip, TTL: 255}},
		tc{"id/zero", codec.Frame{Kind: codec.KindRequest, ID: 0}},
		tc{"id/one", codec.Frame{Kind: codec.KindRequest, ID: 1}},
		tc{"id/max", codec.Frame{Kind: codec.KindRequest, ID: math.MaxUint64}},
		tc{"id/highbit", codec.Frame{Kind: codec.KindRequest, ID: 1 << 63}},
		tc{"payload/nil", codec.Frame{Kind: codec.KindPing}},
		tc{"payload/empty", codec.Frame{Kind: codec.KindPing, Payload: []byte{}}},
		tc{"payload/1B", codec.Frame{Kind: codec.KindResponse, Payload: []byte{0}}},
		tc{"payload/64KiB", codec.Frame{Kind: codec.KindResponse, Payload: pattern(64 << 10)}},
		tc{"payload/max", codec.Frame{Kind: codec.KindResponse, Payload: pattern(codec.DefaultMaxFrameSize - codec.HeaderSize)}},
		tc{"all/max", codec.Frame{Kind: codec.KindGoaway, Flags: 0xFF, TTL: 0xFF, ID: math.MaxUint64, Payload: pattern(300)}},
	)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := codec.Append(nil, tt.f)
			if len(b) != tt.f.Size() {
				t.Fatalf("len = %d, Size = %d", len(b), tt.f.Size())
			}
			got, n, err := codec.Decode(b, 0)
			if err != nil || n != len(b) {
				t.Fatalf("Decode = n %d, err %v; want n %d", n, err, len(b))
			}
			sameFrame(t, got, tt.f)

			// AppendHeader + payload and Encode produce the same bytes.
			b2 := codec.AppendHeader(nil, tt.f.Kind, tt.f.Flags, tt.f.TTL, tt.f.ID, len(tt.f.Payload))
			b2 = append(b2, tt.f.Payload...)
			if !bytes.Equal(b, b2) {
				t.Fatal("AppendHeader+payload differs from Append")
			}
			bb := codec.Encode(tt.f)
			if !bytes.Equal(b, bb.B) {
				t.Fatal("Encode differs from Append")
			}
			bytebufferpool.Put(bb)
		})
	}
}

func TestDecodeConcatenated(t *testing.T) {
	var want []codec.Frame
	var stream []byte
	for i := range 50 {
		f := codec.Frame{Kind: codec.Kind(i%10 + 1), Flags: uint8(i), TTL: uint8(i * 3), ID: uint64(i) << 40, Payload: pattern(i * 13)}
		want = append(want, f)
		stream = codec.Append(stream, f)
	}
	b := stream
	for i, w := range want {
		f, n, err := codec.Decode(b, 0)
		if err != nil || n == 0 {
			t.Fatalf("frame %d: n %d, err %v", i, n, err)
		}
		sameFrame(t, f, w)
		b = b[n:]
	}
	if len(b) != 0 {
		t.Fatalf("%d bytes left over", len(b))
	}
}

func TestDecodePartial(t *testing.T) {
	for _, size := range []int{0, 1, 100} {
		b := codec.Append(nil, codec.Frame{Kind: codec.KindRequest, ID: 9, Payload: pattern(size)})
		for i := range len(b) {
			f, n, err := codec.Decode(b[:i], 0)
			if n != 0 || err != nil || f.Kind != 0 || f.Payload != nil {
				t.Fatalf("payload %d, prefix %d: got %+v, n %d, err %v; want zero, 0, nil", size, i, f, n, err)
			}
			if n, err := codec.FrameLen(b[:i], 0); i >= 4 && (n != len(b) || err != nil) {
				t.Fatalf("FrameLen(prefix %d) = %d, %v; want %d, nil", i, n, err, len(b))
			}
		}
	}
}

func TestFrameLen(t *testing.T) {
	const max = 1024
	tests := []struct {
		name    string
		in      []byte
		max     int
		want    int
		wantErr error
	}{
		{"empty", nil, max, 0, nil},
		{"3 bytes", []byte{0, 0, 0}, max, 0, nil},
		{"3 bytes of a huge length", []byte{0xFF, 0xFF, 0xFF}, max, 0, nil},
		{"length 0", frameBytes(0, 1, nil)[:4], max, 0, codec.ErrShortFrame},
		{"length 11", frameBytes(11, 1, nil)[:4], max, 0, codec.ErrShortFrame},
		{"length 12", frameBytes(12, 1, nil)[:4], max, 16, nil},
		{"length 13", frameBytes(13, 1, nil)[:4], max, 17, nil},
		{"exactly max", frameBytes(max-4, 1, nil)[:4], max, max, nil},
		{"max+1", frameBytes(max-3, 1, nil)[:4], max, 0, codec.ErrFrameTooLarge},
		{"u32 max", frameBytes(math.MaxUint32, 1, nil)[:4], max, 0, codec.ErrFrameTooLarge},
		{"default max", frameBytes(codec.DefaultMaxFrameSize-4, 1, nil)[:4], 0, codec.DefaultMaxFrameSize, nil},
		{"default max+1", frameBytes(codec.DefaultMaxFrameSize-3, 1, nil)[:4], 0, 0, codec.ErrFrameTooLarge},
		{"negative max means default", frameBytes(codec.DefaultMaxFrameSize-3, 1, nil)[:4], -1, 0, codec.ErrFrameTooLarge},
		{"u32 max default", frameBytes(math.MaxUint32, 1, nil)[:4], 0, 0, codec.ErrFrameTooLarge},
		{"max below header", frameBytes(12, 1, nil)[:4], 10, 0, codec.ErrFrameTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := codec.FrameLen(tt.in, tt.max)
			if n != tt.want || !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("FrameLen = %d, %v; want %d, %v", n, err, tt.want, tt.wantErr)
			}
			// Decode reports the same error from the length alone.
			if tt.wantErr != nil {
				if _, n, err := codec.Decode(tt.in, tt.max); n != 0 || !errors.Is(err, tt.wantErr) {
					t.Fatalf("Decode = %d, %v; want 0, %v", n, err, tt.wantErr)
				}
			}
		})
	}
}

func TestFrameTooLargeMessage(t *testing.T) {
	_, err := codec.FrameLen(frameBytes(2000, 1, nil), 1024)
	if !errors.Is(err, codec.ErrFrameTooLarge) || !strings.Contains(err.Error(), "2004 > 1024") {
		t.Fatalf("err = %v; want ErrFrameTooLarge naming 2004 > 1024", err)
	}
}

func TestDecodeVersion(t *testing.T) {
	for _, v := range []byte{0, 2, 0xFF} {
		b := frameBytes(12+3, v, []byte("abc"))
		if _, n, err := codec.Decode(b, 0); n != 0 || !errors.Is(err, codec.ErrVersion) {
			t.Errorf("version %d: n %d, err %v; want 0, ErrVersion", v, n, err)
		}
		// Checked only once the frame is whole.
		if _, n, err := codec.Decode(b[:len(b)-1], 0); n != 0 || err != nil {
			t.Errorf("version %d, partial: n %d, err %v; want 0, nil", v, n, err)
		}
	}
}

func TestDecodeAliases(t *testing.T) {
	first := codec.Frame{Kind: codec.KindRequest, ID: 1, Payload: []byte("first")}
	second := codec.Frame{Kind: codec.KindRequest, ID: 2, Payload: []byte("second")}
	b := codec.Append(codec.Append(nil, first), second)

	f, n, err := codec.Decode(b, 0)
	if err != nil || n != first.Size() {
		t.Fatalf("Decode = n %d, err %v", n, err)
	}
	if unsafe.SliceData(f.Payload) != &b[codec.HeaderSize] {
		t.Fatal("payload was copied; want it to alias the input")
	}
	if cap(f.Payload) != len(f.Payload) {
		t.Fatalf("cap(payload) = %d, want %d", cap(f.Payload), len(f.Payload))
	}
	b[codec.HeaderSize] = 'F'
	if string(f.Payload) != "First" {
		t.Fatalf("payload = %q after writing the input; want %q", f.Payload, "First")
	}
	// Appending must reallocate rather than clobber the next frame.
	_ = append(f.Payload, "XXXXXXXXXXXXXXXXXXXXXXX"...)
	g, _, err := codec.Decode(b[n:], 0)
	if err != nil {
		t.Fatal(err)
	}
	sameFrame(t, g, second)

	// An empty payload at the end of the input is empty, not nil-capped garbage.
	e, _, _ := codec.Decode(codec.Append(nil, codec.Frame{Kind: codec.KindPing}), 0)
	if len(e.Payload) != 0 || cap(e.Payload) != 0 {
		t.Fatalf("empty payload: len %d cap %d", len(e.Payload), cap(e.Payload))
	}
}

func TestAppendKeepsPrefix(t *testing.T) {
	dst := make([]byte, 3, 64)
	copy(dst, "abc")
	out := codec.Append(dst, codec.Frame{Kind: codec.KindNotice, Payload: []byte("p")})
	if string(out[:3]) != "abc" || len(out) != 3+17 {
		t.Fatalf("Append = %q", out)
	}
	if unsafe.SliceData(out) != unsafe.SliceData(dst) {
		t.Fatal("Append reallocated although dst had capacity")
	}
}

func TestPutHeaderShortBufferPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("PutHeader into 15 bytes did not panic")
		}
	}()
	codec.PutHeader(make([]byte, codec.HeaderSize-1), codec.KindPing, 0, 0, 0, 0)
}

func TestZeroAllocs(t *testing.T) {
	f := codec.Frame{Kind: codec.KindResponse, ID: 42, Payload: pattern(256)}
	dst := make([]byte, 0, 1024)
	enc := codec.Append(nil, f)
	tests := []struct {
		name string
		fn   func()
	}{
		{"Append", func() { dst = codec.Append(dst[:0], f) }},
		{"Decode", func() { _, _, _ = codec.Decode(enc, 0) }},
		{"Decode partial", func() { _, _, _ = codec.Decode(enc[:20], 0) }},
		{"FrameLen", func() { _, _ = codec.FrameLen(enc, 0) }},
		{"FrameLen short frame", func() { _, _ = codec.FrameLen([]byte{0, 0, 0, 1}, 0) }},
	}
	for _, tt := range tests {
		if a := testing.AllocsPerRun(100, tt.fn); a != 0 {
			t.Errorf("%s: %v allocs/op, want 0", tt.name, a)
		}
	}
}

func TestKind(t *testing.T) {
	tests := []struct {
		k     codec.Kind
		name  string
		valid bool
	}{
		{0, "invalid", false},
		{codec.KindHello, "hello", true},
		{codec.KindHelloAck, "hello-ack", true},
		{codec.KindRequest, "request", true},
		{codec.KindResponse, "response", true},
		{codec.KindError, "error", true},
		{codec.KindNotice, "notice", true},
		{codec.KindGossip, "gossip", true},
		{codec.KindPing, "ping", true},
		{codec.KindPong, "pong", true},
		{codec.KindGoaway, "goaway", true},
		{codec.KindSecure, "secure", true},
		{codec.KindPexRequest, "pex-request", true},
		{codec.KindPexResponse, "pex-response", true},
		{codec.KindPrune, "prune", true},
		{codec.KindIHave, "ihave", true},
		{codec.KindGraft, "graft", true},
		{17, "kind(17)", false},
		{200, "kind(200)", false},
		{255, "kind(255)", false},
	}
	for _, tt := range tests {
		if got := tt.k.String(); got != tt.name {
			t.Errorf("Kind(%d).String() = %q, want %q", uint8(tt.k), got, tt.name)
		}
		if got := tt.k.Valid(); got != tt.valid {
			t.Errorf("Kind(%d).Valid() = %v, want %v", uint8(tt.k), got, tt.valid)
		}
	}
	// The wire values are fixed: renumbering breaks compatibility.
	if codec.KindHello != 1 || codec.KindGoaway != 10 || codec.KindSecure != 11 || codec.KindPexResponse != 13 ||
		codec.KindPrune != 14 || codec.KindIHave != 15 || codec.KindGraft != 16 {
		t.Fatalf("kind numbering changed: hello=%d goaway=%d secure=%d pex-response=%d",
			codec.KindHello, codec.KindGoaway, codec.KindSecure, codec.KindPexResponse)
	}
}
