package topology

import (
	"reflect"
	"testing"
	"time"
)

// WithDefaults fills what is not set; Validate only checks, so a topology no one filled is
// refused instead of silently taking defaults half-way.
func TestValidateOnlyChecks(t *testing.T) {
	if err := (Topology{}).Validate(); err == nil {
		t.Error("an empty topology is valid: Validate must not fill defaults")
	}
	d := Topology{}.WithDefaults()
	want := Topology{Prefix: "orders.", Partitions: 16, ReplicationFactor: -1,
		Tiers: []Tier{{"1s", time.Second}, {"10s", 10 * time.Second}, {"1m", time.Minute}}}
	if !reflect.DeepEqual(d, want) {
		t.Fatalf("WithDefaults: %+v, want %+v", d, want)
	}
	if !reflect.DeepEqual(Default(), want) {
		t.Errorf("Default: %+v", Default())
	}
	before := d
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(d, before) {
		t.Errorf("Validate changed the topology")
	}
	set := Topology{Prefix: "acme.", Partitions: 3, ReplicationFactor: 2, Tiers: []Tier{{"fast", time.Millisecond}}}
	if got := set.WithDefaults(); !reflect.DeepEqual(got, set) {
		t.Errorf("WithDefaults changed set fields: %+v", got)
	}
	for _, bad := range []Topology{
		{Prefix: "a.", Partitions: 1, ReplicationFactor: -2, Tiers: want.Tiers},
		{Prefix: "a.", Partitions: 1, ReplicationFactor: -1, Tiers: []Tier{{"b", 2 * time.Second}, {"a", time.Second}}},
		{Prefix: "a.", Partitions: 1, ReplicationFactor: -1, Tiers: []Tier{{"x", time.Second}, {"x", 2 * time.Second}}},
	} {
		if err := bad.Validate(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}
