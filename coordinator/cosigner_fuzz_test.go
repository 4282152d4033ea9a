package coordinator_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/countersign/countersign/coordinator"
	"github.com/countersign/countersign/descriptor"
)

// FuzzParseCosigner reads --cosigner [LABEL=]KEY as users type it: no
// panic, failures wrap descriptor.ErrInvalid (exit 2), an accepted
// cosigner has an extended key, and label plus canonical
// key expression parse back to the same cosigner. Seeds:
// testdata/fuzz/FuzzParseCosigner (key expressions of the published
// descriptor and SLIP-132 vectors, with and without labels and origins).
func FuzzParseCosigner(f *testing.F) {
	f.Add("alice=[73c5da0a/48h/1h/0h/2h]tpubDFH9dgzveyD8zTbPUFuLrGmCydNvxehyNdUXKJAQN8x4aZ4j6UZqGfnqFrD4NqyaTVGKbvEW54tsvPTK2UoSbCC1PJY8iCNiwTL3RWZEheQ")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := coordinator.ParseCosigner(s)
		if err != nil {
			if !errors.Is(err, descriptor.ErrInvalid) {
				t.Fatalf("%q: error %v does not wrap ErrInvalid", s, err)
			}
			return
		}
		if c.Key.XPub == nil {
			t.Fatalf("%q: accepted %s without an extended key", s, c.Key)
		}
		if strings.Contains(c.Label, "=") || c.Label != strings.TrimSpace(c.Label) {
			t.Fatalf("%q: label %q", s, c.Label)
		}
		printed := c.Key.String()
		if c.Label != "" {
			printed = c.Label + "=" + printed
		}
		again, err := coordinator.ParseCosigner(printed)
		if err != nil || again.Label != c.Label || again.Key.String() != c.Key.String() {
			t.Fatalf("%q -> %q -> %+v, %v", s, printed, again, err)
		}
	})
}
