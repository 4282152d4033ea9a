package wallet

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

func TestNextAddress(t *testing.T) {
	errDevice := errors.New("derivation exploded")
	for _, c := range []struct {
		name    string
		wallet  string
		branch  uint32
		derive  func(uint32) (string, error)
		counter uint32 // NextReceive/NextChange before the call
		want    error
		wantIdx uint32
	}{
		{"receive", "w", 0, deriveFake, 0, nil, 0},
		{"change", "w", 1, deriveFake, 7, nil, 7},
		{"last index", "w", 0, deriveFake, maxIndex - 1, nil, maxIndex - 1},
		{"exhausted", "w", 0, deriveFake, maxIndex, ErrInvalid, 0},
		{"bad branch", "w", 2, deriveFake, 0, ErrInvalid, 0},
		{"unknown wallet", "nope", 0, deriveFake, 0, ErrNotFound, 0},
		{"derive fails", "w", 0, func(uint32) (string, error) { return "", errDevice }, 3, errDevice, 0},
		{"derive returns nothing", "w", 1, func(uint32) (string, error) { return "", nil }, 3, ErrInvalid, 0},
		{"no derive", "w", 0, nil, 0, ErrInvalid, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newStore(t)
			ctx := context.Background()
			w := testWallet("w")
			w.NextReceive, w.NextChange = c.counter, c.counter
			if err := s.CreateWallet(ctx, w); err != nil {
				t.Fatal(err)
			}
			before := journalLen(t, s)
			idx, addr, err := s.NextAddress(ctx, c.wallet, c.branch, c.derive, "invoice 42")
			wantErr(t, err, c.want)
			after, err2 := s.Wallet(ctx, "w")
			if err2 != nil {
				t.Fatal(err2)
			}
			addrs, err2 := s.Addresses(ctx, "w")
			if err2 != nil {
				t.Fatal(err2)
			}
			if c.want != nil {
				// Nothing may change: counters, addresses, journal.
				if after.NextReceive != c.counter || after.NextChange != c.counter || len(addrs) != 0 || journalLen(t, s) != before {
					t.Fatalf("failed call changed the store: counters %d/%d, %d addresses", after.NextReceive, after.NextChange, len(addrs))
				}
				return
			}
			if idx != c.wantIdx || addr != fakeAddr(0, c.wantIdx) {
				t.Fatalf("got %d %q, want %d", idx, addr, c.wantIdx)
			}
			counters := [2]uint32{after.NextReceive, after.NextChange}
			want := [2]uint32{c.counter, c.counter}
			want[c.branch] = c.wantIdx + 1
			if counters != want {
				t.Fatalf("counters %v, want %v", counters, want)
			}
			if len(addrs) != 1 || addrs[0].Branch != c.branch || addrs[0].Index != idx || addrs[0].Address != addr ||
				addrs[0].Label != "invoice 42" || addrs[0].IssuedAt.IsZero() {
				t.Fatalf("addresses %+v", addrs)
			}
			if journalLen(t, s) != before+1 {
				t.Fatal("no journal row")
			}
		})
	}
}

func TestNextAddressSequence(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	mustCreate(t, s, "w")
	for want := range uint32(5) {
		for branch := range uint32(2) {
			idx, _, err := s.NextAddress(ctx, "w", branch, deriveFake, "")
			if err != nil {
				t.Fatal(err)
			}
			if idx != want {
				t.Fatalf("branch %d: index %d, want %d", branch, idx, want)
			}
		}
	}
	addrs, err := s.Addresses(ctx, "w")
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range addrs { // receive 0..4, then change 0..4
		if a.Branch != uint32(i/5) || a.Index != uint32(i%5) {
			t.Fatalf("address %d is %d/%d", i, a.Branch, a.Index)
		}
	}
}

