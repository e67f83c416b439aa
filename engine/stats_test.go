package engine

import (
	"reflect"
	"testing"

	"github.com/antnet-p2p/antnet/internal/stats"
)

// Every counter but the gauges and histograms reaches the Stats field of
// its name, and no other field: each gets a value of its own and the
// snapshot must show exactly those.
func TestSnapshotCopiesEveryCounter(t *testing.T) {
	var c stats.Counters
	cv := reflect.ValueOf(&c).Elem()
	want := map[string]uint64{}
	for i := range cv.NumField() {
		f := cv.Type().Field(i)
		add := cv.Field(i).Addr().MethodByName("Add")
		if !add.IsValid() { // the histograms
			continue
		}
		v := uint64(i + 1)
		add.Call([]reflect.Value{reflect.ValueOf(v).Convert(add.Type().In(0))})
		if _, shown := reflect.TypeFor[Stats]().FieldByName(f.Name); shown {
			want[f.Name] = v
		} else if f.Name != "Handshaking" && f.Name != "Serving" {
			t.Errorf("counter %s has no Stats field", f.Name)
		}
	}
	st := reflect.ValueOf(snapshot(&c))
	for i := range st.NumField() {
		name := st.Type().Field(i).Name
		var got uint64
		switch f := st.Field(i); f.Kind() {
		case reflect.Int, reflect.Int64:
			got = uint64(f.Int())
		default:
			got = f.Uint()
		}
		if got != want[name] {
			t.Errorf("Stats.%s = %d, want %d", name, got, want[name])
		}
	}
}
