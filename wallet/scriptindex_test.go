package wallet

import (
	"context"
	"errors"
	"testing"
)

func TestScriptIndex(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	mustCreate(t, s, "w")
	script := func(b byte, i int) []byte { return []byte{0x00, 0x20, b, byte(i >> 8), byte(i)} }
	upTo := func(branch uint32, dkey string) uint32 {
		t.Helper()
		n, err := s.ScriptIndexUpTo(ctx, "w", branch, dkey)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	locate := func(sc []byte) (uint32, uint32, bool) {
		t.Helper()
		b, i, ok, err := s.LocateScript(ctx, "w", sc)
		if err != nil {
			t.Fatal(err)
		}
		return b, i, ok
	}
	if upTo(0, "d1") != 0 {
		t.Fatal("a new wallet's index is not empty")
	}
	var first [][]byte
	for i := range 700 { // more than one statement's rows
		first = append(first, script(0, i))
	}
	if err := s.ExtendScriptIndex(ctx, "w", 0, "d1", 0, first); err != nil {
		t.Fatal(err)
	}
	if err := s.ExtendScriptIndex(ctx, "w", 1, "d1", 0, [][]byte{script(1, 0), script(1, 1)}); err != nil {
		t.Fatal(err)
	}
	if upTo(0, "d1") != 700 || upTo(1, "d1") != 2 {
		t.Fatalf("indexed up to %d and %d, want 700 and 2", upTo(0, "d1"), upTo(1, "d1"))
	}
	if b, i, ok := locate(script(0, 600)); !ok || b != 0 || i != 600 {
		t.Fatalf("located at %d/%d (%v), want 0/600", b, i, ok)
	}
	if b, i, ok := locate(script(1, 1)); !ok || b != 1 || i != 1 {
		t.Fatalf("located at %d/%d (%v), want 1/1", b, i, ok)
	}
	if _, _, ok := locate(script(2, 0)); ok {
		t.Fatal("a script never indexed was located")
	}
	// An extension that does not start where the index ends (another
	// process got there first) writes nothing.
	if err := s.ExtendScriptIndex(ctx, "w", 1, "d1", 5, [][]byte{script(1, 5)}); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := locate(script(1, 5)); ok || upTo(1, "d1") != 2 {
		t.Fatal("an extension past the end of the index was written")
	}
	// Another descriptor: its branch starts over, the old rows are gone.
	if upTo(0, "d2") != 0 {
		t.Fatal("the index of another descriptor was reported")
	}
	if err := s.ExtendScriptIndex(ctx, "w", 0, "d2", 0, [][]byte{script(9, 9)}); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := locate(script(0, 200)); ok {
		t.Fatal("a row of the old descriptor survived")
	}
	if b, i, ok := locate(script(9, 9)); !ok || b != 0 || i != 0 || upTo(0, "d2") != 1 || upTo(0, "d1") != 0 {
		t.Fatal("the new descriptor's index is not what was written")
	}
	if err := s.ExtendScriptIndex(ctx, "w", 0, "d2", 1<<31, [][]byte{script(9, 8)}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("an index past 2^31-1 gave %v, want ErrInvalid", err)
	}
	if err := s.ExtendScriptIndex(ctx, "nobody", 0, "d2", 0, [][]byte{script(9, 8)}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("an unknown wallet gave %v, want ErrNotFound", err)
	}
	// Deleting the wallet deletes its index.
	if err := s.DeleteWallet(ctx, "w"); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, "w")
	if upTo(0, "d2") != 0 {
		t.Fatal("a deleted wallet's index outlived it")
	}
}
