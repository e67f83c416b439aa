package broadcast

import (
	"reflect"
	"testing"
	"time"
)

// Add sums every field: a field added to Stats and forgotten in Add fails
// here.
func TestStatsAddSumsEveryField(t *testing.T) {
	var one Stats
	v := reflect.ValueOf(&one).Elem()
	for i := range v.NumField() {
		switch f := v.Field(i); f.Kind() {
		case reflect.Uint64:
			f.SetUint(uint64(i + 1))
		case reflect.Int:
			f.SetInt(int64(i + 1))
		default:
			t.Fatalf("field %s: kind %s not summed by this test", v.Type().Field(i).Name, f.Kind())
		}
	}
	var sum Stats
	sum.Add(one)
	sum.Add(one)
	s := reflect.ValueOf(sum)
	for i := range s.NumField() {
		got := s.Field(i)
		want := int64(2 * (i + 1))
		if (got.CanUint() && int64(got.Uint()) != want) || (got.CanInt() && got.Int() != want) {
			t.Errorf("%s = %v after adding %d twice", s.Type().Field(i).Name, got, i+1)
		}
	}
}

// Tiny broadcasts are held within CacheBytes with their bookkeeping: 64 KiB
// holds fewer than 200 of them, not the 1,600 their frames alone would
// allow.
func TestCacheCountsItsBookkeeping(t *testing.T) {
	now := time.Unix(1, 0)
	tr, err := New[int](Config{Now: func() time.Time { return now }, CacheBytes: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	tr.LinkUp(1, true)
	r := recorder{}
	for id := uint64(1); id <= 5000; id += 2 {
		gossipTTL(tr, r, 1, 5, id)
	}
	s := tr.Stats()
	if s.CachedBytes > 64<<10 || s.Cached >= 200 {
		t.Fatalf("holding %d payloads counted as %d bytes, want < 200 within 64 KiB", s.Cached, s.CachedBytes)
	}
}
