package hw

import (
	"encoding/hex"
	"errors"
	"slices"
	"testing"
)

// selectorRegistry has the device kinds countersign registers, without any
// way to find a device: parsing a selector needs only the kinds.
func selectorRegistry() *Registry {
	return NewRegistry(Driver{Type: "coldcard"}, Driver{Type: "ledger"}, Driver{Type: "trezor"})
}

// FuzzParseSelector parses --with selectors: no panic, every failure is
// ErrBadSelector, an accepted selector names a registered kind with an
// 8-digit lower-case fingerprint or a non-empty path, and the selector a
// device prints for itself (DeviceInfo.Selector) parses back to the same
// selector. Seeds: testdata/fuzz/FuzzParseSelector (the forms the manual
// and `device list` show, and malformed ones).
func FuzzParseSelector(f *testing.F) {
	f.Add("coldcard:0F056943")
	r := selectorRegistry()
	f.Fuzz(func(t *testing.T, spec string) {
		sel, err := r.parseSelector(spec)
		if err != nil {
			if !errors.Is(err, ErrBadSelector) {
				t.Fatalf("%q: error without ErrBadSelector: %v", spec, err)
			}
			return
		}
		switch {
		case sel.path != "":
			if sel.kind != "" || sel.fingerprint != "" {
				t.Fatalf("%q: path selector with kind or fingerprint: %+v", spec, sel)
			}
		case !slices.Contains(r.types(), sel.kind):
			t.Fatalf("%q: kind %q is not registered", spec, sel.kind)
		case sel.fingerprint != "":
			if b, err := hex.DecodeString(sel.fingerprint); err != nil || len(b) != 4 || hex.EncodeToString(b) != sel.fingerprint {
				t.Fatalf("%q: fingerprint %q", spec, sel.fingerprint)
			}
		}
		if sel.path == "" && sel.fingerprint == "" {
			return // "coldcard": no device prints that
		}
		printed := DeviceInfo{Type: sel.kind, Fingerprint: sel.fingerprint, Path: sel.path}.Selector()
		again, err := r.parseSelector(printed)
		if err != nil || again != sel {
			t.Fatalf("%q -> %+v prints as %q -> %+v, %v", spec, sel, printed, again, err)
		}
	})
}