// TestNextAddressPanicRollsBack: a panicking callback must not leave the
// write transaction (and the store's write lock) open.
func TestNextAddressPanicRollsBack(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	mustCreate(t, s, "w")
	func() {
		defer func() { _ = recover() }()
		s.NextAddress(ctx, "w", 0, func(uint32) (string, error) { panic("boom") }, "")
	}()
	idx, _, err := s.NextAddress(ctx, "w", 0, deriveFake, "")
	if err != nil || idx != 0 {
		t.Fatalf("after a panic: index %d, %v; want 0", idx, err)
	}
}

// TestNextAddressProcesses is the guarantee that matters: 20 processes
// asking at once get 20 different indexes, 0..19.
func TestNextAddressProcesses(t *testing.T) {
	const n = 20
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mustCreate(t, s, "shared")

	cmds, outs, release := startChildren(t, "next-address", dir, n)
	release()
	var got []int
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("child %d: %v", i, err)
		}
		idx, err := strconv.Atoi(strings.TrimSpace(outs[i].String()))
		if err != nil {
			t.Fatalf("child %d printed %q", i, outs[i])
		}
		got = append(got, idx)
	}
	slices.Sort(got)
	for i, idx := range got {
		if idx != i {
			t.Fatalf("indexes handed out: %v; want each of 0..%d once", got, n-1)
		}
	}
	w, err := s.Wallet(context.Background(), "shared")
	if err != nil {
		t.Fatal(err)
	}
	addrs, err := s.Addresses(context.Background(), "shared")
	if err != nil {
		t.Fatal(err)
	}
	if w.NextReceive != n || len(addrs) != n {
		t.Fatalf("counter %d and %d addresses, want %d", w.NextReceive, len(addrs), n)
	}
}

func TestNextAddressGoroutines(t *testing.T) {
	const n = 16
	s := newStore(t)
	mustCreate(t, s, "w")
	idxs := make([]int, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			idx, _, err := s.NextAddress(context.Background(), "w", 1, deriveFake, "")
			idxs[i] = int(idx)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(idxs)
	for i, idx := range idxs {
		if idx != i {
			t.Fatalf("indexes %v", idxs)
		}
	}
}

func TestAdvanceIndex(t *testing.T) {
	for _, c := range []struct {
		name        string
		wallet      string
		branch      uint32
		next        uint32
		want        error
		wantCounter uint32
		journaled   bool
	}{
		{"forward receive", "w", 0, 12, nil, 12, true},
		{"forward change", "w", 1, 6, nil, 6, true},
		{"same", "w", 0, 5, nil, 5, false},
		{"backward ignored", "w", 0, 2, nil, 5, false},
		{"to the end", "w", 1, maxIndex, nil, maxIndex, true},
		{"past the end", "w", 0, maxIndex + 1, ErrInvalid, 5, false},
		{"bad branch", "w", 2, 9, ErrInvalid, 5, false},
		{"unknown wallet", "nope", 0, 9, ErrNotFound, 5, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newStore(t)
			ctx := context.Background()
			w := testWallet("w")
			w.NextReceive, w.NextChange = 5, 5
			if err := s.CreateWallet(ctx, w); err != nil {
				t.Fatal(err)
			}
			before := journalLen(t, s)
			wantErr(t, s.AdvanceIndex(ctx, c.wallet, c.branch, c.next), c.want)
			got, err := s.Wallet(ctx, "w")
			if err != nil {
				t.Fatal(err)
			}
			counter := got.NextReceive
			if c.branch == 1 {
				counter = got.NextChange
			}
			if counter != c.wantCounter {
				t.Fatalf("counter %d, want %d", counter, c.wantCounter)
			}
			if grew := journalLen(t, s) > before; grew != c.journaled {
				t.Fatalf("journaled %v, want %v", grew, c.journaled)
			}
		})
	}
}

func TestAddressesUnknownWallet(t *testing.T) {
	s := newStore(t)
	_, err := s.Addresses(context.Background(), "nope")
	wantErr(t, err, ErrNotFound)
}
