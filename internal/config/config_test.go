package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// The defaults pass, and each rule that ties settings together refuses
// the combination it names, wrapping ErrBadOption.
func TestValidate(t *testing.T) {
	d := Default()
	if err := d.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	tests := []struct {
		set  func(*Config)
		name string // what the error must mention
	}{
		{func(c *Config) { c.Invalid = []string{"WithX(): first", "WithY(): second"} }, "WithX(): first"},
		{func(c *Config) { c.Mode = 2 }, "WithMode(2)"},
		{func(c *Config) { c.MaxFrame = MinFrameSize - 1 }, "WithMaxFrameSize"},
		{func(c *Config) { c.Keepalive, c.DeadPeer = time.Second, time.Second }, "must exceed the keepalive"},
		{func(c *Config) { c.HighWater = c.MaxFrame - 1 }, "WithHighWater"},
		{func(c *Config) { c.HighWater, c.DropSlow = 0, true }, "WithDropSlowPeers"},
		{func(c *Config) { c.Mode, c.MinLinks = Short, 1 }, "needs Persistent mode"},
		{func(c *Config) { c.MinLinks, c.MaxLinks = 4, 3 }, "WithMaxLinks(3)"},
		{func(c *Config) { c.MaxLinks = 3 }, "needs WithMinLinks"},
		{func(c *Config) { c.Mode, c.MaxInbound = Short, 1 }, "Persistent mode only"},
		{func(c *Config) { c.BookPath = "/tmp/book" }, "WithAddressBook"},
		{func(c *Config) { c.Admit = func([]byte) error { return nil } }, "WithIdentity"},
		{func(c *Config) { c.Advertise = "nowhere" }, "WithAdvertiseAddr"},
	}
	for _, tt := range tests {
		c := Default()
		tt.set(&c)
		err := c.Validate()
		if !errors.Is(err, ErrBadOption) || !strings.Contains(err.Error(), tt.name) {
			t.Errorf("%s: Validate = %v", tt.name, err)
		}
	}
	c := Default()
	c.Keepalive, c.DeadPeer = 0, time.Second // keepalive off: no order between them
	if err := c.Validate(); err != nil {
		t.Errorf("keepalive off: %v", err)
	}
}

// A plain node's frames carry no seal and offer trees in persistent mode
// only, unless flooding is asked for.
func TestDerived(t *testing.T) {
	c := Default()
	if c.SealOverhead() != 0 || !c.SpeaksTrees() || len(c.Suites()) == 0 {
		t.Fatalf("defaults: overhead %d, trees %v, suites %v", c.SealOverhead(), c.SpeaksTrees(), c.Suites())
	}
	c.FloodOnly = true
	if c.SpeaksTrees() {
		t.Error("WithBroadcastFlooding still speaks trees")
	}
	c = Default()
	c.Mode = Short
	if c.SpeaksTrees() || c.Mode.String() != "short" || Persistent.String() != "persistent" {
		t.Errorf("short mode: trees %v, %q", c.SpeaksTrees(), c.Mode.String())
	}
}
