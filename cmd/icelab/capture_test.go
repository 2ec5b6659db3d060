package main

import (
	"testing"
	"time"
)

func TestParseWindow(t *testing.T) {
	for _, c := range []struct {
		in       string
		from, to time.Duration
		bad      bool
	}{
		{"", 0, 0, false},
		{"5s-15s", 5 * time.Second, 15 * time.Second, false},
		{"5s-", 5 * time.Second, 0, false},
		{"0s-2s", 0, 2 * time.Second, false},
		{"15s-5s", 0, 0, true},
		{"5s", 0, 0, true},
		{"x-5s", 0, 0, true},
		{"0s-", 0, 0, true},
	} {
		from, to, err := parseWindow(c.in)
		if (err != nil) != c.bad || from != c.from || to != c.to {
			t.Errorf("parseWindow(%q) = %v, %v, %v; want %v, %v, bad %t", c.in, from, to, err, c.from, c.to, c.bad)
		}
	}
}
