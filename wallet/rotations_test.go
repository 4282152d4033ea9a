package wallet

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
)

// TestRotation walks a rotation through the store: the successor and its
// record appear together, the old wallet stops handing out receive
// addresses (change still works: a sweep of late coins may need none, but
// a spend with change must not be blocked), and retiring happens once.
func TestRotation(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	mustCreate(t, s, "old")
	if _, _, err := s.NextAddress(ctx, "old", 0, deriveFake, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Rotation(ctx, "old"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("rotation of a wallet never rotated: %v", err)
	}
	if _, err := s.Rotation(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("rotation of an unknown wallet: %v", err)
	}

	succ := testWallet("new")
	succ.Descriptor = "other"
	if err := s.CreateSuccessor(ctx, "old", succ, map[string]any{"replaced": "c0ffee00"}); err != nil {
		t.Fatal(err)
	}
	if succ.ID == 0 {
		t.Fatal("successor has no id")
	}
	r, err := s.Rotation(ctx, "old")
	if err != nil || r.Successor != "new" || r.Wallet != "old" || r.Retired {
		t.Fatalf("rotation = %+v, %v", r, err)
	}
	if _, err := s.Rotation(ctx, "new"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the successor has no successor: %v", err)
	}

	// No receive address from the old wallet; change and the successor work.
	if _, _, err := s.NextAddress(ctx, "old", 0, deriveFake, ""); !errors.Is(err, ErrRetired) || !errors.Is(err, ErrInvalid) {
		t.Fatalf("receive address from a rotated wallet: %v", err)
	}
	if _, _, err := s.NextAddress(ctx, "old", 1, deriveFake, ""); err != nil {
		t.Fatalf("change address from a rotated wallet: %v", err)
	}
	if _, _, err := s.NextAddress(ctx, "new", 0, deriveFake, ""); err != nil {
		t.Fatal(err)
	}

	// A second rotation of the same wallet is refused and stores nothing.
	before := journalLen(t, s)
	again := testWallet("newer")
	again.Descriptor = "again"
	if err := s.CreateSuccessor(ctx, "old", again, nil); !errors.Is(err, ErrExists) {
		t.Fatalf("second rotation: %v", err)
	}
	if _, err := s.Wallet(ctx, "newer"); !errors.Is(err, ErrNotFound) || journalLen(t, s) != before {
		t.Fatalf("a refused rotation left a wallet or a journal row: %v", err)
	}

	done, err := s.Retire(ctx, "old", 321, map[string]any{"txids": []string{"ab"}})
	if err != nil || !done {
		t.Fatalf("retire: %v %v", done, err)
	}
	if done, err := s.Retire(ctx, "old", 400, nil); err != nil || done {
		t.Fatalf("retire twice: %v %v", done, err)
	}
	r, _ = s.Rotation(ctx, "old")
	if !r.Retired || r.RetiredHeight != 321 || r.RetiredAt.IsZero() {
		t.Fatalf("after retire: %+v", r)
	}
	if _, err := s.Retire(ctx, "new", 1, nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("retire a wallet without successor: %v", err)
	}
	rs, err := s.Rotations(ctx)
	if err != nil || len(rs) != 1 || rs[0] != *r {
		t.Fatalf("rotations = %+v, %v", rs, err)
	}

	// Journaled on the old wallet: the rotation and the retirement.
	all, _ := s.Journal(ctx, "old", 0)
	var rot, ret map[string]any
	for _, e := range all {
		switch e.Action {
		case ActionWalletRotate:
			json.Unmarshal(e.Detail, &rot)
		case ActionWalletRetire:
			json.Unmarshal(e.Detail, &ret)
		}
	}
	if rot["successor"] != "new" || rot["replaced"] != "c0ffee00" || rot["successor_descriptor"] != "other" {
		t.Fatalf("rotation journal: %v", rot)
	}
	if ret["successor"] != "new" || ret["height"] != float64(321) {
		t.Fatalf("retirement journal: %v", ret)
	}

	// Deleting the successor abandons the rotation: the old wallet is
	// ordinary again.
	if err := s.DeleteWallet(ctx, "new"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Rotation(ctx, "old"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("rotation after deleting the successor: %v", err)
	}
	if _, _, err := s.NextAddress(ctx, "old", 0, deriveFake, ""); err != nil {
		t.Fatal(err)
	}
}

func TestCreateSuccessorRefusals(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name   string
		old    string
		modify func(w *Wallet)
		want   error
	}{
		{"unknown old wallet", "nope", func(*Wallet) {}, ErrNotFound},
		{"same name", "old", func(w *Wallet) { w.Name = "old" }, ErrInvalid},
		{"name taken", "old", func(w *Wallet) { w.Name = "other" }, ErrExists},
		{"other network", "old", func(w *Wallet) { w.Network = "testnet" }, ErrInvalid},
		{"invalid successor", "old", func(w *Wallet) { w.Threshold = 0 }, ErrInvalid},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newStore(t)
			mustCreate(t, s, "old")
			mustCreate(t, s, "other")
			before, n := mustWallets(t, s), journalLen(t, s)
			w := testWallet("new")
			c.modify(w)
			wantErr(t, s.CreateSuccessor(ctx, c.old, w, nil), c.want)
			if after := mustWallets(t, s); len(after) != len(before) || journalLen(t, s) != n {
				t.Fatalf("a refused rotation changed the store")
			}
			if rs, _ := s.Rotations(ctx); len(rs) != 0 {
				t.Fatalf("rotations: %+v", rs)
			}
		})
	}
}
