package broadcast

import (
	"reflect"
	"testing"
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
